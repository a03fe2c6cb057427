//! A run whose metadata the proxy gathers: one request for every comic, each comic's image
//! started the moment its metadata is in, through the same tile pipeline as a single fetch.

use fanout_api::ComicId;

use super::RunContext;
use crate::{api_client::Failure, schedule::Jobs};

impl RunContext {
    /// Asks for all of `comics` in one request (streamed, or with `wait_all` in one answer
    /// after the slowest) and loads each image as its comic arrives, all at once. Every comic
    /// gets exactly one outcome: those the answer never reached, the reason it stopped.
    pub(super) async fn gather(&self, comics: &[u32], wait_all: bool) {
        let began = self.elapsed();
        // Each comic's slot until its metadata has arrived.
        let mut waiting: Vec<Option<usize>> = (0..comics.len()).map(Some).collect();
        let mut jobs = Jobs::default();
        // The slot of a comic still waiting; the proxy answers each id it was asked for once,
        // and anything else is ignored.
        let mut arrived = |id: ComicId| {
            let ComicId::Number(num) = id else { return None };
            let i = comics.iter().position(|&n| n == num)?;
            waiting[i].take()
        };
        let incomplete = || Failure::Retryable("the proxy's answer ended without this comic".into());
        let ended = if wait_all {
            match self.fetcher.gather_all(comics).await {
                Ok(answers) => {
                    let at = self.elapsed();
                    for (id, comic) in answers {
                        if let Some(slot) = arrived(id) {
                            jobs.start(self.load_image(slot, comic, began, at));
                        }
                    }
                    incomplete()
                }
                Err(failure) => failure,
            }
        } else {
            match self.fetcher.gather(comics).await {
                // Reading the answer never waits for an image: they load alongside.
                Ok(mut lines) => loop {
                    match jobs.alongside(lines.next()).await {
                        Some(Ok((id, comic))) => {
                            if let Some(slot) = arrived(id) {
                                jobs.start(self.load_image(slot, comic, began, self.elapsed()));
                            }
                        }
                        Some(Err(failure)) => break failure,
                        None => break incomplete(),
                    }
                },
                Err(failure) => failure,
            }
        };
        let at = self.elapsed();
        for slot in waiting.into_iter().flatten() {
            jobs.start(self.load_image(slot, Err(ended.clone()), began, at));
        }
        jobs.finish().await;
    }
}
