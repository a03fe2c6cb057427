//! BENCHMARKS.md: one table per section, with the commands and the machine it ran on.

use std::fmt::Write;

use crate::{Setup, command_output, lighthouse::Audit, load::WrkResult};

/// One run of the page: its own numbers and the browser's.
pub struct FanoutRow<'a> {
    pub n: u32,
    pub mode: &'a str,
    pub protocol: &'a str,
    pub wall: f64,
    pub first: f64,
    /// Mean time to tile: from Run to each comic settling, averaged over the comics.
    pub mean: f64,
    pub external: f64,
    pub ideal: f64,
    pub failed: u32,
}

/// One row of the xkcd-path table: a median run, in ms.
pub struct XkcdRow {
    pub n: u32,
    pub what: &'static str,
    pub wall: f64,
    pub first: f64,
    pub mean: f64,
    pub failed: u32,
}

/// The cached comic row with and without hostile sockets held from another address.
pub struct HostileComparison {
    pub plain: WrkResult,
    pub hostile: WrkResult,
    pub plain_rss_mib: f64,
    pub hostile_rss_mib: f64,
    pub sockets: usize,
    pub closed_by_server: u64,
}

pub struct Report {
    pub hostile: Option<HostileComparison>,
    /// This build against a baseline build of the proxy, in the same rounds (a paragraph).
    pub baseline: Option<String>,
    header: String,
    quick: bool,
    latency_ms: u32,
    /// Runs per fan-out row, when the command line set it.
    repeats: Option<usize>,
    fanout: Vec<String>,
    xkcd: Vec<XkcdRow>,
    flask: Vec<String>,
    load: Vec<String>,
    bytes: Vec<(String, usize, usize, usize)>,
    lighthouse: Vec<String>,
    lighthouse_flags: Vec<String>,
    lighthouse_runs: usize,
    pub interactive_ms: f64,
    pub proxy_peak_rss_mib: f64,
    pub proxy_burst_rss_mib: f64,
    pub load_seconds: u64,
    pub load_rounds: usize,
}

impl Report {
    pub fn new(setup: &Setup) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines().next().map(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .unwrap_or("0")
                        .parse::<f64>()
                        .unwrap_or(0.0)
                })
            })
            .map(|kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0))
            .unwrap_or_default();
        let mut header = String::new();
        let _ = writeln!(header, "# Benchmarks\n");
        let _ = writeln!(
            header,
            "Written by `cargo xtask bench{}` on {} (UTC). Earlier results live in git history.\n",
            if setup.quick { " --quick" } else { "" },
            command_output("date", &["-u", "+%Y-%m-%d %H:%M"])
        );
        let _ = writeln!(header, "| machine | |\n| --- | --- |");
        let _ = writeln!(
            header,
            "| CPU | {} × {cpu} |",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        );
        let _ = writeln!(header, "| memory | {memory} |");
        let _ = writeln!(
            header,
            "| browser | {} |",
            command_output("chromium", &["--version"])
        );
        let _ = writeln!(header, "| rustc | {} |", command_output("rustc", &["--version"]));
        let _ = writeln!(
            header,
            "| load generator | {} |",
            command_output("sh", &["-c", "wrk --version 2>&1 | head -1"])
        );
        let _ = writeln!(
            header,
            "| nginx | {} |",
            command_output("sh", &["-c", "nginx -v 2>&1"])
        );
        Report {
            hostile: None,
            baseline: None,
            header,
            quick: setup.quick,
            latency_ms: setup.latency_ms,
            repeats: setup.repeats,
            fanout: Vec::new(),
            xkcd: Vec::new(),
            flask: Vec::new(),
            load: Vec::new(),
            bytes: Vec::new(),
            lighthouse: Vec::new(),
            lighthouse_flags: Vec::new(),
            lighthouse_runs: 0,
            interactive_ms: f64::NAN,
            proxy_peak_rss_mib: f64::NAN,
            proxy_burst_rss_mib: f64::NAN,
            load_seconds: 0,
            load_rounds: 0,
        }
    }

    pub fn fanout_row(&mut self, r: &FanoutRow) {
        let mode = match r.mode {
            "limited" => "limited (k=6)",
            "gather" => "gather (server, streamed)",
            "gather-all" => "gather-all (server, waits for all)",
            other => other,
        };
        let or_dash = |v: f64, text: String| if v.is_nan() { "–".to_owned() } else { text };
        self.fanout.push(format!(
            "| {} | {mode} | {} | {:.0} | {} | {} | {} | {:.2} | {:.0} | {:.2} | {} |",
            r.n,
            r.protocol,
            r.wall,
            or_dash(r.first, format!("{:.0}", r.first)),
            or_dash(r.mean, format!("{:.0}", r.mean)),
            or_dash(r.mean, format!("{:.2}", r.mean / r.ideal)),
            r.wall / r.ideal,
            r.external,
            r.external / r.ideal,
            r.failed
        ));
    }

    pub fn xkcd_row(&mut self, row: XkcdRow) {
        self.xkcd.push(row);
    }

    /// Section 1b alone: the xkcd path beside the demo origin and the tutorial's page.
    pub fn render_xkcd(&self) -> String {
        let l = self.latency_ms;
        let wall_of = |n: u32, prefix: &str| {
            self.xkcd
                .iter()
                .find(|r| r.n == n && r.what.starts_with(prefix))
                .map_or(f64::NAN, |r| r.wall)
        };
        let or_dash = |v: f64| {
            if v.is_nan() {
                "–".to_owned()
            } else {
                format!("{v:.0}")
            }
        };
        let rows: Vec<String> = self
            .xkcd
            .iter()
            .map(|r| {
                format!(
                    "| {} | {} | {:.0} | {} | {} | {:.2} | {} |",
                    r.n,
                    r.what,
                    r.wall,
                    or_dash(r.first),
                    or_dash(r.mean),
                    r.wall / wall_of(r.n, "the tutorial"),
                    r.failed
                )
            })
            .collect();
        let mut sizes: Vec<u32> = self.xkcd.iter().map(|r| r.n).collect();
        sizes.dedup();
        let ratios: Vec<String> = sizes
            .iter()
            .map(|&n| {
                format!(
                    "- N = {n}: Fanout's gather on the xkcd path ÷ the tutorial's page **{:.2}**, all at once ÷ the tutorial's page **{:.2}**; the xkcd path ÷ the demo origin, gather **{:.2}**, all at once **{:.2}**.",
                    wall_of(n, "Fanout, gather, xkcd") / wall_of(n, "the tutorial"),
                    wall_of(n, "Fanout, all at once, xkcd") / wall_of(n, "the tutorial"),
                    wall_of(n, "Fanout, gather, xkcd") / wall_of(n, "Fanout, gather, demo"),
                    wall_of(n, "Fanout, all at once, xkcd") / wall_of(n, "Fanout, all at once, demo"),
                )
            })
            .collect();
        format!(
            "\n### 1b. The xkcd path, and the tutorial's own page\n\n\
             Section 1's rows come from the demo origin, which never meets the proxy's upstream cap \
             (`--max-upstream-concurrency`, default 16) or a client's share of it. Here the same page runs \
             through `--origin xkcd` against a stand-in xkcd on loopback (`bench/src/xkcd_stand_in.rs`: \
             the demo origin's comics and images, {l} ms per request, JSON and images alike), each run on a \
             fresh proxy with the default cap so that nothing is cached, over HTTP/1.1 with the page's \
             priority hints, next to the same run on the demo origin. \"The tutorial's page\" is the Flask \
             peer's `/page`: the tutorial's route asks the stand-in for N distinct comics with \
             `asyncio.gather`, then answers with one `<img>` per comic whose source is the stand-in's own \
             port, as the tutorial's are imgs.xkcd.com: a second origin, with six connections of its own. \
             It is timed in the same Chromium from navigation to its load event (every image shown); its \
             first tile and mean are the images' arrivals (Resource Timing), also from navigation, so they \
             include the route's own gather. Fanout's figures run from Run. \"÷ tutorial\" is the wall time \
             over the tutorial page's.{}\n\n\
             | N | what | wall (ms) | first tile (ms) | mean to tile (ms) | ÷ tutorial | failed |\n\
             | --- | --- | --- | --- | --- | --- | --- |\n{}\n\n{}\n\n\
             Why the xkcd path keeps up with the demo path: the proxy fetches each comic's image the \
             moment its metadata is in, with the same place in the client's share, so the page's image \
             request finds it cached or in flight (images first, `proxy/src/upstream_share.rs`). Over \
             HTTP/1.1 the tutorial's page has one advantage Fanout gives up by serving everything from one \
             origin: its images come from a second origin, with six connections of their own, while its \
             metadata is gathered on the server. Gather takes the metadata off the browser's six \
             connections as well, and beats it; all at once shares six connections between metadata and \
             images, and takes longer than the tutorial's page. Serving images from a second host (host sharding) is the \
             answer to the rest; over h2 the limit is gone (section 1).\n",
            match self.repeats {
                Some(k) => format!(" Every row is the median (by wall time) of {k} runs, interleaved."),
                None => " Every row is a single run.".to_owned(),
            },
            rows.join("\n"),
            ratios.join("\n")
        )
    }

    pub fn flask_row(&mut self, n: u32, asynchronous: f64, sequential: f64) {
        let ideal = f64::from(self.latency_ms);
        self.flask.push(format!(
            "| {n} | {asynchronous:.0} | {:.2} | {sequential:.0} | {:.2} |",
            asynchronous / ideal,
            sequential / ideal
        ));
    }

    pub fn load_row(&mut self, name: &str, url: &str, connections: u32, r: &WrkResult) {
        let path = url.splitn(4, '/').nth(3).unwrap_or("");
        self.load.push(format!(
            "| {name} | `/{path}` | {connections} | {:.0} | {:.2} | {:.2} | {:.1} | {} |",
            r.rps, r.p50_ms, r.p99_ms, r.max_ms, r.errors
        ));
    }

    pub fn bytes_row(&mut self, name: &str, raw: usize, gzip: usize, brotli: usize) {
        self.bytes.push((name.to_owned(), raw, gzip, brotli));
    }

    /// The median run of one form factor; `runs`: how many it is the median of.
    pub fn lighthouse_row(&mut self, audit: Audit, runs: usize) {
        self.lighthouse_runs = runs;
        self.lighthouse.push(format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.3} |",
            audit.form,
            audit.performance,
            audit.accessibility,
            audit.best_practices,
            audit.seo,
            audit.lcp_ms,
            audit.tbt_ms,
            audit.cls
        ));
        for flag in audit.flagged {
            self.lighthouse_flags.push(format!("- {}: {flag}", audit.form));
        }
    }

    /// Section 1 alone: the fan-out table and what it means.
    pub fn render_fanout(&self) -> String {
        let l = self.latency_ms;
        let mut out = String::new();
        let _ = write!(
            out,
            "\n## 1. Fan-out in headless Chromium\n\n\
             The release page served by `fanout-proxy` (demo origin, {l} ms per request, jitter 0), \
             driven through its URL (`?comics=1,…,N&mode=…&limit=6&latency_ms={l}&jitter_ms=0&priority=…&run=1`) and its \
             `data-testid` hooks. The ideal is the slowest single chain, metadata then image: {} ms. \
             Fan-out ratio = wall time ÷ ideal; 1.00 is the physical limit. \"First tile\" is the time from Run \
             to the first comic on screen; \"mean to tile\" is the mean, over the comics, of the time from Run \
             to each one settling, and \"mean ÷ ideal\" its ratio to the ideal: how long a comic keeps the user \
             waiting. \"Browser\" is the browser's own account (Resource Timing: first request start to last \
             response end), read through the driver, as a check on the page's numbers. Every strategy runs with \
             the page's priority hints (`priority=images`, the default: metadata `fetch` at low priority, images \
             `fetchpriority=\"high\"`); all at once also runs without them (`priority=none`). Each all-at-once \
             row is followed by a \"bare script\" row: the same work (every comic's metadata, then its image \
             through an `<img>`, decoded, all at once, with the same hints or none) done by a few lines of plain \
             JavaScript in the same browser and origin, with none of the page around it. It is the floor this \
             machine and browser set for any page.\n\n\
             | N | strategy | protocol | wall (ms) | first tile (ms) | mean to tile (ms) | mean ÷ ideal | fan-out ratio | browser wall (ms) | browser ratio | failed |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n{}\n",
            2 * l,
            self.fanout.join("\n")
        );
        let _ = write!(
            out,
            "\nOver HTTP/1.1 the browser opens at most six connections to the proxy, so \"concurrent\" \
             moves in waves of six and its ratio grows with N; \"limited (k=6)\" matches that limit. Without \
             hints, every metadata `fetch()` (net priority MEDIUM) queues ahead of every image (a script-made \
             `<img>`, LOWEST), so the first tile waits for nearly all the metadata; with them the run goes \
             depth-first and tiles arrive from the first wave on, for the same wall time. Over \
             h2 (`fanout-proxy --tls-self-signed`, HTTPS with HTTP/2 by ALPN) every request shares one \
             connection and concurrent goes out in one wave. \
             \"gather\" and \"gather-all\" ask the proxy for every comic's metadata in one request \
             (`/api/comics?ids=1,…,N`; the proxy fans out, each comic with the same {l} ms), so only the \
             images queue for the browser's connections: \"gather\" reads the answer as a stream and starts \
             each image the moment its comic's line arrives; \"gather-all\" (`&wait=all`, the tutorial's \
             `asyncio.gather`) gets every comic at once after the slowest, so its first tile can come no \
             earlier than its slowest metadata.{}\n",
            match self.repeats {
                Some(k) => format!(" Every row is the median (by wall time) of {k} runs, interleaved."),
                None if self.quick =>
                    " The quick run skips sequential above N = 20 and runs everything once.".to_owned(),
                None =>
                    " Rows over h2 take about a second and vary by ±10 % from run to run here, so each is \
                     the median (by wall time) of five runs; the others are single runs."
                        .to_owned(),
            }
        );
        out
    }

    /// Section 3: the proxy and nginx under wrk (and a baseline build of the proxy, if asked).
    pub fn render_load(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "\n## 3. The proxy under load\n\n\
             `wrk -t2 -cCONNECTIONS -d{}s --timeout 15s --latency URL` on loopback, load generator and server sharing the same cores. \
             {} \
             nginx runs with a configuration the bench writes (`target/bench/nginx/nginx.conf`). Errors are \
             socket errors plus non-2xx answers. Peak resident memory of `fanout-proxy` over its 256-connection \
             rows: **{:.1} MiB**; after the burst of 10,000 connections, each waiting out a 1 s simulated delay \
             on a timer rather than a thread: **{:.1} MiB**.\n\n\
             | what | path | connections | requests/s | p50 (ms) | p99 (ms) | max (ms) | errors |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n{}\n",
            self.load_seconds,
            if self.load_rounds > 1 {
                format!(
                    "The 256-connection rows run in {} interleaved rounds and each shows its median round \
                     (by requests/s), so that drift on the machine falls on the proxy and nginx alike; the \
                     burst runs once.",
                    self.load_rounds
                )
            } else {
                "Every row runs once.".to_owned()
            },
            self.proxy_peak_rss_mib,
            self.proxy_burst_rss_mib,
            self.load.join("\n")
        );
        if let Some(h) = &self.hostile {
            let _ = write!(
                out,
                "\n**Held sockets.** The hostile row is the cached comic row while another address \
                 (127.0.0.2) holds {} sockets, half silent and half trickling a request head that \
                 never ends, each opened again a second after the proxy closes it (the header \
                 timeout, 10 s; the proxy closed {} over the run). Requests/s: {:.0} against {:.0} \
                 without them ({:.0} %); p99 {:.2} ms against {:.2} ms; peak resident memory over \
                 the run {:.1} MiB against {:.1} MiB (the larger of the rounds).\n",
                h.sockets,
                h.closed_by_server,
                h.hostile.rps,
                h.plain.rps,
                100.0 * h.hostile.rps / h.plain.rps,
                h.hostile.p99_ms,
                h.plain.p99_ms,
                h.hostile_rss_mib,
                h.plain_rss_mib,
            );
        }
        if let Some(baseline) = &self.baseline {
            out.push_str(baseline);
        }
        out
    }

    pub fn render(&self) -> String {
        let l = self.latency_ms;
        let mut out = self.header.clone();
        out.push_str(&self.render_fanout());
        out.push_str(&self.render_xkcd());
        let _ = write!(
            out,
            "\n## 2. The same job done server-side: the Flask 2.0 async tutorial\n\n\
             `bench/peers/flask_async.py` rebuilds the tutorial's route (httpx + `asyncio.gather`, comics' \
             metadata only) and its sequential `requests` \"before\", pointed at the same demo origin with \
             the same {l} ms delay. Times are the route's own \"Time taken\". Its ideal is one request: {l} ms.\n\n\
             | N | async route (ms) | ratio | sequential route (ms) | ratio |\n| --- | --- | --- | --- | --- |\n{}\n\n\
             The async route is the idea behind section 1's \"gather-all\" (the server gathers every comic, \
             then answers once), without images and without streaming.\n",
            self.flask.join("\n")
        );
        out.push_str(&self.render_load());
        let total = |f: fn(&(String, usize, usize, usize)) -> usize| self.bytes.iter().map(f).sum::<usize>();
        let _ = write!(
            out,
            "\n## 4. What the user downloads\n\n\
             The release build in `dist/` (the `wasm-release` profile, then wasm-opt with the flags in `index.html`). A first visit \
             downloads every file below; `fanout-proxy` serves the `.br` and `.gz` that `cargo xtask` writes beside each.\n\n\
             | file | raw (bytes) | gzip -9 | brotli 11 |\n| --- | --- | --- | --- |\n{}\n| **first visit** | **{}** | **{}** | **{}** |\n\n\
             Navigation to interactive (the app mounted) in headless Chromium on loopback, median of 5 \
             fresh loads: **{:.0} ms**.\n",
            self.bytes
                .iter()
                .map(|(name, raw, gz, br)| format!("| `{name}` | {raw} | {gz} | {br} |"))
                .collect::<Vec<_>>()
                .join("\n"),
            total(|b| b.1),
            total(|b| b.2),
            total(|b| b.3),
            self.interactive_ms
        );
        let _ = write!(
            out,
            "\n### What the auditors say\n\n\
             Lighthouse 12.2.3 (npm, pinned by `cargo xtask bench`) on the idle page served by `fanout-proxy` \
             over plain HTTP on loopback, with this machine's Chromium, each run a fresh headless browser: \
             the mobile form (Lighthouse's default: simulated slow 4G and a 4× slower CPU) and `--preset=desktop`. \
             {} LCP and TBT in ms. The reports are in `target/bench/lighthouse/`.\n\n\
             | form | performance | accessibility | best practices | SEO | LCP (ms) | TBT (ms) | CLS |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- |\n{}\n\n{}\n",
            if self.lighthouse_runs > 1 {
                format!(
                    "Each row is the median run (by performance score) of {}.",
                    self.lighthouse_runs
                )
            } else {
                "Each row is a single run.".to_owned()
            },
            self.lighthouse.join("\n"),
            if self.lighthouse_flags.is_empty() {
                "In those runs Lighthouse flags nothing that counts toward a score.".to_owned()
            } else {
                format!(
                    "What those runs flag (scored audits that did not pass):\n\n{}",
                    self.lighthouse_flags.join("\n")
                )
            }
        );
        let _ = write!(
            out,
            "\n## How to reproduce\n\n```sh\ncargo xtask bench          # the full run (several minutes)\n\
             cargo xtask bench --quick  # a quick look, under three minutes\n\
             cargo xtask bench --concurrent-only 20,100 --repeats 3  # only the all-at-once rows, printed\n\
             cargo xtask bench --gather-only 100 --concurrent-only 100  # server gather next to all at once, printed\n\
             cargo xtask bench --xkcd-only 20,100  # the xkcd path and the tutorial's page, printed\n\
             cargo xtask bench --shards-only 20,100  # the page over k host names, printed\n\
             cargo xtask bench --engines-only --browser firefox  # the per-engine table, one engine, printed\n\
             cargo xtask bench --load-only --baseline-proxy PATH  # the proxy under load next to another build, printed\n\
             cargo xtask bench --screenshot-only  # the README's screenshot\n```\n"
        );
        out
    }
}
