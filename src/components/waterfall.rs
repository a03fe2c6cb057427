use leptos::prelude::*;
use web_sys::HtmlDetailsElement;

use super::{ShownKey, chart::ticks, ms};
use fanout_api::Route;

use crate::{
    hints::{Hints, verdict},
    plot::axis_ticks,
    run_config::{Mode, Priority},
    state::AppState,
    stats::RequestTiming,
};

const WIDTH: f64 = 1000.0;
const LABEL: f64 = 170.0;
const ROW: f64 = 9.0;

/// One bar per request on the run's time axis, from the browser's own Resource Timing.
#[component]
pub fn Waterfall() -> impl IntoView {
    let state = AppState::from_context();
    let requests = state.requests;
    // The time axis's end, worked out where it is read (the bars' scale, the ticks) rather
    // than memoized: the page's only `Memo<f64>` brought memo code of its own.
    let end = move || requests.with(|r| r.iter().map(|t| t.response_end).fold(1.0, f64::max));
    // The shown text is the memo, a `Memo<String>` as the form's fields have: a memo of a
    // type of its own (`Vec<String>`) brought its own memo code (496 B of gzip). Which
    // protocols were used is read from the requests themselves, a few hundred at most.
    let protocols = Memo::new(move |_| {
        let seen = requests.with(|r| protocols(r));
        if seen.is_empty() {
            "unknown".to_string()
        } else {
            seen.join(", ")
        }
    });
    let over = move |protocol: &str| requests.with(|r| r.iter().any(|t| t.protocol == protocol));
    let over_http1 = move || over("http/1.1");
    let priority = move || state.run.with(|r| r.priority);
    let mode = move || state.run.with(|r| r.mode);
    let height = move || requests.with(|r| r.len() as f64 * ROW + 24.0);
    let table_open = RwSignal::new(false);
    let x = move |t: f64| LABEL + t / end() * (WIDTH - LABEL - 10.0);

    view! {
        <section class="waterfall" aria-labelledby="waterfall-title" data-testid="waterfall">
            <h2 id="waterfall-title">"Waterfall"</h2>
            <p class="explain">
                "Each bar is one request, as the browser itself timed it: "
                <span class="key queued">"queued"</span>" waiting for a free connection, "
                <span class="key waiting">"waiting"</span>" for the first byte, then "
                <span class="key download">"download"</span>"; "
                <span class="key connect">"connection set-up"</span>
                " marks a request that opened a new connection. With more than one host (the hosts setting) each row starts with its host, and over HTTP/1.1 each host gets six connections of its own: fewer waves, one set-up more per connection. "
                {move || {
                    if over("h2") {
                        "Over HTTP/2 every request shares one connection, so none waits for a free one: the bars start together, in one wave. \
                     What still separates the wall time from the ideal is the browser's own work: handing each request to the network, \
                     reading each answer, decoding each image."
                    } else {
                        "Over HTTP/1.1 a browser opens at most six connections to one host, so from the seventh concurrent request on, requests queue until one frees up: that is the staircase."
                    }
                }} " " <span data-testid="order" data-priority=move || priority().as_str()>
                    {move || match (mode(), priority()) {
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
                    }}
                    // Empty text rather than none: the page's only optional text brought a view
                    // type of its own (486 B of a first visit's gzip).
                    {move || {
                        if requests.with(|r| verdict(priority(), r)) == Hints::Ignored {
                            " In this run the browser ignored the hints: every image that waited went out after all the queued metadata, as with no hints. \
                                 \"At most k at a time\" with k = 6 gets the images-first order without them: each comic's image goes out before the next comic's metadata."
                        } else {
                            ""
                        }
                    }}
                </span>
            </p>
            <p class="protocols">"Protocol used: " <span data-testid="protocols">{protocols}</span></p>
            // Hidden rather than built when needed: a `hidden` binding is less wasm than an
            // optional view (418 B of gzip, with the history's empty note).
            <p class="empty" hidden=move || requests.with(|r| !r.is_empty())>
                "No requests yet."
            </p>
            <svg
                class="chart"
                role="img"
                aria-label="Request waterfall; the table below has the same numbers"
                viewBox=move || format!("0 0 {WIDTH} {}", height())
                preserveAspectRatio="none"
                height=move || height().to_string()
            >
                {move || {
                    let height = height();
                    ticks(
                        axis_ticks(end()).into_iter().map(|t| (x(t), t)).collect(),
                        0.0,
                        height,
                        height - 4.0,
                    )
                }}
                // One label and one bar per request, keyed by what they show: mid-run, a
                // refresh adds the new requests and leaves the others be.
                <For
                    each=move || requests.get().into_iter().enumerate().map(|(i, t)| Keyed(i, t))
                    key=|row| row.key()
                    let:row
                >
                    <text class="row-label" x=LABEL - 6.0 y=row_y(row.0) + ROW - 2.0>
                        {short_name(&row.1)}
                    </text>
                </For>
                // The bars are drawn in ms and scaled to the axis as a group, so a longer axis
                // changes one transform instead of redrawing every bar (with 100 comics, the
                // redraws on each refresh cost the run itself).
                <g transform=move || {
                    format!("translate({LABEL} 0) scale({} 1)", (WIDTH - LABEL - 10.0) / end())
                }>
                    <For
                        each=move || requests.get().into_iter().enumerate().map(|(i, t)| Keyed(i, t))
                        key=|bar| bar.key()
                        let:bar
                    >
                        <Bar bar axis_end=untrack(end) />
                    </For>
                </g>
            </svg>
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
                    <tbody>
                        <For
                            each=move || {
                                let rows = if table_open.get() { requests.get() } else { Vec::new() };
                                rows.into_iter().enumerate().map(|(i, t)| Keyed(i, t))
                            }
                            key=|row| row.key()
                            let:row
                        >
                            <TableRow timing=row.1 />
                        </For>
                    </tbody>
                </table>
            </details>
            {move || {
                over_http1()
                    .then(|| {
                        view! {
                            <p class="lift-cap" data-testid="lift-cap">
                                "HTTP/2 removes the six-connection queue: every request shares one connection. To get it, serve the page over HTTPS with "
                                <code>"cargo xtask serve --tls-self-signed"</code>
                                " and open its https:// address."
                            </p>
                        }
                    })
            }}
        </section>
    }
}

/// The host a request went to, when it was not the page's own: the first label of its name
/// (`s3` for `http://s3.localhost:8080/api/…`).
fn shard_label(url: &str, page_host: &str) -> Option<String> {
    let authority = authority(url)?;
    // An IPv6 address keeps its brackets, as `location.hostname` gives it.
    let host = match authority.split_once(']') {
        Some((v6, _)) if authority.starts_with('[') => &authority[..=v6.len()],
        _ => authority.split(':').next()?,
    };
    (host != page_host).then(|| host.split('.').next().unwrap_or(host).to_string())
}

/// The protocols the requests went over, each once, in order of name (`h2`, `http/1.1`).
/// Each new name is put in its sorted place: a run has a protocol or two, and the
/// `sort_unstable` this replaces was the page's only sort (1,939 B of a first visit's gzip).
fn protocols(requests: &[RequestTiming]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for protocol in requests.iter().map(|t| &t.protocol).filter(|p| !p.is_empty()) {
        if let Err(place) = seen.binary_search(protocol) {
            seen.insert(place, protocol.clone());
        }
    }
    seen
}

/// The `host:port` of an absolute URL (`s3.localhost:8080` in `http://s3.localhost:8080/api/…`).
/// Found by char searches, as `Route::parse` does: `split_once("//")` here brought the
/// substring searcher's setup into the wasm (654 B of a first visit's gzip).
fn authority(url: &str) -> Option<&str> {
    url.split_once(':')?.1.strip_prefix("//")?.split('/').next()
}

/// The page's own host name, which rows leave out.
fn page_host() -> String {
    web_sys::window()
        .and_then(|w| w.location().hostname().ok())
        .unwrap_or_default()
}

/// A row's label, from its parsed route: `comic 614`, `img x_614.png` (long names cut short),
/// after its host when that is a shard: `s3 comic 614`.
fn short_name(timing: &RequestTiming) -> String {
    let name = route_name(timing);
    match shard_label(&timing.url, &page_host()) {
        Some(host) => format!("{host} {name}"),
        None => name,
    }
}

fn route_name(timing: &RequestTiming) -> String {
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

/// A request at its place in the list.
#[derive(Clone)]
struct Keyed(usize, RequestTiming);

impl Keyed {
    /// What the row shows: its place and the request's own times.
    fn key(&self) -> ShownKey {
        let t = &self.1;
        (
            self.0,
            0,
            t.url.clone(),
            [t.start, t.request_start, t.response_start, t.response_end].map(f64::to_bits),
        )
    }
}

/// The top of row `i`.
fn row_y(i: usize) -> f64 {
    i as f64 * ROW + 2.0
}

/// One request's bar: queued, waiting and download, in ms on the run's time axis (its group
/// scales ms to the axis).
#[component]
fn Bar(
    bar: Keyed,
    /// The time axis's end when the bar is drawn.
    axis_end: f64,
) -> impl IntoView {
    let Keyed(i, t) = bar;
    // The thinnest part still drawn, in ms: half a unit of the axis as it is now (the axis
    // only grows, so it only gets thinner).
    let thinnest = 0.5 * axis_end / (WIDTH - LABEL - 10.0);
    let p = t.phases();
    let y = row_y(i);
    let a = t.start;
    let b = a + p.queued;
    let c = b + p.waiting;
    let d = c + p.download;
    // A new connection's set-up, inside its queued part (a reused one has none).
    let connect = t
        .connect
        .map(|(from, to)| (from, (to - from).max(2.0 * thinnest)));
    let host = authority(&t.url).unwrap_or("").to_string();
    view! {
        <g class="bar" data-host=host data-new-connection=connect.is_some().to_string()>
            <rect class="queued" x=a y=y width=(b - a).max(thinnest) height=ROW - 2.0 />
            <rect class="waiting" x=b y=y width=(c - b).max(thinnest) height=ROW - 2.0 />
            <rect class="download" x=c y=y width=(d - c).max(2.0 * thinnest) height=ROW - 2.0 />
            {connect
                .map(|(at, width)| view! { <rect class="connect" x=at y=y width=width height=ROW - 2.0 /> })}
        </g>
    }
}

/// One request's numbers.
#[component]
fn TableRow(timing: RequestTiming) -> impl IntoView {
    let p = timing.phases();
    view! {
        <tr>
            <td>{short_name(&timing)}</td>
            <td>{timing.protocol.clone()}</td>
            <td>{ms(timing.start)}</td>
            <td>{ms(p.queued)}</td>
            <td>{ms(p.waiting)}</td>
            <td>{ms(p.download)}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::{authority, protocols, shard_label};
    use crate::stats::RequestTiming;

    #[test]
    fn protocols_are_listed_once_each_in_order_of_name() {
        let over = |protocol: &str| RequestTiming {
            url: String::new(),
            route: None,
            start: 0.0,
            request_start: 0.0,
            response_start: 0.0,
            response_end: 0.0,
            protocol: protocol.into(),
            dns: None,
            connect: None,
            secure_connection_start: None,
            status: None,
        };
        let requests = ["http/1.1", "", "h2", "http/1.1", "h3", "h2", ""].map(over);
        assert_eq!(protocols(&requests), ["h2", "h3", "http/1.1"]);
        assert!(protocols(&[over("")]).is_empty());
        assert!(protocols(&[]).is_empty());
    }

    #[test]
    fn a_bars_host_is_the_authority_of_its_absolute_url() {
        assert_eq!(
            authority("http://s3.localhost:8080/api/comics/614"),
            Some("s3.localhost:8080")
        );
        assert_eq!(
            authority("https://[::1]:8443/api/img/a.png?x=1"),
            Some("[::1]:8443")
        );
        assert_eq!(authority("http://example.com"), Some("example.com"));
        assert_eq!(authority("/api/comics/614"), None);
        assert_eq!(authority("about:blank"), None);
    }

    #[test]
    fn rows_name_a_shard_by_its_first_label_and_leave_the_pages_host_out() {
        assert_eq!(
            shard_label("http://s3.localhost:8080/api/comics/614", "127.0.0.1"),
            Some("s3".into())
        );
        assert_eq!(
            shard_label("https://img12.example.com/api/img/a.png", "fanout.example.com"),
            Some("img12".into())
        );
        assert_eq!(
            shard_label("http://127.0.0.1:8080/api/comics/614", "127.0.0.1"),
            None
        );
        assert_eq!(shard_label("/api/comics/614", "127.0.0.1"), None);
        assert_eq!(shard_label("http://[::1]:8080/api/comics/614", "[::1]"), None);
        assert_eq!(
            shard_label("http://s1.localhost:8080/api/comics/614", "[::1]"),
            Some("s1".into())
        );
    }
}
