//! Domain sharding over plain HTTP/1.1, beside HTTP/2, in one run: the page all at once and
//! gathered with its comics spread over 1, 4, 8 and 16 host names (`shards=k`, hosts
//! `s{j}.localhost` at the proxy's port, which Chromium resolves to loopback itself), a bare
//! script doing the same sharded work, and the page all at once over h2 on the same machine
//! at the same time. `cargo xtask bench --shards-only 20,100` runs only these and prints them.

use std::{fmt::Write as _, time::Duration};

use fanout_e2e::Page;

use crate::{Setup, median_by, open_idle, summary_figure};

/// The host counts measured.
const SHARDS: [u32; 4] = [1, 4, 8, 16];

/// One measured run, in ms.
#[derive(Clone, Copy)]
struct Run {
    wall: f64,
    first: f64,
    failed: u32,
}

/// The median of `repeats` runs of `measure`, by wall time.
async fn median<F: std::future::Future<Output = Run>>(repeats: usize, mut measure: impl FnMut() -> F) -> Run {
    let mut runs = Vec::new();
    for _ in 0..repeats {
        runs.push(measure().await);
    }
    median_by(runs, |r| r.wall).expect("at least one run")
}

/// The page runs comics 1..=n with `mode` over `shards` hosts, driven through its URL.
async fn page_run(page: &Page, n: u32, mode: &str, shards: u32, latency_ms: u32) -> Run {
    let comics: Vec<String> = (1..=n).map(|c| c.to_string()).collect();
    page.open(&format!(
        "comics={}&mode={mode}&shards={shards}&latency_ms={latency_ms}&jitter_ms=0&seed=1&run=1",
        comics.join(",")
    ))
    .await;
    let budget = Duration::from_millis(u64::from(4 * latency_ms * n) + 30_000);
    page.wait_for_state("done", budget).await;
    let summary = page.summary().await;
    let number = |key: &str| summary_figure(&summary, key);
    Run {
        wall: number("totalMs"),
        first: number("firstMs"),
        failed: number("failed") as u32,
    }
}

/// The page's sharded all-at-once work in a few lines of plain JavaScript, in the same
/// document (so under the same CSP): comic i's metadata and then its image, decoded, from
/// shard i mod k, with the page's priority hints (sharded: images high, metadata at the
/// browser's own priority, as the page asks).
async fn bare_script(page: &Page, n: u32, shards: u32, latency_ms: u32) -> Run {
    open_idle(page).await;
    let script = format!(
        "const done = arguments[arguments.length - 1];
         (async () => {{
           performance.clearResourceTimings();
           performance.setResourceTimingBufferSize(2000);
           const health = await (await fetch('/api/health')).json();
           const port = location.port ? ':' + location.port : '';
           const k = {shards};
           const origins = k > 1 ? health.shard_hosts.slice(0, k).map(h => location.protocol + '//' + h + port) : [''];
           const sim = 'latency_ms={latency_ms}&jitter_ms=0&seed=1';
           const fresh = 'fresh=shards' + Math.random();
           const started = performance.now();
           const settled = await Promise.all(Array.from({{ length: {n} }}, async (_, i) => {{
             const origin = origins[i % origins.length];
             const comic = await (await fetch(`${{origin}}/api/comics/${{i + 1}}?${{sim}}`, {{ cache: 'no-store', priority: k > 1 ? 'auto' : 'low' }})).json();
             const img = new Image();
             img.crossOrigin = 'anonymous';
             img.setAttribute('fetchpriority', 'high');
             img.src = `${{origin}}${{comic.img}}?${{sim}}&${{fresh}}`;
             await img.decode();
             return performance.now() - started;
           }}));
           done([Math.max(...settled), Math.min(...settled)]);
         }})().catch(() => done(null));"
    );
    let times: Option<(f64, f64)> = serde_json::from_value(page.eval_async(&script).await).unwrap_or(None);
    let (wall, first) = times.unwrap_or((f64::NAN, f64::NAN));
    Run {
        wall,
        first,
        failed: u32::from(times.is_none()),
    }
}

/// Measures the rows at each N in `sizes` and returns them as a Markdown section.
pub async fn rows(setup: &Setup, base: &str, tls_base: &str, sizes: &[u32]) -> String {
    let l = setup.latency_ms;
    let chain = 2.0 * f64::from(l);
    let http1 = Page::attach(base).await;
    let http2 = Page::attach(tls_base).await;
    let mut out = String::new();
    let _ = write!(
        out,
        "\n## 1c. Domain sharding over HTTP/1.1, beside HTTP/2\n\n\
         The page with its comics spread over k host names (`shards=k`: comic i's metadata and \
         image from `s{{i mod k}}.localhost` at the proxy's port; gather keeps its one batch on the \
         page's own origin and spreads only the images), over plain HTTP/1.1, next to a bare script \
         doing the same sharded all-at-once work in the same document, and the page all at once \
         over h2 in the same run. Demo origin, {l} ms per request, jitter 0; ideal {chain:.0} ms. \
         \"÷ h2\" is the row's wall time over the h2 all-at-once wall of the same N; \"÷ bare\" the \
         page's all-at-once wall over the sharded bare script's. Each row is the median of {} runs.\n\n\
         | N | strategy | hosts | protocol | wall (ms) | first tile (ms) | ÷ h2 | ÷ bare | failed |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        setup.repeats_for(false)
    );
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable();
    sizes.dedup();
    let total = sizes.len() * (1 + 3 * SHARDS.len());
    let mut done = 0;
    for n in sizes {
        setup.progress(
            &format!("sharding: N={n} all at once over h2"),
            done,
            total,
            Duration::from_secs(u64::from(n) / 4 + 5),
        );
        let h2 = median(setup.repeats_for(true), || {
            page_run(&http2, n, "concurrent", 1, l)
        })
        .await;
        done += 1;
        let row = |out: &mut String, what: &str, hosts: u32, protocol: &str, run: Run, bare: Option<f64>| {
            let ratio = |v: f64| {
                if v.is_nan() {
                    "–".to_string()
                } else {
                    format!("{v:.2}")
                }
            };
            let _ = writeln!(
                out,
                "| {n} | {what} | {hosts} | {protocol} | {:.0} | {:.0} | {} | {} | {} |",
                run.wall,
                run.first,
                ratio(run.wall / h2.wall),
                ratio(bare.map_or(f64::NAN, |b| run.wall / b)),
                run.failed
            );
        };
        row(&mut out, "all at once", 1, "h2", h2, None);
        for shards in SHARDS {
            setup.progress(
                &format!("sharding: N={n} over {shards} hosts, HTTP/1.1"),
                done,
                total,
                Duration::from_secs(u64::from(n) / 3 + 5),
            );
            let repeats = setup.repeats_for(false);
            let concurrent = median(repeats, || page_run(&http1, n, "concurrent", shards, l)).await;
            let bare = median(repeats, || bare_script(&http1, n, shards, l)).await;
            let gather = median(repeats, || page_run(&http1, n, "gather", shards, l)).await;
            done += 3;
            row(
                &mut out,
                "all at once",
                shards,
                "http/1.1",
                concurrent,
                Some(bare.wall),
            );
            row(
                &mut out,
                "bare script, all at once",
                shards,
                "http/1.1",
                bare,
                None,
            );
            row(&mut out, "gather (streamed)", shards, "http/1.1", gather, None);
        }
    }
    http1.close().await;
    http2.close().await;
    out
}
