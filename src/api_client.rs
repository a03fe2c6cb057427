//! The page's side of the wire: fetches through the proxy's API with an abort signal,
//! decodes images before they are shown, and reads the browser's Resource Timing.

use fanout_api::{Comic, ErrorBody, ErrorCode, Health, NetSim, Route, routes};
use gloo_events::EventListener;
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, HtmlImageElement, RequestCache, RequestInit};

use crate::{
    run_config::{Priority, shard_for},
    stats::RequestTiming,
};

mod batch;

/// Why one comic failed, in words for its error tile.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The run was stopped; the tile shows it was stopped.
    Aborted,
    /// Might succeed if tried again (network trouble, upstream faults, load shedding).
    Retryable(String),
    /// Will fail the same way every time (no such comic, no image, a refused request).
    Permanent(String),
}

impl Failure {
    /// An error answer, by [`ErrorCode::is_permanent`]: the one rule for whether a retry can
    /// help. Statuses the proxy never sends (a 500 from something in between) may pass.
    fn from_answer(code: Option<ErrorCode>, reason: String) -> Failure {
        if code.is_some_and(ErrorCode::is_permanent) {
            Failure::Permanent(reason)
        } else {
            Failure::Retryable(reason)
        }
    }
}

/// Per-run request options.
pub struct Fetcher {
    sim: NetSim,
    /// Which try this is (0: the run's own); retries draw fresh simulated faults.
    attempt: u32,
    use_cache: bool,
    /// Added to image URLs when the cache is off (images load through `<img>`, which has no
    /// per-request cache mode): a value no earlier run used.
    cache_buster: Option<String>,
    priority: Priority,
    signal: AbortSignal,
    /// The shard origins comic `slot` goes round (`slot mod k`); empty: the page's own origin.
    shards: Vec<String>,
}

impl Fetcher {
    pub fn new(
        sim: NetSim,
        use_cache: bool,
        priority: Priority,
        attempt: u32,
        signal: AbortSignal,
        shards: Vec<String>,
    ) -> Self {
        let cache_buster =
            (!use_cache).then(|| format!("{:08x}", (js_sys::Math::random() * f64::from(u32::MAX)) as u32));
        Fetcher {
            sim,
            attempt,
            use_cache,
            cache_buster,
            priority,
            signal,
            shards,
        }
    }

    /// `path` at the origin of comic `slot`: its shard when the run is sharded.
    fn at_shard(&self, slot: usize, path: &str) -> String {
        match shard_for(&self.shards, slot) {
            Some(origin) => format!("{origin}{path}"),
            None => path.to_string(),
        }
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// True when every image is asked for afresh (no cache), so each leaves an entry in
    /// Resource Timing.
    pub fn fetches_fresh(&self) -> bool {
        self.cache_buster.is_some()
    }

    /// True once the work these requests belong to has been cancelled.
    pub fn stopped(&self) -> bool {
        self.signal.aborted()
    }

    /// `path` (which may have a query of its own) with the demo origin's simulation parameters.
    fn url(&self, path: &str) -> String {
        let sim = NetSim {
            attempt: self.attempt,
            ..self.sim
        };
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{path}{separator}{}", sim.to_query())
    }

    /// A GET for `path` with the run's abort signal and cache mode, at `priority` (`"low"`,
    /// `"high"`) when hints are on. gloo-net's builder has no setter for fetch's `priority`,
    /// so with hints the request is made from a `RequestInit` of our own and handed to
    /// gloo-net (`Request: From<web_sys::Request>`) to send.
    fn get(&self, path: &str, priority: &str) -> Result<Request, Failure> {
        let cache = if self.use_cache {
            RequestCache::Default
        } else {
            RequestCache::NoStore
        };
        let url = self.url(path);
        if self.priority != Priority::ImagesFirst {
            return RequestBuilder::new(&url)
                .cache(cache)
                .abort_signal(Some(&self.signal))
                .build()
                .map_err(|err| {
                    self.failure(format!("cannot make a request for {path}: {}", described(&err)))
                });
        }
        let init = RequestInit::new();
        init.set_cache(cache);
        init.set_signal(Some(&self.signal));
        // web-sys has no setter for `priority` yet.
        js_sys::Reflect::set(&init, &"priority".into(), &priority.into())
            .map_err(|_| self.failure("cannot set the request's priority".into()))?;
        web_sys::Request::new_with_str_and_init(&url, &init)
            .map(Request::from)
            .map_err(|_| self.failure(format!("cannot make a request for {path}")))
    }

    async fn send(&self, path: &str, priority: &str) -> Result<Response, Failure> {
        let response = self.get(path, priority)?.send().await.map_err(|err| {
            if self.signal.aborted() {
                Failure::Aborted
            } else {
                Failure::Retryable(format!("network error: {}", described(&err)))
            }
        })?;
        if response.ok() {
            return Ok(response);
        }
        let status = response.status();
        let status_text = response.status_text();
        let (code, message) = match json::<ErrorBody>(response).await {
            Ok(body) => (Some(body.error.code), body.error.message),
            Err(_) => (ErrorCode::from_status(status), status_text),
        };
        Err(Failure::from_answer(code, format!("HTTP {status}: {message}")))
    }

    /// Comic `num`'s metadata, from the origin of its place `slot` in the run.
    pub async fn comic(&self, num: u32, slot: usize) -> Result<Comic, Failure> {
        // Metadata steps aside for images: LOWEST and delayable, like a script-made `<img>`
        // without hints.
        let path = self.at_shard(slot, &routes::comic(fanout_api::ComicId::Number(num)));
        // Sharded, it asks at the browser's own priority instead: Chromium lets at most ten
        // low-priority ("delayable") requests be in flight per tab over HTTP/1.1, whatever the
        // host, which held 100 comics over 8 or 16 hosts at 3.5 s (as over 4); each host's
        // queue is short anyway, so images first matters little there.
        let priority = if self.shards.is_empty() { "low" } else { "auto" };
        let response = self.send(&path, priority).await?;
        json::<Comic>(response)
            .await
            .map_err(|err| self.failure(format!("unreadable comic: {err}")))
    }

    /// Loads and decodes the image the way a page loads any image, through an `<img>`, and
    /// returns its URL. The tile's own `<img>` then finds it already decoded in the
    /// document's image list, without a second request. Measured against fetching a Blob
    /// and minting an object URL, this saves about 1.5 ms of main-thread time per comic.
    /// From the origin of the comic's place `slot` in the run, like its metadata.
    pub async fn image(&self, path: &str, slot: usize) -> Result<String, Failure> {
        // Cancelled before it began: the listener below would never hear the abort.
        if self.stopped() {
            return Err(Failure::Aborted);
        }
        let mut url = self.url(&self.at_shard(slot, path));
        if let Some(fresh) = &self.cache_buster {
            url.push_str(&format!("&{}={fresh}", routes::CACHE_BUSTER));
        }
        let img = HtmlImageElement::new().map_err(|_| self.failure("cannot create an image".into()))?;
        // Stop cancels the download: an image that loses its src abandons its request.
        let _cancel_on_stop = EventListener::once(&self.signal, "abort", {
            let img = img.clone();
            move |_| {
                let _ = img.remove_attribute("src");
            }
        });
        // A CORS-mode load (as the tile's own `<img>` makes, so it finds this one decoded): from
        // a shard it passes by the proxy's CORS answer where its CORP would refuse a no-cors
        // one, and its Resource Timing keeps its status.
        img.set_cross_origin(Some("anonymous"));
        if self.priority == Priority::ImagesFirst {
            // Before `src`, which starts the request: an image whose metadata has arrived
            // takes the next free connection ahead of queued metadata (MEDIUM, not LOWEST).
            img.set_attribute("fetchpriority", "high")
                .map_err(|_| self.failure("cannot set the image's priority".into()))?;
        }
        img.set_src(&url);
        match JsFuture::from(img.decode()).await {
            Ok(_) => Ok(url),
            Err(_) => Err(self.image_failure(&img.src())),
        }
    }

    /// An `<img>` reports no reason, so the reason comes from the browser's own record of
    /// the request: its HTTP status.
    fn image_failure(&self, absolute_url: &str) -> Failure {
        if self.signal.aborted() {
            return Failure::Aborted;
        }
        match response_status(absolute_url) {
            Some(200..=299) => Failure::Retryable("the image arrived but could not be decoded".into()),
            Some(status) => {
                let code = ErrorCode::from_status(status);
                let meaning = code.map_or("unexpected answer", ErrorCode::meaning);
                Failure::from_answer(code, format!("HTTP {status}: {meaning}"))
            }
            None if !reports_response_status() => Failure::Retryable(
                "the image did not load; this browser does not report its HTTP status".into(),
            ),
            None => Failure::Retryable("network error: the image did not load".into()),
        }
    }

    fn failure(&self, message: String) -> Failure {
        if self.signal.aborted() {
            Failure::Aborted
        } else {
            Failure::Retryable(message)
        }
    }
}

pub async fn health() -> Result<Health, String> {
    let response = Request::get(routes::HEALTH)
        .send()
        .await
        .map_err(|err| described(&err))?;
    json::<Health>(response).await
}

/// The newest comic number, asked of the proxy without any simulated delay.
pub async fn latest() -> Result<u32, String> {
    let url = format!(
        "{}?latency_ms=0&jitter_ms=0",
        routes::comic(fanout_api::ComicId::Latest)
    );
    let response = Request::get(&url).send().await.map_err(|err| described(&err))?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    Ok(json::<Comic>(response).await?.num)
}

/// What a failed send or build says: the browser's error as its `toString()` reads, as
/// gloo-net's `Display` writes it. Written here because that `Display` also covers
/// serde_json's errors (server_fn turns gloo-net's "json" feature on), which would keep
/// serde_json's and std::io's error code in the page: 468 B of a first visit's gzip, for a variant
/// that sending never returns.
fn described(err: &gloo_net::Error) -> String {
    match err {
        gloo_net::Error::JsError(js) if js.message.is_empty() => js.name.clone(),
        gloo_net::Error::JsError(js) => format!("{}: {}", js.name, js.message),
        gloo_net::Error::GlooError(message) => message.clone(),
        _ => "unreadable JSON".into(),
    }
}

/// A JSON body parsed by the browser (`Response.json()`) and read into `T` by its serde
/// derive through serde-wasm-bindgen, so that no JSON parser is compiled into the page
/// (gloo-net's own `json()` would bring serde_json).
async fn json<T: DeserializeOwned>(response: Response) -> Result<T, String> {
    serde_wasm_bindgen::from_value(parsed_body(response).await?).map_err(|err| err.to_string())
}

/// The body as the browser's JSON parser reads it: apart from [`json`], so that its awaiting
/// is compiled once rather than once per type read (300 B of a first visit's gzip).
async fn parsed_body(response: Response) -> Result<wasm_bindgen::JsValue, String> {
    let parsed = web_sys::Response::from(response)
        .json()
        .map_err(|_| "the body was already read".to_string())?;
    JsFuture::from(parsed).await.map_err(|err| {
        js_sys::Reflect::get(&err, &"message".into())
            .ok()
            .and_then(|message| message.as_string())
            .unwrap_or_else(|| "the body is not JSON".into())
    })
}

/// The HTTP status the browser recorded for `absolute_url` (0 and missing entries: none).
fn response_status(absolute_url: &str) -> Option<u16> {
    let performance = web_sys::window()?.performance()?;
    let entry = performance.get_entries_by_name(absolute_url).pop();
    // `responseStatus` is newer than web-sys's bindings; read it as a plain property.
    let status = js_sys::Reflect::get(&entry, &"responseStatus".into())
        .ok()?
        .as_f64()?;
    (status > 0.0).then_some(status as u16)
}

/// Whether this browser puts a request's HTTP status in Resource Timing (`responseStatus`).
/// WebKit does not (WebKitGTK 2.50): there a failed image cannot tell a 404 from a network
/// error, and its tile says so.
fn reports_response_status() -> bool {
    web_sys::window()
        .and_then(|window| js_sys::Reflect::get(&window, &"PerformanceResourceTiming".into()).ok())
        .and_then(|class| js_sys::Reflect::get(&class, &"prototype".into()).ok())
        .and_then(|prototype| js_sys::Reflect::has(&prototype, &"responseStatus".into()).ok())
        .unwrap_or(false)
}

/// Resolves after about `ms` milliseconds (a browser timer); at once where there is no window.
pub async fn pause(ms: i32) {
    let timer = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        } else {
            let _ = resolve.call0(&wasm_bindgen::JsValue::UNDEFINED);
        }
    });
    let _ = JsFuture::from(timer).await;
}

pub fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// When `now()` was zero, in ms since the Unix epoch (`performance.timeOrigin`).
pub fn time_origin() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .and_then(|p| js_sys::Reflect::get(&p, &"timeOrigin".into()).ok())
        .and_then(|t| t.as_f64())
        .unwrap_or_else(|| js_sys::Date::now() - now())
}

/// Room for a whole run of 100 comics (200 requests) several times over.
pub fn prepare_resource_timing() {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        performance.set_resource_timing_buffer_size(2000);
        performance.clear_resource_timings();
    }
}

/// The browser's own timing of every API request made since `since` (a `now()` value),
/// relative to `since`, in the order they started: `getEntriesByType` already returns them
/// sorted by `startTime` (Performance Timeline), so the page compiles in no sort of its own.
pub fn api_requests_since(since: f64) -> Vec<RequestTiming> {
    let Some(performance) = web_sys::window().and_then(|w| w.performance()) else {
        return Vec::new();
    };
    let entries = performance.get_entries_by_type("resource");
    entries
        .iter()
        .filter_map(|entry| entry.dyn_into::<web_sys::PerformanceResourceTiming>().ok())
        .filter(|entry| entry.start_time() >= since)
        .filter_map(|entry| {
            let url = entry.name();
            let route = Route::parse(&url)?;
            let rel = |t: f64| if t > 0.0 { t - since } else { 0.0 };
            // A phase is shown when it took time: a reused connection reports both its ends
            // at fetchStart.
            let phase = |start: f64, end: f64| (start > 0.0 && end > start).then(|| (rel(start), rel(end)));
            let status = js_sys::Reflect::get(&entry, &"responseStatus".into())
                .ok()
                .and_then(|s| s.as_f64())
                .filter(|&s| s > 0.0)
                .map(|s| s as u16);
            Some(RequestTiming {
                route: Some(route),
                url,
                start: entry.start_time() - since,
                request_start: rel(entry.request_start()),
                response_start: rel(entry.response_start()),
                response_end: rel(entry.response_end()),
                protocol: entry.next_hop_protocol(),
                dns: phase(entry.domain_lookup_start(), entry.domain_lookup_end()),
                connect: opened_connection(&entry)
                    .then(|| (rel(entry.connect_start()), rel(entry.connect_end()))),
                secure_connection_start: Some(entry.secure_connection_start())
                    .filter(|&t| t > 0.0)
                    .map(rel),
                status,
            })
        })
        .collect()
}

/// Whether this request opened a connection of its own. A reused connection reports its
/// set-up at fetchStart with no length; a new one starts later or takes time. Both tests are
/// needed: Firefox rounds to whole milliseconds, so a loopback set-up there often takes "0 ms"
/// (connectStart = connectEnd) but starts after fetchStart.
fn opened_connection(entry: &web_sys::PerformanceResourceTiming) -> bool {
    let (start, end) = (entry.connect_start(), entry.connect_end());
    start > 0.0 && (end > start || start > entry.fetch_start())
}
