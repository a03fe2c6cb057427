//! A stand-in for xkcd on loopback, so that the bench can measure the path real users take
//! (`--origin xkcd`) without the internet: `/info.0.json`, `/{n}/info.0.json` and
//! `/comics/{file}`, answered with the demo origin's own xkcd-shaped bytes (so the comics and
//! images are the ones the demo rows show) after the same per-request delay as the demo rows.
//! It serves both hosts, xkcd.com and imgs.xkcd.com, on one port.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use fanout_api::ComicId;
use fanout_proxy::origin::{DemoOrigin, Fetched};

struct StandIn {
    delay: Duration,
    /// Images drawn once each: the delay is the cost being measured, not drawing them.
    images: Mutex<HashMap<String, Fetched>>,
}

/// The stand-in, serving on a free loopback port until the bench ends; returns its base URL
/// (`http://127.0.0.1:PORT`, for both `--xkcd-url` and `--imgs-url`).
pub async fn start(delay_ms: u32) -> String {
    let state = Arc::new(StandIn {
        delay: Duration::from_millis(u64::from(delay_ms)),
        images: Mutex::default(),
    });
    let app = Router::new()
        .route("/info.0.json", get(latest))
        .route("/{num}/info.0.json", get(comic))
        .route("/comics/{file}", get(image))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port for the stand-in xkcd");
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn latest(State(up): State<Arc<StandIn>>) -> Response {
    tokio::time::sleep(up.delay).await;
    answer(DemoOrigin.comic_json(ComicId::Latest))
}

async fn comic(State(up): State<Arc<StandIn>>, Path(num): Path<String>) -> Response {
    tokio::time::sleep(up.delay).await;
    match num.parse() {
        Ok(n) => answer(DemoOrigin.comic_json(ComicId::Number(n))),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn image(State(up): State<Arc<StandIn>>, Path(file): Path<String>) -> Response {
    let drawn = {
        let cached = up.images.lock().unwrap().get(&file).cloned();
        async {
            match cached {
                Some(fetched) => fetched,
                None => {
                    let name = file.clone();
                    let fetched = tokio::task::spawn_blocking(move || DemoOrigin.image(&name))
                        .await
                        .expect("drawing an image does not panic");
                    up.images.lock().unwrap().insert(file.clone(), fetched.clone());
                    fetched
                }
            }
        }
    };
    // Drawn while the delay runs, as a real server would work while the network waits.
    let (_, fetched) = tokio::join!(tokio::time::sleep(up.delay), drawn);
    answer(fetched)
}

fn answer(fetched: Fetched) -> Response {
    let status = StatusCode::from_u16(fetched.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = fetched
        .content_type
        .as_deref()
        .and_then(|ct| HeaderValue::from_str(ct).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            // The tutorial's page loads these images straight from here; every run must
            // fetch them again, as a first visit does.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        fetched.body,
    )
        .into_response()
}
