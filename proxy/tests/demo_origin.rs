//! The built-in demo origin through real HTTP: xkcd's shape, the simulated network
//! (latency, seeds, caps, faults) and the `auto` origin choice.

mod common;

use std::time::{Duration, Instant};

use common::{demo_proxy, error_code, start_proxy, start_upstream};
use fanout_api::{Comic, Health, NetSim, OriginKind};
use fanout_proxy::{Config, OriginChoice, demo_network::plan};

#[tokio::test]
async fn looks_like_xkcd() {
    let proxy = demo_proxy(|_| {}).await;
    let fast = "latency_ms=0&jitter_ms=0";
    let comic: Comic = proxy
        .get(&format!("/api/comics/614?{fast}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(comic.num, 614);
    assert!(!comic.title.is_empty() && !comic.alt.is_empty() && !comic.date().is_empty());
    let image = proxy.get(&format!("{}?{fast}", comic.img.unwrap())).await;
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    assert_eq!(image.headers()["x-content-type-options"], "nosniff");
    assert!(
        image.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );

    let latest: Comic = proxy
        .get(&format!("/api/comics/latest?{fast}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(latest.num, fanout_proxy::origin::DEMO_LATEST);
    for missing in ["404", "3001"] {
        let (status, code) = error_code(proxy.get(&format!("/api/comics/{missing}?{fast}")).await).await;
        assert_eq!((status, code.as_str()), (404, "not_found"), "{missing}");
    }
    let interactive: Comic = proxy
        .get(&format!("/api/comics/1608?{fast}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(interactive.img, None);
    assert_eq!(
        error_code(proxy.get(&format!("/api/img/nope_1.png?{fast}")).await)
            .await
            .0,
        404
    );

    let health: Health = proxy.get("/api/health").await.json().await.unwrap();
    assert_eq!(health.origin, OriginKind::Demo);
    assert_eq!(health.description, "demo origin: offline catalogue");
}

#[tokio::test]
async fn exact_delays_apply_to_cache_hits_too() {
    let proxy = demo_proxy(|_| {}).await;
    for round in ["miss", "hit"] {
        let started = Instant::now();
        let response = proxy.get("/api/comics/99?latency_ms=300&jitter_ms=0").await;
        let took = started.elapsed();
        assert_eq!(response.headers()["x-cache"], round);
        assert!(took >= Duration::from_millis(300), "{round}: {took:?}");
    }
}

#[tokio::test]
async fn seeded_jitter_orders_concurrent_requests_as_planned() {
    let proxy = demo_proxy(|_| {}).await;
    let sim = NetSim {
        latency_ms: 20,
        jitter_ms: 200,
        seed: 11,
        ..NetSim::default()
    };
    // Comics whose planned delays are at least 120 ms apart, so the order is unambiguous.
    let mut planned: Vec<(u32, Duration)> = (1..60)
        .map(|n| (n, plan(&sim, &format!("/api/comics/{n}"), false).delay))
        .collect();
    planned.sort_by_key(|(_, d)| *d);
    let mut spread = vec![planned[0]];
    for candidate in planned {
        if candidate.1 >= spread.last().unwrap().1 + Duration::from_millis(120) && spread.len() < 4 {
            spread.push(candidate);
        }
    }
    assert!(spread.len() >= 3, "seed 11 spreads delays: {spread:?}");
    let query = sim.to_query();
    let finished = std::sync::Mutex::new(Vec::new());
    futures::future::join_all(spread.iter().rev().map(|(n, _)| {
        let (proxy, finished, query) = (&proxy, &finished, &query);
        async move {
            let response = proxy.get(&format!("/api/comics/{n}?{query}")).await;
            assert_eq!(response.status(), 200);
            finished.lock().unwrap().push(*n);
        }
    }))
    .await;
    let expected: Vec<u32> = spread.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        *finished.lock().unwrap(),
        expected,
        "they finish in planned order, not request order"
    );
}

#[tokio::test]
async fn delays_are_capped_and_bad_parameters_refused() {
    let proxy = demo_proxy(|_| {}).await;
    for query in [
        "latency_ms=10001",
        "jitter_ms=-5",
        "seed=x",
        "fail_rate=2",
        "timeout_rate=0.5.1",
    ] {
        let (status, code) = error_code(proxy.get(&format!("/api/comics/1?{query}")).await).await;
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{query}");
    }
}

#[tokio::test]
async fn faults_on_request() {
    let proxy = demo_proxy(|c| c.upstream_timeout_ms = 400).await;
    let zero = "latency_ms=0&jitter_ms=0";
    let (status, code) = error_code(proxy.get(&format!("/api/comics/5?{zero}&fail_rate=1")).await).await;
    assert_eq!((status, code.as_str()), (502, "upstream_error"));

    let started = Instant::now();
    let (status, code) = error_code(proxy.get(&format!("/api/comics/5?{zero}&timeout_rate=1")).await).await;
    assert_eq!((status, code.as_str()), (504, "upstream_timeout"));
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "it waits out the upstream timeout"
    );

    let comic: Comic = proxy
        .get(&format!("/api/comics/5?{zero}&missing_rate=1"))
        .await
        .json()
        .await
        .expect("missing images do not affect metadata");
    let (status, _) = error_code(
        proxy
            .get(&format!("{}?{zero}&missing_rate=1", comic.img.unwrap()))
            .await,
    )
    .await;
    assert_eq!(status, 404);

    // Faults are per request: the same comic with no fault asked is fine.
    assert_eq!(proxy.get(&format!("/api/comics/5?{zero}")).await.status(), 200);
}

#[tokio::test]
async fn delayed_requests_hold_no_threads() {
    // A thousand requests each delayed 500 ms finish together, not one after another. They
    // come on a thousand connections from one address, above the default per-client caps.
    let proxy = demo_proxy(|c| {
        c.max_connections_per_client = 1000;
        c.max_in_flight_per_client = 1000;
    })
    .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let responses = futures::future::join_all((1..=1000u32).map(|n| {
        let url = format!(
            "{}/api/comics/{}?latency_ms=500&jitter_ms=0",
            proxy.base,
            (n % 3000) + 1
        );
        let client = client.clone();
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    }))
    .await;
    // Comics 2 to 1001; the demo origin has no comic 404, as xkcd has none.
    for (n, response) in (1..=1000u32).zip(&responses) {
        let comic = (n % 3000) + 1;
        let expected = if comic == 404 { 404 } else { 200 };
        assert_eq!(
            response.as_ref().ok(),
            Some(&expected),
            "comic {comic}: {response:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "500 s if serialised; took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_real_origin_ignores_the_simulation() {
    let proxy = common::xkcd_proxy(|_| {}).await;
    let started = Instant::now();
    let response = proxy.get("/api/comics/3?latency_ms=5000&fail_rate=1").await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn auto_uses_xkcd_when_it_answers_and_the_demo_when_not() {
    let (upstream, _) = start_upstream().await;
    let mut config = Config::for_tests();
    config.origin = OriginChoice::Auto;
    config.xkcd_url = format!("http://{upstream}");
    config.imgs_url = format!("http://{upstream}");
    config.dist = common::test_dist();
    assert_eq!(origin_of(config.clone()).await, OriginKind::Xkcd);

    // Nothing listens on a port we just closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    config.xkcd_url = format!("http://{closed}");
    assert_eq!(origin_of(config).await, OriginKind::Demo);
}

/// Which origin a proxy started with `config` settles on.
async fn origin_of(config: Config) -> OriginKind {
    let base = start_proxy(config).await;
    let health: Health = reqwest::get(format!("{base}/api/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health.origin
}

#[tokio::test]
async fn only_the_exact_image_name_is_served() {
    let proxy = demo_proxy(|_| {}).await;
    let comic: Comic = proxy
        .get("/api/comics/614?latency_ms=0")
        .await
        .json()
        .await
        .unwrap();
    let img = comic.img.expect("614 has an image");
    assert_eq!(proxy.get(format!("{img}?latency_ms=0")).await.status(), 200);
    let file = img.strip_prefix("/api/img/").unwrap();
    for alias in [file[1..].to_owned(), "614.png".to_owned(), format!("x{file}")] {
        let response = proxy.get(format!("/api/img/{alias}?latency_ms=0")).await;
        assert_eq!(response.status(), 404, "{alias}");
    }
}

#[tokio::test]
async fn simulated_waits_beyond_a_clients_share_are_shed_and_others_still_wait() {
    // A pool of 16 gives each client a share of 2.
    let proxy = demo_proxy(|c| c.max_simulated_waits = 16).await;
    let client_from = |ip: &str| {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let (greedy, other) = (client_from("127.0.0.1"), client_from("127.0.0.2"));
    let slow = |client: &reqwest::Client, n: u32| {
        let request = client.get(format!(
            "{}/api/comics/{n}?latency_ms=1500&jitter_ms=0",
            proxy.base
        ));
        async move { request.send().await.unwrap() }
    };
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let greedy_asks = futures::future::join_all((1..=6).map(|n| {
        let answered = answered.clone();
        let ask = slow(&greedy, n);
        async move {
            let response = ask.await;
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            response
        }
    }));
    let other_asks = futures::future::join_all((7..=8).map(|n| slow(&other, n)));
    let (greedy_answers, other_answers, no_wait) = futures::future::join3(greedy_asks, other_asks, async {
        // Four of the greedy client's six come back at once (shed); its other two hold both
        // its places for 1.5 s. Meanwhile a request of its own with no simulated wait goes
        // through, and one with a wait is shed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while answered.load(std::sync::atomic::Ordering::SeqCst) < 4 {
            assert!(
                Instant::now() < deadline,
                "the greedy client's extra asks were not shed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let no_wait = proxy.get("/api/comics/7?latency_ms=0&jitter_ms=0").await.status();
        let waited = proxy
            .get("/api/comics/9?latency_ms=1000&jitter_ms=0")
            .await
            .status();
        assert_eq!(waited, 503, "the greedy client's share was full at the time");
        no_wait
    })
    .await;
    assert_eq!(no_wait, 200, "requests with no simulated wait are never shed");
    assert_eq!(answered.load(std::sync::atomic::Ordering::SeqCst), 6);
    let ok = greedy_answers.iter().filter(|r| r.status() == 200).count();
    assert_eq!(ok, 2, "one client, two waits at once");
    for response in greedy_answers.into_iter().filter(|r| r.status() != 200) {
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(error_code(response).await, (503, "overloaded".into()));
    }
    assert!(
        other_answers.iter().all(|r| r.status() == 200),
        "another client still gets its share"
    );
}
