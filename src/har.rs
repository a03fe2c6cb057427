//! A run as HAR 1.2 (<http://www.softwareishard.com/blog/har-12-spec/>), the format DevTools
//! imports (Network → Import HAR): one page per run, one entry per request from the
//! browser's Resource Timing, and Fanout's own facts in `_fanout` fields (the spec allows
//! custom fields that start with an underscore). Plain serde types; no browser needed.
//!
//! Our own structs rather than the `har` crate: its types carry every optional field of
//! both HAR versions, and we need only the ones below plus `_fanout`.

use fanout_api::Route;
use serde::{Deserialize, Serialize};

use crate::{
    run_config::{Mode, Priority, strategy_label},
    state::RunStatus,
    stats::{RequestTiming, Summary},
};

/// A phase the browser does not expose (HAR's "does not apply").
pub const HIDDEN: f64 = -1.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Har {
    pub log: Log,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Log {
    pub version: String,
    pub creator: Creator,
    pub pages: Vec<Page>,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Creator {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub started_date_time: String,
    pub id: String,
    pub title: String,
    pub page_timings: PageTimings,
    #[serde(rename = "_fanout")]
    pub fanout: PageFacts,
}

/// HAR's two page timings, reused for a run: `onContentLoad` is its first tile, `onLoad`
/// its wall time (both from pressing Run; -1 when no comic settled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageTimings {
    pub on_content_load: f64,
    pub on_load: f64,
}

/// The experiment behind a page: what DevTools' own export cannot know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageFacts {
    pub run: u64,
    pub mode: String,
    pub limit: u32,
    pub priority: String,
    pub comics: Vec<u32>,
    pub status: String,
    pub wall_ms: f64,
    pub first_ms: f64,
    pub loaded: usize,
    pub failed: usize,
    /// The settings link that runs the same experiment again.
    pub run_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub pageref: String,
    pub started_date_time: String,
    pub time: f64,
    pub request: Request,
    pub response: Response,
    pub cache: Cache,
    pub timings: Timings,
    #[serde(rename = "_fanout")]
    pub fanout: EntryFacts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub method: String,
    pub url: String,
    pub http_version: String,
    pub cookies: Vec<NameValue>,
    pub headers: Vec<NameValue>,
    pub query_string: Vec<NameValue>,
    pub headers_size: i64,
    pub body_size: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// 0 when the browser did not record it (HAR has no "unknown" status).
    pub status: u16,
    pub status_text: String,
    pub http_version: String,
    pub cookies: Vec<NameValue>,
    pub headers: Vec<NameValue>,
    pub content: Content,
    #[serde(rename = "redirectURL")]
    pub redirect_url: String,
    pub headers_size: i64,
    pub body_size: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    pub size: i64,
    pub mime_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cache {}

/// The spec's phases in ms. `blocked`, `dns`, `connect` and `ssl` are -1 when the browser
/// hides them; `ssl` is part of `connect`, so it is not added into `time`. Resource Timing
/// has no mark between sending the request and waiting for the answer, so `send` is 0 (the
/// spec requires a number) and `wait` carries both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub blocked: f64,
    pub dns: f64,
    pub connect: f64,
    pub ssl: f64,
    pub send: f64,
    pub wait: f64,
    pub receive: f64,
}

impl Timings {
    /// The phases laid end to end: what the spec says `time` is.
    pub fn total(&self) -> f64 {
        [
            self.blocked,
            self.dns,
            self.connect,
            self.send,
            self.wait,
            self.receive,
        ]
        .into_iter()
        .filter(|&t| t >= 0.0)
        .sum()
    }
}

/// What Fanout knows about one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryFacts {
    /// The comic it was for (none for the batch request of a gather run).
    pub comic: Option<u32>,
    /// `metadata`, `batch` or `image`.
    pub kind: String,
    /// Its comic's tile: `loaded`, `failed`, `stopped` or `pending` (batch: none).
    pub tile: Option<String>,
    /// Where its bar starts, in ms from Run (the waterfall's axis).
    pub start_ms: f64,
}

/// Where one comic of a run ended up, and the image it asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct TileFacts {
    pub num: u32,
    /// `loaded`, `failed`, `stopped` or `pending`.
    pub outcome: &'static str,
    /// Its image's path, once its metadata named one.
    pub image: Option<String>,
}

/// Everything a run leaves for its HAR page and entries.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: u64,
    pub mode: Mode,
    pub limit: u32,
    pub priority: Priority,
    pub comics: Vec<u32>,
    pub status: RunStatus,
    pub summary: Summary,
    /// When Run was pressed, in ms since the Unix epoch.
    pub started_epoch_ms: f64,
    /// The settings link that reproduces it (`?n=…`).
    pub run_url: String,
    /// The browser's timing of each request, in ms from Run.
    pub requests: Vec<RequestTiming>,
    pub tiles: Vec<TileFacts>,
}

/// One HAR log of `runs`, oldest first as DevTools lists pages.
pub fn build(runs: &[&RunRecord], fanout_version: &str) -> Har {
    let mut pages = Vec::new();
    let mut entries = Vec::new();
    for run in runs {
        let pageref = format!("run-{}", run.id);
        let settled = run.summary.loaded + run.summary.failed > 0;
        let or_hidden = |ms: f64| if settled { ms } else { HIDDEN };
        pages.push(Page {
            started_date_time: iso8601(run.started_epoch_ms),
            id: pageref.clone(),
            title: format!(
                "#{} {}, {} comics",
                run.id,
                strategy_label(run.mode, run.limit, run.priority),
                run.comics.len()
            ),
            page_timings: PageTimings {
                on_content_load: or_hidden(run.summary.first_ms),
                on_load: or_hidden(run.summary.wall_ms),
            },
            fanout: PageFacts {
                run: run.id,
                mode: run.mode.as_str().into(),
                limit: run.limit,
                priority: run.priority.as_str().into(),
                comics: run.comics.clone(),
                status: run.status.as_str().into(),
                wall_ms: run.summary.wall_ms,
                first_ms: run.summary.first_ms,
                loaded: run.summary.loaded,
                failed: run.summary.failed,
                run_url: run.run_url.clone(),
            },
        });
        entries.extend(run.requests.iter().map(|request| entry(run, &pageref, request)));
    }
    Har {
        log: Log {
            version: "1.2".into(),
            creator: Creator {
                name: "Fanout".into(),
                version: fanout_version.into(),
            },
            pages,
            entries,
        },
    }
}

fn entry(run: &RunRecord, pageref: &str, request: &RequestTiming) -> Entry {
    let timings = timings(request);
    let (comic, kind) = match &request.route {
        Some(Route::Comic(fanout_api::ComicId::Number(n))) => (Some(*n), "metadata"),
        Some(Route::Comic(_)) => (None, "metadata"),
        Some(Route::Comics) => (None, "batch"),
        Some(Route::Image(file)) => (
            run.tiles
                .iter()
                .find(|t| t.image.as_deref().and_then(Route::parse) == Some(Route::Image(file.clone())))
                .map(|t| t.num),
            "image",
        ),
        Some(Route::Health) | None => (None, "other"),
    };
    let tile = comic
        .and_then(|n| run.tiles.iter().find(|t| t.num == n))
        .map(|t| t.outcome.to_string());
    let version = http_version(&request.protocol);
    Entry {
        pageref: pageref.into(),
        started_date_time: iso8601(run.started_epoch_ms + request.start),
        time: timings.total(),
        request: Request {
            method: "GET".into(),
            url: request.url.clone(),
            http_version: version.clone(),
            cookies: Vec::new(),
            headers: Vec::new(),
            query_string: Vec::new(),
            headers_size: -1,
            body_size: 0,
        },
        response: Response {
            status: request.status.unwrap_or(0),
            status_text: String::new(),
            http_version: version,
            cookies: Vec::new(),
            headers: Vec::new(),
            content: Content {
                size: -1,
                mime_type: String::new(),
            },
            redirect_url: String::new(),
            headers_size: -1,
            body_size: -1,
        },
        cache: Cache {},
        timings,
        fanout: EntryFacts {
            comic,
            kind: kind.into(),
            tile,
            start_ms: request.start,
        },
    }
}

/// HAR's version names from Resource Timing's `nextHopProtocol` (ALPN ids).
fn http_version(protocol: &str) -> String {
    match protocol {
        "http/1.1" => "HTTP/1.1".into(),
        "http/1.0" => "HTTP/1.0".into(),
        "h2" => "HTTP/2".into(),
        "h3" => "HTTP/3".into(),
        "" => "unknown".into(),
        other => other.into(),
    }
}

/// The spec's phases from one request's Resource Timing, laid out so that end to end they
/// are its waterfall bar: `blocked` + `dns` + `connect` is the bar's queued part, `wait` its
/// waiting part, `receive` its download.
pub fn timings(request: &RequestTiming) -> Timings {
    let bar = request.phases();
    let span = |(start, end): (f64, f64)| (end - start).max(0.0);
    let dns = request.dns.map_or(HIDDEN, span);
    let connect = request.connect.map_or(HIDDEN, span);
    let ssl = match (request.secure_connection_start, request.connect) {
        (Some(secure), Some((_, end))) => (end - secure).max(0.0),
        _ => HIDDEN,
    };
    // A zero requestStart: the browser withheld the connection's details (the bar then has
    // no queued part either).
    let blocked = if request.request_start > 0.0 {
        (bar.queued - dns.max(0.0) - connect.max(0.0)).max(0.0)
    } else {
        HIDDEN
    };
    Timings {
        blocked,
        dns,
        connect,
        ssl,
        send: 0.0,
        wait: bar.waiting,
        receive: bar.download,
    }
}

/// `2026-12-05T05:13:20.123Z` from ms since the Unix epoch.
pub fn iso8601(epoch_ms: f64) -> String {
    let (date, time, ms) = civil(epoch_ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        date.0, date.1, date.2, time.0, time.1, time.2, ms
    )
}

/// `fanout-20261205-051320.har` (UTC) for a download made at `epoch_ms`.
pub fn file_name(epoch_ms: f64) -> String {
    let (date, time, _) = civil(epoch_ms);
    format!(
        "fanout-{:04}{:02}{:02}-{:02}{:02}{:02}.har",
        date.0, date.1, date.2, time.0, time.1, time.2
    )
}

/// (year, month, day), (hour, minute, second), millisecond in UTC; Howard Hinnant's
/// days-from-civil inverse.
fn civil(epoch_ms: f64) -> ((i64, u32, u32), (u32, u32, u32), u32) {
    let total_ms = epoch_ms.round() as i64;
    let days = total_ms.div_euclid(86_400_000);
    let in_day = total_ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let secs = in_day / 1000;
    (
        (year, month, day),
        ((secs / 3600) as u32, (secs / 60 % 60) as u32, (secs % 60) as u32),
        (in_day % 1000) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use fanout_api::{ComicId, routes};

    fn request(route_url: String, times: [f64; 4], connection: bool) -> RequestTiming {
        let [start, request_start, response_start, response_end] = times;
        RequestTiming {
            route: Route::parse(&route_url),
            url: route_url,
            start,
            request_start,
            response_start,
            response_end,
            protocol: "http/1.1".into(),
            dns: connection.then_some((start + 1.0, start + 3.0)),
            connect: connection.then_some((start + 3.0, start + 9.0)),
            secure_connection_start: connection.then_some(start + 5.0),
            status: Some(200),
        }
    }

    fn run(id: u64) -> RunRecord {
        // A comic's `img` is already its path through the proxy.
        let image = routes::image("x.png");
        let image_url = image.clone();
        RunRecord {
            id,
            mode: Mode::Concurrent,
            limit: 6,
            priority: Priority::ImagesFirst,
            comics: vec![614, 615],
            status: RunStatus::Done,
            summary: Summary {
                wall_ms: 700.5,
                first_ms: 400.25,
                loaded: 1,
                failed: 1,
                ..Summary::default()
            },
            started_epoch_ms: 1_796_447_600_123.0,
            run_url: "?n=2&mode=concurrent&limit=6".into(),
            requests: vec![
                request(
                    routes::comic(ComicId::Number(614)),
                    [0.5, 12.25, 300.0, 301.5],
                    true,
                ),
                request(
                    routes::comic(ComicId::Number(615)),
                    [0.6, 350.0, 650.0, 655.0],
                    false,
                ),
                request(image_url, [302.0, 302.1, 600.0, 700.4], false),
                // A request whose details the browser withheld.
                RequestTiming {
                    request_start: 0.0,
                    response_start: 0.0,
                    dns: None,
                    connect: None,
                    secure_connection_start: None,
                    status: None,
                    ..request(
                        routes::comic(ComicId::Number(615)),
                        [660.0, 0.0, 0.0, 690.0],
                        false,
                    )
                },
            ],
            tiles: vec![
                TileFacts {
                    num: 614,
                    outcome: "loaded",
                    image: Some(image),
                },
                TileFacts {
                    num: 615,
                    outcome: "failed",
                    image: None,
                },
            ],
        }
    }

    #[test]
    fn each_entrys_phases_add_up_to_its_time_and_its_waterfall_bar() {
        let record = run(3);
        let har = build(&[&record], "0.1.0");
        assert_eq!(har.log.entries.len(), record.requests.len());
        for (entry, request) in har.log.entries.iter().zip(&record.requests) {
            let t = &entry.timings;
            let laid_end_to_end = [t.blocked, t.dns, t.connect, t.send, t.wait, t.receive]
                .into_iter()
                .filter(|&x| x != HIDDEN)
                .sum::<f64>();
            assert!((laid_end_to_end - entry.time).abs() < 1.0, "{entry:?}");
            let bar = request.phases();
            assert!((entry.time - (bar.queued + bar.waiting + bar.download)).abs() < 1.0);
            assert!((entry.fanout.start_ms + entry.time - request.response_end).abs() < 1.0);
            for phase in [t.blocked, t.dns, t.connect, t.ssl, t.send, t.wait, t.receive] {
                assert!(phase == HIDDEN || phase >= 0.0, "{entry:?}");
            }
        }
    }

    #[test]
    fn phases_the_browser_hides_are_minus_one_not_zero() {
        let har = build(&[&run(1)], "0.1.0");
        let [fresh, reused, _, withheld] = &har.log.entries[..] else {
            panic!("four entries")
        };
        assert_eq!(
            (fresh.timings.dns, fresh.timings.connect, fresh.timings.ssl),
            (2.0, 6.0, 4.0)
        );
        assert!((fresh.timings.blocked - (11.75 - 8.0)).abs() < 1e-9);
        assert_eq!(
            (reused.timings.dns, reused.timings.connect, reused.timings.ssl),
            (HIDDEN, HIDDEN, HIDDEN)
        );
        assert_eq!(reused.timings.blocked, 349.4);
        assert_eq!(withheld.timings.blocked, HIDDEN);
        assert_eq!(withheld.timings.receive, 30.0);
        assert_eq!(withheld.response.status, 0);
        assert_eq!(fresh.response.status, 200);
        assert_eq!(fresh.response.http_version, "HTTP/1.1");
    }

    #[test]
    fn every_entry_names_its_runs_page_and_its_comic() {
        let (older, newer) = (run(1), run(2));
        let har = build(&[&older, &newer], "0.1.0");
        let ids: Vec<&str> = har.log.pages.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["run-1", "run-2"]);
        assert_eq!(har.log.entries.len(), 8);
        assert!(har.log.entries.iter().all(|e| ids.contains(&e.pageref.as_str())));
        assert_eq!(har.log.entries[4].pageref, "run-2");
        let facts: Vec<(Option<u32>, &str, Option<&str>)> = har.log.entries[..4]
            .iter()
            .map(|e| (e.fanout.comic, e.fanout.kind.as_str(), e.fanout.tile.as_deref()))
            .collect();
        assert_eq!(
            facts,
            [
                (Some(614), "metadata", Some("loaded")),
                (Some(615), "metadata", Some("failed")),
                (Some(614), "image", Some("loaded")),
                (Some(615), "metadata", Some("failed")),
            ]
        );
        let page = &har.log.pages[0];
        assert_eq!(page.title, "#1 all at once, 2 comics");
        assert_eq!(
            (page.page_timings.on_content_load, page.page_timings.on_load),
            (400.25, 700.5)
        );
        assert_eq!(page.fanout.run_url, "?n=2&mode=concurrent&limit=6");
        assert_eq!(page.started_date_time, "2026-12-05T05:13:20.123Z");
        assert_eq!(har.log.entries[2].started_date_time, "2026-12-05T05:13:20.425Z");
    }

    #[test]
    fn a_run_with_nothing_settled_hides_its_page_timings() {
        let mut record = run(1);
        record.summary = Summary::default();
        let har = build(&[&record], "0.1.0");
        let timings = &har.log.pages[0].page_timings;
        assert_eq!((timings.on_content_load, timings.on_load), (HIDDEN, HIDDEN));
    }

    #[test]
    fn serialization_round_trips_with_the_specs_field_names() {
        let har = build(&[&run(1)], "0.1.0");
        let json = serde_json::to_value(&har).unwrap();
        let entry = &json["log"]["entries"][0];
        assert_eq!(json["log"]["version"], "1.2");
        assert_eq!(json["log"]["pages"][0]["pageTimings"]["onLoad"], 700.5);
        assert_eq!(entry["startedDateTime"], "2026-12-05T05:13:20.124Z");
        assert_eq!(entry["response"]["redirectURL"], "");
        assert_eq!(entry["_fanout"]["kind"], "metadata");
        assert_eq!(
            json["log"]["pages"][0]["_fanout"]["runUrl"],
            "?n=2&mode=concurrent&limit=6"
        );
        let back: Har = serde_json::from_value(json).unwrap();
        assert_eq!(back, har);
    }

    #[test]
    fn dates_and_file_names_are_utc() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000.0), "2000-02-29T00:00:00.000Z");
        assert_eq!(file_name(1_796_447_600_123.0), "fanout-20261205-051320.har");
    }
}
