//! The README's picture, `docs/screenshot.png`: a finished run of 20 comics fetched all at
//! once over HTTP/1.1 (300 ms per request), taken by every full or quick `cargo xtask bench`
//! (and `--screenshot-only`) from the page it measures, so that it always shows today's page.

use std::{path::Path, time::Duration};

use fanout_e2e::Page;

/// Opens the page on `base`, runs it, and writes the screenshot into `root/docs/`.
pub async fn take(base: &str, root: &Path) {
    let page = Page::attach(base).await;
    page.open("n=20&mode=concurrent&latency_ms=300&jitter_ms=0&seed=7&run=1")
        .await;
    page.wait_for_state("done", Duration::from_secs(60)).await;
    // Tall enough to show the waterfall, with its table closed so that the history shows too.
    page.eval("document.querySelector('[data-testid=waterfall] details').open = false; return null;")
        .await;
    page.client.set_window_size(1280, 2700).await.unwrap();
    // Two animation frames: the resized page has been laid out and painted.
    page.eval_async(
        "const done = arguments[arguments.length - 1];
         requestAnimationFrame(() => requestAnimationFrame(() => done(null)));",
    )
    .await;
    let png = page.client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "Chromium's screenshot is a PNG");
    let out = root.join("docs/screenshot.png");
    std::fs::write(&out, png).unwrap_or_else(|err| panic!("cannot write {}: {err}", out.display()));
    eprintln!("wrote {}", out.display());
    page.close().await;
}
