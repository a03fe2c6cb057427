//! The HAR export, end to end: a real run over HTTP/1.1 and one over HTTP/2, exported
//! through the page's buttons as real downloads (into the session's download directory:
//! Chromium's set through the DevTools protocol, the other engines' at start-up), read back from disk, checked against the HAR 1.2 JSON schema by
//! npm's `har-validator` (`cargo xtask test` installs it and names it in
//! `FANOUT_HAR_VALIDATOR`), and compared with the page's own waterfall.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use fanout_e2e::{Page, audit::Cdp};
use serde_json::{Value, json};

const SECS: Duration = Duration::from_secs(30);
const COMICS: [u32; 3] = [3, 14, 15];
const QUERY: &str = "comics=3,14,15&mode=concurrent&latency_ms=30&jitter_ms=0&run=1";

/// Presses the export button `test_id` and returns the HAR file it saved, read from disk.
async fn download(page: &Page, test_id: &str) -> (String, Value) {
    let dir = page.downloads();
    for old in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(old.unwrap().path()).unwrap();
    }
    if page.engine.has_devtools() {
        // Chromium takes its download directory through DevTools; the others were given
        // it at start-up (see `Page::downloads`).
        page.client
            .issue_cmd(Cdp {
                method: "Browser.setDownloadBehavior",
                params: json!({ "behavior": "allow", "downloadPath": dir }),
            })
            .await
            .expect("Chromium accepts a download directory");
    }
    page.click(test_id).await;
    let file = wait_for_file(dir).await;
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
    let har = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{name} is not JSON: {err}"));
    validate(&file);
    (name, har)
}

/// Polls the directory until the browser has finished writing one `.har` file into it.
/// Chromium and Firefox put an empty file of the final name there first and write into a
/// `.crdownload` or `.part` beside it, which they rename over the placeholder when done;
/// WebKit writes into a `.wkdownload`.
async fn wait_for_file(dir: &Path) -> PathBuf {
    let deadline = Instant::now() + SECS;
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let writing = files.iter().any(|p| {
            p.extension()
                .is_some_and(|e| ["crdownload", "part", "wkdownload"].iter().any(|w| e == *w))
        });
        let saved: Vec<&PathBuf> = files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "har"))
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
            .collect();
        if let ([file], false) = (&saved[..], writing) {
            return file.to_path_buf();
        }
        assert!(
            Instant::now() < deadline,
            "no HAR file was downloaded into {}: {files:?}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks the file against the HAR 1.2 schema with har-validator, in node.
fn validate(file: &Path) {
    let modules = std::env::var("FANOUT_HAR_VALIDATOR").expect(
        "FANOUT_HAR_VALIDATOR is not set: run the end-to-end tests through `cargo xtask test`, \
         which installs har-validator into target/tools",
    );
    let script = "const [modules, file] = process.argv.slice(1);
        const validate = require(modules + '/har-validator');
        validate.har(JSON.parse(require('fs').readFileSync(file, 'utf8')))
          .then(() => process.exit(0))
          .catch(e => { console.error(JSON.stringify(e.errors || String(e), null, 1)); process.exit(1); });";
    let out = Command::new("node")
        .args(["-e", script, &modules])
        .arg(file)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "har-validator refused {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The waterfall's table, row by row: label, protocol and its four numbers in ms.
async fn waterfall_rows(page: &Page) -> Vec<(String, String, [f64; 4])> {
    page.eval("document.querySelector('[data-testid=waterfall] details summary').click(); return null;")
        .await;
    page.wait_until(
        "document.querySelectorAll('[data-testid=waterfall] details tbody tr').length > 0",
        SECS,
    )
    .await;
    let rows = page
        .eval(
            "return [...document.querySelectorAll('[data-testid=waterfall] details tbody tr')]
               .map(r => [...r.cells].map(c => c.textContent));",
        )
        .await;
    let rows: Vec<Vec<String>> = serde_json::from_value(rows).unwrap();
    rows.into_iter()
        .map(|cells| {
            let ms = |i: usize| -> f64 {
                cells[i]
                    .trim_end_matches(" ms")
                    .replace(',', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{:?} is not a time", cells[i]))
            };
            (cells[0].clone(), cells[1].clone(), [ms(2), ms(3), ms(4), ms(5)])
        })
        .collect()
}

fn phase(timings: &Value, name: &str) -> f64 {
    let value = timings[name]
        .as_f64()
        .unwrap_or_else(|| panic!("timings.{name} is missing"));
    assert!(value == -1.0 || value >= 0.0, "timings.{name} is {value}");
    value.max(0.0)
}

/// The run's HAR: one page for it, every comic's metadata and image request with its
/// `_fanout` facts, and each entry's phases laid end to end equal to its waterfall row.
async fn check_run(page: &Page, protocol: &str, http_version: &str) {
    page.open(QUERY).await;
    page.wait_for_state("done", SECS).await;
    let total_ms: f64 = page.summary().await["totalMs"].as_str().unwrap().parse().unwrap();

    let (name, har) = download(page, "export-run").await;
    assert!(
        name.starts_with("fanout-") && name.len() == "fanout-YYYYMMDD-HHMMSS.har".len(),
        "{name}"
    );
    let log = &har["log"];
    assert_eq!(log["version"], "1.2");
    let pages = log["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 1, "one page per run");
    let run_page = &pages[0];
    assert!(
        run_page["title"]
            .as_str()
            .unwrap()
            .contains("all at once, 3 comics"),
        "{}",
        run_page["title"]
    );
    assert!((run_page["pageTimings"]["onLoad"].as_f64().unwrap() - total_ms).abs() <= 1.0);
    assert_eq!(run_page["_fanout"]["mode"], "concurrent");
    assert_eq!(run_page["_fanout"]["comics"], json!(COMICS));
    let run_url = run_page["_fanout"]["runUrl"].as_str().unwrap();
    assert!(
        run_url.contains("comics=3,14,15") && run_url.contains("mode=concurrent"),
        "{run_url}"
    );

    let entries = log["entries"].as_array().unwrap();
    // HAR's 0 is "no status known": an engine without `responseStatus` (WebKit) gives none.
    let status = if page.reports_response_status().await {
        200
    } else {
        eprintln!(
            "{}: reports no HTTP status in Resource Timing: checked that the HAR says 0 (unknown)",
            page.engine
        );
        0
    };
    for entry in entries {
        assert_eq!(entry["pageref"], run_page["id"]);
        assert_eq!(entry["request"]["method"], "GET");
        assert_eq!(entry["response"]["httpVersion"], http_version, "{entry}");
        assert_eq!(entry["response"]["status"], status, "{entry}");
    }
    for num in COMICS {
        for kind in ["metadata", "image"] {
            let found = entries.iter().any(|e| {
                e["_fanout"]["comic"] == num
                    && e["_fanout"]["kind"] == kind
                    && e["_fanout"]["tile"] == "loaded"
            });
            assert!(found, "no loaded {kind} entry for comic {num}: {entries:#?}");
        }
    }

    // The page's own waterfall, the same requests in the same order.
    let rows = waterfall_rows(page).await;
    assert_eq!(rows.len(), entries.len(), "{rows:?}");
    for ((label, row_protocol, [start, queued, waiting, download]), entry) in rows.iter().zip(entries) {
        assert_eq!(row_protocol, protocol);
        let t = &entry["timings"];
        let (laid_queued, laid_waiting, laid_download) = (
            phase(t, "blocked") + phase(t, "dns") + phase(t, "connect"),
            phase(t, "send") + phase(t, "wait"),
            phase(t, "receive"),
        );
        let time = entry["time"].as_f64().unwrap();
        assert!(
            (laid_queued + laid_waiting + laid_download - time).abs() <= 1.0,
            "{entry}"
        );
        // The table shows whole ms: each of its numbers is within half a ms of the real one.
        let close = |shown: f64, exported: f64| (shown - exported).abs() <= 1.0;
        assert!(
            close(*start, entry["_fanout"]["startMs"].as_f64().unwrap())
                && close(*queued, laid_queued)
                && close(*waiting, laid_waiting)
                && close(*download, laid_download),
            "{label}: the waterfall shows {start} + {queued}/{waiting}/{download} ms, the HAR {entry}"
        );
    }

    // A second run, then the whole history: a page for each, oldest first.
    page.click("run").await;
    page.wait_until(
        "document.querySelectorAll('[data-testid=history-row]').length === 2",
        SECS,
    )
    .await;
    page.wait_for_state("done", SECS).await;
    let (_, history) = download(page, "export-history").await;
    let pages = history["log"]["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0]["id"], run_page["id"]);
    let ids: Vec<&Value> = pages.iter().map(|p| &p["id"]).collect();
    let history_entries = history["log"]["entries"].as_array().unwrap();
    assert_eq!(history_entries.len(), 2 * entries.len(), "both runs' requests");
    assert!(history_entries.iter().all(|e| ids.contains(&&e["pageref"])));
}

#[tokio::test]
async fn a_run_and_the_history_export_as_valid_har_over_http1() {
    let page = Page::start().await;
    check_run(&page, "http/1.1", "HTTP/1.1").await;
    page.close().await;
}

#[tokio::test]
async fn a_run_and_the_history_export_as_valid_har_over_h2() {
    let page = Page::start_tls().await;
    check_run(&page, "h2", "HTTP/2").await;
    page.close().await;
}

/// A stopped run exports too: its page says so, and its entries' tiles are loaded or stopped.
#[tokio::test]
async fn a_stopped_run_exports_what_it_did() {
    let page = Page::start().await;
    page.stop_after_first_tile(
        "comics=3,14,15,92&mode=sequential&latency_ms=150&jitter_ms=0&run=1",
        SECS,
    )
    .await;
    let (_, har) = download(&page, "export-run").await;
    let run_page = &har["log"]["pages"][0];
    assert_eq!(run_page["_fanout"]["status"], "cancelled");
    assert_eq!(run_page["_fanout"]["loaded"], 1);
    let entries = har["log"]["entries"].as_array().unwrap();
    let facts: Vec<(u64, &str, &str)> = entries
        .iter()
        .map(|e| {
            let f = &e["_fanout"];
            (
                f["comic"].as_u64().unwrap(),
                f["kind"].as_str().unwrap(),
                f["tile"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        facts.contains(&(3, "metadata", "loaded")) && facts.contains(&(3, "image", "loaded")),
        "{facts:?}"
    );
    // One after another: the stop came while the second comic was under way, so nothing of
    // the third or fourth was asked for, and the second's tile says it was stopped.
    assert!(
        facts
            .iter()
            .all(|&(num, _, tile)| (num, tile) == (3, "loaded") || (num, tile) == (14, "stopped")),
        "{facts:?}"
    );
    page.close().await;
}
