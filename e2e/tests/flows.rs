//! The page's flows, end to end: stop and restart, error isolation and retry, URL state,
//! compare (every strategy, the server's gather included), and the large view.

use std::time::Duration;

use fanout_api::{ComicId, NetSim, routes};
use fanout_e2e::Page;
use fanout_proxy::demo_network::{Fault, plan};

const SECS: Duration = Duration::from_secs(30);

async fn loaded_count(page: &Page) -> usize {
    page.tiles().await.iter().filter(|(_, s)| s == "loaded").count()
}

#[tokio::test]
async fn stop_aborts_the_run_and_no_tile_lands_late() {
    let page = Page::start().await;
    page.stop_after_first_tile(
        "comics=11,12,13,14,15,16&mode=sequential&latency_ms=400&jitter_ms=0&run=1",
        SECS,
    )
    .await;
    let at_stop = loaded_count(&page).await;
    assert!(at_stop < 6, "stopped part-way");
    // Long enough for every remaining request to have finished, had it not been aborted.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(loaded_count(&page).await, at_stop, "no tile landed after Stop");
    assert_eq!(page.summary().await["state"], "cancelled");
    let aborted = page
        .eval("return performance.getEntriesByType('resource').filter(e => e.name.includes('/api/comics/16')).length;")
        .await;
    assert_eq!(aborted, 0, "comic 16 was never requested after the stop");
    page.close().await;
}

#[tokio::test]
async fn a_new_run_replaces_the_old_one_entirely() {
    let page = Page::start().await;
    page.open("comics=21,22,23&mode=concurrent&latency_ms=1500&jitter_ms=0&run=1")
        .await;
    page.wait_for_state("running", SECS).await;
    page.eval(
        "const f = document.querySelector('input[name=comics]'); f.value = '31,32'; \
         f.dispatchEvent(new Event('input')); \
         const l = document.querySelector('input[name=latency_ms]'); l.value = '10'; \
         l.dispatchEvent(new Event('input')); return null;",
    )
    .await;
    page.click("run").await;
    page.wait_for_state("done", SECS).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let tiles = page.tiles().await;
    assert_eq!(
        tiles,
        vec![(31, "loaded".to_string()), (32, "loaded".to_string())]
    );
    page.close().await;
}

#[tokio::test]
async fn failures_stay_in_their_own_tiles_and_can_be_retried() {
    let page = Page::start().await;
    page.open("comics=1,404,614,1608&latency_ms=0&jitter_ms=0&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    let summary = page.summary().await;
    assert_eq!(
        (summary["loaded"].as_str(), summary["failed"].as_str()),
        (Some("2"), Some("2")),
        "{summary}"
    );
    let tiles = page.tiles().await;
    assert_eq!(
        tiles,
        vec![
            (1, "loaded".into()),
            (404, "error".into()),
            (614, "loaded".into()),
            (1608, "error".into())
        ]
    );
    let reasons = page
        .eval("return [...document.querySelectorAll('[data-testid=tile-error]')].map(e => e.textContent);")
        .await;
    let reasons = reasons.to_string();
    assert!(
        reasons.contains("404") && reasons.contains("no comic 404"),
        "{reasons}"
    );
    assert!(reasons.contains("interactive"), "{reasons}");
    let retries = page.count("[data-testid=retry]").await;
    assert_eq!(retries, 0, "no retry is offered where it cannot help");

    // A comic that failed by chance succeeds on retry (a fresh draw of the faults).
    page.open("comics=5&latency_ms=0&jitter_ms=0&fail_rate=1&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    assert_eq!(page.tiles().await, vec![(5, "error".to_string())]);
    page.eval(
        "const f = document.querySelector('input[name=fail_rate]'); f.value = '0'; \
         f.dispatchEvent(new Event('input')); return null;",
    )
    .await;
    page.click("retry").await;
    page.wait_until(
        "document.querySelector('[data-testid=tile][data-state=loaded]')",
        SECS,
    )
    .await;
    assert_eq!(page.summary().await["failed"], "0");
    page.close().await;
}

/// A seed under which comic `num`'s metadata loads but its image fails with an upstream
/// error, and a retry (the next attempt) gets both: drawn with the proxy's own simulation,
/// so the test knows in advance.
fn seed_where_only_the_image_fails(num: u32, image: &str) -> u64 {
    let faults = |seed, attempt| {
        let sim = NetSim {
            fail_rate: 0.5,
            seed,
            attempt,
            ..NetSim::default()
        };
        (
            plan(&sim, &routes::comic(ComicId::Number(num)), false).fault,
            plan(&sim, image, true).fault,
        )
    };
    (1..10_000)
        .find(|&seed| faults(seed, 0) == (None, Some(Fault::ServerError)) && faults(seed, 1) == (None, None))
        .expect("some seed draws that sequence")
}

#[tokio::test]
async fn an_image_failure_names_its_status_and_offers_retry_only_where_it_helps() {
    let page = Page::start().await;
    // The image is missing: nothing a retry could fix.
    page.open("comics=5&latency_ms=0&jitter_ms=0&missing_rate=1&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    assert_eq!(page.tiles().await, vec![(5, "error".to_string())]);
    let reason = page.text("[data-testid=tile-error]").await;
    assert!(
        reason.contains("HTTP 404") && reason.contains("no such image"),
        "{reason}"
    );
    let retries = page.count("[data-testid=retry]").await;
    assert_eq!(retries, 0);

    // The upstream failed on the image alone: worth another try.
    let image = "/api/img/recursive_telescope_5.png";
    let seed = seed_where_only_the_image_fails(5, image);
    page.open(&format!(
        "comics=5&latency_ms=0&jitter_ms=0&fail_rate=0.5&seed={seed}&run=1"
    ))
    .await;
    page.wait_for_state("done", SECS).await;
    let reason = page.text("[data-testid=tile-error]").await;
    assert!(
        reason.contains("HTTP 502") && reason.contains("upstream failed"),
        "{reason}"
    );
    page.click("retry").await;
    page.wait_until(
        "document.querySelector('[data-testid=tile][data-state=loaded]')",
        SECS,
    )
    .await;
    assert_eq!(page.summary().await["failed"], "0");
    page.close().await;
}

#[tokio::test]
async fn stop_cancels_an_image_download_in_flight() {
    let page = Page::start().await;
    page.open("comics=7&latency_ms=3000&jitter_ms=0&run=1").await;
    // The metadata has arrived, so the image is now on its way.
    page.wait_until(
        "performance.getEntriesByType('resource').some(e => e.name.includes('/api/comics/7'))",
        SECS,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    page.click("stop").await;
    page.wait_for_state("cancelled", SECS).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The browser records a cancelled download as a request that ended without a status,
    // long before the 3 s it would have taken.
    let image = page
        .eval(
            "const e = performance.getEntriesByType('resource').filter(e => e.name.includes('/api/img/')); \
             return e.map(x => [x.responseStatus, x.duration]);",
        )
        .await;
    let image: Vec<(u16, f64)> = serde_json::from_value(image).unwrap();
    assert_eq!(image.len(), 1, "{image:?}");
    let (status, duration) = image[0];
    assert_eq!(status, 0, "the download was cut off, not answered");
    assert!(duration < 2000.0, "{duration} ms");
    assert_eq!(page.tiles().await, vec![(7, "cancelled".to_string())]);
    page.close().await;
}

#[tokio::test]
async fn stopped_tiles_say_so_and_count_as_neither_loaded_nor_failed() {
    let page = Page::start().await;
    // Comic 404 fails at once; 11 loads; 12 and 13 are still on their way at the stop.
    page.stop_after_first_tile(
        "comics=404,11,12,13&mode=sequential&latency_ms=600&jitter_ms=0&run=1",
        SECS,
    )
    .await;
    assert_eq!(
        page.tiles().await,
        vec![
            (404, "error".to_string()),
            (11, "loaded".to_string()),
            (12, "cancelled".to_string()),
            (13, "cancelled".to_string()),
        ]
    );
    let labels = page
        .eval("return [...document.querySelectorAll('[data-testid=tile][data-state=cancelled] [data-testid=tile-stopped]')].map(e => e.textContent);")
        .await;
    assert_eq!(labels, serde_json::json!(["stopped", "stopped"]));
    assert_eq!(
        page.count(
            "[data-state=cancelled] [data-testid=tile-error], [data-state=cancelled] [data-testid=retry]"
        )
        .await,
        0,
        "a stopped comic is not an error and offers no retry"
    );
    let summary = page.summary().await;
    assert_eq!(
        (summary["loaded"].as_str(), summary["failed"].as_str()),
        (Some("1"), Some("1")),
        "{summary}"
    );
    let progress = page.text("[data-testid=progress]").await;
    assert!(progress.contains("2 of 4 settled"), "{progress}");
    let history = page
        .eval("const r = document.querySelector('[data-testid=history-row]'); return [r.lastElementChild.textContent, r.children[9].textContent];")
        .await;
    assert_eq!(
        history,
        serde_json::json!(["cancelled", "1"]),
        "stopped comics are not failures"
    );
    page.close().await;
}

/// A seed under which, with half the requests failing, comic `retried`'s metadata fails and
/// its retry (the next attempt) loads, while every request of `spared` loads at once: drawn
/// with the proxy's own simulation, so the test knows in advance.
async fn seed_where_only_the_first_try_fails(page: &Page, retried: u32, spared: u32) -> u64 {
    let image = |num: u32| async move { page.comic(num).await.img.expect("a comic with an image") };
    let (retried_image, spared_image) = (image(retried).await, image(spared).await);
    let fault = |seed, attempt, path: &str, is_image| {
        let sim = NetSim {
            fail_rate: 0.5,
            seed,
            attempt,
            ..NetSim::default()
        };
        plan(&sim, path, is_image).fault
    };
    let metadata = |num: u32| routes::comic(ComicId::Number(num));
    (1..10_000)
        .find(|&seed| {
            fault(seed, 0, &metadata(retried), false) == Some(Fault::ServerError)
                && fault(seed, 1, &metadata(retried), false).is_none()
                && fault(seed, 1, &retried_image, true).is_none()
                && fault(seed, 0, &metadata(spared), false).is_none()
                && fault(seed, 0, &spared_image, true).is_none()
        })
        .expect("some seed draws that outcome")
}

#[tokio::test]
async fn stop_during_a_retry_stops_the_retry_too() {
    let page = Page::start().await;
    let seed = seed_where_only_the_first_try_fails(&page, 5, 6).await;
    // One after another: comic 5 fails after 1.5 s, then comic 6 keeps the run going for 3 s,
    // long enough to press Retry on 5 and then Stop while both are in flight.
    page.open(&format!(
        "comics=5,6&mode=sequential&latency_ms=1500&jitter_ms=0&fail_rate=0.5&seed={seed}&run=1"
    ))
    .await;
    page.wait_until(
        "document.querySelector('[data-testid=tile][data-num=\"5\"][data-state=error]')",
        SECS,
    )
    .await;
    page.click("retry").await;
    // The retry is under way (its tile waits again) while comic 6 still keeps the run going.
    page.wait_until(
        "document.querySelector('[data-testid=tile][data-num=\"5\"][data-state=pending]')",
        SECS,
    )
    .await;
    assert_eq!(page.summary().await["state"], "running");
    page.click("stop").await;
    page.wait_for_state("cancelled", SECS).await;
    // Longer than the retry's metadata and image would have taken, had Stop not reached it.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        page.tiles().await,
        vec![(5, "cancelled".to_string()), (6, "cancelled".to_string())],
        "nothing painted after Stop"
    );
    let summary = page.summary().await;
    assert_eq!(
        (summary["loaded"].as_str(), summary["failed"].as_str()),
        (Some("0"), Some("0")),
        "{summary}"
    );
    page.close().await;
}

#[tokio::test]
async fn the_url_holds_the_run() {
    let page = Page::start().await;
    page.open("n=4&mode=limited&limit=2&latency_ms=0&jitter_ms=0&seed=3&priority=none&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    assert_eq!(page.tiles().await.len(), 4);
    let url = page.client.current_url().await.unwrap().to_string();
    for part in [
        "n=4",
        "mode=limited",
        "limit=2",
        "latency_ms=0",
        "seed=3",
        "priority=none",
    ] {
        assert!(url.contains(part), "{part} in {url}");
    }

    let row = page
        .eval("return document.querySelector('[data-testid=history-row]').dataset.priority;")
        .await;
    assert_eq!(row, "none", "the run's priority setting is on record");

    page.open("n=500&mode=warp&latency_ms=-1&priority=fast").await;
    let problems = page.text("[data-testid=problems]").await;
    assert!(
        problems.contains("n must be")
            && problems.contains("mode must be")
            && problems.contains("latency_ms")
            && problems.contains("priority must be images or none"),
        "{problems}"
    );
    assert_eq!(
        page.summary().await["state"],
        "idle",
        "nothing runs by itself without run=1"
    );
    page.close().await;
}

#[tokio::test]
async fn compare_runs_the_same_comics_every_way_and_once_without_hints() {
    let page = Page::start().await;
    page.open("comics=2,3,4,5&latency_ms=150&jitter_ms=0").await;
    page.wait_until("document.querySelector('[data-testid=origin]')", SECS)
        .await;
    page.click("compare").await;
    page.wait_until(
        "document.querySelectorAll('[data-testid=history-row]').length === 6",
        SECS,
    )
    .await;
    page.wait_for_state("done", SECS).await;
    let rows = page
        .eval("return [...document.querySelectorAll('[data-testid=history-row]')].map(r => [r.dataset.mode, r.dataset.priority, Number(r.dataset.totalMs), Number(r.dataset.meanMs)]);")
        .await;
    let rows: Vec<(String, String, f64, f64)> = serde_json::from_value(rows).unwrap();
    let wall = |mode: &str| rows.iter().find(|r| r.0 == mode).unwrap().2;
    // Newest first: all at once without hints ran last.
    assert_eq!(
        rows.iter()
            .map(|r| (r.0.as_str(), r.1.as_str()))
            .collect::<Vec<_>>(),
        [
            ("concurrent", "none"),
            ("gather-all", "images"),
            ("gather", "images"),
            ("concurrent", "images"),
            ("limited", "images"),
            ("sequential", "images")
        ]
    );
    // Four chains of 300 ms: one after another costs about four times as much as all at once.
    assert!(wall("sequential") >= 1200.0, "{rows:?}");
    assert!(wall("concurrent") < wall("sequential") / 2.0, "{rows:?}");
    assert!(rows.iter().all(|r| r.3 > 0.0 && r.3 <= r.2), "{rows:?}");
    // The summary's progress curve overlays the whole batch; so does the history's.
    let lines = |scope: &str| {
        format!(
            "return [...document.querySelectorAll('[data-testid={scope}] [data-testid=curve-line]')].map(l => Number(l.dataset.settled));"
        )
    };
    assert_eq!(
        page.eval(&lines("run-summary")).await,
        serde_json::json!([4, 4, 4, 4, 4, 4])
    );
    assert_eq!(
        page.eval(&lines("history")).await,
        serde_json::json!([4, 4, 4, 4, 4, 4])
    );
    let legend = page.text("[data-testid=history] .legend").await;
    for strategy in [
        "all at once, no hints",
        "server gathers, streamed",
        "server gathers, waits for all",
    ] {
        assert!(legend.contains(strategy), "{strategy} in {legend}");
    }
    page.close().await;
}

#[tokio::test]
async fn a_tile_opens_large_with_its_details() {
    let page = Page::start().await;
    page.open("comics=614&latency_ms=0&jitter_ms=0&run=1").await;
    page.wait_for_state("done", SECS).await;
    page.eval("document.querySelector('[data-testid=tile] button').click(); return null;")
        .await;
    page.wait_until("document.querySelector('[data-testid=viewer]').open", SECS)
        .await;
    let text = page.text("[data-testid=viewer]").await;
    assert!(text.contains("#614"), "{text}");
    let link = page
        .eval("return document.querySelector('[data-testid=viewer] a').href;")
        .await;
    assert_eq!(link, "https://xkcd.com/614/");
    let focused = page
        .eval("return document.querySelector('[data-testid=viewer]').contains(document.activeElement);")
        .await;
    assert_eq!(focused, true, "focus moves into the dialog");
    page.eval("document.querySelector('[data-testid=viewer] .close').click(); return null;")
        .await;
    page.wait_until("!document.querySelector('[data-testid=viewer]').open", SECS)
        .await;
    page.close().await;
}

#[tokio::test]
async fn tiles_fade_in_unless_many_arrive_at_once() {
    let page = Page::start().await;
    let entrance = "return getComputedStyle(document.querySelector('[data-testid=tile][data-state=loaded] .tile-body')).animationName;";
    page.open("comics=1,2,3&latency_ms=0&jitter_ms=0&run=1").await;
    page.wait_for_state("done", SECS).await;
    assert_eq!(page.eval(entrance).await, "arrive");
    // Thirty comics: the fades would cost the run more than they show.
    page.open("n=30&latency_ms=0&jitter_ms=0&run=1").await;
    page.wait_for_state("done", SECS).await;
    assert_eq!(page.eval(entrance).await, "none");
    page.close().await;
}

#[tokio::test]
async fn in_completion_order_settled_tiles_come_first_under_the_pages_csp() {
    // The proxy's CSP refuses `style` attributes that arrive as markup, so each tile's place
    // must reach its `order` another way; with it refused, every tile would sit at 0.
    let page = Page::start().await;
    let orders = "return [...document.querySelectorAll('[data-testid=tile]')]\
                  .map(t => Number(getComputedStyle(t).order));";
    page.open("comics=1,2,3,4,5,6&mode=concurrent&latency_ms=50&jitter_ms=400&seed=7&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    let mut places: Vec<u64> = serde_json::from_value(page.eval(orders).await).unwrap();
    places.sort_unstable();
    assert_eq!(
        places,
        (0..6).collect::<Vec<u64>>(),
        "each tile at its own settled place"
    );

    page.open("comics=1,2,3,4,5,6&mode=concurrent&latency_ms=50&jitter_ms=400&seed=7&order=grid&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    let places: Vec<u64> = serde_json::from_value(page.eval(orders).await).unwrap();
    assert_eq!(places, vec![0; 6], "the grid keeps the list's own order");
    page.close().await;
}
