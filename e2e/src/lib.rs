//! A harness for end-to-end tests: a real `fanout-proxy` on loopback (demo origin) serving
//! the release build from `FANOUT_DIST`, and headless Chromium driven through chromedriver.

pub mod audit;
pub mod upstream;

use std::{
    net::SocketAddr,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fanout_api::{ComicId, NetSim, routes};
use fanout_proxy::{Config, OriginChoice, Proxy, demo_network::plan};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot};

/// The release page in a headless Chromium, with the proxy serving it when the test started one.
pub struct Page {
    /// Where the page is served, e.g. `http://127.0.0.1:41234/`; see [`Page::url`].
    pub base: url::Url,
    pub client: Client,
    driver: Child,
    stop_proxy: Option<oneshot::Sender<()>>,
    _profile: tempfile::TempDir,
}

/// The built page; `cargo xtask test` builds it and sets the variable.
fn dist() -> PathBuf {
    let dist = PathBuf::from(
        std::env::var("FANOUT_DIST")
            .expect("FANOUT_DIST is not set: run the end-to-end tests through `cargo xtask test`"),
    );
    assert!(
        dist.join("index.html").is_file(),
        "no built page in {}: run `cargo xtask test`",
        dist.display()
    );
    dist
}

/// Starts a proxy on a free loopback port; returns its address and a stop switch.
pub async fn start_proxy(config: Config) -> (SocketAddr, oneshot::Sender<()>) {
    serve(config, None).await
}

/// Like [`start_proxy`], over HTTPS with a generated certificate (HTTP/2 by ALPN).
pub async fn start_proxy_tls(config: Config) -> (SocketAddr, oneshot::Sender<()>) {
    let material = fanout_proxy::tls::self_signed().expect("a certificate");
    serve(config, Some(material)).await
}

async fn serve(
    mut config: Config,
    tls: Option<fanout_proxy::tls::TlsMaterial>,
) -> (SocketAddr, oneshot::Sender<()>) {
    config.dist = dist();
    let proxy = Proxy::build(&config).await.expect("the proxy builds");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(proxy.serve(listener, tls, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

impl Page {
    /// A proxy on the demo origin over HTTPS (HTTP/2), and a fresh headless Chromium that
    /// accepts the test certificate.
    pub async fn start_tls() -> Page {
        let mut config = Config::for_tests();
        config.rate_limit = 0;
        let (addr, stop) = start_proxy_tls(config).await;
        let mut page = Page::attach(&format!("https://localhost:{}", addr.port())).await;
        page.stop_proxy = Some(stop);
        page
    }

    /// The most requests the browser had on the wire at once (sent, no answer yet).
    pub async fn max_requests_in_flight(&self) -> u64 {
        self.eval(
            "const e = performance.getEntriesByType('resource').filter(e => e.name.includes('/api/comics/') || e.name.includes('/api/img/'));
             let most = 0;
             for (const a of e) {
               const t = a.requestStart;
               most = Math.max(most, e.filter(b => b.requestStart <= t && t < b.responseStart).length);
             }
             return most;",
        )
        .await
        .as_u64()
        .unwrap_or(0)
    }

    /// When the browser sent each of the run's requests (Resource Timing `requestStart`, in
    /// ms): the comics' metadata, then their images, each in time order.
    pub async fn request_starts(&self) -> (Vec<f64>, Vec<f64>) {
        let value = self
            .eval(
                "const starts = (part) => performance.getEntriesByType('resource')
                   .filter(e => e.name.includes(part) && !e.name.includes('/latest'))
                   .map(e => e.requestStart).sort((a, b) => a - b);
                 return [starts('/api/comics/'), starts('/api/img/')];",
            )
            .await;
        serde_json::from_value(value).unwrap()
    }

    /// What the demo origin will make each of `comics` wait under `sim`, in ms: its metadata
    /// and its image, drawn with the proxy's own simulation so a test knows in advance.
    pub async fn simulated_delays(&self, comics: &[u32], sim: &NetSim) -> Vec<(u128, u128)> {
        let mut delays = Vec::new();
        for &num in comics {
            let image = self.comic(num).await.img.expect("these comics have images");
            let meta = plan(sim, &routes::comic(ComicId::Number(num)), false).delay;
            let img = plan(sim, &image, true).delay;
            delays.push((meta.as_millis(), img.as_millis()));
        }
        delays
    }

    /// A proxy with the demo origin and a fresh headless Chromium.
    pub async fn start() -> Page {
        let mut config = Config::for_tests();
        config.rate_limit = 0;
        Page::start_with(config).await
    }

    /// A proxy on the xkcd origin pointed at a fresh [`upstream`] stand-in whose paths wait as
    /// `delay` says, and a fresh headless Chromium; the stand-in records what the proxy asked.
    pub async fn start_on_stand_in(delay: upstream::Delay) -> (Page, std::sync::Arc<upstream::Upstream>) {
        let (addr, upstream) = upstream::start(delay).await;
        let mut config = Config::for_tests();
        config.rate_limit = 0;
        config.origin = OriginChoice::Xkcd;
        config.xkcd_url = format!("http://{addr}");
        config.imgs_url = format!("http://{addr}");
        config.upstream_timeout_ms = 20_000;
        (Page::start_with(config).await, upstream)
    }

    pub async fn start_with(config: Config) -> Page {
        let (addr, stop) = start_proxy(config).await;
        let mut page = Page::attach(&format!("http://{addr}")).await;
        page.stop_proxy = Some(stop);
        page
    }

    /// A proxy with the demo origin and a fresh headless Chromium that logs its network
    /// events, for [`Page::requests_sent`].
    pub async fn start_logging_network() -> Page {
        let mut config = Config::for_tests();
        config.rate_limit = 0;
        let (addr, stop) = start_proxy(config).await;
        let mut page = Page::attach_with(&format!("http://{addr}"), true).await;
        page.stop_proxy = Some(stop);
        page
    }

    /// Every request the browser sent since the last call, as the DevTools protocol saw it
    /// go (`Network.requestWillBeSent`): its URL and the priority Chromium gave it
    /// (`VeryLow` to `VeryHigh`). Needs [`Page::start_logging_network`].
    pub async fn requests_sent(&self) -> Vec<(String, String)> {
        let log = self
            .client
            .issue_cmd(audit::PerformanceLog)
            .await
            .expect("the performance log (start the page with start_logging_network)");
        let mut sent = Vec::new();
        for entry in log.as_array().expect("a list of log entries") {
            let message: Value = serde_json::from_str(entry["message"].as_str().unwrap_or("{}")).unwrap();
            let message = &message["message"];
            if message["method"] == "Network.requestWillBeSent" {
                let request = &message["params"]["request"];
                sent.push((
                    request["url"].as_str().unwrap_or_default().to_owned(),
                    request["initialPriority"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        sent
    }

    /// A fresh headless Chromium for a page served elsewhere (`base`: `http://host:port`).
    pub async fn attach(base: &str) -> Page {
        Page::attach_with(base, false).await
    }

    async fn attach_with(base: &str, network_log: bool) -> Page {
        let port = free_port();
        let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            // Its own process group, so that Chromium, which it starts, goes down with it even
            // when a test panics before closing the session (see `stop`).
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {chromedriver}: {err}"));
        let profile = tempfile::Builder::new()
            .prefix("fanout-e2e-profile")
            .tempdir()
            .expect("a temporary Chromium profile");
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1800",
                // Only ever loopback servers of the tests' own, with a generated certificate.
                "--ignore-certificate-errors",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        });
        if let Ok(binary) = std::env::var("CHROMIUM") {
            options["binary"] = json!(binary);
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        if network_log {
            caps.insert("goog:loggingPrefs".into(), json!({ "performance": "ALL" }));
        }
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(err) if Instant::now() > deadline => panic!("chromedriver did not start: {err}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Page {
            base: url::Url::parse(base).unwrap_or_else(|err| panic!("{base} is not a URL: {err}")),
            client,
            driver,
            stop_proxy: None,
            _profile: profile,
        }
    }

    /// `path_and_query` (starting with `/`) on the page's server.
    pub fn url(&self, path_and_query: &str) -> url::Url {
        self.base
            .join(path_and_query)
            .expect("a path and query join onto the base")
    }

    /// Comic `num` as the page's proxy serves it, with no simulated latency or faults.
    pub async fn comic(&self, num: u32) -> fanout_api::Comic {
        let path = fanout_api::routes::comic(fanout_api::ComicId::Number(num));
        // Only the test's own loopback proxy, whose certificate may be generated for this run.
        reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("a client")
            .get(self.url(&format!("{path}?latency_ms=0&jitter_ms=0")))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .unwrap_or_else(|err| panic!("comic {num}: {err}"))
            .json()
            .await
            .unwrap_or_else(|err| panic!("comic {num} is not a Comic: {err}"))
    }

    /// Opens the page with `query` (without `?`) and waits until the app has mounted.
    pub async fn open(&self, query: &str) {
        self.client
            .goto(self.url(&format!("/?{query}")).as_str())
            .await
            .unwrap();
        self.wait_until(
            "document.querySelector('[data-testid=run-summary]') !== null",
            Duration::from_secs(20),
        )
        .await;
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|err| panic!("{script}: {err}"))
    }

    /// Runs an asynchronous script: it reports its result by calling its last argument.
    pub async fn eval_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, vec![])
            .await
            .unwrap_or_else(|err| panic!("{script}: {err}"))
    }

    /// Polls a Rust condition (say, on what a stand-in received) until it is true.
    pub async fn wait_for(&self, what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + within;
        while !condition() {
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting until {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls a JavaScript condition until it is true.
    pub async fn wait_until(&self, condition: &str, within: Duration) {
        let deadline = Instant::now() + within;
        let script = format!("return !!({condition});");
        while self.eval(&script).await != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting for: {condition}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The text of the first element matching a CSS selector (empty when there is none).
    pub async fn text(&self, selector: &str) -> String {
        let script =
            format!("const e = document.querySelector({selector:?}); return e ? e.textContent : '';");
        self.eval(&script).await.as_str().unwrap_or_default().to_owned()
    }

    /// How many elements match a CSS selector.
    pub async fn count(&self, selector: &str) -> u64 {
        let script = format!("return document.querySelectorAll({selector:?}).length;");
        self.eval(&script).await.as_u64().unwrap_or_default()
    }

    /// `(num, state)` for every tile, in DOM (slot) order.
    pub async fn tiles(&self) -> Vec<(u32, String)> {
        let value = self
            .eval("return [...document.querySelectorAll('[data-testid=tile]')].map(t => [Number(t.dataset.num), t.dataset.state]);")
            .await;
        serde_json::from_value(value).unwrap()
    }

    /// The run summary's `data-*` attributes.
    pub async fn summary(&self) -> Value {
        self.eval("return {...document.querySelector('[data-testid=run-summary]').dataset};")
            .await
    }

    pub async fn click(&self, test_id: &str) {
        self.eval(&format!(
            "document.querySelector('[data-testid={test_id}]').click(); return null;"
        ))
        .await;
    }

    /// Opens the page at `query` (a run that starts on load), waits for its first comic on
    /// screen, presses Stop and waits until the run says it was stopped.
    pub async fn stop_after_first_tile(&self, query: &str, within: Duration) {
        self.open(query).await;
        self.wait_until(
            "document.querySelector('[data-testid=tile][data-state=loaded]')",
            within,
        )
        .await;
        self.click("stop").await;
        self.wait_for_state("cancelled", within).await;
    }

    pub async fn wait_for_state(&self, state: &str, within: Duration) {
        self.wait_until(
            &format!("document.querySelector('[data-testid=run-summary]').dataset.state === '{state}'"),
            within,
        )
        .await;
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.stop();
    }

    fn stop(&mut self) {
        // Once only: after the wait below the group's id is free for another process.
        if matches!(self.driver.try_wait(), Ok(Some(_))) {
            if let Some(stop) = self.stop_proxy.take() {
                let _ = stop.send(());
            }
            return;
        }
        // The whole group: chromedriver and the Chromium it started. Killing chromedriver
        // alone left a panicked test's browser running. The group is still ours: its leader
        // has not been reaped.
        if let Ok(group) = i32::try_from(self.driver.id()) {
            // SAFETY: killpg takes plain integers and touches no memory of ours.
            unsafe { libc::killpg(group, libc::SIGKILL) };
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if let Some(stop) = self.stop_proxy.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nobody listens on right now, for a server or chromedriver to take.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
