//! The batch route from the page's side: one request for many comics, which the proxy fans
//! out. Streamed, each comic's line is handed over the moment it arrives; with `wait=all`,
//! every comic comes at once in one array.

use fanout_api::{BatchLine, Comic, ComicId, ErrorDetail, routes};
use web_sys::AbortSignal;

use super::{Failure, Fetcher, json};
use crate::line_reader::LineReader;

/// The longest line read: one comic's JSON. The proxy takes at most 256 KiB of JSON from
/// upstream per comic; four times that leaves room for escaping and bounds what a broken
/// stream can make the page hold.
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// The batch request carries every comic's metadata, and each of its lines starts an image:
/// it must not wait behind those images for a connection (HTTP/1.1) or for bandwidth (h2,
/// where priority orders the streams). With hints on, the images ask for high priority, so
/// this asks for high too; a single comic's metadata asks for low instead, because there the
/// image of a comic already known is worth more than the next comic's metadata.
const BATCH_PRIORITY: &str = "high";

/// One comic's answer in a batch: its id as the request wrote it, and the comic or why not.
pub type BatchAnswer = (ComicId, Result<Comic, Failure>);

/// The comics of a streamed batch, one at a time in the order the proxy resolved them.
pub struct BatchLines {
    lines: LineReader,
    signal: AbortSignal,
}

impl BatchLines {
    /// The next comic's answer, `None` once the stream has ended, or why the stream failed.
    /// After an error the rest of the stream is lost; the caller decides what the comics
    /// without a line become.
    pub async fn next(&mut self) -> Option<Result<BatchAnswer, Failure>> {
        let line = match self.lines.next_line().await {
            Ok(line) => line?,
            Err(_) if self.signal.aborted() => return Some(Err(Failure::Aborted)),
            Err(reason) => return Some(Err(Failure::Retryable(reason))),
        };
        Some(parse_line(&line).map(answer))
    }
}

/// A line parsed by the browser's own JSON parser, as every other answer is.
fn parse_line(line: &str) -> Result<BatchLine, Failure> {
    let value = js_sys::JSON::parse(line)
        .map_err(|_| Failure::Retryable("a line of the stream is not JSON".into()))?;
    serde_wasm_bindgen::from_value(value)
        .map_err(|err| Failure::Retryable(format!("unreadable line in the stream: {err}")))
}

/// A line's error is the one the single route would have answered for that comic, and is
/// retryable or not by the same rule.
fn answer(line: BatchLine) -> BatchAnswer {
    let id = line.id;
    let outcome = line.into_result().map_err(|ErrorDetail { code, message }| {
        Failure::from_answer(
            Some(code),
            format!("{message} ({} in the batch answer)", code.status()),
        )
    });
    (id, outcome)
}

fn batch_path(comics: &[u32], wait_all: bool) -> String {
    let ids: Vec<ComicId> = comics.iter().copied().map(ComicId::Number).collect();
    routes::comics(&ids, wait_all)
}

impl Fetcher {
    /// `GET /api/comics?ids=…`: once the answer's head is in, its lines as they arrive.
    pub async fn gather(&self, comics: &[u32]) -> Result<BatchLines, Failure> {
        let response = self.send(&batch_path(comics, false), BATCH_PRIORITY).await?;
        let body = response
            .body()
            .ok_or_else(|| self.failure("the answer has no body".into()))?;
        let lines = LineReader::new(&body, MAX_LINE_BYTES).map_err(|err| self.failure(err))?;
        Ok(BatchLines {
            lines,
            signal: self.signal.clone(),
        })
    }

    /// `GET /api/comics?ids=…&wait=all`: every comic at once, after the slowest, in the order
    /// asked.
    pub async fn gather_all(&self, comics: &[u32]) -> Result<Vec<BatchAnswer>, Failure> {
        let response = self.send(&batch_path(comics, true), BATCH_PRIORITY).await?;
        let lines = json::<Vec<BatchLine>>(response)
            .await
            .map_err(|err| self.failure(format!("unreadable answer: {err}")))?;
        Ok(lines.into_iter().map(answer).collect())
    }
}
