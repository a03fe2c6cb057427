//! Server-side fan-out, end to end: the page asks the proxy for every comic in one request
//! (`mode=gather`, `mode=gather-all`) and the real proxy answers from its demo origin.

use std::time::Duration;

use fanout_api::NetSim;
use fanout_e2e::{
    Page,
    upstream::{image, metadata},
};
use serde_json::Value;

const SECS: Duration = Duration::from_secs(30);
const COMICS: [u32; 8] = [3, 14, 15, 92, 65, 35, 89, 79];

/// A demo network whose metadata delays are spread wide: the slowest comic's line comes at
/// least `gap` ms after the fastest comic's whole chain (metadata and image) is done. Found
/// with the proxy's own simulation, so the ordering the tests assert is known in advance.
async fn spread_network(page: &Page, comics: &[u32], gap: u128) -> (NetSim, Vec<(u128, u128)>) {
    for seed in 0..500 {
        let sim = NetSim {
            latency_ms: 100,
            jitter_ms: 700,
            seed,
            ..NetSim::default()
        };
        let delays = page.simulated_delays(comics, &sim).await;
        let fastest_chain = delays.iter().map(|(meta, img)| meta + img).min().unwrap();
        let slowest_line = delays.iter().map(|(meta, _)| *meta).max().unwrap();
        if slowest_line > fastest_chain + gap {
            return (sim, delays);
        }
    }
    panic!("no seed under 500 spreads the delays by {gap} ms");
}

fn list(comics: &[u32]) -> String {
    comics.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// Opens the page without starting, notes (in `performance.now()` time) when the first tile
/// is shown, then starts the run and waits for it to finish.
async fn run_watching_the_first_tile(page: &Page, query: &str) {
    page.open(query).await;
    page.wait_until("document.querySelector('[data-testid=origin]')", SECS)
        .await;
    page.eval(
        "window.firstTileAt = null;
         new MutationObserver(() => {
           if (window.firstTileAt === null && document.querySelector('[data-testid=tile][data-state=loaded]')) {
             window.firstTileAt = performance.now();
           }
         }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-state']});
         return null;",
    )
    .await;
    page.click("run").await;
    page.wait_for_state("done", SECS).await;
}

/// The run's requests as the browser timed them: metadata (one comic or many) and images.
async fn requests(page: &Page) -> Value {
    page.eval(
        "const all = performance.getEntriesByType('resource');
         const pick = (part) => all.filter(e => e.name.includes(part) && !e.name.includes('/latest'))
           .map(e => ({name: e.name, start: e.startTime, end: e.responseEnd}));
         return {metadata: pick('/api/comics'), images: pick('/api/img/'), firstTileAt: window.firstTileAt};",
    )
    .await
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("not a number: {value}"))
}

#[tokio::test]
async fn gather_streams_each_comic_and_starts_its_image_at_once() {
    let page = Page::start().await;
    let (sim, _) = spread_network(&page, &COMICS, 1000).await;
    run_watching_the_first_tile(
        &page,
        &format!("comics={}&mode=gather&{}", list(&COMICS), sim.to_query()),
    )
    .await;

    let summary = page.summary().await;
    assert_eq!(summary["loaded"], "8", "{summary}");
    let seen = requests(&page).await;
    let metadata = seen["metadata"].as_array().unwrap();
    assert_eq!(metadata.len(), 1, "one metadata request for all: {metadata:?}");
    let stream = &metadata[0];
    assert!(
        stream["name"].as_str().unwrap().contains("/api/comics?ids="),
        "{stream}"
    );
    let images = seen["images"].as_array().unwrap();
    assert_eq!(images.len(), COMICS.len(), "{images:?}");
    // The stream's last byte is its last line: the first tile is on screen before it, and
    // the first image went out before it.
    let stream_end = number(&stream["end"]);
    let first_tile = number(&seen["firstTileAt"]);
    assert!(
        first_tile < stream_end,
        "the first tile ({first_tile}) settles before the stream's last line ({stream_end})"
    );
    let first_image = images
        .iter()
        .map(|i| number(&i["start"]))
        .fold(f64::INFINITY, f64::min);
    assert!(
        first_image < stream_end,
        "an image starts ({first_image}) while the stream still runs (to {stream_end})"
    );

    // The waterfall has the one stream and the images, and says what the proxy's fan-out bought.
    let rows = page
        .eval("return [...document.querySelectorAll('[data-testid=waterfall] .row-label')].map(l => l.textContent);")
        .await;
    let rows: Vec<String> = serde_json::from_value(rows).unwrap();
    assert_eq!(
        rows.iter().filter(|r| r.starts_with("comics")).count(),
        1,
        "{rows:?}"
    );
    assert_eq!(
        rows.iter().filter(|r| r.starts_with("img ")).count(),
        COMICS.len(),
        "{rows:?}"
    );
    let explained = page.text("[data-testid=order]").await;
    assert!(explained.contains("no longer queues"), "{explained}");
    let history = page
        .eval("return document.querySelector('[data-testid=history-row]').dataset.mode;")
        .await;
    assert_eq!(history, "gather", "the run is on record");
    page.close().await;
}

#[tokio::test]
async fn gather_all_hands_every_comic_its_metadata_at_once() {
    let page = Page::start().await;
    let comics = &COMICS[..6];
    let (sim, delays) = spread_network(&page, comics, 600).await;
    run_watching_the_first_tile(
        &page,
        &format!("comics={}&mode=gather-all&{}", list(comics), sim.to_query()),
    )
    .await;

    let summary = page.summary().await;
    assert_eq!(summary["loaded"], "6", "{summary}");
    let seen = requests(&page).await;
    let metadata = seen["metadata"].as_array().unwrap();
    assert_eq!(metadata.len(), 1, "{metadata:?}");
    assert!(
        metadata[0]["name"].as_str().unwrap().contains("wait=all"),
        "{metadata:?}"
    );
    // Nothing could start before the slowest comic's metadata was in: no image went out
    // before the one answer ended.
    let answer_end = number(&metadata[0]["end"]);
    for image in seen["images"].as_array().unwrap() {
        assert!(
            number(&image["start"]) >= answer_end - 1.0,
            "{image} before {answer_end}"
        );
    }
    let first: f64 = summary["firstMs"].as_str().unwrap().parse().unwrap();
    let slowest_metadata = delays.iter().map(|(meta, _)| *meta).max().unwrap() as f64;
    assert!(
        first >= slowest_metadata,
        "the first tile ({first} ms) waits for the slowest metadata ({slowest_metadata} ms)"
    );
    // Every tile's metadata arrived together.
    let metadata_ms = page
        .eval("return [...document.querySelectorAll('[data-testid=tile]')].map(t => Number(t.dataset.metadataMs));")
        .await;
    let metadata_ms: Vec<f64> = serde_json::from_value(metadata_ms).unwrap();
    assert_eq!(metadata_ms.len(), comics.len());
    let (low, high) = metadata_ms
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
    assert!(high - low <= 1.0, "{metadata_ms:?}");
    assert!(low >= slowest_metadata, "{metadata_ms:?}");
    page.close().await;
}

#[tokio::test]
async fn stop_aborts_the_stream_and_the_images() {
    // Comic 3 comes whole at once; comic 14's line comes at once but its image takes 2 s;
    // the other three lines take 2 s. At Stop (after comic 3's tile) 14's image and the
    // stream are both still on their way.
    let slow = Duration::from_secs(2);
    let (page, upstream, wire) = Page::start_on_stand_in_watched(Box::new(move |path: &str| {
        if path == image(14) || [15, 92, 65].iter().any(|&n| path == metadata(n)) {
            slow
        } else {
            Duration::ZERO
        }
    }))
    .await;
    page.open("comics=3,14,15,92,65&mode=gather&run=1").await;
    page.wait_for("comic 14's image is asked for and upstream", SECS, || {
        wire.requested_at("/api/img/e2e_14.png").is_some() && upstream.arrived_at(&image(14)).is_some()
    })
    .await;
    page.wait_until(
        "document.querySelector('[data-testid=tile][data-num=\"3\"][data-state=loaded]')",
        SECS,
    )
    .await;
    page.click("stop").await;
    page.wait_for_state("cancelled", SECS).await;
    // The browser ends the stream and gives comic 14's image up, closing their
    // connections before their answers (the image's) or their slow lines came.
    for part in ["/api/comics?ids=", "/api/img/e2e_14.png"] {
        page.wait_for(&format!("the browser gave up {part}"), SECS, || {
            wire.closed_by_browser_at(part).is_some()
        })
        .await;
        let cut = wire.closed_by_browser_at(part).unwrap() - wire.requested_at(part).unwrap();
        assert!(
            cut < slow,
            "{part} was cut off after {cut:?}, not before its answer"
        );
    }
    // Watch until the slow lines and their images would all have come: the proxy is asked
    // for no image of theirs, and drops the fetches nobody waits for any more.
    let started = upstream.arrived_at(&metadata(15)).unwrap();
    page.wait_for("the slow comics would have finished", SECS, || {
        std::time::Instant::now() >= started + slow + Duration::from_millis(500)
    })
    .await;
    let asked = upstream.paths();
    assert!(
        [15, 92, 65].iter().all(|&n| !asked.contains(&image(n))),
        "{asked:?}"
    );
    let dropped = upstream.cancelled();
    assert!(
        [15, 92, 65].iter().all(|&n| dropped.contains(&metadata(n))),
        "the proxy went on fetching for an aborted stream: {dropped:?}"
    );
    let tiles = page.tiles().await;
    assert_eq!(
        tiles,
        vec![
            (3, "loaded".to_string()),
            (14, "cancelled".to_string()),
            (15, "cancelled".to_string()),
            (92, "cancelled".to_string()),
            (65, "cancelled".to_string())
        ]
    );
    page.close().await;
}

#[tokio::test]
async fn per_comic_errors_are_error_tiles_and_a_retry_asks_for_that_comic_alone() {
    let page = Page::start().await;
    page.open("comics=1,404,614,1608&mode=gather&latency_ms=0&jitter_ms=0&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    assert_eq!(
        page.tiles().await,
        vec![
            (1, "loaded".into()),
            (404, "error".into()),
            (614, "loaded".into()),
            (1608, "error".into())
        ]
    );
    let reasons = page
        .eval("return [...document.querySelectorAll('[data-testid=tile-error]')].map(e => e.textContent);")
        .await
        .to_string();
    assert!(reasons.contains("no comic 404"), "{reasons}");
    assert!(reasons.contains("interactive"), "{reasons}");
    assert_eq!(
        page.count("[data-testid=retry]").await,
        0,
        "no retry where it cannot help"
    );

    // A comic that failed by chance in the batch is tried again the single way.
    page.open("comics=5,6&mode=gather&latency_ms=0&jitter_ms=0&fail_rate=1&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    assert_eq!(
        page.tiles().await,
        vec![(5, "error".to_string()), (6, "error".to_string())]
    );
    page.eval(
        "const f = document.querySelector('input[name=fail_rate]'); f.value = '0'; \
         f.dispatchEvent(new Event('input')); \
         document.querySelector('[data-testid=tile][data-num=\"5\"] [data-testid=retry]').click(); return null;",
    )
    .await;
    page.wait_until(
        "document.querySelector('[data-testid=tile][data-num=\"5\"][data-state=loaded]')",
        SECS,
    )
    .await;
    let metadata = requests(&page).await["metadata"].clone();
    let names: Vec<&str> = metadata
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].contains("/api/comics?ids=5,6"), "{names:?}");
    assert!(names[1].contains("/api/comics/5?"), "{names:?}");
    assert_eq!(page.tiles().await[1], (6, "error".to_string()));
    page.close().await;
}

#[tokio::test]
async fn with_hints_the_batch_goes_at_high_priority_and_single_metadata_at_low() {
    // As Chromium itself ranked each request (DevTools' `initialPriority`). A `fetch()` is
    // High unless told otherwise, so the batch's own hint shows only next to the single
    // way's metadata, which asks for low.
    if !fanout_e2e::devtools_or_skip("with_hints_the_batch_goes_at_high_priority_and_single_metadata_at_low")
    {
        return;
    }
    let page = Page::start_logging_network().await;
    let priorities = |sent: Vec<(String, String)>, part: &str| -> Vec<String> {
        sent.into_iter()
            .filter(|(url, _)| url.contains(part))
            .map(|(_, priority)| priority)
            .collect()
    };
    page.open("comics=1,2,3&mode=gather&latency_ms=0&jitter_ms=0&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    assert_eq!(
        priorities(page.requests_sent().await, "/api/comics?ids="),
        ["High"]
    );
    page.open("comics=1,2,3&mode=concurrent&latency_ms=0&jitter_ms=0&run=1")
        .await;
    page.wait_for_state("done", SECS).await;
    assert_eq!(
        priorities(page.requests_sent().await, "/api/comics/"),
        ["Low", "Low", "Low"]
    );
    page.close().await;
}
