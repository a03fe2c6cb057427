//! A run whose metadata the proxy gathers: one request for every comic, each comic's image
//! started the moment its metadata is in, through the same tile pipeline as a single fetch.

use fanout_api::{Comic, ComicId};
use futures::stream;

use super::RunContext;
use crate::{
    api_client::{BatchAnswer, BatchLines, Failure},
    schedule::run_bounded,
};

/// One comic's metadata, or why there is none, as it reached the page.
struct Arrival {
    slot: usize,
    comic: Result<Comic, Failure>,
    /// Ms since the run started: when its line (or the whole `wait=all` answer) arrived.
    at: f64,
}

/// Where the batch answer stands.
enum Answers {
    /// Not asked for yet.
    Unasked,
    /// The whole `wait=all` answer, and when it arrived.
    All(std::vec::IntoIter<BatchAnswer>, f64),
    /// The streamed answer, read line by line.
    Streamed(BatchLines),
    /// Over: why, and when. The comics still waiting get this.
    Ended(Failure, f64),
}

/// The batch answer being read: every comic gets exactly one [`Arrival`], those the answer
/// never reached with the reason it stopped.
struct Reading<'a> {
    run: &'a RunContext,
    comics: &'a [u32],
    wait_all: bool,
    answers: Answers,
    /// Each comic's slot until its arrival has been handed out.
    waiting: Vec<Option<usize>>,
}

impl RunContext {
    /// Asks for all of `comics` in one request (streamed, or with `wait_all` in one answer
    /// after the slowest) and loads each image as its comic arrives, all at once.
    pub(super) async fn gather(&self, comics: &[u32], wait_all: bool) {
        let began = self.elapsed();
        let reading = Reading {
            run: self,
            comics,
            wait_all,
            answers: Answers::Unasked,
            waiting: (0..comics.len()).map(Some).collect(),
        };
        let arrivals = stream::unfold(reading, Reading::next_arrival);
        // Room for every comic, so reading the answer never waits for an image.
        run_bounded(arrivals, comics.len(), |arrival: Arrival| {
            self.load_image(arrival.slot, arrival.comic, began, arrival.at)
        })
        .await;
    }
}

impl Reading<'_> {
    /// The next comic's arrival, and the reading left; `None` once every comic has had one.
    async fn next_arrival(mut self) -> Option<(Arrival, Self)> {
        let incomplete = || Failure::Retryable("the proxy's answer ended without this comic".into());
        loop {
            let (answer, at) = match &mut self.answers {
                Answers::Unasked => {
                    self.answers = self.ask().await;
                    continue;
                }
                Answers::All(answers, at) => match answers.next() {
                    Some(answer) => (answer, *at),
                    None => {
                        self.answers = Answers::Ended(incomplete(), self.run.elapsed());
                        continue;
                    }
                },
                Answers::Streamed(lines) => match lines.next().await {
                    Some(Ok(answer)) => (answer, self.run.elapsed()),
                    Some(Err(failure)) => {
                        self.answers = Answers::Ended(failure, self.run.elapsed());
                        continue;
                    }
                    None => {
                        self.answers = Answers::Ended(incomplete(), self.run.elapsed());
                        continue;
                    }
                },
                Answers::Ended(failure, at) => {
                    let slot = self.waiting.iter_mut().find_map(Option::take)?;
                    let arrival = Arrival {
                        slot,
                        comic: Err(failure.clone()),
                        at: *at,
                    };
                    return Some((arrival, self));
                }
            };
            if let Some(arrival) = self.deliver(answer, at) {
                return Some((arrival, self));
            }
        }
    }

    /// Sends the batch request.
    async fn ask(&self) -> Answers {
        let fetcher = &self.run.fetcher;
        let asked = if self.wait_all {
            fetcher
                .gather_all(self.comics)
                .await
                .map(|answers| Answers::All(answers.into_iter(), self.run.elapsed()))
        } else {
            fetcher.gather(self.comics).await.map(Answers::Streamed)
        };
        asked.unwrap_or_else(|failure| Answers::Ended(failure, self.run.elapsed()))
    }

    /// The arrival of a comic still waiting; the proxy answers each id it was asked for once,
    /// and anything else is ignored.
    fn deliver(&mut self, (id, comic): BatchAnswer, at: f64) -> Option<Arrival> {
        let ComicId::Number(num) = id else { return None };
        let slot = self.comics.iter().position(|&n| n == num)?;
        let slot = self.waiting[slot].take()?;
        Some(Arrival { slot, comic, at })
    }
}
