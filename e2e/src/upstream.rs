//! A stand-in for xkcd on loopback, for tests that must know what the proxy asked for and
//! when: every request is recorded as it arrives, each path waits as long as the test says,
//! and a request whose caller goes away before its answer is recorded as cancelled.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::net::TcpListener;

/// A real 40 x 30 PNG (written by Pillow) that the browser decodes: every comic's image.
pub const COMIC_PNG: &[u8] = include_bytes!("fixtures/comic.png");

/// How long the stand-in waits before answering a path (`/{n}/info.0.json`,
/// `/comics/e2e_{n}.png`).
pub type Delay = Box<dyn Fn(&str) -> Duration + Send + Sync>;

pub struct Upstream {
    delay: Delay,
    arrived: Mutex<Vec<(String, Instant)>>,
    cancelled: Mutex<Vec<(String, Instant)>>,
}

impl Upstream {
    /// Every path asked for so far, in the order the requests arrived.
    pub fn paths(&self) -> Vec<String> {
        self.arrived
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// When `path` first arrived.
    pub fn arrived_at(&self, path: &str) -> Option<Instant> {
        self.arrived
            .lock()
            .unwrap()
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, at)| *at)
    }

    /// Paths whose caller (the proxy) went away before the answer.
    pub fn cancelled(&self) -> Vec<String> {
        self.cancelled
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// When the proxy went away from `path` before its answer: it does so when the browser
    /// gives up the request (an aborted fetch, an image that lost its `src`) and closes the
    /// connection, which every engine does whether or not it keeps a Resource Timing entry.
    pub fn cancelled_at(&self, path: &str) -> Option<Instant> {
        self.cancelled
            .lock()
            .unwrap()
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, at)| *at)
    }
}

/// The metadata path of comic `num` upstream.
pub fn metadata(num: u32) -> String {
    format!("/{num}/info.0.json")
}

/// The image path of comic `num` upstream.
pub fn image(num: u32) -> String {
    format!("/comics/e2e_{num}.png")
}

/// Records its request as cancelled when dropped before the answer.
struct Answering<'a> {
    upstream: &'a Upstream,
    path: String,
    done: bool,
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.upstream
                .cancelled
                .lock()
                .unwrap()
                .push((self.path.clone(), Instant::now()));
        }
    }
}

async fn answer_after_delay(up: &Upstream, path: String) {
    up.arrived.lock().unwrap().push((path.clone(), Instant::now()));
    let wait = (up.delay)(&path);
    let mut answering = Answering {
        upstream: up,
        path,
        done: false,
    };
    tokio::time::sleep(wait).await;
    answering.done = true;
}

fn comic_json(num: u32) -> String {
    serde_json::json!({
        "month": "1", "num": num, "link": "", "year": "2006", "news": "",
        "safe_title": format!("Comic {num}"), "transcript": "", "alt": format!("alt {num}"),
        "img": format!("https://imgs.xkcd.com/comics/e2e_{num}.png"),
        "title": format!("Comic {num}"), "day": "1"
    })
    .to_string()
}

async fn latest(State(up): State<Arc<Upstream>>) -> Response {
    answer_after_delay(&up, "/info.0.json".into()).await;
    ([(header::CONTENT_TYPE, "application/json")], comic_json(3000)).into_response()
}

async fn comic(State(up): State<Arc<Upstream>>, Path((num, file)): Path<(u32, String)>) -> Response {
    if file != "info.0.json" {
        return StatusCode::NOT_FOUND.into_response();
    }
    answer_after_delay(&up, metadata(num)).await;
    ([(header::CONTENT_TYPE, "application/json")], comic_json(num)).into_response()
}

async fn picture(State(up): State<Arc<Upstream>>, Path(file): Path<String>) -> Response {
    answer_after_delay(&up, format!("/comics/{file}")).await;
    ([(header::CONTENT_TYPE, "image/png")], COMIC_PNG).into_response()
}

/// Starts the stand-in on a free loopback port.
pub async fn start(delay: Delay) -> (SocketAddr, Arc<Upstream>) {
    let upstream = Arc::new(Upstream {
        delay,
        arrived: Mutex::default(),
        cancelled: Mutex::default(),
    });
    let app = Router::new()
        .route("/info.0.json", get(latest))
        .route("/{num}/{file}", get(comic))
        .route("/comics/{file}", get(picture))
        .with_state(upstream.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, upstream)
}
