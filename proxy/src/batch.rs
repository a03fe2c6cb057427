//! `GET /api/comics?ids=1,614,latest`: the server-side fan-out of the Flask tutorial. Every
//! comic goes the way `/api/comics/{id}` goes (the demo network's draw, the cache, its
//! coalescing, the upstream cap), all of them at once; each answer is one NDJSON line,
//! written the moment its comic settles, or with `wait=all` one JSON array in the order of
//! `ids` after the slowest.
//!
//! Simulated waits: a batch takes one place in the wait pool per comic, the same way single
//! requests take theirs, so its share is the client's share (an eighth of the pool; 1,250
//! places by default, twelve batches of 100 at once) and no batch can crowd out another
//! client. A comic that finds no place gets an `overloaded` line rather than failing the
//! whole batch, as the same comic fetched on its own would get 503.
//!
//! Each comic runs in a task of its own, so a client that stops reading holds back nothing
//! but its own lines. Disconnects: when the client goes away the body is dropped and with
//! it every comic still running. A fetch another request also waits for is taken over by
//! that request (the cache retries it); nothing else is left.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Body,
    extract::{ConnectInfo, RawQuery, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::{BufMut, Bytes, BytesMut};
use fanout_api::{BatchLine, BatchOutcome, ComicId, NDJSON, NetSim, Route, parse_batch_query};
use tokio::task::JoinSet;

use crate::{ApiState, cache::Cached, error::ApiError};

/// A batch mixes answers that may be cached with errors that must not be.
const BATCH_CACHE_CONTROL: &str = "no-store";

/// The batch handler; bad input of any kind is a 400 before any comic is asked for.
pub async fn comics(
    State(app): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let batch = parse_batch_query(&query).map_err(|err| ApiError::BadRequest(err.0))?;
    // Parsed once per batch: every comic is drawn from the same parameters.
    let sim = app.demo_network(Some(&query))?;
    let fetch = move |id: ComicId| {
        let app = app.clone();
        async move { line(id, app.comic_in_batch(peer, sim.as_ref(), id).await) }
    };
    if batch.wait_all {
        let lines = futures::future::join_all(batch.ids.into_iter().map(fetch)).await;
        Ok(respond("application/json", Body::from(json_array(&lines))))
    } else {
        Ok(respond(
            NDJSON,
            Body::from_stream(settled_lines(batch.ids, fetch)),
        ))
    }
}

/// The lines in the order their comics settle. Each comic runs in its own task, not inside
/// the body: hyper polls a body only while the client takes data (an HTTP/2 window, a full
/// socket), and a comic that is not polled would hold its upstream slot and leave every
/// other request for the same comic waiting on it. Lines wait in a channel with room for all
/// of them (at most [`fanout_api::MAX_BATCH_IDS`]); dropping the body, when the client goes
/// away, drops the `JoinSet` and so aborts the comics still running.
fn settled_lines<F>(
    ids: Vec<ComicId>,
    fetch: impl Fn(ComicId) -> F,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>>
where
    F: std::future::Future<Output = Bytes> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(ids.len().max(1));
    let mut comics = JoinSet::new();
    for id in ids {
        let (sender, line) = (sender.clone(), fetch(id));
        comics.spawn(async move {
            // Fails only when the body is gone, and then this task is being aborted anyway.
            let _ = sender.send(line.await).await;
        });
    }
    futures::stream::unfold((receiver, comics), |(mut receiver, comics)| async move {
        let line = receiver.recv().await?;
        Some((Ok(line), (receiver, comics)))
    })
}

impl ApiState {
    /// One comic of a batch, exactly as `/api/comics/{id}` would fetch it.
    async fn comic_in_batch(
        &self,
        peer: SocketAddr,
        sim: Option<&NetSim>,
        id: ComicId,
    ) -> Result<Arc<Cached>, ApiError> {
        if let Some(sim) = sim {
            self.simulate(peer.ip(), sim, &Route::Comic(id)).await?;
        }
        let (cached, _) = self.store.comic(id, peer.ip()).await?;
        Ok(cached)
    }
}

fn respond(content_type: &'static str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(BATCH_CACHE_CONTROL),
            ),
        ],
        body,
    )
        .into_response()
}

/// One [`BatchLine`] and its newline. A comic's cached body goes in as it is, so the line
/// holds byte for byte what `/api/comics/{id}` sends, with no second encoding.
fn line(id: ComicId, outcome: Result<Arc<Cached>, ApiError>) -> Bytes {
    let mut bytes = match outcome {
        Ok(comic) => {
            let mut bytes = BytesMut::with_capacity(comic.body.len() + 32);
            bytes.put_slice(b"{\"id\":");
            bytes.put_slice(&serde_json::to_vec(&id).expect("an id serialises"));
            bytes.put_slice(b",\"comic\":");
            bytes.put_slice(&comic.body);
            bytes.put_u8(b'}');
            bytes
        }
        Err(err) => {
            let line = BatchLine {
                id,
                outcome: BatchOutcome::Error(err.detail()),
            };
            BytesMut::from(&serde_json::to_vec(&line).expect("a line serialises")[..])
        }
    };
    bytes.put_u8(b'\n');
    bytes.freeze()
}

/// `[line,line,…]` from the NDJSON lines, in their order.
fn json_array(lines: &[Bytes]) -> Bytes {
    let mut array = BytesMut::with_capacity(lines.iter().map(Bytes::len).sum::<usize>() + 2);
    array.put_u8(b'[');
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            array.put_u8(b',');
        }
        array.put_slice(line.strip_suffix(b"\n").unwrap_or(line));
    }
    array.put_u8(b']');
    array.freeze()
}

#[cfg(test)]
mod tests {
    use fanout_api::Comic;

    use super::*;

    fn comic(num: u32) -> Comic {
        Comic {
            num,
            year: "2006".into(),
            month: "1".into(),
            day: "1".into(),
            title: "A \"quoted\" title".into(),
            safe_title: "t".into(),
            alt: "é\n".into(),
            img: Some("/api/img/a.png".into()),
            link: String::new(),
            news: String::new(),
            transcript: String::new(),
            interactive: false,
        }
    }

    fn cached(comic: &Comic) -> Arc<Cached> {
        Cached::new(
            Bytes::from(serde_json::to_vec(comic).unwrap()),
            "application/json",
        )
    }

    #[test]
    fn spliced_lines_are_the_shared_line_type() {
        for id in [ComicId::Number(614), ComicId::Latest] {
            let line = line(id, Ok(cached(&comic(614))));
            assert!(line.ends_with(b"\n") && !line[..line.len() - 1].contains(&b'\n'));
            let expected = BatchLine {
                id,
                outcome: BatchOutcome::Comic(comic(614)),
            };
            assert_eq!(serde_json::from_slice::<BatchLine>(&line).unwrap(), expected);
            assert_eq!(&line[..line.len() - 1], serde_json::to_vec(&expected).unwrap());
        }
        let error = line(ComicId::Number(404), Err(ApiError::NotFound("gone".into())));
        assert_eq!(
            error,
            "{\"id\":404,\"error\":{\"code\":\"not_found\",\"message\":\"gone\"}}\n"
        );
    }

    #[test]
    fn the_array_holds_the_lines_in_order() {
        let lines = [
            line(ComicId::Number(2), Ok(cached(&comic(2)))),
            line(ComicId::Number(1), Err(ApiError::UpstreamTimeout)),
        ];
        let array: Vec<BatchLine> = serde_json::from_slice(&json_array(&lines)).unwrap();
        assert_eq!(
            array.iter().map(|l| l.id).collect::<Vec<_>>(),
            [ComicId::Number(2), ComicId::Number(1)]
        );
        assert_eq!(&json_array(&[])[..], b"[]");
    }
}
