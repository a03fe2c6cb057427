//! `cargo xtask bench [--quick]`: measures Fanout in one run on one machine and writes the
//! results, with the exact commands, machine facts and date, to BENCHMARKS.md.
//!
//! `cargo xtask bench --concurrent-only 20,100 [--repeats K]` runs only the all-at-once
//! fan-out rows for those N (page and bare script, hints on and off, both protocols), each
//! the median of K runs, and prints their table without touching BENCHMARKS.md;
//! `--gather-only 100` does the same for the server-gather rows (`gather` and `gather-all`,
//! both protocols), and the two flags together run both sets, interleaved. `--xkcd-only
//! 20,100` runs only the rows on the xkcd path (a stand-in xkcd on loopback) beside the
//! demo origin and the tutorial's own page, and prints them. `--shards-only 20,100` runs
//! only the domain-sharding rows (`src/shards.rs`: HTTP/1.1 over 1, 4, 8 and 16 hosts beside
//! h2) and prints them. `--engines-only` runs only the per-engine table (all at once, gather
//! and the bare script at N = 20 and 100, both protocols, in Chromium, Firefox and WebKit)
//! and prints it; `--browser <engine>` limits that table to one engine. `--load-only` runs
//! only the proxy under load (section 3) and prints it; `--baseline-proxy PATH` puts another
//! build of `fanout-proxy` (say, an older commit's) beside this one in that section's rounds.
//!
//! Everything runs on loopback ports picked here and is stopped at the end; nothing needs
//! the internet. `cargo xtask bench` builds what this needs and sets the variables below.

mod engines;
mod lighthouse;
mod load;
mod report;
mod screenshot;
mod shards;
mod xkcd_path;
mod xkcd_stand_in;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fanout_e2e::{Page, free_port};
use report::Report;

pub struct Setup {
    pub quick: bool,
    /// Only these fan-out rows (N, strategy), printed (empty: everything).
    pub only: Vec<(u32, &'static str)>,
    /// Only the xkcd-path rows at these N, printed (empty: as the rest of the run says).
    pub xkcd_only: Vec<u32>,
    /// Runs per fan-out row, each row their median (None: five over h2, one otherwise).
    pub repeats: Option<usize>,
    pub root: PathBuf,
    pub proxy_bin: PathBuf,
    /// Another build of the proxy measured beside this one under load (`--baseline-proxy`).
    pub baseline_proxy: Option<PathBuf>,
    pub dist: PathBuf,
    /// Per-request delay on the demo origin (metadata and image each), jitter 0.
    pub latency_ms: u32,
    started: Instant,
}

impl Setup {
    /// Runs per fan-out row: as asked, or else five over h2 (those runs take about a
    /// second and vary by ±10 % here) and one otherwise; a quick look runs everything once.
    pub fn repeats_for(&self, h2: bool) -> usize {
        self.repeats
            .unwrap_or(if h2 && !self.quick { H2_REPEATS } else { 1 })
    }

    /// Prints which step is running and roughly how long is left.
    pub fn progress(&self, step: &str, done: usize, total: usize, left: Duration) {
        eprintln!(
            "[{:>5.1} s] {step} ({done}/{total}, about {} s left in this step)",
            self.started.elapsed().as_secs_f64(),
            left.as_secs()
        );
    }
}

/// A child process killed when dropped, so nothing outlives the bench.
pub struct Service(pub Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `url` answers 200.
pub async fn wait_for(url: &str, within: Duration) {
    let deadline = Instant::now() + within;
    // Only our own loopback servers, one of them with a certificate generated at start-up.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not come up within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A release `fanout-proxy` on the demo origin; `tls`: HTTPS with a generated certificate;
/// `extra`: more flags.
pub fn start_proxy(setup: &Setup, tls: bool, extra: &[&str]) -> (Service, String) {
    let mut flags = vec!["--origin", "demo"];
    flags.extend_from_slice(extra);
    start_proxy_on(setup, tls, &flags)
}

/// A release `fanout-proxy` with `flags`, which name its origin.
pub fn start_proxy_on(setup: &Setup, tls: bool, flags: &[&str]) -> (Service, String) {
    start_proxy_binary(setup, &setup.proxy_bin, tls, flags)
}

/// `bin`, a build of `fanout-proxy`, with `flags`, which name its origin.
pub fn start_proxy_binary(setup: &Setup, bin: &Path, tls: bool, flags: &[&str]) -> (Service, String) {
    let port = free_port();
    let mut settings = vec!["--rate-limit", "0", "--static-rate-limit", "0"];
    settings.extend_from_slice(flags);
    if bin != setup.proxy_bin {
        settings = flags_it_knows(bin, &settings);
    }
    let mut cmd = Command::new(bin);
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--dist"])
        .arg(&setup.dist)
        .args(settings)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    if tls {
        cmd.arg("--tls-self-signed");
    }
    let child = cmd.spawn().expect("fanout-proxy starts");
    let base = if tls {
        format!("https://localhost:{port}")
    } else {
        format!("http://127.0.0.1:{port}")
    };
    (Service(child), base)
}

/// The `--flag value` pairs in `settings` that `bin` lists in its `--help`: a baseline
/// built before a flag existed runs with its default.
fn flags_it_knows<'a>(bin: &Path, settings: &[&'a str]) -> Vec<&'a str> {
    let help = Command::new(bin)
        .arg("--help")
        .output()
        .unwrap_or_else(|err| panic!("{} --help: {err}", bin.display()));
    let help = String::from_utf8_lossy(&help.stdout);
    let known = |flag: &str| {
        help.split_whitespace()
            .any(|word| word.trim_end_matches(',') == flag)
    };
    settings
        .chunks(2)
        .filter(|pair| known(pair[0]))
        .flatten()
        .copied()
        .collect()
}

pub fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `cargo xtask bench`")),
    )
}

/// The value after `flag` on the command line, if any.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let at = args.iter().position(|a| a == flag)?;
    Some(
        args.get(at + 1)
            .unwrap_or_else(|| panic!("{flag} needs a value"))
            .clone(),
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let sizes = |flag: &str| -> Vec<u32> {
        flag_value(&args, flag)
            .map(|list| {
                list.split(',')
                    .map(|n| n.trim().parse().unwrap_or_else(|_| panic!("{flag} takes N,N,…")))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut only: Vec<(u32, &'static str)> = Vec::new();
    for (flag, modes) in [
        ("--concurrent-only", &["concurrent"][..]),
        ("--gather-only", &["gather", "gather-all"][..]),
    ] {
        for n in sizes(flag) {
            only.extend(modes.iter().map(|&mode| (n, mode)));
        }
    }
    let repeats = flag_value(&args, "--repeats").map(|k| {
        k.parse::<usize>()
            .ok()
            .filter(|k| *k > 0)
            .expect("--repeats takes a whole number above 0")
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let setup = Setup {
        quick,
        only,
        xkcd_only: sizes("--xkcd-only"),
        repeats,
        proxy_bin: env_path("FANOUT_PROXY_BIN"),
        baseline_proxy: flag_value(&args, "--baseline-proxy").map(PathBuf::from),
        dist: env_path("FANOUT_DIST"),
        latency_ms: if quick { 100 } else { 300 },
        root: root.clone(),
        started: Instant::now(),
    };
    let mut report = Report::new(&setup);
    if args.iter().any(|a| a == "--load-only") {
        load::proxy_under_load(&setup, &mut report).await;
        println!("{}", report.render_load());
        return;
    }

    let (proxy, base) = start_proxy(&setup, false, &[]);
    wait_for(&format!("{base}/api/health"), Duration::from_secs(10)).await;
    let (tls_proxy, tls_base) = start_proxy(&setup, true, &[]);
    wait_for(&format!("{tls_base}/api/health"), Duration::from_secs(10)).await;
    if args.iter().any(|a| a == "--screenshot-only") {
        screenshot::take(&base, &root).await;
        return;
    }
    let engines_only = args.iter().any(|a| a == "--engines-only");
    let engines = engines::chosen(flag_value(&args, "--browser").as_deref());
    if engines_only {
        let rows = engines::measure(&setup, &engines, &base, &tls_base).await;
        println!("{}", engines::render(&rows));
        return;
    }
    let shards_only = sizes("--shards-only");
    let partial = !setup.only.is_empty() || !setup.xkcd_only.is_empty() || !shards_only.is_empty();
    if !setup.only.is_empty() || !partial {
        fanout_in_browser(&setup, &base, &tls_base, &mut report).await;
    }
    let engine_rows = if partial {
        Vec::new()
    } else {
        engines::measure(&setup, &engines, &base, &tls_base).await
    };
    let sharding = if !shards_only.is_empty() {
        shards::rows(&setup, &base, &tls_base, &shards_only).await
    } else if partial {
        String::new()
    } else {
        shards::rows(&setup, &base, &tls_base, &[20, 100]).await
    };
    drop(tls_proxy);
    if !setup.xkcd_only.is_empty() || !partial {
        xkcd_path::rows(&setup, &base, &mut report).await;
    }
    if partial {
        if !setup.only.is_empty() {
            println!("{}", report.render_fanout());
        }
        if !setup.xkcd_only.is_empty() {
            println!("{}", report.render_xkcd());
        }
        if !sharding.is_empty() {
            println!("{sharding}");
        }
        return;
    }
    screenshot::take(&base, &root).await;
    load::flask_peer(&setup, &base, &mut report).await;
    shipped_bytes(&setup, &base, &mut report).await;
    lighthouse::audit_page(&setup, &base, &mut report);
    drop(proxy);
    load::proxy_under_load(&setup, &mut report).await;

    let out = root.join("BENCHMARKS.md");
    let mut text = report.render();
    text.push_str(&engines::section(&engine_rows, setup.latency_ms));
    text.push_str(&sharding);
    std::fs::write(&out, text).expect("BENCHMARKS.md is writable");
    eprintln!(
        "\nwrote {} in {:.0} s",
        out.display(),
        setup.started.elapsed().as_secs_f64()
    );
}

/// Section 1: the real page in headless Chromium: every N and strategy over HTTP/1.1, all
/// at once with and without priority hints over both protocols, each next to a bare script
/// doing the same, and the proxy gathering the metadata (streamed, or all at the end) over
/// both protocols.
async fn fanout_in_browser(setup: &Setup, base: &str, tls_base: &str, report: &mut Report) {
    let mut sizes: Vec<u32> = if !setup.only.is_empty() {
        setup.only.iter().map(|&(n, _)| n).collect()
    } else if setup.quick {
        vec![1, 5, 20, 100]
    } else {
        vec![1, 5, 20, 50, 100]
    };
    sizes.sort_unstable();
    sizes.dedup();
    let modes = [
        ("sequential", false),
        ("limited", false),
        ("concurrent", false),
        ("concurrent", true),
        ("gather", false),
        ("gather", true),
        ("gather-all", false),
        ("gather-all", true),
    ];
    let runs: Vec<(u32, &str, bool)> = sizes
        .iter()
        .flat_map(|&n| modes.iter().map(move |&(mode, h2)| (n, mode, h2)))
        // A quick look skips the long sequential runs.
        .filter(|&(n, mode, _)| !(setup.quick && mode == "sequential" && n > 20))
        .filter(|&(n, mode, _)| setup.only.is_empty() || setup.only.contains(&(n, mode)))
        .collect();
    let http1 = Page::attach(base).await;
    let http2 = Page::attach(tls_base).await;
    let chain = 2.0 * f64::from(setup.latency_ms);
    let estimate = |&(n, mode, h2): &(u32, &str, bool)| {
        chain
            * setup.repeats_for(h2) as f64
            * match mode {
                "sequential" => f64::from(n),
                // Page and bare script, with and without hints.
                "concurrent" => 4.0 * f64::from(n).sqrt(),
                _ => f64::from(n).sqrt(),
            }
    };
    for (done, run) in runs.iter().enumerate() {
        let &(n, mode, h2) = run;
        let page = if h2 { &http2 } else { &http1 };
        let left: f64 = runs[done..].iter().map(estimate).sum();
        let protocol = if h2 { "h2" } else { "http/1.1" };
        setup.progress(
            &format!("fan-out in Chromium: N={n} {mode} over {protocol}"),
            done,
            runs.len(),
            Duration::from_millis(left as u64),
        );
        let repeats = setup.repeats_for(h2);
        // All at once runs with hints on (the page's default) and off; each is followed by
        // a bare script doing the same, and the four interleave so that drift on the
        // machine falls on all of them alike.
        let variants: &[(&str, Hints, &str)] = if mode == "concurrent" {
            &[
                ("concurrent", Hints::On, "bare script"),
                ("concurrent, no hints", Hints::Off, "bare script, no hints"),
            ]
        } else {
            &[(mode, Hints::On, "")]
        };
        let mut measured: Vec<(Vec<Measured>, Vec<Measured>)> =
            variants.iter().map(|_| (Vec::new(), Vec::new())).collect();
        for _ in 0..repeats {
            for (&(_, hints, bare_label), (page_runs, bare_runs)) in variants.iter().zip(&mut measured) {
                page_runs.push(page_run(page, n, mode, hints, setup.latency_ms).await);
                if !bare_label.is_empty() {
                    bare_runs.push(bare_script_floor(page, n, hints, setup.latency_ms).await);
                }
            }
        }
        for (&(label, _, bare_label), (page_runs, bare_runs)) in variants.iter().zip(measured) {
            for (runs, label) in [(page_runs, label), (bare_runs, bare_label)] {
                if let Some(run) = median_by(runs, |r| r.wall) {
                    report.fanout_row(&report::FanoutRow {
                        n,
                        mode: label,
                        protocol: &run.protocol,
                        wall: run.wall,
                        first: run.first,
                        mean: run.mean,
                        external: run.external,
                        ideal: chain,
                        failed: run.failed,
                    });
                }
            }
        }
    }
    http1.close().await;
    http2.close().await;
}

const H2_REPEATS: usize = 5;

/// The page's priority hints: metadata `fetch` at low priority, images `fetchpriority=high`.
#[derive(Clone, Copy, PartialEq)]
enum Hints {
    On,
    Off,
}

/// One measured run: the page's (or the bare script's) numbers and the browser's.
struct Measured {
    protocol: String,
    wall: f64,
    first: f64,
    mean: f64,
    external: f64,
    failed: u32,
}

/// The run in the middle when ordered by `key` (None for no runs).
pub fn median_by<T>(mut runs: Vec<T>, key: impl Fn(&T) -> f64) -> Option<T> {
    runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let middle = runs.len() / 2;
    runs.into_iter().nth(middle)
}

/// The browser's own account of the run: first request start to last response end, over
/// the comics' metadata (one request each, or the one batch of `gather`) and images.
const BROWSER_WALL: &str = "const e = performance.getEntriesByType('resource').filter(e =>
    (e.name.includes('/api/comics/') && !e.name.includes('latest')) || e.name.includes('/api/comics?')
    || e.name.includes('/api/img/'));
  return Math.max(...e.map(x => x.responseEnd)) - Math.min(...e.map(x => x.startTime));";

/// The page runs comics 1..=n with `mode`, driven through its URL.
async fn page_run(page: &Page, n: u32, mode: &str, hints: Hints, latency_ms: u32) -> Measured {
    let comics: Vec<String> = (1..=n).map(|c| c.to_string()).collect();
    let priority = match hints {
        Hints::On => "images",
        Hints::Off => "none",
    };
    page.open(&format!(
        "comics={}&mode={mode}&limit=6&latency_ms={latency_ms}&jitter_ms=0&seed=1&priority={priority}&run=1",
        comics.join(",")
    ))
    .await;
    let budget = Duration::from_millis(u64::from(2 * latency_ms * n * 2) + 30_000);
    page.wait_for_state("done", budget).await;
    let summary = page.summary().await;
    let number = |key: &str| summary_figure(&summary, key);
    Measured {
        protocol: page.text("[data-testid=protocols]").await,
        wall: number("totalMs"),
        first: number("firstMs"),
        mean: number("meanMs"),
        external: page.eval(BROWSER_WALL).await.as_f64().unwrap_or(f64::NAN),
        failed: number("failed") as u32,
    }
}

/// A figure of the run summary's `data-*` attributes, in ms or a count (NaN if missing).
fn summary_figure(summary: &serde_json::Value, key: &str) -> f64 {
    summary[key]
        .as_str()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

/// Opens the page with no run and waits until its own start-up requests are answered (the
/// origin badge shows), so that a script measured next has the browser to itself.
async fn open_idle(page: &Page) {
    page.open("").await;
    page.wait_until(
        "document.querySelector('[data-testid=origin]')",
        Duration::from_secs(20),
    )
    .await;
}

/// The same work as the page's concurrent run (each comic's metadata, then its image
/// through an `<img>`, decoded, with the page's priority hints when `hints` is on) done by
/// a few lines of plain JavaScript in the same browser and origin: how close this machine
/// lets any page get to the ideal.
async fn bare_script_floor(page: &Page, n: u32, hints: Hints, latency_ms: u32) -> Measured {
    bare_script(page, n, hints, latency_ms, false).await
}

/// The bare script that also shows each comic the moment it is decoded, as the page does: a
/// tile per comic in the app's own gallery and style (a placeholder, then the image's button,
/// caption and time, settled tiles first), by plain DOM calls. What showing the comics costs
/// the browser itself, with no framework and none of the page's charts.
async fn bare_script_showing_tiles(page: &Page, n: u32, latency_ms: u32) -> Measured {
    bare_script(page, n, Hints::On, latency_ms, true).await
}

async fn bare_script(page: &Page, n: u32, hints: Hints, latency_ms: u32, show: bool) -> Measured {
    // The app's own start-up requests are over before the script starts.
    open_idle(page).await;
    let hints = hints == Hints::On;
    let script = format!(
        "const done = arguments[arguments.length - 1];
         (async () => {{
           performance.clearResourceTimings();
           performance.setResourceTimingBufferSize(2000);
           const sim = 'latency_ms={latency_ms}&jitter_ms=0&seed=1';
           const fresh = 'fresh=floor' + Math.random();
           const hints = {hints};
           const gallery = {show} ? document.querySelector('[data-testid=gallery]') : null;
           const element = (tag, className, ...children) => {{
             const e = document.createElement(tag);
             e.className = className;
             e.append(...children);
             return e;
           }};
           const tiles = gallery ? Array.from({{ length: {n} }}, (_, i) => {{
             const tile = element('li', 'tile tile-pending',
               element('div', 'tile-body placeholder', element('span', 'num', `#${{i + 1}}`), element('span', 'spinner')));
             tile.style.setProperty('--done', String(1000 + i));
             return tile;
           }}) : [];
           if (gallery) {{
             gallery.className = 'gallery many by-completion';
             gallery.replaceChildren(...tiles);
           }}
           let settledSoFar = 0;
           const started = performance.now();
           const settled = await Promise.all(Array.from({{ length: {n} }}, async (_, i) => {{
             const init = {{ cache: 'no-store' }};
             if (hints) init.priority = 'low';
             const comic = await (await fetch(`/api/comics/${{i + 1}}?${{sim}}`, init)).json();
             const img = new Image();
             if (hints) img.setAttribute('fetchpriority', 'high');
             if (gallery) img.crossOrigin = 'anonymous';
             img.src = `${{comic.img}}?${{sim}}&${{fresh}}`;
             await img.decode();
             const at = performance.now() - started;
             if (gallery) {{
               const shown = document.createElement('img');
               shown.crossOrigin = 'anonymous';
               shown.src = img.src;
               shown.alt = comic.alt;
               shown.decoding = 'async';
               const button = element('button', 'tile-body', shown,
                 element('span', 'caption', element('span', 'num', `#${{comic.num}}`), ` ${{comic.safe_title}}`));
               tiles[i].className = 'tile tile-loaded';
               tiles[i].style.setProperty('--done', String(settledSoFar++));
               tiles[i].replaceChildren(button, element('p', 'timing', `${{Math.round(at)}} ms`));
             }}
             return at;
           }}));
           done([Math.max(...settled), Math.min(...settled), settled.reduce((a, b) => a + b, 0) / settled.length]);
         }})().catch(() => done(null));"
    );
    let times: Option<(f64, f64, f64)> =
        serde_json::from_value(page.eval_async(&script).await).unwrap_or(None);
    let (wall, first, mean) = times.unwrap_or((f64::NAN, f64::NAN, f64::NAN));
    let protocol = page
        .eval(
            "const p = performance.getEntriesByType('resource').filter(e => e.name.includes('/api/img/'))
               .map(e => e.nextHopProtocol);
             return [...new Set(p)].sort().join(', ');",
        )
        .await;
    Measured {
        protocol: protocol.as_str().unwrap_or("unknown").to_owned(),
        wall,
        first,
        mean,
        external: page.eval(BROWSER_WALL).await.as_f64().unwrap_or(f64::NAN),
        failed: u32::from(times.is_none()),
    }
}

/// Section 4: what a first visit downloads (index.html, JS, wasm, CSS), and how soon the
/// page is interactive.
async fn shipped_bytes(setup: &Setup, base: &str, report: &mut Report) {
    setup.progress(
        "shipped bytes and time to interactive",
        0,
        1,
        Duration::from_secs(20),
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&setup.dist)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        // A first visit: the page, its script, module and style (not robots.txt).
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ["html", "js", "wasm", "css"].iter().any(|e| ext == *e))
        })
        .collect();
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let (gzip, brotli) = load::compressed_sizes(setup, &file);
        report.bytes_row(&name, bytes.len(), gzip, brotli);
    }
    let mut samples = Vec::new();
    for _ in 0..5 {
        let page = Page::attach(base).await;
        page.open("").await;
        let at = page
            .eval("return performance.getEntriesByName('fanout-interactive')[0].startTime;")
            .await
            .as_f64()
            .unwrap_or(f64::NAN);
        samples.push(at);
        page.close().await;
    }
    report.interactive_ms = median_by(samples, |at| *at).expect("at least one load");
}
