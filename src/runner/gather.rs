//! A run whose metadata the proxy gathers: one request for every comic, each comic's image
//! started the moment its metadata is in, through the same tile pipeline as a single fetch.

use fanout_api::{Comic, ComicId};
use futures::{StreamExt, channel::mpsc, future::LocalBoxFuture};

use super::RunContext;
use crate::api_client::{BatchAnswer, Failure};

/// One comic's metadata, or why there is none, as it reached the page.
struct Arrival {
    slot: usize,
    comic: Result<Comic, Failure>,
    /// Ms since the run started: when its line (or the whole `wait=all` answer) arrived.
    at: f64,
}

impl RunContext {
    /// Asks for all of `comics` in one request (streamed, or with `wait_all` in one answer
    /// after the slowest) and loads each image as its comic arrives, all at once.
    pub(super) async fn gather(&self, comics: &[u32], wait_all: bool) {
        let began = self.elapsed();
        let (arrivals, arrived) = mpsc::unbounded();
        let read = self.read_batch(comics, wait_all, arrivals);
        let load = arrived.for_each_concurrent(None, |arrival: Arrival| -> LocalBoxFuture<'_, ()> {
            Box::pin(self.load_image(arrival.slot, arrival.comic, began, arrival.at))
        });
        futures::join!(read, load);
    }

    /// Reads the batch answer into `arrivals`, one per comic: every comic gets exactly one,
    /// those the answer never reached with the reason it stopped.
    async fn read_batch(&self, comics: &[u32], wait_all: bool, arrivals: mpsc::UnboundedSender<Arrival>) {
        let mut waiting: Vec<Option<usize>> = (0..comics.len()).map(Some).collect();
        let mut deliver = |(id, comic): BatchAnswer, at: f64| {
            // The proxy answers each id it was asked for once; anything else is ignored.
            let ComicId::Number(num) = id else { return };
            let slot = comics
                .iter()
                .position(|&n| n == num)
                .and_then(|slot| waiting[slot].take());
            if let Some(slot) = slot {
                let _ = arrivals.unbounded_send(Arrival { slot, comic, at });
            }
        };
        let incomplete = Failure::Retryable("the proxy's answer ended without this comic".into());
        let ended = if wait_all {
            match self.fetcher.gather_all(comics).await {
                Ok(answers) => {
                    let at = self.elapsed();
                    for answer in answers {
                        deliver(answer, at);
                    }
                    incomplete
                }
                Err(failure) => failure,
            }
        } else {
            match self.fetcher.gather(comics).await {
                Ok(mut lines) => loop {
                    match lines.next().await {
                        Some(Ok(answer)) => deliver(answer, self.elapsed()),
                        Some(Err(failure)) => break failure,
                        None => break incomplete,
                    }
                },
                Err(failure) => failure,
            }
        };
        let at = self.elapsed();
        for slot in waiting.into_iter().flatten() {
            let _ = arrivals.unbounded_send(Arrival {
                slot,
                comic: Err(ended.clone()),
                at,
            });
        }
    }
}
