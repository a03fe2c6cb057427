//! Fanout: see what concurrent requests buy you in a browser.
//!
//! The plain-Rust parts (what a run is, scheduling, timing arithmetic, chart geometry, picking
//! comics, splitting a streamed body into lines) know nothing of the DOM and are tested
//! natively; the components render them with Leptos.

pub mod har;
pub mod hints;
pub mod line_reader;
pub mod ndjson;
pub mod pick;
pub mod plot;
pub mod run_config;
pub mod schedule;
pub mod state;
pub mod stats;

mod api_client;
mod components;
mod runner;
mod url_state;

pub use components::{App, TileView};

/// Mounts the app on `<body>`.
pub fn mount() {
    // A panic's message and place go to the console; the trap that follows gives the stack.
    // (console_error_panic_hook does the same with a JS stack, for 0.3 KB more gzip.)
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&info.to_string().into())
    }));
    // The masthead index.html paints before the wasm arrives gives way to the app's own,
    // which renders the same markup in the same place: no layout shift.
    if let Some(masthead) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("static-masthead"))
    {
        masthead.remove();
    }
    leptos::mount::mount_to_body(App);
    // The benchmark reads this to time navigation-to-interactive.
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark("fanout-interactive");
    }
}
