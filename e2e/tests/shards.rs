//! Domain sharding in a real browser: with `shards=k` every comic's requests go to host
//! `s{i mod k}.localhost` at the proxy's port (Chromium resolves `*.localhost` to loopback
//! by itself), each tile loads from there, and the waterfall shows the hosts; a page on a
//! foreign origin cannot read a shard's API answer.

use std::{collections::BTreeSet, time::Duration};

use fanout_e2e::Page;
use serde_json::Value;

const SECS: Duration = Duration::from_secs(40);
const COMICS: &str = "3,14,15,92,65,35,89,79";

/// The run's requests as the browser recorded them: URL, status and whether a connection
/// was set up, for metadata (single or batch) and images.
async fn entries(page: &Page) -> Vec<Value> {
    let value = page
        .eval(
            "return performance.getEntriesByType('resource')
               .filter(e => e.name.includes('/api/comics') || e.name.includes('/api/img/'))
               .filter(e => !e.name.includes('/latest'))
               .map(e => ({name: e.name, status: e.responseStatus, connectStart: e.connectStart,
                           connectEnd: e.connectEnd, fetchStart: e.fetchStart}));",
        )
        .await;
    value.as_array().unwrap().clone()
}

fn host(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or(""),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_else(|_| panic!("{url} is not a URL"))
}

async fn run_sharded(page: &Page, query: &str) {
    page.open(query).await;
    page.wait_until("document.querySelector('[data-testid=origin]')", SECS)
        .await;
    page.click("run").await;
    page.wait_for_state("done", SECS).await;
}

#[tokio::test]
async fn a_sharded_run_loads_every_tile_from_k_hosts_and_the_waterfall_shows_them() {
    let page = Page::start().await;
    let port = page.base.port().unwrap();
    run_sharded(
        &page,
        &format!("comics={COMICS}&mode=concurrent&shards=4&latency_ms=50&jitter_ms=0"),
    )
    .await;
    let summary = page.summary().await;
    assert_eq!(summary["loaded"], "8", "{summary}");
    // Each tile's image came from its comic's shard: slot i from s{i mod 4}.
    let sources = page
        .eval("return [...document.querySelectorAll('[data-testid=tile] img')].map(i => [Number(i.closest('[data-testid=tile]').dataset.num), i.src]);")
        .await;
    let sources: Vec<(u32, String)> = serde_json::from_value(sources).unwrap();
    assert_eq!(sources.len(), 8);
    let order: Vec<u32> = COMICS.split(',').map(|n| n.parse().unwrap()).collect();
    for (num, src) in &sources {
        let slot = order.iter().position(|n| n == num).unwrap();
        assert_eq!(
            host(src),
            format!("s{}.localhost:{port}", slot % 4),
            "comic {num}"
        );
    }
    // Every request went to a shard, and the browser kept its status: the CORS and
    // Timing-Allow-Origin answers let the page see it.
    let entries = entries(&page).await;
    assert_eq!(entries.len(), 16, "{entries:?}");
    let hosts: BTreeSet<String> = entries
        .iter()
        .map(|e| host(e["name"].as_str().unwrap()))
        .collect();
    let expected: BTreeSet<String> = (0..4).map(|j| format!("s{j}.localhost:{port}")).collect();
    assert_eq!(hosts, expected);
    if page.reports_response_status().await {
        assert!(entries.iter().all(|e| e["status"] == 200), "{entries:?}");
    } else {
        eprintln!(
            "{}: no responseStatus in Resource Timing; statuses not checked",
            page.engine.name()
        );
    }
    // The waterfall shows the four hosts, one bar per request.
    page.wait_until(
        "document.querySelectorAll('[data-testid=waterfall] g.bar').length === 16",
        SECS,
    )
    .await;
    let drawn = page
        .eval("return [...new Set([...document.querySelectorAll('[data-testid=waterfall] g.bar')].map(g => g.dataset.host))].sort();")
        .await;
    let drawn: BTreeSet<String> = serde_json::from_value(drawn).unwrap();
    assert_eq!(drawn, expected);
    let labels = page
        .eval("return [...document.querySelectorAll('[data-testid=waterfall] .row-label')].map(t => t.textContent);")
        .await;
    let labels: Vec<String> = serde_json::from_value(labels).unwrap();
    assert!(labels.iter().any(|l| l.starts_with("s3 ")), "{labels:?}");
    // At least one connection per host was opened and counted.
    let connections: u32 = page.summary().await["connections"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        connections >= 4,
        "{connections} connections for 4 hosts; {entries:?}"
    );
    page.close().await;
}

#[tokio::test]
async fn gather_keeps_its_batch_on_the_pages_origin_and_shards_the_images() {
    let page = Page::start().await;
    let port = page.base.port().unwrap();
    run_sharded(
        &page,
        &format!("comics={COMICS}&mode=gather&shards=4&latency_ms=50&jitter_ms=0"),
    )
    .await;
    assert_eq!(page.summary().await["loaded"], "8");
    let entries = entries(&page).await;
    let batch: Vec<&Value> = entries
        .iter()
        .filter(|e| e["name"].as_str().unwrap().contains("/api/comics?"))
        .collect();
    assert_eq!(batch.len(), 1, "{entries:?}");
    assert_eq!(
        host(batch[0]["name"].as_str().unwrap()),
        format!("127.0.0.1:{port}")
    );
    let image_hosts: BTreeSet<String> = entries
        .iter()
        .filter(|e| e["name"].as_str().unwrap().contains("/api/img/"))
        .map(|e| host(e["name"].as_str().unwrap()))
        .collect();
    let expected: BTreeSet<String> = (0..4).map(|j| format!("s{j}.localhost:{port}")).collect();
    assert_eq!(image_hosts, expected);
    page.close().await;
}

/// Serves one HTML page on loopback, as a site elsewhere would.
async fn foreign_site() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><title>elsewhere</title><p>elsewhere")
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// What `fetch(url)` gives the page that is open: the body, or the error's name.
async fn read_from(page: &Page, url: &str) -> String {
    let script = format!(
        "const done = arguments[arguments.length - 1];
         fetch({url:?}).then(r => r.text()).then(body => done('read: ' + body.slice(0, 20)),
                                                  err => done('blocked: ' + err.name));"
    );
    page.eval_async(&script).await.as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_page_on_a_foreign_origin_cannot_read_a_shards_answer() {
    let page = Page::start().await;
    let port = page.base.port().unwrap();
    let shard_api = format!("http://s1.localhost:{port}/api/comics/614?latency_ms=0");
    // The page's own origin reads it: the check below can fail.
    page.open("n=1").await;
    assert!(
        read_from(&page, &shard_api).await.starts_with("read: {"),
        "the page's own origin reads its shard"
    );
    // Another *.localhost name that is not a shard, on a server of its own.
    let elsewhere = foreign_site().await;
    for foreign in [
        format!("http://evil.localhost:{elsewhere}/"),
        format!("http://127.0.0.1:{elsewhere}/"),
    ] {
        page.client.goto(&foreign).await.unwrap();
        page.wait_until("document.title === 'elsewhere'", SECS).await;
        assert_eq!(
            read_from(&page, &shard_api).await,
            "blocked: TypeError",
            "from {foreign}"
        );
    }
    page.close().await;
}
