//! The fan-out in each browser engine: the page all at once and gathered by the server, next
//! to the bare script's floor in the same engine and run, at N = 20 and 100 over HTTP/1.1
//! and h2, with what the page says its priority hints did (`data-hints`). One table with
//! the engine as a column, for BENCHMARKS.md; `--engines-only` prints it alone and
//! `--browser` limits it to one engine.

use std::time::Duration;

use fanout_e2e::{Engine, Page};

use crate::{
    Hints, Measured, Setup, bare_script_floor, bare_script_showing_tiles, command_output, median_by, page_run,
};

/// The sizes the table covers.
const SIZES: [u32; 2] = [20, 100];

/// The bare script's row that also shows each comic as a tile (over h2, where the network
/// leaves the browser's own drawing the largest share of the wall).
const BARE_SHOWING_TILES: &str = "bare script, showing each comic";

/// The page's strategies each engine runs: its URL's `mode`, and the row's name.
const STRATEGIES: [(&str, &str); 3] = [
    ("concurrent", "concurrent"),
    ("gather", "gather (server, streamed)"),
    ("limited", "at most 6 at a time"),
];

/// One row: the page's run (or the bare script's) in one engine.
pub struct EngineRow {
    engine: Engine,
    n: u32,
    strategy: &'static str,
    protocol: String,
    wall: f64,
    first: f64,
    mean: f64,
    /// The bare script's wall in the same engine, protocol and N.
    floor: f64,
    /// The run summary's `data-hints` (the bare script has none).
    hints: String,
    failed: u32,
}

impl EngineRow {
    /// The row of `run`, named `strategy`, next to the bare script's `floor` wall.
    fn of(engine: Engine, n: u32, strategy: &'static str, run: &Measured, floor: f64, hints: String) -> Self {
        EngineRow {
            engine,
            n,
            strategy,
            protocol: run.protocol.clone(),
            wall: run.wall,
            first: run.first,
            mean: run.mean,
            floor,
            hints,
            failed: run.failed,
        }
    }
}

/// The engines to measure: the one `--browser` names, or every one whose driver the bench
/// was given (`cargo xtask bench` sets the variables for those installed).
pub fn chosen(browser: Option<&str>) -> Vec<Engine> {
    match browser {
        Some(name) => vec![Engine::parse(name).unwrap_or_else(|| {
            panic!("--browser {name:?} is not an engine: use chromium, firefox or webkit")
        })],
        None => Engine::ALL
            .into_iter()
            .filter(|engine| match engine {
                Engine::Chromium => true,
                Engine::Firefox => std::env::var_os("GECKODRIVER").is_some(),
                Engine::Webkit => std::env::var_os("WEBKIT_WEBDRIVER").is_some(),
            })
            .collect(),
    }
}

/// Measures every engine in `engines`, each row the median of the setup's repeats.
pub async fn measure(setup: &Setup, engines: &[Engine], base: &str, tls_base: &str) -> Vec<EngineRow> {
    let mut rows = Vec::new();
    for &engine in engines {
        eprintln!("per-engine fan-out in {engine} ({})", version(engine));
        for h2 in [false, true] {
            let page = Page::attach_in(if h2 { tls_base } else { base }, engine).await;
            for n in SIZES {
                setup.progress(
                    &format!("{engine}: N={n} over {}", if h2 { "h2" } else { "http/1.1" }),
                    0,
                    1,
                    Duration::from_millis(u64::from(n) * 100),
                );
                let repeats = setup.repeats_for(h2);
                // The page's strategies in this protocol. Over HTTP/1.1 also at most 6 at a time:
                // the images-first order the waterfall names where an engine ignores the hints
                // (six at a time fills the browser's six connections and queues nothing).
                let strategies: &[(&str, &'static str)] = if h2 { &STRATEGIES[..2] } else { &STRATEGIES };
                let mut runs: Vec<Vec<_>> = strategies.iter().map(|_| Vec::new()).collect();
                let mut hints = vec![Vec::new(); strategies.len()];
                let (mut bare, mut showing) = (Vec::new(), Vec::new());
                // Interleaved, so that drift on the machine falls on every row alike.
                for _ in 0..repeats {
                    for (i, (mode, _)) in strategies.iter().enumerate() {
                        runs[i].push(page_run(&page, n, mode, Hints::On, setup.latency_ms).await);
                        hints[i].push(page.summary().await["hints"].as_str().unwrap_or("").to_owned());
                    }
                    bare.push(bare_script_floor(&page, n, Hints::On, setup.latency_ms).await);
                    if h2 {
                        showing.push(bare_script_showing_tiles(&page, n, setup.latency_ms).await);
                    }
                }
                let Some(floor) = median_by(bare, |r| r.wall) else {
                    continue;
                };
                for (((_, strategy), runs), hints) in strategies.iter().zip(runs).zip(hints) {
                    let Some(run) = median_by(runs, |r| r.wall) else {
                        continue;
                    };
                    rows.push(EngineRow::of(
                        engine,
                        n,
                        strategy,
                        &run,
                        floor.wall,
                        agreed(&hints),
                    ));
                }
                let showing = median_by(showing, |r| r.wall);
                for (strategy, run) in [
                    ("bare script", Some(&floor)),
                    (BARE_SHOWING_TILES, showing.as_ref()),
                ] {
                    let Some(run) = run else {
                        continue;
                    };
                    rows.push(EngineRow::of(engine, n, strategy, run, floor.wall, String::new()));
                }
            }
            page.close().await;
        }
    }
    rows
}

/// The verdict every repeat agreed on, or all of them when they differ.
fn agreed(verdicts: &[String]) -> String {
    let mut seen = verdicts.to_vec();
    seen.sort();
    seen.dedup();
    seen.join(" / ")
}

/// The engine's browser and version, as its own package reports it.
pub fn version(engine: Engine) -> String {
    match engine {
        Engine::Chromium => command_output("chromium", &["--version"]),
        Engine::Firefox => command_output(
            &std::env::var("FIREFOX").unwrap_or_else(|_| "firefox-esr".into()),
            &["--version"],
        ),
        Engine::Webkit => format!(
            "WebKitGTK {}",
            command_output("dpkg-query", &["-W", "-f", "${Version}", "libwebkit2gtk-4.1-0"])
        ),
    }
}

/// The table, in Markdown.
pub fn render(rows: &[EngineRow]) -> String {
    let mut out = String::from(
        "| engine | N | strategy | protocol | wall (ms) | first tile (ms) | mean to tile (ms) | bare-script floor (ms) | wall ÷ floor | hints | failed |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {} | {} |\n",
            r.engine,
            r.n,
            r.strategy,
            r.protocol,
            r.wall,
            r.first,
            r.mean,
            r.floor,
            r.wall / r.floor,
            if r.hints.is_empty() { "–" } else { &r.hints },
            r.failed
        ));
    }
    out
}

/// BENCHMARKS.md's section: the table and how it was measured.
pub fn section(rows: &[EngineRow], latency_ms: u32) -> String {
    let mut engines: Vec<Engine> = rows.iter().map(|r| r.engine).collect();
    engines.dedup();
    let versions: Vec<String> = engines.iter().map(|&e| format!("{e}: {}", version(e))).collect();
    format!(
        "\n## Fan-out per browser engine\n\n\
         The page all at once (priority hints on) and gathered by the server (streamed), over HTTP/1.1 \
         also at most 6 at a time (the order the waterfall names where an engine ignores the hints), next to \
         the bare script all at once in the same engine, each engine driven through its own WebDriver server \
         ({}), {latency_ms} ms per request, jitter 0. \"wall ÷ floor\" is the row's wall time over the bare \
         script's in the same engine, protocol and N; \"hints\" is what the page's run summary says its priority \
         hints did (`data-hints`: on, or ignored when every image that waited went out after all the queued \
         metadata). Over h2 the bare script also runs showing each comic the moment it is decoded, as a \
         tile in the app's own gallery and style, by plain DOM calls: what drawing the comics costs the engine \
         itself, with no framework and none of the page's charts.\n\n{}",
        versions.join("; "),
        render(rows)
    )
}
