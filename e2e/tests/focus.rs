//! Focus and typing, as a keyboard user meets them: a retried tile keeps the focus, the
//! viewer hands it back to the tile that opened it, and the form never rewrites a field
//! while someone types in it.

use std::time::Duration;

use fanout_e2e::Page;
use fantoccini::{Locator, key::Key};

const SECS: Duration = Duration::from_secs(20);

/// True when the focus is inside the tile of comic `num` (the tile itself counts).
fn focus_in_tile(num: u32) -> String {
    format!(
        "const t = document.querySelector('[data-testid=tile][data-num=\"{num}\"]'); \
         return t !== null && t.contains(document.activeElement);"
    )
}

/// Presses `key` on the element `selector`, through WebDriver's keyboard.
async fn press(page: &Page, selector: &str, key: Key) {
    page.client
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|err| panic!("{selector}: {err}"))
        .send_keys(&key.to_string())
        .await
        .unwrap_or_else(|err| panic!("{key:?} on {selector}: {err}"));
}

#[tokio::test]
async fn a_keyboard_retry_keeps_the_focus_in_its_tile() {
    let page = Page::start().await;
    page.open("comics=5&latency_ms=0&jitter_ms=0&fail_rate=1&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    // The retry takes a while (and then loads), so the focus is seen while the button is gone.
    page.eval(
        "for (const [name, value] of [['fail_rate', '0'], ['latency_ms', '800']]) { \
           const f = document.querySelector(`input[name=${name}]`); f.value = value; \
           f.dispatchEvent(new Event('input')); \
         } return null;",
    )
    .await;
    press(&page, "[data-testid=retry]", Key::Enter).await;
    page.wait_until(
        "document.querySelector('[data-testid=tile][data-num=\"5\"][data-state=pending]')",
        SECS,
    )
    .await;
    assert_eq!(
        page.eval(&focus_in_tile(5)).await,
        true,
        "while the comic is fetched again, focus stays in its tile"
    );
    page.wait_until(
        "document.querySelector('[data-testid=tile][data-num=\"5\"][data-state=loaded]')",
        SECS,
    )
    .await;
    assert_eq!(page.eval(&focus_in_tile(5)).await, true, "and once it has loaded");
    assert_eq!(
        page.eval("return document.activeElement === document.body;")
            .await,
        false
    );
    page.close().await;
}

#[tokio::test]
async fn the_viewer_hands_the_focus_back_to_the_tile_that_opened_it() {
    let page = Page::start().await;
    page.open("comics=1,2,3&latency_ms=0&jitter_ms=0&run=1").await;
    page.wait_for_state("done", SECS).await;
    let opener = "[data-testid=tile][data-num=\"2\"] button";
    press(&page, opener, Key::Enter).await;
    page.wait_until("document.querySelector('[data-testid=viewer]').open", SECS)
        .await;
    press(&page, "[data-testid=viewer] .close", Key::Enter).await;
    page.wait_until("!document.querySelector('[data-testid=viewer]').open", SECS)
        .await;
    page.wait_until(
        &format!("document.activeElement === document.querySelector('{opener}')"),
        SECS,
    )
    .await;

    // Opened again, and a Compare run rewrites every tile while the viewer is open: on close,
    // focus returns to the tile at the same place, not to <body>.
    press(&page, opener, Key::Enter).await;
    page.wait_until("document.querySelector('[data-testid=viewer]').open", SECS)
        .await;
    page.eval(
        "const l = document.querySelector('input[name=latency_ms]'); l.value = '1500'; \
         l.dispatchEvent(new Event('input')); \
         document.querySelector('[data-testid=compare]').click(); return null;",
    )
    .await;
    page.wait_until(
        "document.querySelector('[data-testid=run-summary]').dataset.state === 'running'",
        SECS,
    )
    .await;
    press(&page, "[data-testid=viewer] .close", Key::Escape).await;
    page.wait_until("!document.querySelector('[data-testid=viewer]').open", SECS)
        .await;
    page.wait_until(
        "document.querySelectorAll('[data-testid=tile]')[1].contains(document.activeElement)",
        SECS,
    )
    .await;
    page.click("stop").await;
    page.close().await;
}

#[tokio::test]
async fn typing_into_a_number_or_rate_field_is_never_rewritten() {
    let page = Page::start().await;
    page.open("n=2&latency_ms=0&jitter_ms=0").await;
    page.wait_until("document.querySelector('[data-testid=origin]')", SECS)
        .await;
    // Each key is typed on its own by WebDriver, and the page answers every one of them.
    for (name, typed) in [("fail_rate", "12.50"), ("latency_ms", "0010"), ("n", "02")] {
        let selector = format!("input[name={name}]");
        page.eval(&format!(
            "const f = document.querySelector('{selector}'); f.value = ''; f.focus(); return null;"
        ))
        .await;
        let field = page.client.find(Locator::Css(&selector)).await.unwrap();
        for key in typed.chars() {
            field.send_keys(&key.to_string()).await.unwrap();
        }
        let shown = page
            .eval(&format!("return document.querySelector('{selector}').value;"))
            .await;
        assert_eq!(shown, typed, "{name} shows what was typed");
    }
    // And what was typed is what the run uses (a decimal rate does not block the form).
    page.click("run").await;
    page.wait_for_state("done", SECS).await;
    let search = page.eval("return location.search;").await;
    let search = search.as_str().unwrap();
    assert!(search.contains("fail_rate=0.125"), "{search}");
    assert!(search.contains("latency_ms=10"), "{search}");
    page.close().await;
}
