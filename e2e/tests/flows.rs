//! The page's flows, end to end: stop and restart, error isolation and retry, URL state,
//! compare (every strategy, the server's gather included), and the large view.

use std::time::Duration;

use fanout_api::{ComicId, NetSim, routes};
use fanout_e2e::{
    Page,
    upstream::{image, metadata},
};
use fanout_proxy::demo_network::{Fault, plan};

const SECS: Duration = Duration::from_secs(30);

async fn loaded_count(page: &Page) -> usize {
    page.tiles().await.iter().filter(|(_, s)| s == "loaded").count()
}

#[tokio::test]
async fn after_stop_the_proxy_is_asked_for_nothing_and_no_tile_lands() {
    // Every request waits 200 ms upstream: one after another, comic 16's metadata would be
    // asked for five chains (2 s) after comic 11's.
    let chain = Duration::from_millis(400);
    let (page, upstream) = Page::start_on_stand_in(Box::new(|_: &str| Duration::from_millis(200))).await;
    page.stop_after_first_tile("comics=11,12,13,14,15,16&mode=sequential&run=1", SECS)
        .await;
    let at_stop = loaded_count(&page).await;
    assert_eq!(at_stop, 1, "stopped after the first comic");
    // Watch for longer than the rest of the run would have taken.
    let started = upstream
        .arrived_at(&metadata(11))
        .expect("comic 11 was asked for");
    let would_have_ended = started + chain * 6 + Duration::from_millis(500);
    page.wait_for("the rest of the run would have ended", SECS, || {
        std::time::Instant::now() >= would_have_ended
    })
    .await;
    // Comic 12's metadata may have gone out before Stop; nothing after it. (The latest
    // comic, which the proxy may ask for to check numbers against, is no comic's request.)
    let mut asked = upstream.paths();
    asked.retain(|path| path != "/info.0.json");
    let allowed = [metadata(11), image(11), metadata(12)];
    assert!(
        asked.iter().all(|path| allowed.contains(path)),
        "the proxy was asked for more after Stop: {asked:?}"
    );
    assert_eq!(loaded_count(&page).await, at_stop, "no tile landed after Stop");
    assert_eq!(page.summary().await["state"], "cancelled");
    page.close().await;
}

#[tokio::test]
async fn a_new_run_replaces_the_old_one_entirely() {
    // The old run's comics take 1 s per request upstream, the new run's none.
    let slow = Duration::from_millis(1000);
    let (page, upstream) = Page::start_on_stand_in(Box::new(move |path: &str| {
        if (21..=23).any(|n| path == metadata(n) || path == image(n)) {
            slow
        } else {
            Duration::ZERO
        }
    }))
    .await;
    page.open("comics=21,22,23&mode=concurrent&run=1").await;
    page.wait_for("the old run's comics are upstream", SECS, || {
        (21..=23).all(|n| upstream.arrived_at(&metadata(n)).is_some())
    })
    .await;
    page.eval(
        "const f = document.querySelector('input[name=comics]'); f.value = '31,32'; \
         f.dispatchEvent(new Event('input')); return null;",
    )
    .await;
    page.click("run").await;
    page.wait_for_state("done", SECS).await;
    // Until well after the old run would have had its metadata and its images.
    let old_started = upstream.arrived_at(&metadata(21)).unwrap();
    let would_have_painted = old_started + slow * 2 + Duration::from_millis(500);
    page.wait_for("the old run would have painted", SECS, || {
        std::time::Instant::now() >= would_have_painted
    })
    .await;
    assert_eq!(
        page.tiles().await,
        vec![(31, "loaded".to_string()), (32, "loaded".to_string())]
    );
    let asked = upstream.paths();
    assert!(
        (21..=23).all(|n| !asked.contains(&image(n))),
        "the old run asked for no image: {asked:?}"
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
    let retries = page.count("[data-testid=retry]").await;
    if page.reports_response_status().await {
        assert!(
            reason.contains("HTTP 404") && reason.contains("no such image"),
            "{reason}"
        );
        assert_eq!(retries, 0);
    } else {
        // The page cannot know the status, so it says so calmly and lets the reader retry.
        eprintln!(
            "{}: reports no HTTP status in Resource Timing: checked that the tile says so instead of naming the 404",
            page.engine
        );
        assert_eq!(
            reason,
            "the image did not load; this browser does not report its HTTP status"
        );
        assert_eq!(retries, 1);
    }

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
        !page.reports_response_status().await
            || (reason.contains("HTTP 502") && reason.contains("upstream failed")),
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
    let (page, upstream, wire) = Page::start_on_stand_in_watched(Box::new(|path: &str| {
        if path == image(7) {
            Duration::from_secs(3)
        } else {
            Duration::ZERO
        }
    }))
    .await;
    page.open("comics=7&run=1").await;
    // The browser has sent the image request, and the proxy is fetching the image (which it
    // starts on its own as the metadata comes in, so the stand-in alone cannot say that
    // the browser's request is out).
    const IMAGE: &str = "/api/img/e2e_7.png";
    page.wait_for("the image is asked for and upstream", SECS, || {
        wire.requested_at(IMAGE).is_some() && upstream.arrived_at(&image(7)).is_some()
    })
    .await;
    page.click("stop").await;
    page.wait_for_state("cancelled", SECS).await;
    // The browser gives the download up: it closes the request's connection long before
    // the 3 s its answer would have taken.
    page.wait_for("the browser gave the image up", SECS, || {
        wire.closed_by_browser_at(IMAGE).is_some()
    })
    .await;
    let given_up = wire.closed_by_browser_at(IMAGE).unwrap() - wire.requested_at(IMAGE).unwrap();
    assert!(
        given_up < Duration::from_millis(2000),
        "the download was cut off {given_up:?} after it was sent"
    );
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
    // One after another: comic 5 fails after 1 s, then comic 6 keeps the run going for 2 s,
    // long enough to press Retry on 5 and then Stop while both are in flight.
    page.open(&format!(
        "comics=5,6&mode=sequential&latency_ms=1000&jitter_ms=0&fail_rate=0.5&seed={seed}&run=1"
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
    tokio::time::sleep(Duration::from_millis(2500)).await;
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

/// The page's form as it stands: every named field's value (checkboxes as checked).
async fn form_fields(page: &Page) -> serde_json::Value {
    page.eval(
        "const f = {}; for (const e of document.querySelectorAll('input[name], select[name]')) { \
           if (e.type === 'radio') { if (e.checked) f[e.name] = e.value; } \
           else f[e.name] = e.type === 'checkbox' ? e.checked : e.value; } return f;",
    )
    .await
}

#[tokio::test]
async fn an_edited_run_is_written_back_to_the_url_and_that_url_restores_it() {
    let page = Page::start().await;
    page.open("n=4&mode=limited&limit=2&latency_ms=0&jitter_ms=0&seed=3&priority=none")
        .await;
    let form = form_fields(&page).await;
    assert_eq!(
        (
            &form["n"],
            &form["mode"],
            &form["limit"],
            &form["seed"],
            &form["priority"]
        ),
        (
            &"4".into(),
            &"limited".into(),
            &"2".into(),
            &"3".into(),
            &false.into()
        ),
        "the form starts from the URL: {form}"
    );
    // Edit two fields and run: the URL follows the edit.
    page.eval(
        "const l = document.querySelector('input[name=limit]'); l.value = '3'; \
         l.dispatchEvent(new Event('input', {bubbles: true})); \
         const s = document.querySelector('input[name=seed]'); s.value = '9'; \
         s.dispatchEvent(new Event('input', {bubbles: true})); return null;",
    )
    .await;
    page.click("run").await;
    page.wait_for_state("done", SECS).await;
    assert_eq!(page.tiles().await.len(), 4);
    let url = page.client.current_url().await.unwrap();
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    for (key, value) in [
        ("n", "4"),
        ("mode", "limited"),
        ("limit", "3"),
        ("seed", "9"),
        ("latency_ms", "0"),
        ("priority", "none"),
    ] {
        assert_eq!(query.get(key).map(String::as_str), Some(value), "{key} in {url}");
    }
    let row = page
        .eval("return document.querySelector('[data-testid=history-row]').dataset.priority;")
        .await;
    assert_eq!(row, "none", "the run's priority setting is on record");

    // That URL, opened afresh, is the same run.
    page.client.goto(url.as_str()).await.unwrap();
    page.wait_until(
        "document.querySelector('[data-testid=run-summary]') !== null",
        SECS,
    )
    .await;
    let restored = form_fields(&page).await;
    assert_eq!(
        (&restored["limit"], &restored["seed"], &restored["mode"]),
        (&"3".into(), &"9".into(), &"limited".into()),
        "{restored}"
    );

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
async fn at_most_k_runs_no_more_than_k_requests_at_once() {
    let page = Page::start().await;
    page.open("n=6&mode=limited&limit=2&latency_ms=150&jitter_ms=0&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    // Each comic has one request on the wire at a time (metadata, then image): two comics,
    // two requests; and not one after another either.
    assert_eq!(page.max_requests_in_flight().await, 2);
    page.close().await;
}

#[tokio::test]
async fn with_the_cache_off_images_carry_fresh_and_with_it_on_they_do_not() {
    let page = Page::start().await;
    let image_urls = "return performance.getEntriesByType('resource')\
                      .filter(e => e.name.includes('/api/img/')).map(e => e.name);";
    page.open("comics=1,2&latency_ms=0&jitter_ms=0&run=1").await;
    page.wait_for_state("done", SECS).await;
    let off: Vec<String> = serde_json::from_value(page.eval(image_urls).await).unwrap();
    assert_eq!(off.len(), 2, "{off:?}");
    assert!(off.iter().all(|u| u.contains("fresh=")), "{off:?}");
    page.open("comics=1,2&latency_ms=0&jitter_ms=0&cache=1&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    let on: Vec<String> = serde_json::from_value(page.eval(image_urls).await).unwrap();
    assert!(
        !on.is_empty() && on.iter().all(|u| !u.contains("fresh=")),
        "{on:?}"
    );
    page.close().await;
}

#[tokio::test]
async fn a_tile_is_shown_only_once_its_image_is_decoded() {
    let page = Page::start().await;
    page.open("comics=1,2,3,4,5,6&latency_ms=100&jitter_ms=200&seed=4")
        .await;
    page.wait_until("document.querySelector('[data-testid=origin]')", SECS)
        .await;
    // At the moment each tile turns loaded (before the browser paints it), its image must be
    // there to draw: complete, with its size known.
    page.eval(
        "window.shown = [];
         new MutationObserver(() => {
           for (const t of document.querySelectorAll('[data-testid=tile][data-state=loaded]')) {
             if (t.dataset.seen) continue;
             t.dataset.seen = '1';
             const img = t.querySelector('img');
             window.shown.push([Number(t.dataset.num), !!img && img.complete && img.naturalWidth > 0]);
           }
         }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-state']});
         return null;",
    )
    .await;
    page.click("run").await;
    page.wait_for_state("done", SECS).await;
    let shown: Vec<(u32, bool)> = serde_json::from_value(page.eval("return window.shown;").await).unwrap();
    assert_eq!(shown.len(), 6, "{shown:?}");
    assert!(shown.iter().all(|(_, decoded)| *decoded), "{shown:?}");
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
        "document.querySelectorAll('[data-testid=history-row]').length === 8",
        SECS,
    )
    .await;
    page.wait_for_state("done", SECS).await;
    let rows = page
        .eval("return [...document.querySelectorAll('[data-testid=history-row]')].map(r => [r.dataset.mode, r.dataset.priority, Number(r.dataset.totalMs), Number(r.dataset.meanMs), r.dataset.shards]);")
        .await;
    let rows: Vec<(String, String, f64, f64, String)> = serde_json::from_value(rows).unwrap();
    let wall = |mode: &str| rows.iter().find(|r| r.0 == mode).unwrap().2;
    // Newest first: all at once and gather over 8 hosts ran last, all at once without hints
    // before them.
    assert_eq!(
        rows.iter()
            .map(|r| (r.0.as_str(), r.1.as_str(), r.4.as_str()))
            .collect::<Vec<_>>(),
        [
            ("gather", "images", "8"),
            ("concurrent", "images", "8"),
            ("concurrent", "none", "1"),
            ("gather-all", "images", "1"),
            ("gather", "images", "1"),
            ("concurrent", "images", "1"),
            ("limited", "images", "1"),
            ("sequential", "images", "1")
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
        serde_json::json!([4, 4, 4, 4, 4, 4, 4, 4])
    );
    assert_eq!(
        page.eval(&lines("history")).await,
        serde_json::json!([4, 4, 4, 4, 4, 4, 4, 4])
    );
    let legend = page.text("[data-testid=history] .legend").await;
    for strategy in [
        "all at once, no hints",
        "server gathers, streamed",
        "server gathers, waits for all",
        "all at once, 8 hosts",
        "server gathers, streamed, 8 hosts",
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
    let comics = [1, 2, 3, 4, 5, 6];
    // A seed under which the six chains (metadata then image, each on its own connection)
    // end at least 150 ms apart, so the order they settle in is known in advance.
    let mut found = None;
    for seed in 0..500 {
        let sim = NetSim {
            latency_ms: 50,
            jitter_ms: 600,
            seed,
            ..NetSim::default()
        };
        let chains: Vec<u128> = page
            .simulated_delays(&comics, &sim)
            .await
            .iter()
            .map(|(meta, img)| meta + img)
            .collect();
        let mut sorted = chains.clone();
        sorted.sort_unstable();
        if sorted.windows(2).all(|w| w[1] >= w[0] + 150) {
            found = Some((sim, chains));
            break;
        }
    }
    let (sim, chains) = found.expect("a seed under 500 spreads the chains");
    // Tile i's place: how many chains end before its own.
    let expected: Vec<u64> = chains
        .iter()
        .map(|c| chains.iter().filter(|other| *other < c).count() as u64)
        .collect();
    let orders = "return [...document.querySelectorAll('[data-testid=tile]')]\
                  .map(t => Number(getComputedStyle(t).order));";
    let list = "comics=1,2,3,4,5,6&mode=concurrent";
    page.open(&format!("{list}&{}&run=1", sim.to_query())).await;
    page.wait_for_state("done", SECS).await;
    let places: Vec<u64> = serde_json::from_value(page.eval(orders).await).unwrap();
    assert_eq!(
        places, expected,
        "each tile (in list order) at the place its comic settled: chains {chains:?} ms"
    );

    page.open(&format!("{list}&{}&order=grid&run=1", sim.to_query()))
        .await;
    page.wait_for_state("done", SECS).await;
    let places: Vec<u64> = serde_json::from_value(page.eval(orders).await).unwrap();
    assert_eq!(places, vec![0; 6], "the grid keeps the list's own order");
    page.close().await;
}
