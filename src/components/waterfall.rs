use std::fmt::Write;

use leptos::prelude::*;
use web_sys::HtmlDetailsElement;

use super::{markup::escaped, ms};
use fanout_api::Route;

use crate::{
    plot::{axis_ticks, tenths},
    run_config::{Mode, Priority},
    state::AppState,
    stats::RequestTiming,
};

const WIDTH: f64 = 1000.0;
const LABEL: f64 = 150.0;
const ROW: f64 = 9.0;

/// One bar per request on the run's time axis, from the browser's own Resource Timing.
#[component]
pub fn Waterfall() -> impl IntoView {
    let state = expect_context::<AppState>();
    let requests = state.requests;
    let run = state.run;
    let protocols = Memo::new(move |_| requests.with(|r| protocols_used(r)));
    let table_open = RwSignal::new(false);

    view! {
        <section class="waterfall" aria-labelledby="waterfall-title" data-testid="waterfall">
            <h2 id="waterfall-title">"Waterfall"</h2>
            <div inner_html=move || {
                protocols.with(|p| run.with(|r| explanation(p, r.mode, r.priority)))
            }></div>
            <div inner_html=move || requests.with(|r| chart_markup(r))></div>
            // The table is built only while open: mid-run, the waterfall refreshes several times
            // a second, and rebuilding a hidden row per request each time was wasted work.
            <details on:toggle=move |ev| table_open.set(event_target::<HtmlDetailsElement>(&ev).open())>
                <summary>"The same as a table"</summary>
                <table class="numbers">
                    <thead>
                        <tr>
                            <th>"request"</th>
                            <th>"protocol"</th>
                            <th>"start"</th>
                            <th>"queued"</th>
                            <th>"waiting"</th>
                            <th>"download"</th>
                        </tr>
                    </thead>
                    <tbody inner_html=move || {
                        if table_open.get() { requests.with(|r| table_markup(r)) } else { String::new() }
                    }></tbody>
                </table>
            </details>
            <div inner_html=move || {
                if protocols.with(|p| used(p, "http/1.1")) { LIFT_CAP } else { "" }
            }></div>
        </section>
    }
}

/// How to lift the six-connection cap, shown while requests go over HTTP/1.1.
const LIFT_CAP: &str = concat!(
    r#"<p class="lift-cap" data-testid="lift-cap">HTTP/2 removes the six-connection queue: every request shares one connection. "#,
    "To get it, serve the page over HTTPS with <code>cargo xtask serve --tls-self-signed</code> and open its https:// address.</p>"
);

/// What the bars mean, why they stack up as they do over the protocols in use, what the
/// order of requests was, and the protocols themselves.
fn explanation(protocols: &str, mode: Mode, priority: Priority) -> String {
    let connections = if used(protocols, "h2") {
        "Over HTTP/2 every request shares one connection, so none waits for a free one: the bars start together, in one wave. \
        What still separates the wall time from the ideal is the browser's own work: handing each request to the network, \
        reading each answer, decoding each image."
    } else {
        "Over HTTP/1.1 a browser opens at most six connections to one host, so from the seventh concurrent request on, \
        requests queue until one frees up: that is the staircase."
    };
    format!(
        concat!(
            r#"<p class="explain">Each bar is one request, as the browser itself timed it: <span class="key queued">queued</span> waiting for a free connection, "#,
            r#"<span class="key waiting">waiting</span> for the first byte, then <span class="key download">download</span>. {} "#,
            r#"<span data-testid="order" data-priority="{}">{}</span></p><p class="protocols">Protocol used: <span data-testid="protocols">{}</span></p>"#
        ),
        escaped(connections),
        escaped(priority.as_str()),
        escaped(order_explained(mode, priority)),
        escaped(protocols)
    )
}

/// What the order of requests was, and why, for the run's strategy and priority hints.
fn order_explained(mode: Mode, priority: Priority) -> &'static str {
    match (mode, priority) {
        (Mode::Gather, _) => {
            "Server gathers, streamed: one request (the \"comics\" row) carries every comic's metadata, \
            and the proxy sends each comic the moment the origin answers it. What that buys over HTTP/1.1: \
            the metadata hop no longer queues for the browser's six connections, only the images do, \
            each starting the moment its comic's line arrives."
        }
        (Mode::GatherAll, _) => {
            "Server gathers, waits for all: one request (the \"comics\" row) carries every comic's metadata, \
            but the proxy answers only after the slowest comic, as the Flask tutorial's asyncio.gather does. \
            No image can start before that answer, so the first tile comes no earlier than the slowest comic's metadata."
        }
        (_, Priority::ImagesFirst) => {
            "Images first: each comic's metadata asks for low priority and its image for high, \
            so a free connection goes to an image whose metadata has arrived before the next comic's metadata. \
            Comics finish one by one from the first wave on, and the gallery fills while the queue drains."
        }
        (_, Priority::NoHints) => {
            "No priority hints: the browser serves fetch() (the metadata) ahead of images it \
            considers less urgent, so over HTTP/1.1 every metadata request queues ahead of every image \
            and the gallery stays empty until nearly all the metadata is in."
        }
    }
}

/// Every protocol the requests used, in order and once each: `"h2, http/1.1"`, or `"unknown"`.
fn protocols_used(requests: &[RequestTiming]) -> String {
    // Kept sorted by inserting in place: there are very few, and a sort would add its code.
    let mut seen: Vec<&str> = Vec::new();
    for protocol in requests
        .iter()
        .map(|t| t.protocol.as_str())
        .filter(|p| !p.is_empty())
    {
        if let Err(at) = seen.binary_search(&protocol) {
            seen.insert(at, protocol);
        }
    }
    if seen.is_empty() {
        "unknown".to_string()
    } else {
        seen.join(", ")
    }
}

/// True when `name` is one of the protocols [`protocols_used`] lists.
fn used(protocols: &str, name: &str) -> bool {
    // Split on the comma rather than `str::contains`, whose substring search is code of its
    // own in the wasm (and would find "h2" inside "h2c").
    protocols.split(',').any(|p| p.trim_start() == name)
}

fn chart_height(requests: usize) -> usize {
    requests * ROW as usize + 24
}

/// The chart, `<svg>` and all (it is sized by the number of requests), under a note while
/// there are none: round time ticks, then one row per request with its three phases.
fn chart_markup(requests: &[RequestTiming]) -> String {
    let end = requests.iter().map(|t| t.response_end).fold(1.0, f64::max);
    let height = chart_height(requests.len());
    let x = |t: f64| LABEL + t / end * (WIDTH - LABEL - 10.0);
    let mut out = String::new();
    if requests.is_empty() {
        out.push_str(r#"<p class="empty">No requests yet.</p>"#);
    }
    let _ = write!(
        out,
        r#"<svg class="chart" role="img" aria-label="Request waterfall; the table below has the same numbers" viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="none" height="{height}">"#
    );
    for t in axis_ticks(end) {
        let at = tenths(x(t));
        let _ = write!(
            out,
            r#"<line class="tick" x1="{at}" x2="{at}" y1="0" y2="{height}"/><text class="tick-label" x="{at}" y="{}">{}</text>"#,
            height - 4,
            ms(t)
        );
    }
    for (i, t) in requests.iter().enumerate() {
        let p = t.phases();
        let y = i as f64 * ROW + 2.0;
        let a = x(t.start);
        let b = a + x(p.queued) - LABEL;
        let c = b + x(p.waiting) - LABEL;
        let d = c + x(p.download) - LABEL;
        let _ = write!(
            out,
            r#"<g class="bar"><text class="row-label" x="{}" y="{}">{}</text><rect class="queued" x="{}" y="{y}" width="{}" height="{}"/><rect class="waiting" x="{}" y="{y}" width="{}" height="{}"/><rect class="download" x="{}" y="{y}" width="{}" height="{}"/></g>"#,
            LABEL - 6.0,
            y + ROW - 2.0,
            escaped(&short_name(t)),
            tenths(a),
            tenths((b - a).max(0.5)),
            ROW - 2.0,
            tenths(b),
            tenths((c - b).max(0.5)),
            ROW - 2.0,
            tenths(c),
            tenths((d - c).max(1.0)),
            ROW - 2.0,
        );
    }
    out.push_str("</svg>");
    out
}

/// The table's rows: each request's numbers as the chart draws them.
fn table_markup(requests: &[RequestTiming]) -> String {
    let mut out = String::new();
    for t in requests {
        let p = t.phases();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escaped(&short_name(t)),
            escaped(&t.protocol),
            ms(t.start),
            ms(p.queued),
            ms(p.waiting),
            ms(p.download)
        );
    }
    out
}

/// A row's label, from its parsed route: `comic 614`, `img x_614.png` (long names cut short).
fn short_name(timing: &RequestTiming) -> String {
    match &timing.route {
        Some(Route::Comic(id)) => format!("comic {id}"),
        Some(Route::Image(file)) => {
            let mut name: String = file.chars().take(18).collect();
            if file.chars().count() > 18 {
                name.push('…');
            }
            format!("img {name}")
        }
        Some(Route::Comics) => "comics".to_string(),
        Some(Route::Health) => "health".to_string(),
        None => timing.url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, start: f64, protocol: &str) -> RequestTiming {
        RequestTiming {
            url: url.to_string(),
            route: Route::parse(url),
            start,
            request_start: start + 100.0,
            response_start: start + 400.0,
            response_end: start + 450.0,
            protocol: protocol.to_string(),
        }
    }

    #[test]
    fn protocols_are_listed_once_in_order() {
        assert_eq!(protocols_used(&[]), "unknown");
        assert_eq!(protocols_used(&[request("/x", 0.0, "")]), "unknown");
        let mixed = [
            request("/a", 0.0, "http/1.1"),
            request("/b", 0.0, "h2"),
            request("/c", 0.0, ""),
            request("/d", 0.0, "http/1.1"),
        ];
        assert_eq!(protocols_used(&mixed), "h2, http/1.1");
    }

    #[test]
    fn the_explanation_follows_the_protocol_and_the_strategy() {
        let h1 = explanation("http/1.1", Mode::Concurrent, Priority::NoHints);
        assert!(
            h1.starts_with(r#"<p class="explain">Each bar is one request"#),
            "{h1}"
        );
        assert!(
            h1.contains("<span class=\"key download\">download</span>. Over HTTP/1.1 a browser opens"),
            "{h1}"
        );
        assert!(h1.contains("on, requests queue until"), "{h1}");
        assert!(
            h1.contains(r#"staircase. <span data-testid="order" data-priority="none">No priority hints: "#),
            "{h1}"
        );
        assert!(
            h1.ends_with(
                r#"<p class="protocols">Protocol used: <span data-testid="protocols">http/1.1</span></p>"#
            ),
            "{h1}"
        );
        let h2 = explanation("h2", Mode::Gather, Priority::ImagesFirst);
        assert!(
            h2.contains(". Over HTTP/2 every request shares one connection"),
            "{h2}"
        );
        assert!(h2.contains("in one wave. What still separates"), "{h2}");
        assert!(
            h2.contains(
                r#"data-priority="images">Server gathers, streamed: one request (the &quot;comics&quot; row)"#
            ),
            "{h2}"
        );
    }

    #[test]
    fn a_bar_per_request_with_its_phases() {
        let requests = [
            request("/api/comics/614", 0.0, "http/1.1"),
            request("/elsewhere?a=<b>", 550.0, "http/1.1"),
        ];
        let chart = chart_markup(&requests);
        // Ticks every 200 ms across the 1,000 ms the run took.
        assert_eq!(chart.matches(r#"<line class="tick""#).count(), 4, "{chart}");
        assert!(
            chart.starts_with(concat!(
                r#"<svg class="chart" role="img" aria-label="Request waterfall; the table below has the same numbers" viewBox="0 0 1000 42" preserveAspectRatio="none" height="42">"#,
                r#"<line class="tick" x1="318" x2="318" y1="0" y2="42"/><text class="tick-label" x="318" y="38">200 ms</text>"#
            )),
            "{chart}"
        );
        assert!(
            chart.contains(concat!(
                r#"<g class="bar"><text class="row-label" x="144" y="9">comic 614</text>"#,
                r#"<rect class="queued" x="150" y="2" width="84" height="7"/>"#,
                r#"<rect class="waiting" x="234" y="2" width="252" height="7"/>"#,
                r#"<rect class="download" x="486" y="2" width="42" height="7"/></g>"#
            )),
            "{chart}"
        );
        assert!(
            chart.contains(r#"y="18">/elsewhere?a=&lt;b&gt;</text><rect class="queued" x="612""#),
            "{chart}"
        );
    }

    #[test]
    fn before_any_request_the_chart_is_empty_and_says_so() {
        assert_eq!(
            chart_markup(&[]),
            concat!(
                r#"<p class="empty">No requests yet.</p>"#,
                r#"<svg class="chart" role="img" aria-label="Request waterfall; the table below has the same numbers" viewBox="0 0 1000 24" preserveAspectRatio="none" height="24"></svg>"#
            )
        );
    }

    #[test]
    fn the_table_has_the_same_numbers() {
        let rows = table_markup(&[request("/api/img/x_614.png", 1550.0, "<h3>")]);
        assert_eq!(
            rows,
            "<tr><td>img x_614.png</td><td>&lt;h3&gt;</td><td>1,550 ms</td><td>100 ms</td><td>300 ms</td><td>50 ms</td></tr>"
        );
    }

    #[test]
    fn long_image_names_are_cut_short() {
        let timing = request("/api/img/a_very_long_image_name.png", 0.0, "h2");
        assert_eq!(short_name(&timing), "img a_very_long_image_…");
    }
}
