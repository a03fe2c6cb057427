//! Reads a response body line by line as it arrives: the fetch `ReadableStream` through
//! web-sys, each chunk handed to [`LineSplitter`]. `Response.text()` or `.json()` would wait
//! for the whole body; this hands out each line the moment its newline lands.
//!
//! Aborting the request's `AbortSignal` errors the body, so a pending [`LineReader::next_line`]
//! ends with an error at once; the caller tells an abort from a broken stream by its signal.

use std::vec;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamDefaultReader, ReadableStreamReadResult};

use crate::ndjson::LineSplitter;

/// The lines of one body, in order. Dropping it before the end cancels the body, so a reader
/// nobody polls any more does not keep the download going.
pub struct LineReader {
    reader: ReadableStreamDefaultReader,
    /// `None` once the body has ended or failed.
    splitter: Option<LineSplitter>,
    /// The whole lines of the last chunk not handed out yet (a chunk is read only once
    /// they all have been).
    ready: vec::IntoIter<String>,
}

impl LineReader {
    /// Takes the body's lock; `max_line_bytes` bounds what one unfinished line may hold.
    pub fn new(body: &ReadableStream, max_line_bytes: usize) -> Result<Self, String> {
        let reader = ReadableStreamDefaultReader::new(body)
            .map_err(|_| "the body is already being read".to_string())?;
        Ok(LineReader {
            reader,
            splitter: Some(LineSplitter::new(max_line_bytes)),
            ready: Vec::new().into_iter(),
        })
    }

    /// The next whole line (without its newline), `None` at the end of the body, or why the
    /// body could not be read. After an error or the end, every call returns `None`.
    pub async fn next_line(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(line) = self.ready.next() {
                return Ok(Some(line));
            }
            if self.splitter.is_none() {
                return Ok(None);
            }
            let chunk = self.read_chunk().await;
            // Taken for good unless this chunk leaves the body readable.
            let Some(mut splitter) = self.splitter.take() else {
                return Ok(None);
            };
            match chunk? {
                Some(bytes) => match splitter.push(&bytes) {
                    Ok(lines) => {
                        self.ready = lines.into_iter();
                        self.splitter = Some(splitter);
                    }
                    Err(err) => {
                        // An over-long or garbled line: the rest is not worth downloading.
                        self.cancel();
                        return Err(err.to_string());
                    }
                },
                // The end: a last line may lack its newline.
                None => {
                    let last = splitter.finish().map_err(|err| err.to_string())?;
                    self.ready = Vec::from_iter(last).into_iter();
                }
            }
        }
    }

    /// One chunk of bytes, or `None` at the end of the body.
    async fn read_chunk(&self) -> Result<Option<Vec<u8>>, String> {
        let result: ReadableStreamReadResult = JsFuture::from(self.reader.read())
            .await
            .map_err(|err| {
                let message = js_sys::Reflect::get(&err, &"message".into())
                    .ok()
                    .and_then(|m| m.as_string())
                    .unwrap_or_else(|| "unknown error".into());
                format!("the stream broke off: {message}")
            })?
            .unchecked_into();
        if result.get_done().unwrap_or(false) {
            return Ok(None);
        }
        result
            .get_value()
            .dyn_into::<js_sys::Uint8Array>()
            .map(|bytes| Some(bytes.to_vec()))
            .map_err(|_| "a chunk of the stream is not bytes".to_string())
    }

    /// Stops the body; its rejection, if any, is awaited so it is not reported as unhandled.
    fn cancel(&self) {
        let cancelled = JsFuture::from(self.reader.cancel());
        wasm_bindgen_futures::spawn_local(async move {
            let _ = cancelled.await;
        });
    }
}

impl Drop for LineReader {
    fn drop(&mut self) {
        if self.splitter.is_some() {
            self.cancel();
        }
    }
}
