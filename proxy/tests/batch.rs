//! The batch route, `/api/comics?ids=…`, through real HTTP on loopback: against the stand-in
//! xkcd, whose comics 2600 to 2609 are answered only when the test opens their gate (so which
//! comic is still upstream is controlled, not timed), and against the demo origin.

mod common;

use std::{collections::HashSet, time::Duration};

use common::{
    TestProxy, demo_proxy, error_code, start_stoppable, start_upstream, test_dist, wait_until, xkcd_proxy,
};
use fanout_api::{BatchLine, BatchOutcome, Comic, ComicId, ErrorCode, MAX_BATCH_IDS, NDJSON, NetSim, routes};
use fanout_proxy::{Config, OriginChoice, tls};

/// Reads an NDJSON answer line by line as the bytes arrive.
struct Lines {
    response: reqwest::Response,
    buffered: Vec<u8>,
}

impl Lines {
    async fn open(proxy: &TestProxy, path: &str) -> Lines {
        let response = proxy
            .client
            .get(format!("{}{path}", proxy.base))
            // Nothing may compress (and so buffer) the stream.
            .header("accept-encoding", "gzip, br")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], NDJSON);
        assert!(!response.headers().contains_key("content-encoding"));
        Lines {
            response,
            buffered: Vec::new(),
        }
    }

    /// The next whole line, or `None` when the stream has ended.
    async fn next(&mut self) -> Option<BatchLine> {
        loop {
            if let Some(end) = self.buffered.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffered.drain(..=end).collect();
                return Some(serde_json::from_slice(&line).expect("each line is a BatchLine"));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk());
            match chunk.await.expect("the next line within ten seconds").unwrap() {
                Some(bytes) => self.buffered.extend_from_slice(&bytes),
                None => {
                    assert!(self.buffered.is_empty(), "a partial last line");
                    return None;
                }
            }
        }
    }

    async fn rest(mut self) -> Vec<BatchLine> {
        let mut lines = Vec::new();
        while let Some(line) = self.next().await {
            lines.push(line);
        }
        lines
    }
}

fn num(n: u32) -> ComicId {
    ComicId::Number(n)
}

fn ids(lines: &[BatchLine]) -> Vec<ComicId> {
    lines.iter().map(|line| line.id).collect()
}

#[tokio::test]
async fn each_line_arrives_the_moment_its_comic_settles_and_a_slow_one_holds_none_back() {
    let proxy = xkcd_proxy(|c| c.upstream_timeout_ms = 30_000).await;
    // 2600 is held upstream until the gate opens: the others can only come first if each line
    // is written and flushed as it settles, not at the end.
    let mut lines = Lines::open(&proxy, &routes::comics(&[num(2600), num(1), num(2)], false)).await;
    let first = [lines.next().await.unwrap(), lines.next().await.unwrap()];
    assert_eq!(
        ids(&first).into_iter().collect::<HashSet<_>>(),
        HashSet::from([num(1), num(2)])
    );
    assert!(proxy.upstream.cancelled().is_empty());
    proxy.upstream.open_gate();
    let rest = lines.rest().await;
    assert_eq!(ids(&rest), [num(2600)]);

    // Each line holds the very comic the single route serves.
    for line in first.into_iter().chain(rest) {
        let ComicId::Number(n) = line.id else {
            unreachable!()
        };
        let single: Comic = proxy.get(routes::comic(line.id)).await.json().await.unwrap();
        assert_eq!(line.into_result().unwrap(), single, "comic {n}");
    }
    assert_eq!(
        proxy.upstream.hits("/2600/info.0.json"),
        1,
        "the single route hit the cache"
    );
}

#[tokio::test]
async fn over_http2_too_each_line_arrives_as_its_comic_settles() {
    let (upstream_addr, upstream) = start_upstream().await;
    let mut config = Config::for_tests();
    config.origin = OriginChoice::Xkcd;
    config.xkcd_url = format!("http://{upstream_addr}");
    config.imgs_url = config.xkcd_url.clone();
    config.upstream_timeout_ms = 30_000;
    config.dist = test_dist();
    let material = tls::self_signed().unwrap();
    let root = reqwest::Certificate::from_pem(&material.cert_pem).unwrap();
    let server = start_stoppable(config, Some(material)).await;
    let proxy = TestProxy {
        base: format!("https://localhost:{}", server.addr.port()),
        upstream,
        client: reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .unwrap(),
    };
    let mut lines = Lines::open(&proxy, &routes::comics(&[num(2600), num(3)], false)).await;
    assert_eq!(lines.response.version(), reqwest::Version::HTTP_2);
    assert_eq!(
        lines.next().await.unwrap().id,
        num(3),
        "before 2600 is even answered"
    );
    proxy.upstream.open_gate();
    assert_eq!(ids(&lines.rest().await), [num(2600)]);
}

#[tokio::test]
async fn errors_are_per_comic_lines_in_a_200() {
    let proxy = xkcd_proxy(|c| c.upstream_timeout_ms = 300).await;
    let lines = Lines::open(&proxy, "/api/comics?ids=404,1,500,666,777,latest,3001").await;
    let mut codes: Vec<(ComicId, Option<ErrorCode>)> = lines
        .rest()
        .await
        .into_iter()
        .map(|line| (line.id, line.into_result().err().map(|err| err.code)))
        .collect();
    codes.sort_by_key(|(id, _)| id.to_string());
    assert_eq!(
        codes,
        [
            (num(1), None),
            (num(3001), Some(ErrorCode::NotFound)), // above the latest: refused, not asked
            (num(404), Some(ErrorCode::NotFound)),
            (num(500), Some(ErrorCode::UpstreamError)),
            (num(666), Some(ErrorCode::UpstreamError)),
            (num(777), Some(ErrorCode::UpstreamTimeout)),
            (ComicId::Latest, None),
        ]
    );
    assert_eq!(proxy.upstream.hits("/3001/info.0.json"), 0);
}

#[tokio::test]
async fn bad_input_is_a_400_and_reaches_no_upstream() {
    let proxy = xkcd_proxy(|_| {}).await;
    let too_many: Vec<String> = (1..=MAX_BATCH_IDS as u32 + 1).map(|n| n.to_string()).collect();
    let too_many = format!("ids={}", too_many.join(","));
    let too_long = format!("ids=1&fresh={}", "9".repeat(1600));
    for query in [
        "",
        "?",
        "?ids=",
        "?wait=all",
        "?ids=1,,2",
        "?ids=,1",
        "?ids=1,",
        "?ids=01",
        "?ids=0",
        "?ids=+1",
        "?ids=-1",
        "?ids=1,x",
        "?ids=1.5",
        "?ids=1e3",
        "?ids=%201",
        "?ids=1000000",
        "?ids=LATEST",
        "?ids=1&ids=2",
        "?ids=1&wait=none",
        "?ids=1&wait=all&wait=all",
        &format!("?{too_many}"),
        &format!("?{too_long}"),
    ] {
        let (status, code) = error_code(proxy.get(format!("/api/comics{query}")).await).await;
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{query}");
    }
    assert!(proxy.upstream.all().is_empty(), "{:?}", proxy.upstream.all());

    // The demo origin also refuses its network parameters' bad values before any wait.
    let demo = demo_proxy(|_| {}).await;
    for query in ["ids=1&latency_ms=10001", "ids=1&fail_rate=2", "ids=1&seed=x"] {
        let (status, _) = error_code(demo.get(format!("/api/comics?{query}")).await).await;
        assert_eq!(status, 400, "{query}");
    }
}

#[tokio::test]
async fn limits_a_hundred_ids_the_upstream_cap_and_the_rate_limit() {
    let proxy = xkcd_proxy(|c| {
        c.max_upstream_concurrency = 2;
        c.upstream_timeout_ms = 30_000;
    })
    .await;
    // Upstream holds 2600 to 2609 until the test lets each go: ten at once still go two at a
    // time.
    let tens: Vec<ComicId> = (2600..2610).map(num).collect();
    let upstream = proxy.upstream.clone();
    let (lines, ()) = futures::future::join(
        async {
            Lines::open(&proxy, &routes::comics(&tens, false))
                .await
                .rest()
                .await
        },
        upstream.release_gated_one_by_one(10, 2),
    )
    .await;
    assert_eq!(lines.len(), 10);

    let hundred: Vec<ComicId> = (100..100 + MAX_BATCH_IDS as u32).map(num).collect();
    let lines = Lines::open(&proxy, &routes::comics(&hundred, false))
        .await
        .rest()
        .await;
    assert_eq!(
        ids(&lines).into_iter().collect::<HashSet<_>>(),
        hundred.iter().copied().collect::<HashSet<_>>()
    );
    assert!(lines.into_iter().all(|line| line.into_result().is_ok()));

    // One request a second with a burst of five: a batch counts one per comic.
    let limited = xkcd_proxy(|c| c.rate_limit = 1).await;
    let five: Vec<ComicId> = (1..=5).map(num).collect();
    let (status, code) = error_code(
        limited
            .get(routes::comics(&(1..=6).map(num).collect::<Vec<_>>(), false))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (400, "bad_request"),
        "more than the burst"
    );
    assert_eq!(
        Lines::open(&limited, &routes::comics(&five, false))
            .await
            .rest()
            .await
            .len(),
        5
    );
    let (status, code) = error_code(limited.get(routes::comic(num(6))).await).await;
    assert_eq!(
        (status, code.as_str()),
        (429, "rate_limited"),
        "the burst is spent"
    );
    assert!(limited.upstream.hits("/6/info.0.json") == 0);
}

#[tokio::test]
async fn a_repeated_id_is_fetched_and_answered_once() {
    let proxy = xkcd_proxy(|_| {}).await;
    let lines = Lines::open(&proxy, "/api/comics?ids=5,latest,5,5,latest")
        .await
        .rest()
        .await;
    let mut answered = ids(&lines);
    answered.sort_by_key(ToString::to_string);
    assert_eq!(answered, [num(5), ComicId::Latest]);
    assert_eq!(proxy.upstream.hits("/5/info.0.json"), 1);
    assert_eq!(proxy.upstream.hits("/info.0.json"), 1);
}

#[tokio::test]
async fn a_disconnect_cancels_the_fetches_nobody_else_waits_for() {
    let proxy = xkcd_proxy(|c| c.upstream_timeout_ms = 30_000).await;
    let upstream = proxy.upstream.clone();
    // Someone else is already waiting for 2601 when the batch asks for it too.
    let other = tokio::spawn({
        let (client, url) = (
            proxy.client.clone(),
            format!("{}{}", proxy.base, routes::comic(num(2601))),
        );
        async move { client.get(url).send().await.unwrap() }
    });
    wait_until("2601 is upstream", || upstream.hits("/2601/info.0.json") == 1).await;
    let mut lines = Lines::open(&proxy, &routes::comics(&[num(1), num(2600), num(2601)], false)).await;
    assert_eq!(lines.next().await.unwrap().id, num(1));
    wait_until("2600 is upstream", || upstream.hits("/2600/info.0.json") == 1).await;
    drop(lines);
    wait_until("the fetch of 2600 is cancelled", || {
        upstream.cancelled().contains(&"/2600/info.0.json".to_owned())
    })
    .await;
    upstream.open_gate();
    let other = other.await.unwrap();
    assert_eq!(other.status(), 200, "the other request still gets 2601");
    assert_eq!(other.json::<Comic>().await.unwrap().num, 2601);
    assert_eq!(
        upstream.cancelled(),
        ["/2600/info.0.json"],
        "2601 was never dropped"
    );
    assert_eq!(upstream.hits("/2601/info.0.json"), 1);
    assert_eq!(
        upstream.hits("/2600/info.0.json"),
        1,
        "2600 is not asked for again"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_holds_back_nobody_else() {
    let proxy = xkcd_proxy(|c| c.upstream_timeout_ms = 30_000).await;
    // Over HTTP/2 with a 1 KB window, the proxy may send only the first few lines until this
    // client reads more, and it never does.
    let stalled = reqwest::Client::builder()
        .http2_prior_knowledge()
        .http2_initial_stream_window_size(1024)
        .http2_adaptive_window(false)
        .build()
        .unwrap();
    let mut batch = vec![num(2600)];
    batch.extend((10..=30).map(num));
    let response = stalled
        .get(format!("{}{}", proxy.base, routes::comics(&batch, false)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let mut response = response;
    let upstream = proxy.upstream.clone();
    wait_until("2600 is upstream", || upstream.hits("/2600/info.0.json") == 1).await;
    proxy.upstream.open_gate();
    // Another client asks for the comic the stalled batch is fetching: it is answered, from
    // the batch's own fetch, which went on although nobody read its line.
    let other = tokio::time::timeout(Duration::from_secs(10), proxy.get(routes::comic(num(2600))))
        .await
        .expect("the other client is not held back by the stalled batch");
    assert_eq!(other.status(), 200);
    assert_eq!(other.json::<Comic>().await.unwrap().num, 2600);
    assert_eq!(proxy.upstream.hits("/2600/info.0.json"), 1);
    // Every comic has been fetched by now, yet the stalled client holds no more than its
    // window of the answer: the proxy really was held back on this stream.
    wait_until("the batch's comics are all fetched", || {
        (10..=30).all(|n| upstream.hits(&format!("/{n}/info.0.json")) == 1)
    })
    .await;
    let mut held = Vec::new();
    while let Some(Ok(Some(chunk))) = futures::FutureExt::now_or_never(response.chunk()) {
        held.extend_from_slice(&chunk);
    }
    assert!(
        held.len() <= 1024,
        "the stalled client had {} bytes, more than its 1 KB window",
        held.len()
    );
    // Read on, it gets every line.
    while let Some(chunk) = response.chunk().await.unwrap() {
        held.extend_from_slice(&chunk);
    }
    let lines = held.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert_eq!(lines, batch.len(), "{} bytes in all", held.len());
}

#[tokio::test]
async fn one_clients_batches_queue_for_upstream_in_a_line_of_their_own() {
    let proxy = xkcd_proxy(|c| {
        c.max_upstream_concurrency = 2;
        c.upstream_timeout_ms = 30_000;
    })
    .await;
    // Twenty fetches from 127.0.0.1: ten slow ones (300 ms each), then ten that upstream
    // never answers (the gate stays shut), which would hold both upstream slots for good.
    let mut batch: Vec<ComicId> = (40..=49).map(num).collect();
    batch.extend((2600..=2609).map(num));
    let _hog = Lines::open(&proxy, &routes::comics(&batch, false)).await;
    let upstream = proxy.upstream.clone();
    wait_until("the batch is upstream", || upstream.hits("/40/info.0.json") == 1).await;
    // Another client's uncached comic waits for a free slot, not behind the whole batch.
    let other_client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let other = tokio::time::timeout(
        Duration::from_secs(10),
        other_client
            .get(format!("{}{}", proxy.base, routes::comic(num(3))))
            .send(),
    )
    .await
    .expect("another client's comic is fetched while the batch still waits upstream")
    .unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(other.json::<Comic>().await.unwrap().num, 3);
    assert!(
        upstream.hits("/2609/info.0.json") == 0,
        "the batch's last comic had not even been asked for"
    );
    proxy.upstream.open_gate();
}

#[tokio::test]
async fn wait_all_is_one_array_in_the_order_of_ids() {
    let proxy = xkcd_proxy(|_| {}).await;
    // 41 takes 300 ms upstream, the others answer at once, yet the array keeps ids' order.
    let wanted = [num(41), num(1), ComicId::Latest, num(404), num(2)];
    let response = proxy
        .get(routes::comics(
            &[num(41), num(1), ComicId::Latest, num(404), num(2), num(1)],
            true,
        ))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let lines: Vec<BatchLine> = response.json().await.unwrap();
    assert_eq!(ids(&lines), wanted);
    assert_eq!(
        lines[3].clone().into_result().unwrap_err().code,
        ErrorCode::NotFound
    );
    assert_eq!(lines[0].clone().into_result().unwrap().num, 41);
}

#[tokio::test]
async fn on_the_demo_origin_each_comics_fault_is_drawn_as_if_fetched_on_its_own() {
    let proxy = demo_proxy(|c| c.upstream_timeout_ms = 200).await;
    let sim = NetSim {
        latency_ms: 0,
        jitter_ms: 20,
        seed: 5,
        fail_rate: 0.3,
        timeout_rate: 0.1,
        ..NetSim::default()
    };
    let comics: Vec<ComicId> = (1..=40).map(num).collect();
    let query = sim.to_query();
    let lines = Lines::open(&proxy, &format!("{}&{query}", routes::comics(&comics, false)))
        .await
        .rest()
        .await;
    assert_eq!(lines.len(), 40);
    let mut outcomes = Vec::new();
    for line in lines {
        // The same comic asked for on its own, with the same simulation: the same answer.
        let single = proxy.get(format!("{}?{query}", routes::comic(line.id))).await;
        let status = single.status().as_u16();
        match line.into_result() {
            Ok(comic) => {
                assert_eq!(status, 200, "{comic:?}");
                assert_eq!(single.json::<Comic>().await.unwrap(), comic);
                outcomes.push(None);
            }
            Err(err) => {
                let (single_status, single_code) = error_code(single).await;
                let code = serde_json::to_value(err.code).unwrap();
                assert_eq!(
                    (single_status, single_code.as_str()),
                    (err.code.status(), code.as_str().unwrap()),
                    "{err:?}"
                );
                outcomes.push(Some(err.code));
            }
        }
    }
    // Not a vacuous match: the draw gives loaded comics, upstream errors and timeouts.
    for kind in [
        None,
        Some(ErrorCode::UpstreamError),
        Some(ErrorCode::UpstreamTimeout),
    ] {
        assert!(outcomes.contains(&kind), "{kind:?} in {outcomes:?}");
    }
}

#[tokio::test]
async fn a_hundred_comics_with_latency_fit_one_clients_share_of_simulated_waits() {
    let proxy = demo_proxy(|_| {}).await; // the default pool of 10,000
    let hundred: Vec<ComicId> = (1..=100).map(num).collect();
    let path = format!("{}&latency_ms=300&jitter_ms=0", routes::comics(&hundred, false));
    let lines = Lines::open(&proxy, &path).await.rest().await;
    assert_eq!(lines.len(), 100);
    assert!(lines.into_iter().all(|line| line.into_result().is_ok()));

    // A pool of 16 gives each client two places: the batch's other comics are shed one by
    // one (as single requests would be), and the batch still answers every comic.
    let small = demo_proxy(|c| c.max_simulated_waits = 16).await;
    let five: Vec<ComicId> = (1..=5).map(num).collect();
    let path = format!("{}&latency_ms=300&jitter_ms=0", routes::comics(&five, false));
    let lines = Lines::open(&small, &path).await.rest().await;
    let shed = lines
        .iter()
        .filter(|line| matches!(&line.outcome, BatchOutcome::Error(err) if err.code == ErrorCode::Overloaded))
        .count();
    assert_eq!((lines.len(), shed), (5, 3));
}
