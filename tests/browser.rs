//! Component behaviour in a real browser (wasm-bindgen-test in headless Chromium). No proxy
//! runs here, so the page must also cope with the API being unreachable.
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use fanout::{
    TileView,
    run_config::RunConfig,
    state::{AppState, Tile, TileState},
    stats::ChainTiming,
};
use fanout_api::Comic;
use leptos::prelude::Update;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{HtmlElement, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// Mounts the whole app at `query` into a fresh container and returns that container.
fn mount_at(query: &str) -> HtmlElement {
    let window = web_sys::window().unwrap();
    let path = window.location().pathname().unwrap();
    window
        .history()
        .unwrap()
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("{path}?{query}")))
        .unwrap();
    let container: HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&container).unwrap();
    std::mem::forget(leptos::mount::mount_to(container.clone(), fanout::App));
    container
}

/// Waits until `check` finds what it looks for, looking again every few milliseconds for at
/// most ten seconds.
async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..1000 {
        if let Some(found) = check() {
            return found;
        }
        gloo_timers::future::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

async fn wait_for(container: &HtmlElement, selector: &str) -> web_sys::Element {
    for _ in 0..1000 {
        if let Some(found) = container.query_selector(selector).unwrap() {
            return found;
        }
        gloo_timers::future::sleep(Duration::from_millis(10)).await;
    }
    panic!("never found {selector} in {}", container.inner_html());
}

fn input(container: &HtmlElement, selector: &str) -> HtmlInputElement {
    container
        .query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no {selector}"))
        .unchecked_into()
}

#[wasm_bindgen_test]
async fn starts_idle_with_the_url_settings() {
    let app = mount_at("n=7&mode=limited&limit=3&latency_ms=250");
    let summary = wait_for(&app, "[data-testid=run-summary][data-state=idle]").await;
    assert_eq!(summary.get_attribute("data-loaded").as_deref(), Some("0"));
    until("n shows 7", || {
        (input(&app, "input[name=n]").value() == "7").then_some(())
    })
    .await;
    assert!(input(&app, "input[value=limited]").checked());
    assert!(
        !input(&app, "input[name=limit]").disabled(),
        "k is editable in limited mode"
    );
    assert_eq!(app.query_selectorAll_count("[data-testid=tile]"), 0);
    assert!(app.query_selector("[data-testid=problems]").unwrap().is_none());
}

#[wasm_bindgen_test]
async fn images_first_is_on_unless_the_url_turns_it_off() {
    let app = mount_at("n=3");
    let priority = wait_for(&app, "input[name=priority]").await;
    until("priority hints on by default", || {
        input(&app, "input[name=priority]").checked().then_some(())
    })
    .await;
    let label = priority.parent_element().unwrap().text_content().unwrap();
    assert!(label.contains("Images first (priority hints)"), "{label}");
    let off = mount_at("n=3&priority=none");
    wait_for(&off, "input[name=priority]").await;
    until("priority=none turns them off", || {
        (!input(&off, "input[name=priority]").checked()).then_some(())
    })
    .await;
    assert!(off.query_selector("[data-testid=problems]").unwrap().is_none());
}

#[wasm_bindgen_test]
async fn invalid_url_values_are_reported_not_fatal() {
    let app = mount_at("n=0&mode=fast&latency_ms=99999&priority=high");
    let problems = wait_for(&app, "[data-testid=problems]").await;
    let text = problems.text_content().unwrap();
    assert!(text.contains("priority must be images or none"), "{text}");
    assert!(text.contains("n must be"), "{text}");
    assert!(text.contains("mode must be"), "{text}");
    assert!(text.contains("latency_ms must be at most"), "{text}");
    until("the default replaces the bad value", || {
        (input(&app, "input[name=n]").value() == "20").then_some(())
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_bad_comic_list_is_explained_at_the_field() {
    let app = mount_at("");
    let list: HtmlInputElement = wait_for(&app, "input[name=comics]").await.unchecked_into();
    list.set_value("1,0,abc");
    list.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    let error = wait_for(&app, ".field-error").await;
    assert!(
        error.text_content().unwrap().contains("comic number"),
        "{:?}",
        error.text_content()
    );
    assert_eq!(list.get_attribute("aria-invalid").as_deref(), Some("true"));
    list.set_value("1,2");
    list.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    until("the error clears", || {
        app.query_selector(".field-error")
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    until("an explicit list replaces the random count", || {
        input(&app, "input[name=n]").disabled().then_some(())
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_whole_number_out_of_range_is_refused_and_marked() {
    let app = mount_at("n=4");
    let n: HtmlInputElement = wait_for(&app, "input[name=n]").await.unchecked_into();
    until("n shows 4", || (n.value() == "4").then_some(())).await;
    let latency = input(&app, "input[name=latency_ms]");
    for (field, value) in [(&n, "0"), (&latency, "99999999")] {
        field.set_value(value);
        field
            .dispatch_event(&web_sys::Event::new("input").unwrap())
            .unwrap();
        until("the field is marked invalid", || {
            (field.get_attribute("aria-invalid").as_deref() == Some("true")).then_some(())
        })
        .await;
        assert_eq!(field.value(), value, "what was typed stays for the person to fix");
    }
    n.set_value("5");
    n.dispatch_event(&web_sys::Event::new("input").unwrap()).unwrap();
    until("a value in range is accepted", || {
        (n.get_attribute("aria-invalid").as_deref() == Some("false")).then_some(())
    })
    .await;
}

/// One tile, at slot 0 of a fresh page state, in a fresh container.
fn mount_tile(tile: Tile) -> (HtmlElement, AppState) {
    let state = AppState::new(RunConfig::default(), Vec::new());
    state.show_tiles([tile]);
    let container: HtmlElement = document().create_element("ol").unwrap().unchecked_into();
    document().body().unwrap().append_child(&container).unwrap();
    std::mem::forget(leptos::mount::mount_to(container.clone(), move || {
        leptos::prelude::provide_context(state);
        leptos::view! { <TileView index=0 /> }
    }));
    (container, state)
}

fn hostile_comic() -> Comic {
    Comic {
        num: 614,
        year: "2009".into(),
        month: "7".into(),
        day: "24".into(),
        title: "x".into(),
        safe_title: "<img src=x onerror=alert(1)>Wood&pecker".into(),
        alt: "\"><script>alert(2)</script>".into(),
        img: Some("/api/img/woodpecker.png".into()),
        link: String::new(),
        news: String::new(),
        transcript: String::new(),
        interactive: false,
    }
}

#[wasm_bindgen_test]
async fn a_tile_shows_each_of_its_four_states_in_place() {
    let (app, state) = mount_tile(Tile::pending(614, 0));
    let item = wait_for(&app, "li[data-testid=tile][data-state=pending]").await;
    assert!(item.text_content().unwrap().contains("#614"));
    assert_eq!(item.get_attribute("data-ms").as_deref(), Some(""));

    let timing = ChainTiming {
        started: 10.0,
        metadata_done: 130.4,
        finished: 1310.0,
        network_ms: None,
    };
    let settle = |new_state: TileState| {
        state.tile(0).unwrap().update(|tile| {
            tile.state = new_state;
            tile.settled_as = Some(0);
            tile.timing = Some(timing);
        })
    };
    settle(TileState::Failed {
        reason: "HTTP 502: <bad> gateway".into(),
        retryable: true,
    });
    wait_for(&app, "li[data-state=error] [data-testid=retry]").await;
    let same_item = app.query_selector("li").unwrap().unwrap();
    assert!(
        same_item.is_same_node(Some(&item)),
        "the <li> is updated in place"
    );
    assert_eq!(item.get_attribute("data-ms").as_deref(), Some("1300"));
    assert_eq!(
        app.query_selector("[data-testid=tile-error]")
            .unwrap()
            .unwrap()
            .text_content()
            .as_deref(),
        Some("HTTP 502: <bad> gateway")
    );

    settle(TileState::Failed {
        reason: "HTTP 404: no such comic".into(),
        retryable: false,
    });
    until("a permanent failure offers no retry", || {
        (item.get_attribute("data-state").as_deref() == Some("error")
            && app.query_selector("[data-testid=retry]").unwrap().is_none())
        .then_some(())
    })
    .await;

    settle(TileState::Loaded {
        comic: Box::new(hostile_comic()),
        image_url: "/api/img/woodpecker.png?a=1&b=2".into(),
    });
    let button = wait_for(&app, "li[data-state=loaded] button.tile-body").await;
    assert_eq!(item.get_attribute("data-metadata-ms").as_deref(), Some("120"));
    let img = app.query_selector("img").unwrap().unwrap();
    assert_eq!(
        img.get_attribute("src").as_deref(),
        Some("/api/img/woodpecker.png?a=1&b=2")
    );
    assert!(app.text_content().unwrap().contains("1,300 ms"));

    state
        .tile(0)
        .unwrap()
        .update(|tile| tile.state = TileState::Cancelled);
    wait_for(&app, "li[data-state=cancelled] [data-testid=tile-stopped]").await;
    assert!(!button.is_connected(), "the image's button went with its state");
    assert_eq!(
        item.get_attribute("data-ms").as_deref(),
        Some(""),
        "no timing from the try before"
    );
}

#[wasm_bindgen_test]
async fn hostile_titles_are_text_not_markup() {
    let mut tile = Tile::pending(614, 0);
    tile.state = TileState::Loaded {
        comic: Box::new(hostile_comic()),
        image_url: "/api/img/woodpecker.png".into(),
    };
    let (app, _) = mount_tile(tile);
    let caption = wait_for(&app, ".caption").await;
    assert_eq!(
        caption.text_content().as_deref(),
        Some("#614 <img src=x onerror=alert(1)>Wood&pecker")
    );
    assert_eq!(
        app.query_selector_all("img").unwrap().length(),
        1,
        "only the comic's own image"
    );
    assert!(app.query_selector("script").unwrap().is_none());
    let img = app.query_selector("img").unwrap().unwrap();
    assert_eq!(
        img.get_attribute("alt").as_deref(),
        Some("\"><script>alert(2)</script>")
    );
    let button = app.query_selector("button").unwrap().unwrap();
    assert_eq!(
        button.get_attribute("aria-label").as_deref(),
        Some("#614 <img src=x onerror=alert(1)>Wood&pecker: show large")
    );
}

#[wasm_bindgen_test]
async fn an_unreachable_proxy_is_shown_not_fatal() {
    let app = mount_at("n=3&latency_ms=0&jitter_ms=0");
    let badge = wait_for(&app, "[data-testid=origin].badge-error").await;
    assert!(badge.text_content().unwrap().contains("proxy unreachable"));
    // Run still runs: every comic gets its own error tile, and the run finishes.
    let run: HtmlElement = wait_for(&app, "[data-testid=run]").await.unchecked_into();
    run.click();
    let summary = wait_for(&app, "[data-testid=run-summary][data-state=done]").await;
    assert_eq!(summary.get_attribute("data-failed").as_deref(), Some("3"));
    assert_eq!(app.query_selectorAll_count("[data-testid=tile]"), 3);
    assert_eq!(
        app.query_selectorAll_count("[data-testid=tile][data-state=error]"),
        3
    );
    let reason = app
        .query_selector("[data-testid=tile-error]")
        .unwrap()
        .unwrap()
        .text_content()
        .unwrap();
    assert!(!reason.is_empty(), "each error tile says why");
}

/// A real browser `Response` whose body is a `ReadableStream` fed by the test, chunk by
/// chunk, so the reader meets every cut the network could make.
struct FedBody {
    response: web_sys::Response,
    controller: web_sys::ReadableStreamDefaultController,
    /// Set when the body is cancelled by its reader.
    cancelled: std::rc::Rc<std::cell::Cell<bool>>,
}

impl FedBody {
    fn new() -> Self {
        use std::{cell::RefCell, rc::Rc};
        let controller = Rc::new(RefCell::new(None));
        let cancelled = Rc::new(std::cell::Cell::new(false));
        let source = js_sys::Object::new();
        let start = wasm_bindgen::closure::Closure::once_into_js({
            let controller = controller.clone();
            move |c: web_sys::ReadableStreamDefaultController| *controller.borrow_mut() = Some(c)
        });
        let cancel = wasm_bindgen::closure::Closure::once_into_js({
            let cancelled = cancelled.clone();
            move || cancelled.set(true)
        });
        js_sys::Reflect::set(&source, &"start".into(), &start).unwrap();
        js_sys::Reflect::set(&source, &"cancel".into(), &cancel).unwrap();
        let stream = web_sys::ReadableStream::new_with_underlying_source(&source).unwrap();
        // The constructor calls `start` before it returns.
        let controller = controller.borrow_mut().take().unwrap();
        FedBody {
            response: web_sys::Response::new_with_opt_readable_stream(Some(&stream)).unwrap(),
            controller,
            cancelled,
        }
    }

    fn send(&self, bytes: &[u8]) {
        let chunk = js_sys::Uint8Array::from(bytes);
        self.controller.enqueue_with_chunk(&chunk).unwrap();
    }

    fn reader(&self, max_line_bytes: usize) -> fanout::line_reader::LineReader {
        fanout::line_reader::LineReader::new(&self.response.body().unwrap(), max_line_bytes).unwrap()
    }
}

/// `future`, or a panic naming `what` if it has not finished in 10 s (a guard, not a wait).
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    use futures::future::{Either, select};
    let guard = gloo_timers::future::sleep(Duration::from_secs(10));
    match select(std::pin::pin!(future), std::pin::pin!(guard)).await {
        Either::Left((value, _)) => value,
        Either::Right(_) => panic!("{what} did not happen within 10 s"),
    }
}

#[wasm_bindgen_test]
async fn the_line_reader_hands_out_each_line_when_its_newline_arrives() {
    let body = FedBody::new();
    let mut lines = body.reader(1024);
    let text = "{\"t\":\"€ one\"}\n{\"t\":\"😀 two\"}";
    let bytes = text.as_bytes();
    let inside_the_euro = 7;
    body.send(&bytes[..inside_the_euro]);
    let newline = text.find('\n').unwrap();
    body.send(&bytes[inside_the_euro..newline + 3]);
    // The body is still open: the first line must come without waiting for its end.
    let first = within("the first line", lines.next_line()).await;
    assert_eq!(first, Ok(Some("{\"t\":\"€ one\"}".to_string())));
    body.send(&bytes[newline + 3..]);
    body.controller.close().unwrap();
    assert_eq!(
        lines.next_line().await,
        Ok(Some("{\"t\":\"😀 two\"}".to_string())),
        "a last line without newline still counts"
    );
    assert_eq!(lines.next_line().await, Ok(None));
    assert_eq!(lines.next_line().await, Ok(None));
    assert!(!body.cancelled.get(), "a body read to its end is not cancelled");
}

#[wasm_bindgen_test]
async fn the_line_reader_refuses_an_over_long_line_and_stops_the_body() {
    let body = FedBody::new();
    let mut lines = body.reader(16);
    body.send(b"{\"short\":1}\n{\"long\":\"");
    body.send(&[b'x'; 20]);
    assert_eq!(lines.next_line().await, Ok(Some("{\"short\":1}".to_string())));
    let err = lines.next_line().await.unwrap_err();
    assert_eq!(err, "a line of the stream is longer than 16 bytes");
    assert!(body.cancelled.get(), "the rest of the body is not downloaded");
    assert_eq!(lines.next_line().await, Ok(None));
}

#[wasm_bindgen_test]
async fn the_line_reader_reports_a_broken_body_and_cancels_one_dropped_early() {
    let broken = FedBody::new();
    let mut lines = broken.reader(1024);
    broken.send(b"{\"id\":1}\n{\"id\":");
    assert_eq!(lines.next_line().await, Ok(Some("{\"id\":1}".to_string())));
    broken
        .controller
        .error_with_e(&js_sys::Error::new("connection reset").into());
    let err = lines.next_line().await.unwrap_err();
    assert_eq!(err, "the stream broke off: connection reset");
    assert_eq!(lines.next_line().await, Ok(None));

    let abandoned = FedBody::new();
    let mut lines = abandoned.reader(1024);
    abandoned.send(b"{\"id\":1}\n");
    assert_eq!(lines.next_line().await, Ok(Some("{\"id\":1}".to_string())));
    drop(lines);
    assert!(abandoned.cancelled.get(), "a reader dropped mid-body cancels it");
}

trait CountSelector {
    #[allow(non_snake_case)]
    fn query_selectorAll_count(&self, selector: &str) -> u32;
}

impl CountSelector for HtmlElement {
    fn query_selectorAll_count(&self, selector: &str) -> u32 {
        self.query_selector_all(selector).unwrap().length()
    }
}
