//! The page as the web's auditors see it. axe-core, in the light and the dark theme: idle,
//! after a run with error tiles, the waterfall's table open and a comic in the large view,
//! and after a stopped run; any violation fails and names the rule and the element. And
//! what a crawler reads: a description and a real robots.txt.

use std::time::Duration;

use fanout_api::{ComicId, NetSim, routes};
use fanout_e2e::Page;
use fanout_proxy::demo_network::{Fault, plan};

const SECS: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_idle_page_has_no_accessibility_violations() {
    let page = Page::start().await;
    page.open("").await;
    // The origin badge has its final text once the proxy has answered.
    page.wait_until("document.querySelector('[data-testid=origin]')", SECS)
        .await;
    page.assert_accessible_in_both_schemes("the idle page").await;
    page.close().await;
}

/// A seed under which, with half the requests failing, comic 614's metadata fails with an
/// upstream error (retryable) while every request of `good` (and 404's) is spared: drawn with the proxy's
/// own simulation, so the test knows the outcome in advance.
async fn seed_with_one_upstream_failure(page: &Page, good: &[u32]) -> u64 {
    // Comic 404 must fail as "no such comic", not by a simulated fault first.
    let mut requests = vec![(routes::comic(ComicId::Number(404)), false)];
    for &num in good {
        let comic = page.comic(num).await;
        requests.push((routes::comic(ComicId::Number(num)), false));
        // Interactive comics have no image to request.
        if let Some(image) = comic.img {
            requests.push((image, true));
        }
    }
    let sim = |seed| NetSim {
        fail_rate: 0.5,
        seed,
        ..NetSim::default()
    };
    (1..10_000)
        .find(|&seed| {
            plan(&sim(seed), &routes::comic(ComicId::Number(614)), false).fault == Some(Fault::ServerError)
                && requests
                    .iter()
                    .all(|(path, is_image)| plan(&sim(seed), path, *is_image).fault.is_none())
        })
        .expect("some seed draws that outcome")
}

#[tokio::test]
async fn a_finished_run_with_errors_and_the_table_open_has_no_violations() {
    let page = Page::start().await;
    // 404 does not exist and 1608 is interactive, without an image (final errors, no Retry);
    // 614 fails upstream (Retry offered).
    let seed = seed_with_one_upstream_failure(&page, &[1, 5, 1608]).await;
    page.open(&format!(
        "comics=1,404,614,1608,5&mode=concurrent&latency_ms=0&jitter_ms=0&fail_rate=0.5&seed={seed}&run=1"
    ))
    .await;
    page.wait_for_state("done", SECS).await;
    assert_eq!(
        page.tiles().await,
        vec![
            (1, "loaded".to_string()),
            (404, "error".to_string()),
            (614, "error".to_string()),
            (1608, "error".to_string()),
            (5, "loaded".to_string()),
        ]
    );
    assert_eq!(page.count("[data-testid=retry]").await, 1, "614 offers a retry");
    assert_eq!(page.count("[data-testid=history-row]").await, 1);
    page.eval("document.querySelector('[data-testid=waterfall] details summary').click(); return null;")
        .await;
    page.wait_until(
        "document.querySelectorAll('[data-testid=waterfall] table tbody tr').length > 0",
        SECS,
    )
    .await;
    // Past the tiles' entrance, so that colours are measured at full opacity.
    page.wait_until(
        "document.getAnimations().every(a => a.playState === 'finished')",
        SECS,
    )
    .await;
    page.assert_accessible_in_both_schemes("a finished run with error tiles and the table open")
        .await;

    page.eval(
        "document.querySelector('[data-testid=tile][data-state=loaded] .tile-body').click(); return null;",
    )
    .await;
    page.wait_until("document.querySelector('[data-testid=viewer]').open", SECS)
        .await;
    page.assert_accessible_in_both_schemes("a comic in the large view")
        .await;
    page.close().await;
}

#[tokio::test]
async fn a_stopped_run_has_no_violations() {
    let page = Page::start().await;
    page.stop_after_first_tile(
        "comics=1,2,3&mode=sequential&latency_ms=400&jitter_ms=0&run=1",
        SECS,
    )
    .await;
    assert!(page.count("[data-testid=tile][data-state=cancelled]").await >= 1);
    page.wait_until(
        "document.getAnimations().every(a => a.playState === 'finished')",
        SECS,
    )
    .await;
    page.assert_accessible_in_both_schemes("a stopped run with its stopped tiles")
        .await;
    page.close().await;
}

#[tokio::test]
async fn crawlers_get_a_description_and_a_real_robots_txt() {
    let (addr, _stop) = fanout_e2e::start_proxy(fanout_proxy::Config::for_tests()).await;
    let robots = reqwest::get(format!("http://{addr}/robots.txt")).await.unwrap();
    assert_eq!(robots.status(), 200);
    let content_type = robots.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let body = robots.text().await.unwrap();
    assert!(
        body.contains("User-agent: *") && !body.contains("<html"),
        "robots.txt, not the page: {body}"
    );

    let html = reqwest::get(format!("http://{addr}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("name=\"description\"") || html.contains("name=description"),
        "{html}"
    );
}
