//! Test harness: a stand-in for xkcd on loopback (real HTTP, scripted misbehaviour, every
//! request recorded) and a real fanout-proxy pointed at it.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use fanout_proxy::{Config, OriginChoice, Proxy};
use tokio::net::TcpListener;

/// A real JPEG (16 x 16, written by Pillow), as xkcd serves some comics.
pub const JPEG: &[u8] = include_bytes!("../fixtures/tiny.jpg");

/// A small PNG head, so the image path can check signatures.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

pub struct Upstream {
    /// Every path requested, in order.
    pub requests: Mutex<Vec<String>>,
    /// Requests being answered right now, and the most there ever were at once.
    pub in_flight: Mutex<(usize, usize)>,
    /// Comics 2600 to 2609 are answered only once this is opened (or never), so that a test
    /// controls which comic is still upstream when, without timing.
    pub gate: tokio::sync::Semaphore,
    /// Paths of gated requests whose caller went away before they were answered.
    pub cancelled: Mutex<Vec<String>>,
    /// How many gated requests have been answered.
    pub gated_answered: Mutex<usize>,
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream {
            requests: Mutex::default(),
            in_flight: Mutex::default(),
            gate: tokio::sync::Semaphore::new(0),
            cancelled: Mutex::default(),
            gated_answered: Mutex::default(),
        }
    }
}

impl Upstream {
    pub fn hits(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }
    pub fn all(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Lets every gated comic, waiting or still to come, be answered.
    pub fn open_gate(&self) {
        self.gate.add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }

    pub fn cancelled(&self) -> Vec<String> {
        self.cancelled.lock().unwrap().clone()
    }

    /// Gated requests being held upstream right now.
    pub fn gated_in_flight(&self) -> usize {
        self.in_flight.lock().unwrap().0
    }

    /// Lets `count` gated requests be answered one at a time, checking at every step that
    /// exactly `cap` of them (or as many as are left) are upstream. Nothing is answered while
    /// the gate is shut, so a proxy that sent more than `cap` would pile them up here.
    pub async fn release_gated_one_by_one(&self, count: usize, cap: usize) {
        wait_until(&format!("{} gated requests are upstream", cap.min(count)), || {
            self.gated_in_flight() == cap.min(count)
        })
        .await;
        for answered in 1..=count {
            self.gate.add_permits(1);
            let upstream = cap.min(count - answered);
            wait_until(&format!("{answered} answered and {upstream} upstream"), || {
                *self.gated_answered.lock().unwrap() == answered && self.gated_in_flight() == upstream
            })
            .await;
        }
        assert_eq!(
            self.in_flight.lock().unwrap().1,
            cap.min(count),
            "the most at once"
        );
    }
}

/// Holds a gated request until the test opens the gate: counts it in flight meanwhile, and
/// records it as cancelled if its caller goes away first.
async fn held_at_gate(up: &Upstream, path: String) {
    let mut answering = Answering {
        upstream: up,
        path,
        done: false,
    };
    {
        let mut flight = up.in_flight.lock().unwrap();
        flight.0 += 1;
        flight.1 = flight.1.max(flight.0);
    }
    let permit = up.gate.acquire().await;
    up.in_flight.lock().unwrap().0 -= 1;
    permit.unwrap().forget();
    *up.gated_answered.lock().unwrap() += 1;
    answering.done = true;
}

/// Waits (polling, up to ten seconds) until `condition` holds; panics with `what` if it never does.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Records its request as cancelled when dropped before [`Answering::done`].
struct Answering<'a> {
    upstream: &'a Upstream,
    path: String,
    done: bool,
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.upstream.in_flight.lock().unwrap().0 -= 1;
            self.upstream.cancelled.lock().unwrap().push(self.path.clone());
        }
    }
}

pub fn comic_json(num: u32, img: &str) -> String {
    serde_json::json!({
        "month": "1", "num": num, "link": "", "year": "2006", "news": "", "safe_title": format!("Comic {num}"),
        "transcript": "", "alt": format!("alt {num}"), "img": img, "title": format!("Comic {num}"), "day": "1"
    })
    .to_string()
    .replace('/', "\\/")
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn comic(State(up): State<Arc<Upstream>>, Path((num, file)): Path<(String, String)>) -> Response {
    up.requests.lock().unwrap().push(format!("/{num}/{file}"));
    let num: u32 = match num.parse() {
        Ok(n) if file == "info.0.json" => n,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match num {
        404 => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html")],
            "<html>404</html>",
        )
            .into_response(),
        500 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        503 => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        301 => (
            StatusCode::FOUND,
            [(header::LOCATION, "http://127.0.0.1:9/elsewhere")],
        )
            .into_response(),
        555 => json(comic_json(1, "https://imgs.xkcd.com/comics/a.png")),
        666 => json("{\"num\": 666, \"title\": ".into()),
        777 => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            json(comic_json(777, "https://imgs.xkcd.com/comics/slow.png"))
        }
        888 => json(format!(
            "{{\"num\": 888, \"title\": \"{}\", \"img\": \"\"}}",
            "x".repeat(1 << 20)
        )),
        999 => (
            [(header::CONTENT_TYPE, "text/html")],
            comic_json(999, "https://imgs.xkcd.com/comics/a.png"),
        )
            .into_response(),
        1608 => json(comic_json(1608, "https://imgs.xkcd.com/comics/").replacen(
            '{',
            "{\"extra_parts\": {\"post\": \"<script>alert(1)<\\/script>\"}, ",
            1,
        )),
        40..=49 => {
            // Slow enough that concurrent requests overlap, for coalescing and the cap.
            {
                let mut flight = up.in_flight.lock().unwrap();
                flight.0 += 1;
                flight.1 = flight.1.max(flight.0);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            up.in_flight.lock().unwrap().0 -= 1;
            json(comic_json(num, "https://imgs.xkcd.com/comics/answer.png"))
        }
        2600..=2609 => {
            held_at_gate(&up, format!("/{num}/info.0.json")).await;
            json(comic_json(num, "https://imgs.xkcd.com/comics/gated.png"))
        }
        7 => json(comic_json(7, "https://evil.example/comics/a.png")),
        8 => json(comic_json(8, "https://imgs.xkcd.com/comics/../../etc/passwd.png")),
        n => json(comic_json(
            n,
            &format!("https://imgs.xkcd.com/comics/barrel_cropped_({n}).jpg"),
        )),
    }
}

async fn latest(State(up): State<Arc<Upstream>>) -> Response {
    up.requests.lock().unwrap().push("/info.0.json".into());
    json(comic_json(3000, "https://imgs.xkcd.com/comics/latest.png"))
}

async fn image(State(up): State<Arc<Upstream>>, Path(file): Path<String>) -> Response {
    up.requests.lock().unwrap().push(format!("/comics/{file}"));
    match file.as_str() {
        "missing.png" => StatusCode::NOT_FOUND.into_response(),
        "broken.png" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "text.png" => ([(header::CONTENT_TYPE, "text/plain")], "hello").into_response(),
        "html.png" => ([(header::CONTENT_TYPE, "image/png")], "<script>alert(1)</script>").into_response(),
        "huge.png" => {
            let mut body = PNG.to_vec();
            body.resize(9 << 20, 0);
            ([(header::CONTENT_TYPE, "image/png")], body).into_response()
        }
        "slow.png" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            ([(header::CONTENT_TYPE, "image/png")], PNG).into_response()
        }
        "held.png" => {
            held_at_gate(&up, "/comics/held.png".into()).await;
            ([(header::CONTENT_TYPE, "image/png")], PNG).into_response()
        }
        "real.jpg" => ([(header::CONTENT_TYPE, "image/jpeg")], JPEG).into_response(),
        "answer.png" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            ([(header::CONTENT_TYPE, "image/png")], PNG).into_response()
        }
        name if name.ends_with(".gif") => {
            ([(header::CONTENT_TYPE, "image/gif")], &b"GIF89a\x01\0\x01\0"[..]).into_response()
        }
        _ => ([(header::CONTENT_TYPE, "image/png")], PNG).into_response(),
    }
}

/// Starts the stand-in on a free loopback port.
pub async fn start_upstream() -> (SocketAddr, Arc<Upstream>) {
    let upstream = Arc::new(Upstream::default());
    let app = Router::new()
        .route("/info.0.json", get(latest))
        .route("/{num}/{file}", get(comic))
        .route("/comics/{file}", get(image))
        .with_state(upstream.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, upstream)
}

pub struct TestProxy {
    pub base: String,
    pub upstream: Arc<Upstream>,
    pub client: reqwest::Client,
}

impl TestProxy {
    pub async fn get(&self, path: impl AsRef<str>) -> reqwest::Response {
        let url = format!("{}{}", self.base, path.as_ref());
        self.client.get(url).send().await.unwrap()
    }
}

/// A proxy on the xkcd origin, pointed at a fresh stand-in, with a short upstream timeout.
pub async fn xkcd_proxy(tweak: impl FnOnce(&mut Config)) -> TestProxy {
    let (upstream_addr, upstream) = start_upstream().await;
    let mut config = Config::for_tests();
    config.origin = OriginChoice::Xkcd;
    config.xkcd_url = format!("http://{upstream_addr}");
    config.imgs_url = format!("http://{upstream_addr}");
    config.upstream_timeout_ms = 1000;
    config.rate_limit = 0;
    config.dist = test_dist();
    tweak(&mut config);
    TestProxy {
        base: start_proxy(config).await,
        upstream,
        client: reqwest::Client::new(),
    }
}

/// A proxy on the demo origin.
pub async fn demo_proxy(tweak: impl FnOnce(&mut Config)) -> TestProxy {
    let mut config = Config::for_tests();
    config.upstream_timeout_ms = 400;
    config.rate_limit = 0;
    config.dist = test_dist();
    tweak(&mut config);
    TestProxy {
        base: start_proxy(config).await,
        upstream: Arc::new(Upstream::default()),
        client: reqwest::Client::new(),
    }
}

/// A proxy serving until `stop` is sent; `server` resolves when it has shut down.
pub struct Stoppable {
    pub addr: SocketAddr,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn start_stoppable(config: Config, tls: Option<fanout_proxy::tls::TlsMaterial>) -> Stoppable {
    let proxy = Proxy::build(&config).await.expect("proxy builds");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(proxy.serve(listener, tls, async {
        let _ = stopped.await;
    }));
    Stoppable { addr, stop, server }
}

pub async fn start_proxy(config: Config) -> String {
    let proxy = Proxy::build(&config).await.expect("proxy builds");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(proxy.serve(listener, None, std::future::pending()));
    format!("http://{addr}")
}

/// A small built page, with a secret beside it that must never be served.
pub fn test_dist() -> PathBuf {
    static DIST: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIST.get_or_init(write_test_dist).clone()
}

fn write_test_dist() -> PathBuf {
    let root = std::env::temp_dir().join(format!("fanout-proxy-test-{}", std::process::id()));
    let dist = root.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(root.join("secret.txt"), "do not serve").unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>t</title><script type=\"module\">boot()</script><script src=\"/app-0123456789abcdef.js\"></script>",
    )
    .unwrap();
    std::fs::write(dist.join("app-0123456789abcdef.js"), "export {}").unwrap();
    // As `cargo xtask` leaves it: a precompressed variant beside an asset. Its bytes say
    // where they came from.
    std::fs::write(dist.join("app-fedcba9876543210.js"), "export {} // plain").unwrap();
    std::fs::write(
        dist.join("app-fedcba9876543210.js.gz"),
        gzip(b"export {} // from the .gz"),
    )
    .unwrap();
    std::fs::write(dist.join("robots.txt"), "User-agent: *").unwrap();
    dist
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An error answer's status and code; panics unless it is `{"error": {"code", "message"}}`
/// with a message that says more than the code.
pub async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("errors are JSON");
    let code = body["error"]["code"].as_str().expect("error.code").to_owned();
    let message = body["error"]["message"].as_str().expect("error.message");
    assert!(
        message.len() > code.len() && message.contains(' '),
        "a {status} {code} says what went wrong in words: {body}"
    );
    (status, code)
}

/// Sends `path` (a delayed request) to a proxy whose pool holds one simulated wait
/// (`max_simulated_waits = 1`) and returns once it holds that wait: another delayed request
/// then finds it taken and gets 503 at once. Should a probe take the wait first and the
/// request be shed, the request is sent again.
pub async fn send_holding_the_one_simulated_wait(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let url = format!("{base}{path}");
    let mut request = tokio::spawn(client.get(&url).send());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never took the simulated wait"
        );
        let probe = client
            .get(format!("{base}/api/comics/4?latency_ms=1&jitter_ms=0"))
            .send()
            .await
            .unwrap();
        if probe.status() == 503 {
            assert!(probe.headers().contains_key("retry-after"));
            assert_eq!(error_code(probe).await.1, "overloaded");
            return request;
        }
        if request.is_finished() {
            let shed = request.await.unwrap().unwrap();
            assert_eq!(shed.status(), 503, "only a shed request ends this soon");
            request = tokio::spawn(client.get(&url).send());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
