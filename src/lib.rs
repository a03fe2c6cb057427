//! Fanout: see what concurrent requests buy you in a browser.
//!
//! The plain-Rust parts (what a run is, scheduling, timing arithmetic, chart geometry, picking
//! comics, splitting a streamed body into lines) know nothing of the DOM and are tested
//! natively; the components render them with Leptos.

pub mod line_reader;
pub mod ndjson;
pub mod pick;
pub mod plot;
pub mod run_config;
pub mod schedule;
pub mod stats;

mod api_client;
mod components;
mod runner;
mod state;
mod url_state;

pub use components::App;

/// Mounts the app on `<body>`.
pub fn mount() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
    // The benchmark reads this to time navigation-to-interactive.
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark("fanout-interactive");
    }
}
