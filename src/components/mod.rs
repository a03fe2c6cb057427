//! The page, one component per concern.

mod app;
mod chart;
mod controls;
mod gallery;
mod history;
mod progress_curve;
mod summary;
mod tile;
mod viewer;
mod waterfall;

pub use app::App;

/// `1234` → `"1,234 ms"`-style whole milliseconds for display.
pub(crate) fn ms(value: f64) -> String {
    format!("{} ms", value.round() as i64)
}
