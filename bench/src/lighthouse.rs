//! Lighthouse (the version `cargo xtask bench` pins, named by `LIGHTHOUSE`) on the served
//! page with the system Chromium, in its mobile and desktop forms.

use std::{path::PathBuf, process::Command, time::Duration};

use serde_json::Value;

use crate::{Setup, median_by, report::Report};

/// One Lighthouse run: category scores (0-100), the three field metrics and what failed.
pub struct Audit {
    pub form: &'static str,
    pub performance: f64,
    pub accessibility: f64,
    pub best_practices: f64,
    pub seo: f64,
    pub lcp_ms: f64,
    pub tbt_ms: f64,
    pub cls: f64,
    /// Titles of the scored audits that did not pass, for the report.
    pub flagged: Vec<String>,
}

/// Runs per form; Lighthouse's own advice for a stable performance score is the median of
/// five, and on two shared cores one run can differ from the next by several points.
const RUNS: usize = 5;
/// Tries per run before a failing Lighthouse ends the bench.
const ATTEMPTS: usize = 3;

pub fn audit_page(setup: &Setup, base: &str, report: &mut Report) {
    let lighthouse =
        PathBuf::from(std::env::var("LIGHTHOUSE").expect("LIGHTHOUSE is not set: run `cargo xtask bench`"));
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let runs = if setup.quick { 1 } else { RUNS };
    let out_dir = setup.root.join("target/bench/lighthouse");
    std::fs::create_dir_all(&out_dir).expect("target/bench/lighthouse can be created");
    for (i, form) in ["mobile", "desktop"].into_iter().enumerate() {
        let mut audits = Vec::new();
        for run in 0..runs {
            setup.progress(
                &format!("Lighthouse, {form}"),
                i * runs + run,
                2 * runs,
                Duration::from_secs(20 * (2 * runs - i * runs - run) as u64),
            );
            let out = out_dir.join(format!("{form}-{run}.json"));
            let lighthouse_run = || {
                let mut cmd = Command::new("node");
                cmd.arg(&lighthouse)
                    .arg(format!("{base}/"))
                    .args([
                        "--output=json",
                        "--quiet",
                        "--only-categories=performance,accessibility,best-practices,seo",
                        // A fresh headless browser per run, as a first visit.
                        "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage",
                    ])
                    .arg(format!("--output-path={}", out.display()))
                    .env("CHROME_PATH", &chromium);
                if form == "desktop" {
                    cmd.arg("--preset=desktop");
                }
                cmd.status().expect("node runs Lighthouse")
            };
            // Lighthouse now and then loses its own trace of a load (NO_NAVSTART); such a run
            // measured nothing, so it is run again rather than ending the whole bench.
            let mut status = lighthouse_run();
            for _ in 1..ATTEMPTS {
                if status.success() {
                    break;
                }
                eprintln!("Lighthouse failed ({status}) on {base}/ ({form}); running it again");
                status = lighthouse_run();
            }
            assert!(
                status.success(),
                "Lighthouse failed {ATTEMPTS} times in a row ({status}) on {base}/ ({form})"
            );
            let json = std::fs::read_to_string(&out).expect("Lighthouse wrote its report");
            let lhr: Value = serde_json::from_str(&json).expect("Lighthouse's report is JSON");
            audits.push(read(form, &lhr));
        }
        let median = median_by(audits, |a| a.performance).expect("at least one run");
        report.lighthouse_row(median, runs);
    }
}

fn read(form: &'static str, lhr: &Value) -> Audit {
    let score = |category: &str| lhr["categories"][category]["score"].as_f64().unwrap_or(f64::NAN) * 100.0;
    let metric = |audit: &str| lhr["audits"][audit]["numericValue"].as_f64().unwrap_or(f64::NAN);
    let mut flagged = Vec::new();
    for category in ["performance", "accessibility", "best-practices", "seo"] {
        for reference in lhr["categories"][category]["auditRefs"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let id = reference["id"].as_str().unwrap_or("");
            let audit = &lhr["audits"][id];
            let weighted = reference["weight"].as_f64().unwrap_or(0.0) > 0.0;
            let scored = matches!(audit["scoreDisplayMode"].as_str(), Some("binary" | "numeric"));
            if weighted && scored && audit["score"].as_f64().is_some_and(|s| s < 1.0) {
                let value = audit["displayValue"]
                    .as_str()
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default();
                flagged.push(format!("{}{value}", audit["title"].as_str().unwrap_or(id)));
            }
        }
    }
    Audit {
        form,
        performance: score("performance"),
        accessibility: score("accessibility"),
        best_practices: score("best-practices"),
        seo: score("seo"),
        lcp_ms: metric("largest-contentful-paint"),
        tbt_ms: metric("total-blocking-time"),
        cls: metric("cumulative-layout-shift"),
        flagged,
    }
}
