//! The upstream line through real HTTP on loopback: a client's fetches wait in two lanes,
//! images first, for its share and for the global slots (`src/upstream_share.rs`). The
//! stand-in xkcd here answers a comic's metadata only when the test lets one through (so
//! what is upstream when is controlled, not timed), answers images at once, and counts what
//! is in flight, per client (by comic number) and in all.

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use common::{PNG, comic_json, start_proxy, test_dist, wait_until};
use fanout_api::{ComicId, routes};
use fanout_proxy::{Config, OriginChoice};
use tokio::net::TcpListener;

/// Comics below this number are client one's, the others client two's.
const SECOND_CLIENTS_COMICS: u32 = 1000;

#[derive(Default)]
struct Counts {
    now: HashMap<&'static str, usize>,
    peak: HashMap<&'static str, usize>,
}

struct Gated {
    /// Every path asked for, in order.
    requests: Mutex<Vec<String>>,
    /// In flight now and at most, per client ("one", "two") and in all ("all").
    counts: Mutex<Counts>,
    /// One permit lets one waiting comic's metadata be answered.
    gate: tokio::sync::Semaphore,
}

impl Gated {
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn peak(&self, who: &str) -> usize {
        self.counts.lock().unwrap().peak.get(who).copied().unwrap_or(0)
    }

    fn in_flight(&self, who: &'static str) -> usize {
        self.counts.lock().unwrap().now.get(who).copied().unwrap_or(0)
    }

    /// Counts one request in flight for `client` until the guard drops.
    fn enter(self: &Arc<Self>, client: &'static str) -> InFlight {
        let mut counts = self.counts.lock().unwrap();
        for who in [client, "all"] {
            let now = counts.now.entry(who).or_default();
            *now += 1;
            let now = *now;
            let peak = counts.peak.entry(who).or_default();
            *peak = (*peak).max(now);
        }
        InFlight {
            upstream: self.clone(),
            client,
        }
    }
}

struct InFlight {
    upstream: Arc<Gated>,
    client: &'static str,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counts = self.upstream.counts.lock().unwrap();
        for who in [self.client, "all"] {
            *counts.now.get_mut(who).unwrap() -= 1;
        }
    }
}

fn client_of(num: u32) -> &'static str {
    if num < SECOND_CLIENTS_COMICS { "one" } else { "two" }
}

async fn latest() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        comic_json(3000, "https://imgs.xkcd.com/comics/latest.png"),
    )
        .into_response()
}

async fn comic(State(up): State<Arc<Gated>>, Path(num): Path<u32>) -> Response {
    up.requests.lock().unwrap().push(format!("/{num}/info.0.json"));
    let _counted = up.enter(client_of(num));
    up.gate.acquire().await.unwrap().forget();
    let img = format!("https://imgs.xkcd.com/comics/c{num}.png");
    (
        [(header::CONTENT_TYPE, "application/json")],
        comic_json(num, &img),
    )
        .into_response()
}

async fn image(State(up): State<Arc<Gated>>, Path(file): Path<String>) -> Response {
    up.requests.lock().unwrap().push(format!("/comics/{file}"));
    let num: u32 = file
        .trim_start_matches('c')
        .trim_end_matches(".png")
        .parse()
        .unwrap();
    let _counted = up.enter(client_of(num));
    // Yield once, so that an image overlaps whatever else is in flight.
    tokio::task::yield_now().await;
    ([(header::CONTENT_TYPE, "image/png")], PNG).into_response()
}

/// The gated stand-in, and a proxy on the xkcd origin pointed at it with `cap` upstream
/// slots (and so a share of `cap` per client).
async fn proxy_with_cap(cap: u32) -> (String, Arc<Gated>) {
    let upstream = Arc::new(Gated {
        requests: Mutex::default(),
        counts: Mutex::default(),
        gate: tokio::sync::Semaphore::new(0),
    });
    let app = Router::new()
        .route("/info.0.json", get(latest))
        .route("/{num}/info.0.json", get(comic))
        .route("/comics/{file}", get(image))
        .with_state(upstream.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = Config::for_tests();
    config.origin = OriginChoice::Xkcd;
    config.xkcd_url = format!("http://{addr}");
    config.imgs_url = format!("http://{addr}");
    config.upstream_timeout_ms = 60_000;
    config.max_upstream_concurrency = cap;
    config.rate_limit = 0;
    config.dist = test_dist();
    (start_proxy(config).await, upstream)
}

fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap()
}

fn batch(comics: impl Iterator<Item = u32>) -> String {
    let ids: Vec<ComicId> = comics.map(ComicId::Number).collect();
    routes::comics(&ids, false)
}

/// Lets one waiting metadata fetch be answered and waits until the place it frees has
/// started the next upstream request.
async fn let_one_through(upstream: &Gated) {
    let asked = upstream.requests().len();
    upstream.gate.add_permits(1);
    wait_until("the freed place starts the next request", || {
        upstream.requests().len() > asked
    })
    .await;
}

#[tokio::test]
async fn an_image_asked_for_while_90_metadata_fetches_wait_goes_ahead_of_them() {
    const CAP: u32 = 10;
    let (base, upstream) = proxy_with_cap(CAP).await;
    let one = client_from([127, 0, 0, 1]);
    // 100 comics in one batch: ten upstream, ninety waiting in the client's line.
    let gather = tokio::spawn(one.get(format!("{base}{}", batch(1..=100))).send());
    wait_until("the batch fills the share", || {
        upstream.in_flight("one") == CAP as usize
    })
    .await;
    // The image of the batch's last comic, so that no comic's own fetch brings it first.
    let image = tokio::spawn(one.get(format!("{base}{}", routes::image("c100.png"))).send());
    // Each metadata fetch let through frees one place. The image takes the first place
    // freed once it is in the line; without lanes it would go after all ninety.
    let mut let_through = 0;
    while !upstream.requests().contains(&"/comics/c100.png".to_owned()) {
        let_one_through(&upstream).await;
        let_through += 1;
        assert!(let_through <= 90, "the image never went upstream");
    }
    let image = image.await.unwrap().unwrap();
    assert_eq!(image.status(), 200);
    let started_before_it = upstream
        .requests()
        .iter()
        .take_while(|p| *p != "/comics/c100.png")
        .filter(|p| p.ends_with("info.0.json"))
        .count();
    // Ten started before it was asked for; the HTTP request itself takes a moment to reach
    // the line, which may let a metadata fetch or two through first, never the ninety.
    assert!(
        started_before_it <= CAP as usize + 3,
        "{started_before_it} metadata fetches went upstream before the image"
    );
    assert!(upstream.peak("all") <= CAP as usize, "the global cap holds");
    upstream.gate.add_permits(1000);
    assert_eq!(gather.await.unwrap().unwrap().status(), 200);
}

#[tokio::test]
async fn with_images_first_two_clients_keep_to_their_share_and_the_cap() {
    const CAP: u32 = 4;
    let (base, upstream) = proxy_with_cap(CAP).await;
    let (one, two) = (client_from([127, 0, 0, 1]), client_from([127, 0, 0, 2]));
    // Client one gathers 30 comics and asks for each image as its line arrives (here: in
    // a burst once the batch is upstream); client two gathers 10 of its own.
    let gather_one = tokio::spawn(one.get(format!("{base}{}", batch(1..=30))).send());
    wait_until("client one fills its share", || {
        upstream.in_flight("one") == CAP as usize
    })
    .await;
    let images: Vec<_> = (1..=30)
        .map(|n| {
            tokio::spawn(
                one.get(format!("{base}{}", routes::image(&format!("c{n}.png"))))
                    .send(),
            )
        })
        .collect();
    let gather_two = tokio::spawn(two.get(format!("{base}{}", batch(1001..=1010))).send());
    // Client two's first comic waits behind at most one share of client one's fetches,
    // its images included: they wait in client one's line, not in the global one.
    let mut let_through = 0;
    while !upstream.requests().contains(&"/1001/info.0.json".to_owned()) {
        let_one_through(&upstream).await;
        let_through += 1;
        assert!(
            let_through <= CAP as usize + 1,
            "client two waited behind more than one share of client one's fetches"
        );
    }
    upstream.gate.add_permits(1000);
    for image in images {
        assert_eq!(image.await.unwrap().unwrap().status(), 200);
    }
    let (gather_one, gather_two) = (
        gather_one.await.unwrap().unwrap(),
        gather_two.await.unwrap().unwrap(),
    );
    assert_eq!(gather_one.status(), 200);
    assert_eq!(gather_two.status(), 200);
    assert_eq!(gather_one.text().await.unwrap().lines().count(), 30);
    assert_eq!(gather_two.text().await.unwrap().lines().count(), 10);
    assert!(
        upstream.peak("one") <= CAP as usize,
        "client one kept to its share"
    );
    assert!(
        upstream.peak("two") <= CAP as usize,
        "client two kept to its share"
    );
    assert!(upstream.peak("all") <= CAP as usize, "the global cap holds");
    assert_eq!(upstream.peak("all"), CAP as usize, "the cap was reached");
    // Client one's thirty, and client two's ten fetched with their comics.
    let images: Vec<String> = upstream
        .requests()
        .into_iter()
        .filter(|p| p.starts_with("/comics/"))
        .collect();
    let distinct: std::collections::HashSet<&String> = images.iter().collect();
    assert_eq!(
        (images.len(), distinct.len()),
        (40, 40),
        "each image fetched once"
    );
}
