//! "Export HAR": a run, or the whole history, saved as a HAR 1.2 file through a Blob URL
//! (built in the page from what it already keeps: no server round trip, nothing stored).

use std::sync::Arc;

use leptos::prelude::*;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, Url};

use crate::{
    har::{self, RunRecord},
    state::{AppState, RunStatus},
};

/// The current run's HAR, once it has finished or been stopped.
#[component]
pub fn ExportRun() -> impl IntoView {
    let state = AppState::from_context();
    let finished = move || {
        state
            .run
            .with(|r| matches!(r.status, RunStatus::Done | RunStatus::Cancelled))
    };
    let records = move || {
        let id = state.run.with_untracked(|r| r.id);
        state.history.with_untracked(|rows| {
            rows.iter()
                .filter(|row| row.id == id)
                .map(|row| row.record.clone())
                .collect()
        })
    };
    view! { <ExportButton label="Export HAR" testid="export-run" records hidden=move || !finished() /> }
}

/// Every run in the history, one HAR page each.
#[component]
pub fn ExportHistory() -> impl IntoView {
    let state = AppState::from_context();
    let any = move || state.history.with(|rows| !rows.is_empty());
    // The history is newest first; a HAR lists its pages in the order they happened.
    let records = move || {
        state
            .history
            .with_untracked(|rows| rows.iter().rev().map(|row| row.record.clone()).collect())
    };
    view! { <ExportButton label="Export history as HAR" testid="export-history" records hidden=move || !any() /> }
}

/// A button that saves `records` as `fanout-YYYYMMDD-HHMMSS.har`.
#[component]
fn ExportButton(
    label: &'static str,
    testid: &'static str,
    records: impl Fn() -> Vec<Arc<RunRecord>> + Send + Sync + 'static,
    /// While there is nothing to export. Hidden rather than built when needed: the two
    /// `<Show>`s that built the buttons cost 2,039 B of a first visit's gzip.
    hidden: impl Fn() -> bool + Send + Sync + 'static,
) -> impl IntoView {
    // The previous download's Blob URL, released when the next one is made.
    let previous = StoredValue::new(None::<String>);
    let save = move |_| {
        let records = records();
        let refs: Vec<&RunRecord> = records.iter().map(|record| &**record).collect();
        let log = har::build(&refs, env!("CARGO_PKG_VERSION"));
        // A link made for the one click, never in the document: an `<a>` kept there with no
        // `href` until a download is "a link that is not crawlable" to Lighthouse's SEO audit.
        let Some(anchor) = document()
            .create_element("a")
            .ok()
            .and_then(|a| a.dyn_into::<HtmlAnchorElement>().ok())
        else {
            return;
        };
        let Some(url) = blob_url(&log) else { return };
        if let Some(old) = previous.try_update_value(|p| p.replace(url.clone())).flatten() {
            let _ = Url::revoke_object_url(&old);
        }
        anchor.set_href(&url);
        anchor.set_download(&har::file_name(js_sys::Date::now()));
        anchor.click();
    };
    view! {
        <button type="button" class="export" data-testid=testid hidden=hidden on:click=save>
            {label}
        </button>
    }
}

/// The log as JSON in a Blob, by the browser's own `JSON.stringify` (no JSON writer in the
/// page's wasm).
fn blob_url(log: &har::Har) -> Option<String> {
    let value = log
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .ok()?;
    let text =
        js_sys::JSON::stringify_with_replacer_and_space(&value, &JsValue::NULL, &JsValue::from(1)).ok()?;
    let options = BlobPropertyBag::new();
    options.set_type("application/json");
    let parts = js_sys::Array::of1(&text);
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
    Url::create_object_url_with_blob(&blob).ok()
}
