//! A harness for end-to-end tests: a real `fanout-proxy` on loopback (demo origin) serving
//! the release build from `FANOUT_DIST`, and a headless browser driven through W3C WebDriver:
//! Chromium (chromedriver), Firefox (geckodriver) or WebKit (WebKitWebDriver and MiniBrowser
//! under Xvfb), as `FANOUT_BROWSER` says.

pub mod audit;
pub mod upstream;
pub mod wire;

use std::{
    fmt,
    net::SocketAddr,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fanout_api::{ComicId, NetSim, routes};
use fanout_proxy::{Config, OriginChoice, Proxy, demo_network::plan};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot};

/// The release page in a headless browser, with the proxy serving it when the test started one.
pub struct Page {
    /// Where the page is served, e.g. `http://127.0.0.1:41234/`; see [`Page::url`].
    pub base: url::Url,
    pub client: Client,
    /// The engine this page runs in (`FANOUT_BROWSER`).
    pub engine: Engine,
    driver: Child,
    stop_proxy: Option<oneshot::Sender<()>>,
    _profile: tempfile::TempDir,
    downloads: tempfile::TempDir,
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

/// The proxy on the xkcd origin, pointed at a stand-in on `addr`.
fn stand_in_config(addr: SocketAddr) -> Config {
    let mut config = Config::for_tests();
    config.rate_limit = 0;
    config.origin = OriginChoice::Xkcd;
    config.xkcd_url = format!("http://{addr}");
    config.imgs_url = format!("http://{addr}");
    config.upstream_timeout_ms = 20_000;
    config
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
    /// A proxy on the demo origin over HTTPS (HTTP/2), and a fresh headless browser that
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

    /// A proxy with the demo origin and a fresh headless browser.
    pub async fn start() -> Page {
        let mut config = Config::for_tests();
        config.rate_limit = 0;
        Page::start_with(config).await
    }

    /// A proxy on the xkcd origin pointed at a fresh [`upstream`] stand-in whose paths wait as
    /// `delay` says, and a fresh headless browser; the stand-in records what the proxy asked.
    pub async fn start_on_stand_in(delay: upstream::Delay) -> (Page, std::sync::Arc<upstream::Upstream>) {
        let (addr, upstream) = upstream::start(delay).await;
        (Page::start_with(stand_in_config(addr)).await, upstream)
    }

    /// Like [`Page::start_on_stand_in`], with the browser talking to the proxy through a
    /// [`wire`] relay that records which requests the browser gave up.
    pub async fn start_on_stand_in_watched(
        delay: upstream::Delay,
    ) -> (
        Page,
        std::sync::Arc<upstream::Upstream>,
        std::sync::Arc<wire::Wire>,
    ) {
        let (addr, upstream) = upstream::start(delay).await;
        let (proxy, stop) = start_proxy(stand_in_config(addr)).await;
        let (relayed, wire) = wire::relay(proxy).await;
        let mut page = Page::attach(&format!("http://{relayed}")).await;
        page.stop_proxy = Some(stop);
        (page, upstream, wire)
    }

    pub async fn start_with(config: Config) -> Page {
        let (addr, stop) = start_proxy(config).await;
        let mut page = Page::attach(&format!("http://{addr}")).await;
        page.stop_proxy = Some(stop);
        page
    }

    /// A proxy with the demo origin and a fresh headless Chromium that logs its network
    /// events, for [`Page::requests_sent`]. Chromium only: check [`devtools_or_skip`] first.
    pub async fn start_logging_network() -> Page {
        let mut config = Config::for_tests();
        config.rate_limit = 0;
        let (addr, stop) = start_proxy(config).await;
        let mut page = Page::attach_with(&format!("http://{addr}"), Engine::from_env(), true).await;
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

    /// A fresh headless browser for a page served elsewhere (`base`: `http://host:port`).
    pub async fn attach(base: &str) -> Page {
        Page::attach_with(base, Engine::from_env(), false).await
    }

    /// Like [`Page::attach`], in `engine` whatever `FANOUT_BROWSER` says (the bench measures
    /// every engine in one run).
    pub async fn attach_in(base: &str, engine: Engine) -> Page {
        Page::attach_with(base, engine, false).await
    }

    async fn attach_with(base: &str, engine: Engine, network_log: bool) -> Page {
        let port = free_port();
        let profile = tempfile::Builder::new()
            .prefix("fanout-e2e-profile")
            .tempdir()
            .expect("a temporary browser profile");
        let downloads = tempfile::Builder::new()
            .prefix("fanout-e2e-downloads")
            .tempdir()
            .expect("a download directory");
        let driver = engine
            .driver(port, profile.path(), downloads.path())
            // Its own process group, so that the browser it starts (and for WebKit the X
            // server) goes down with it even when a test panics before closing the session
            // (see `stop`).
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start the {engine} WebDriver server: {err}"));
        let caps = engine.capabilities(profile.path(), downloads.path(), network_log);
        let url = format!("http://127.0.0.1:{port}");
        // WebKit starts an X server and MiniBrowser before it answers: slower than the others.
        let deadline = Instant::now() + Duration::from_secs(40);
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(err) if Instant::now() > deadline => {
                    panic!("the {engine} WebDriver server did not start: {err}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        if engine != Engine::Chromium {
            // Chromium takes its size as a flag; the others as a command. The same viewport
            // in every engine, so that layout-dependent checks compare like with like.
            client
                .set_window_size(1280, 1800)
                .await
                .unwrap_or_else(|err| panic!("cannot size the {engine} window: {err}"));
        }
        Page {
            base: url::Url::parse(base).unwrap_or_else(|err| panic!("{base} is not a URL: {err}")),
            engine,
            client,
            driver,
            stop_proxy: None,
            _profile: profile,
            downloads,
        }
    }

    /// Where the browser saves what the page downloads: Firefox and WebKit are told at
    /// start-up (a preference; the XDG download directory); Chromium needs the DevTools
    /// command `Browser.setDownloadBehavior` with this path before each download.
    pub fn downloads(&self) -> &Path {
        self.downloads.path()
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
        let url = self.url(&format!("/?{query}"));
        answered(url.as_str(), self.client.goto(url.as_str()))
            .await
            .unwrap_or_else(|err| panic!("{url}: {err}"));
        self.wait_until(
            "document.querySelector('[data-testid=run-summary]') !== null",
            Duration::from_secs(20),
        )
        .await;
    }

    pub async fn eval(&self, script: &str) -> Value {
        answered(script, self.client.execute(script, vec![]))
            .await
            .unwrap_or_else(|err| panic!("{script}: {err}"))
    }

    /// Runs an asynchronous script: it reports its result by calling its last argument.
    pub async fn eval_async(&self, script: &str) -> Value {
        answered(script, self.client.execute_async(script, vec![]))
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

    /// Whether this engine puts a request's HTTP status in Resource Timing
    /// (`responseStatus`), from which the page names a failed image's status. WebKit does not.
    pub async fn reports_response_status(&self) -> bool {
        self.eval("return 'responseStatus' in PerformanceResourceTiming.prototype;")
            .await
            == Value::Bool(true)
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

/// Whether the engine under test has the DevTools protocol that `test` needs. When it has
/// not, says on stderr which engine skipped which test, so the run's output shows it.
pub fn devtools_or_skip(test: &str) -> bool {
    let engine = Engine::from_env();
    if !engine.has_devtools() {
        eprintln!(
            "{engine}: skipped {test}: it reads the DevTools protocol, which only Chromium's driver passes through"
        );
    }
    engine.has_devtools()
}

/// A browser engine the suite runs in, chosen by `FANOUT_BROWSER` (default `chromium`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
    Webkit,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Chromium, Engine::Firefox, Engine::Webkit];

    /// The engine `FANOUT_BROWSER` names; an unknown name is a clear error, never a fallback.
    pub fn from_env() -> Engine {
        match std::env::var("FANOUT_BROWSER") {
            Err(_) => Engine::Chromium,
            Ok(name) => Engine::parse(&name).unwrap_or_else(|| {
                panic!("FANOUT_BROWSER={name:?} is not an engine: use chromium, firefox or webkit")
            }),
        }
    }

    pub fn parse(name: &str) -> Option<Engine> {
        Engine::ALL.into_iter().find(|engine| engine.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox",
            Engine::Webkit => "webkit",
        }
    }

    /// Whether the driver passes DevTools protocol commands and logs through (chromedriver's
    /// `goog/cdp/execute` and `se/log`). A test that needs them checks this and says what it
    /// skipped; see [`Page::skips_without_devtools`].
    pub fn has_devtools(self) -> bool {
        self == Engine::Chromium
    }

    /// Whether the engine serves its HTTP/1.1 queue by the page's priority hints
    /// (`fetchpriority`, fetch's `priority`). WebKit takes them and ignores them: measured
    /// with WebKitGTK 2.50, every image of 30 comics all at once went out after the last
    /// metadata request, as in Chromium with no hints.
    pub fn honours_priority_hints(self) -> bool {
        self != Engine::Webkit
    }

    /// The WebDriver server for this engine, listening on loopback `port`.
    fn driver(self, port: u16, profile: &Path, downloads: &Path) -> Command {
        let program = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.into());
        match self {
            Engine::Chromium => {
                let mut cmd = Command::new(program("CHROMEDRIVER", "chromedriver"));
                cmd.arg(format!("--port={port}"));
                cmd
            }
            Engine::Firefox => {
                let mut cmd = Command::new(program("GECKODRIVER", "geckodriver"));
                // Marionette port 0: the system picks one, so two sessions never collide.
                cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--marionette-port", "0"]);
                cmd
            }
            Engine::Webkit => {
                // MiniBrowser has no headless mode: a private X server per session.
                let mut cmd = Command::new("xvfb-run");
                // MiniBrowser saves a download into the XDG download directory, which it
                // reads from the user-dirs file under XDG_CONFIG_HOME: the session's own.
                let config = profile.join("config");
                std::fs::create_dir_all(&config).expect("a config directory in the profile");
                std::fs::write(
                    config.join("user-dirs.dirs"),
                    format!("XDG_DOWNLOAD_DIR=\"{}\"\n", downloads.display()),
                )
                .expect("the user-dirs file");
                cmd.env("XDG_CONFIG_HOME", &config)
                    .env("HOME", profile)
                    .args(["-a", "-s", "-screen 0 1280x1800x24"])
                    .arg(program("WEBKIT_WEBDRIVER", "WebKitWebDriver"))
                    .arg(format!("--port={port}"));
                cmd
            }
        }
    }

    /// The session's capabilities: headless where the engine can be, the tests' self-signed
    /// certificate accepted (only ever loopback servers of their own), a private profile.
    fn capabilities(
        self,
        profile: &Path,
        downloads: &Path,
        network_log: bool,
    ) -> serde_json::Map<String, Value> {
        let mut caps = serde_json::Map::new();
        caps.insert("acceptInsecureCerts".into(), json!(true));
        match self {
            Engine::Chromium => {
                let mut options = json!({
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--no-first-run", "--window-size=1280,1800",
                        "--ignore-certificate-errors",
                        format!("--user-data-dir={}", profile.display()),
                    ]
                });
                if let Ok(binary) = std::env::var("CHROMIUM") {
                    options["binary"] = json!(binary);
                }
                caps.insert("goog:chromeOptions".into(), options);
                if network_log {
                    caps.insert("goog:loggingPrefs".into(), json!({ "performance": "ALL" }));
                }
            }
            Engine::Firefox => {
                let mut options = json!({
                    "args": ["-headless", "-profile", profile.display().to_string()],
                    "prefs": {
                        // No updates, telemetry or first-run pages: only the test's requests.
                        "app.update.disabledForTesting": true,
                        "datareporting.policy.dataSubmissionEnabled": false,
                        "browser.shell.checkDefaultBrowser": false,
                        "network.captive-portal-service.enabled": false,
                        // Downloads go straight into the session's directory, unasked.
                        "browser.download.folderList": 2,
                        "browser.download.dir": downloads.display().to_string(),
                        "browser.download.useDownloadDir": true,
                        "browser.download.always_ask_before_handling_new_types": false,
                        "browser.download.alwaysOpenPanel": false,
                        "browser.helperApps.neverAsk.saveToDisk": "application/json",
                    },
                });
                if let Ok(binary) = std::env::var("FIREFOX") {
                    options["binary"] = json!(binary);
                }
                caps.insert("browserName".into(), json!("firefox"));
                caps.insert("moz:firefoxOptions".into(), options);
            }
            Engine::Webkit => {
                // MiniBrowser in automation mode uses an ephemeral data store: the private
                // profile. It is shipped by libwebkit2gtk-4.1-0 outside PATH.
                let binary = std::env::var("WEBKIT_MINIBROWSER")
                    .unwrap_or_else(|_| "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser".into());
                caps.insert("browserName".into(), json!("MiniBrowser"));
                caps.insert(
                    "webkitgtk:browserOptions".into(),
                    json!({ "binary": binary, "args": ["--automation"] }),
                );
            }
        }
        caps
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The longest a WebDriver command may take. A driver that never answers (WebKit's once
/// left a test waiting for minutes, 2026-12-05) must fail the test, not hang the suite.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// `command`'s answer, or a panic naming `what` when the driver gives none in time.
async fn answered<T>(what: &str, command: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(COMMAND_TIMEOUT, command)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the {} WebDriver server did not answer within {COMMAND_TIMEOUT:?}: {what}",
                Engine::from_env()
            )
        })
}

/// A port nobody listens on right now, for a server or chromedriver to take.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
