//! The /api contract, through real HTTP on loopback: a stand-in xkcd that misbehaves on
//! cue, and the proxy in front of it.

mod common;

use std::time::{Duration, Instant};

use common::{error_code, wait_until, xkcd_proxy};
use fanout_api::{Comic, Health, OriginKind};

#[tokio::test]
async fn serves_a_comic_with_its_image_rewritten_and_cache_headers() {
    let proxy = xkcd_proxy(|_| {}).await;
    let response = proxy.get("/api/comics/61").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "public, max-age=3600");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let comic: Comic = response.json().await.unwrap();
    assert_eq!(comic.num, 61);
    assert_eq!(comic.img.as_deref(), Some("/api/img/barrel_cropped_(61).jpg"));
    assert_eq!(comic.safe_title, "Comic 61");

    // Revalidation is cheap: the same ETag answers 304 with no body.
    let revalidated = proxy
        .client
        .get(format!("{}/api/comics/61", proxy.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert_eq!(revalidated.headers()["x-cache"], "hit");
    assert_eq!(proxy.upstream.hits("/61/info.0.json"), 1);

    let latest = proxy.get("/api/comics/latest").await;
    assert_eq!(latest.headers()["cache-control"], "public, max-age=300");
    assert_eq!(latest.json::<Comic>().await.unwrap().num, 3000);
    assert_eq!(proxy.upstream.hits("/info.0.json"), 1);
}

#[tokio::test]
async fn comics_without_a_usable_image_get_null() {
    let proxy = xkcd_proxy(|_| {}).await;
    for num in [1608, 7, 8] {
        let comic: Comic = proxy
            .get(&format!("/api/comics/{num}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(comic.img, None, "comic {num}");
    }
    let interactive = proxy.get("/api/comics/1608").await.text().await.unwrap();
    assert!(
        !interactive.contains("<script"),
        "extra_parts never pass: {interactive}"
    );
    let interactive: Comic = serde_json::from_str(&interactive).unwrap();
    assert!(interactive.interactive);
}

#[tokio::test]
async fn malformed_input_is_400_and_never_reaches_upstream() {
    let proxy = xkcd_proxy(|_| {}).await;
    for path in [
        "/api/comics/0",
        "/api/comics/01",
        "/api/comics/-1",
        "/api/comics/+1",
        "/api/comics/1000000",
        "/api/comics/1.5",
        "/api/comics/abc",
        "/api/comics/LATEST",
        "/api/comics/%201",
        "/api/img/..%2F..%2Fetc%2Fpasswd.png",
        "/api/img/a.svg",
        "/api/img/a%00.png",
        "/api/img/.hidden.png",
        "/api/img/a%20b.png",
        "/api/img/%2Fetc%2Fpasswd",
    ] {
        let (status, code) = error_code(proxy.get(path).await).await;
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{path}");
    }
    assert!(proxy.upstream.all().is_empty(), "{:?}", proxy.upstream.all());
}

#[tokio::test]
async fn upstream_misbehaviour_maps_to_clear_errors() {
    let proxy = xkcd_proxy(|_| {}).await;
    for (num, status, code) in [
        (404, 404, "not_found"),
        (500, 502, "upstream_error"),
        (503, 502, "upstream_error"),
        (666, 502, "upstream_error"), // malformed JSON
        (888, 502, "upstream_error"), // over the size cap
        (999, 502, "upstream_error"), // wrong content type
        (555, 502, "upstream_error"), // a different comic than asked for
        (301, 502, "upstream_error"), // redirects are not followed
    ] {
        let (got_status, got_code) = error_code(proxy.get(&format!("/api/comics/{num}")).await).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "comic {num}");
    }
    // Errors are not cached: a second ask goes upstream again.
    let _ = proxy.get("/api/comics/500").await;
    assert_eq!(proxy.upstream.hits("/500/info.0.json"), 2);
}

#[tokio::test]
async fn a_slow_upstream_is_a_504_on_time_not_a_hang() {
    let proxy = xkcd_proxy(|c| c.upstream_timeout_ms = 300).await;
    let started = Instant::now();
    let (status, code) = error_code(proxy.get("/api/comics/777").await).await;
    assert_eq!((status, code.as_str()), (504, "upstream_timeout"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let (status, _) = error_code(proxy.get("/api/img/slow.png").await).await;
    assert_eq!(status, 504);
}

#[tokio::test]
async fn images_pass_only_as_real_images_with_inert_headers() {
    let proxy = xkcd_proxy(|_| {}).await;
    let ok = proxy.get("/api/img/barrel_cropped_(1).jpg").await;
    // The stand-in serves PNG bytes for this name; the signature decides.
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "image/png");
    assert_eq!(ok.headers()["x-content-type-options"], "nosniff");
    let csp = ok.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(ok.bytes().await.unwrap().as_ref(), common::PNG);
    let gif = proxy.get("/api/img/anim.gif").await;
    assert_eq!(gif.headers()["content-type"], "image/gif");

    for (file, status, code) in [
        ("missing.png", 404, "not_found"),
        ("broken.png", 502, "upstream_error"),
        ("text.png", 502, "upstream_error"),
        ("html.png", 502, "upstream_error"),
        ("huge.png", 502, "upstream_error"),
    ] {
        let (got_status, got_code) = error_code(proxy.get(&format!("/api/img/{file}")).await).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "{file}");
    }
}

#[tokio::test]
async fn a_real_jpeg_passes_as_jpeg_byte_for_byte() {
    let proxy = xkcd_proxy(|_| {}).await;
    let jpeg = proxy.get("/api/img/real.jpg").await;
    assert_eq!(jpeg.status(), 200);
    assert_eq!(jpeg.headers()["content-type"], "image/jpeg");
    assert_eq!(jpeg.bytes().await.unwrap().as_ref(), common::JPEG);
}

#[tokio::test]
async fn simultaneous_requests_for_one_comic_make_one_upstream_request() {
    let proxy = xkcd_proxy(|c| c.upstream_timeout_ms = 30_000).await;
    // Upstream holds comic 2600 and held.png until the gate opens, so every request below is
    // in the proxy while the first is still upstream.
    let upstream = proxy.upstream.clone();
    let requests = futures::future::join_all((0..20).map(|_| proxy.get("/api/comics/2600")));
    let open = async {
        wait_until("2600 is upstream", || upstream.gated_in_flight() == 1).await;
        upstream.open_gate();
    };
    let (responses, ()) = futures::future::join(requests, open).await;
    let mut misses = 0;
    for response in responses {
        assert_eq!(response.status(), 200);
        if response.headers()["x-cache"] == "miss" {
            misses += 1;
        }
    }
    assert_eq!(misses, 1);
    assert_eq!(proxy.upstream.hits("/2600/info.0.json"), 1);

    let images = futures::future::join_all((0..20).map(|_| proxy.get("/api/img/held.png"))).await;
    assert!(images.iter().all(|r| r.status() == 200));
    assert_eq!(proxy.upstream.hits("/comics/held.png"), 1);
}

#[tokio::test]
async fn unknown_query_keys_are_ignored() {
    let proxy = xkcd_proxy(|_| {}).await;
    let plain: Comic = proxy.get("/api/comics/5").await.json().await.unwrap();
    for path in [
        "/api/comics/5?fresh=123",
        "/api/comics/5?utm_source=x&&=&%FF=1",
        "/api/comics/5?url=http://evil.example/",
    ] {
        let response = proxy.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["x-cache"],
            "hit",
            "{path}: the same cached comic"
        );
        assert_eq!(response.json::<Comic>().await.unwrap(), plain, "{path}");
    }
    let image = proxy.get("/api/img/a.png?fresh=1733370000000").await;
    assert_eq!(image.status(), 200);
    assert_eq!(image.bytes().await.unwrap().as_ref(), common::PNG);
    assert_eq!(proxy.upstream.hits("/5/info.0.json"), 1);
    let demo = common::demo_proxy(|_| {}).await;
    let response = demo
        .get("/api/comics/5?latency_ms=0&jitter_ms=0&fresh=1&colour=blue")
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn wrong_methods_and_unknown_routes_get_json_errors() {
    let proxy = xkcd_proxy(|_| {}).await;
    let post = proxy
        .client
        .post(format!("{}/api/comics/1", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    assert_eq!(error_code(post).await, (405, "method_not_allowed".into()));
    let delete = proxy
        .client
        .delete(format!("{}/api/img/a.png", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 405);
    assert_eq!(
        error_code(proxy.get("/api/nope").await).await,
        (404, "not_found".into())
    );
    assert_eq!(
        error_code(proxy.get("/api/comics/").await).await,
        (404, "not_found".into())
    );
    assert_eq!(
        error_code(proxy.get("/api/comics").await).await,
        (400, "bad_request".into()),
        "the batch route, with no ids"
    );
    let head = proxy
        .client
        .head(format!("{}/api/comics/3", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
}

#[tokio::test]
async fn oversized_requests_are_refused() {
    let proxy = xkcd_proxy(|_| {}).await;
    let long = format!("/api/comics/1?{}", "a".repeat(3000));
    assert_eq!(
        error_code(proxy.get(&long).await).await,
        (414, "uri_too_long".into())
    );
    let big_header = proxy
        .client
        .get(format!("{}/api/comics/1", proxy.base))
        .header("x-filler", "b".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(big_header).await, (431, "headers_too_large".into()));
}

#[tokio::test]
async fn clients_over_the_rate_limit_get_429() {
    let proxy = xkcd_proxy(|c| c.rate_limit = 2).await;
    let mut statuses = Vec::new();
    for _ in 0..14 {
        statuses.push(proxy.get("/api/health").await);
    }
    let limited: Vec<_> = statuses.into_iter().filter(|r| r.status() == 429).collect();
    assert!(
        !limited.is_empty(),
        "a burst of 14 exceeds 2/s with a burst of 10"
    );
    let first = limited.into_iter().next().unwrap();
    assert_eq!(first.headers()["retry-after"], "1");
    assert_eq!(error_code(first).await.1, "rate_limited");
}

#[tokio::test]
async fn health_names_the_origin() {
    let proxy = xkcd_proxy(|_| {}).await;
    let health: Health = proxy.get("/api/health").await.json().await.unwrap();
    assert_eq!(health.origin, OriginKind::Xkcd);
    assert_eq!(health.latest, None, "xkcd's latest is not known in advance");
}

#[tokio::test]
async fn upstream_only_ever_sees_the_three_url_shapes() {
    let proxy = xkcd_proxy(|_| {}).await;
    // reqwest resolves `..` segments before sending, as a browser does.
    for (path, status) in [
        ("/api/comics/5", 200),
        ("/api/comics/latest", 200),
        ("/api/img/a.png", 200),
        ("/api/comics/5?url=http://evil.example/", 200),
        ("/api/img/a.png?host=evil.example", 200),
        ("/api/comics/6/../../7", 404),
        ("/api/img/..", 404),
        ("/api/img/http:%2F%2Fevil.example%2Fa.png", 400),
    ] {
        assert_eq!(proxy.get(path).await.status(), status, "{path}");
    }
    let misdirected = proxy
        .client
        .get(format!("{}/api/comics/9", proxy.base))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(misdirected.status(), 421);
    // A comic fetched upstream also fetches its own image at once (src/cache.rs, images
    // first), in a task of its own: wait for it rather than race it.
    wait_until("comic 5's own image fetched with it", || {
        proxy.upstream.all().len() >= 4
    })
    .await;
    let asked = proxy.upstream.all();
    assert_eq!(
        asked[..2],
        ["/info.0.json", "/5/info.0.json"],
        "the latest first, to check 5 against it"
    );
    let mut images = asked[2..].to_vec();
    images.sort();
    assert_eq!(
        images,
        ["/comics/a.png", "/comics/barrel_cropped_(5).jpg"],
        "the image shape, each file asked for once: the one asked for and comic 5's own"
    );
    for path in asked {
        let comic = path
            .strip_prefix('/')
            .and_then(|p| p.strip_suffix("/info.0.json"));
        let ok = path == "/info.0.json"
            || comic.is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            || path
                .strip_prefix("/comics/")
                .is_some_and(|f| fanout_api::validate_image_name(f).is_ok());
        assert!(ok, "unexpected upstream request {path}");
    }
}

#[tokio::test]
async fn upstream_concurrency_is_capped() {
    let proxy = xkcd_proxy(|c| {
        c.max_upstream_concurrency = 2;
        c.upstream_timeout_ms = 30_000;
    })
    .await;
    let upstream = proxy.upstream.clone();
    let requests = futures::future::join_all((2600..2606).map(|n| proxy.get(format!("/api/comics/{n}"))));
    let (responses, ()) = futures::future::join(requests, upstream.release_gated_one_by_one(6, 2)).await;
    assert!(responses.iter().all(|r| r.status() == 200));
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let mut config = fanout_proxy::Config::for_tests();
    config.dist = common::test_dist();
    config.max_simulated_waits = 1;
    let common::Stoppable { addr, stop, server } = common::start_stoppable(config, None).await;
    let request = common::send_holding_the_one_simulated_wait(
        &reqwest::Client::new(),
        &format!("http://{addr}"),
        "/api/comics/3?latency_ms=1500&jitter_ms=0",
    )
    .await;
    stop.send(()).unwrap();
    let response = request.await.unwrap().unwrap();
    assert_eq!(
        response.status(),
        200,
        "the request in flight at shutdown completes"
    );
    assert_eq!(response.json::<Comic>().await.unwrap().num, 3);
    server.await.unwrap().unwrap();
    assert!(
        reqwest::get(format!("http://{addr}/api/health")).await.is_err(),
        "no new requests after"
    );
}

#[tokio::test]
async fn not_found_is_remembered_for_a_while_and_numbers_past_the_latest_never_go_upstream() {
    let proxy = xkcd_proxy(|_| {}).await;
    for _ in 0..3 {
        assert_eq!(
            error_code(proxy.get("/api/comics/404").await).await,
            (404, "not_found".into())
        );
        assert_eq!(
            error_code(proxy.get("/api/img/missing.png").await).await,
            (404, "not_found".into())
        );
    }
    assert_eq!(proxy.upstream.hits("/404/info.0.json"), 1);
    assert_eq!(proxy.upstream.hits("/comics/missing.png"), 1);

    // The stand-in's latest comic is 3000.
    for n in [3001, 5000, 99_999] {
        let (status, code) = error_code(proxy.get(format!("/api/comics/{n}")).await).await;
        assert_eq!((status, code.as_str()), (404, "not_found"), "{n}");
    }
    let asked: Vec<String> = proxy.upstream.all();
    assert!(
        !asked
            .iter()
            .any(|p| p.starts_with("/3001/") || p.starts_with("/5000/") || p.starts_with("/99999/")),
        "{asked:?}"
    );
    assert_eq!(
        proxy.upstream.hits("/info.0.json"),
        1,
        "the latest comic is asked for once: {asked:?}"
    );
    assert_eq!(proxy.get("/api/comics/3000").await.status(), 200);
}

#[tokio::test]
async fn paths_that_do_not_decode_get_the_json_error_contract() {
    let proxy = xkcd_proxy(|_| {}).await;
    for path in [
        "/api/img/%C0%AE%C0%AE%2fx.png",
        "/api/img/%FF.png",
        "/api/comics/%FF",
    ] {
        let response = proxy.get(path).await;
        assert_eq!(response.headers()["content-type"], "application/json", "{path}");
        assert_eq!(error_code(response).await, (400, "bad_request".into()), "{path}");
    }
    assert!(proxy.upstream.all().is_empty());
}
