//! Section 1b: the path real users take. Every row of section 1 comes from the demo origin,
//! which never meets the upstream cap (`--max-upstream-concurrency`, default 16) or a
//! client's upstream share. Here the page runs through `--origin xkcd` against the stand-in
//! xkcd ([`crate::xkcd_stand_in`], the same delay per request), each run on a fresh proxy so
//! that nothing is cached, beside the same run on the demo origin and beside the tutorial's
//! own page (the Flask route's HTML and its `<img>` tags, loaded from the stand-in's port
//! as the tutorial loads them from imgs.xkcd.com), timed in the same Chromium until its load
//! event.
//!
//! `cargo xtask bench --xkcd-only 20,100` runs only these rows and prints them.

use std::{process::Command, time::Duration};

use fanout_e2e::{Page, free_port};

use crate::{
    Hints, Service, Setup, load, median_by, page_run,
    report::{Report, XkcdRow},
    start_proxy_on, wait_for, xkcd_stand_in,
};

/// The sizes measured when the command line names none.
const SIZES: [u32; 2] = [20, 100];

/// What a row measures, in the order each repeat runs them.
const RUNS: [(&str, Runner); 5] = [
    (
        "Fanout, gather, demo origin",
        Runner::Page("gather", Origin::Demo),
    ),
    ("Fanout, gather, xkcd path", Runner::Page("gather", Origin::Xkcd)),
    (
        "Fanout, all at once, demo origin",
        Runner::Page("concurrent", Origin::Demo),
    ),
    (
        "Fanout, all at once, xkcd path",
        Runner::Page("concurrent", Origin::Xkcd),
    ),
    ("the tutorial's page (Flask, then `<img>` tags)", Runner::Tutorial),
];

#[derive(Clone, Copy, PartialEq)]
enum Origin {
    Demo,
    Xkcd,
}

#[derive(Clone, Copy)]
enum Runner {
    Page(&'static str, Origin),
    Tutorial,
}

/// One run's figures, in ms from Run (or, for the tutorial's page, from navigation).
struct Timed {
    wall: f64,
    first: f64,
    mean: f64,
    failed: u32,
}

pub async fn rows(setup: &Setup, demo_base: &str, report: &mut Report) {
    let sizes: Vec<u32> = if setup.xkcd_only.is_empty() {
        SIZES.to_vec()
    } else {
        setup.xkcd_only.clone()
    };
    let stand_in = xkcd_stand_in::start(setup.latency_ms).await;
    wait_for(&format!("{stand_in}/info.0.json"), Duration::from_secs(10)).await;
    let (_flask, tutorial) = start_tutorial(setup, demo_base, &stand_in);
    wait_for(&format!("{tutorial}/page?n=1"), Duration::from_secs(30)).await;
    let mut page = Page::attach(demo_base).await;
    let repeats = setup.repeats.unwrap_or(1);
    let chain = 2.0 * f64::from(setup.latency_ms);
    for (i, &n) in sizes.iter().enumerate() {
        let left = sizes[i..]
            .iter()
            .map(|&m| chain * (f64::from(m) / 6.0 + 2.0) * RUNS.len() as f64 * repeats as f64)
            .sum::<f64>();
        setup.progress(
            &format!("the xkcd path and the tutorial's page: N={n}"),
            i,
            sizes.len(),
            Duration::from_millis(left as u64),
        );
        let mut measured: Vec<Vec<Timed>> = RUNS.iter().map(|_| Vec::new()).collect();
        // Interleaved, so that drift on the machine falls on every row alike.
        for _ in 0..repeats {
            for ((_, runner), runs) in RUNS.iter().zip(&mut measured) {
                runs.push(run(setup, &mut page, demo_base, &stand_in, &tutorial, *runner, n).await);
            }
        }
        for ((what, _), runs) in RUNS.iter().zip(measured) {
            let run = median_by(runs, |r| r.wall).expect("at least one run");
            report.xkcd_row(XkcdRow {
                n,
                what,
                wall: run.wall,
                first: run.first,
                mean: run.mean,
                failed: run.failed,
            });
        }
    }
    page.close().await;
}

async fn run(
    setup: &Setup,
    page: &mut Page,
    demo_base: &str,
    stand_in: &str,
    tutorial: &str,
    runner: Runner,
    n: u32,
) -> Timed {
    match runner {
        Runner::Page(mode, Origin::Demo) => {
            page.base = demo_base.parse().unwrap();
            from_page(page_run(page, n, mode, Hints::On, setup.latency_ms).await)
        }
        Runner::Page(mode, Origin::Xkcd) => {
            // A fresh proxy: nothing cached, every comic and image goes upstream.
            let (_proxy, base) = start_proxy_on(
                setup,
                false,
                &["--origin", "xkcd", "--xkcd-url", stand_in, "--imgs-url", stand_in],
            );
            wait_for(&format!("{base}/api/health"), Duration::from_secs(10)).await;
            page.base = base.parse().unwrap();
            from_page(page_run(page, n, mode, Hints::On, setup.latency_ms).await)
        }
        Runner::Tutorial => tutorial_page(page, tutorial, n).await,
    }
}

fn from_page(m: crate::Measured) -> Timed {
    Timed {
        wall: m.wall,
        first: m.first,
        mean: m.mean,
        failed: m.failed,
    }
}

/// The Flask peer, asking the stand-in for comics (its `/page` route).
fn start_tutorial(setup: &Setup, demo_base: &str, stand_in: &str) -> (Service, String) {
    let port = free_port();
    let flask = Service(
        Command::new(load::venv_python(setup))
            .arg(setup.root.join("bench/peers/flask_async.py"))
            .arg(port.to_string())
            .env("COMIC_ORIGIN", demo_base)
            .env("XKCD_ORIGIN", stand_in)
            .env("IMGS_ORIGIN", stand_in)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the Flask peer starts"),
    );
    (flask, format!("http://127.0.0.1:{port}"))
}

/// The tutorial's page for `n` comics, loaded until its load event (every image shown):
/// the load event as wall time, and each image's arrival (Resource Timing's response end),
/// all from navigation start.
async fn tutorial_page(page: &Page, tutorial: &str, n: u32) -> Timed {
    page.client
        .goto(&format!("{tutorial}/page?n={n}"))
        .await
        .expect("the tutorial's page loads");
    page.wait_until(
        "performance.getEntriesByType('navigation')[0]?.loadEventEnd > 0",
        Duration::from_secs(120),
    )
    .await;
    let figures = page
        .eval(
            "const images = performance.getEntriesByType('resource')
               .filter(e => e.initiatorType === 'img').map(e => e.responseEnd);
             const shown = [...document.images].filter(i => i.complete && i.naturalWidth > 0).length;
             return [performance.getEntriesByType('navigation')[0].loadEventEnd,
                     Math.min(...images), images.reduce((a, b) => a + b, 0) / images.length,
                     document.images.length - shown];",
        )
        .await;
    let (wall, first, mean, failed): (f64, f64, f64, u32) =
        serde_json::from_value(figures).unwrap_or((f64::NAN, f64::NAN, f64::NAN, n));
    Timed {
        wall,
        first,
        mean,
        failed,
    }
}
