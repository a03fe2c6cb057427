//! Domain sharding from the proxy's side: its shard host names are answered (and no other
//! name), the API answers cross-origin only to the page's own origins, the page's CSP lists
//! exactly its shards, and one client's limits are one, whatever names it uses.

mod common;

use std::{net::SocketAddr, time::Duration};

use common::{demo_proxy, error_code, xkcd_proxy};
use reqwest::header;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fn address(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

/// A client that reaches `names` at the proxy's address, as a browser resolves `*.localhost`.
fn client_for(base: &str, names: &[String]) -> reqwest::Client {
    let addr = address(base);
    names
        .iter()
        .fold(reqwest::Client::builder(), |builder, name| {
            builder.resolve(name, addr)
        })
        .build()
        .unwrap()
}

fn shard_names(count: usize) -> Vec<String> {
    (0..count).map(|j| format!("s{j}.localhost")).collect()
}

#[tokio::test]
async fn the_default_shards_are_answered_and_listed_and_other_names_get_421() {
    let proxy = demo_proxy(|_| {}).await;
    let port = address(&proxy.base).port();
    let mut names = shard_names(16);
    names.extend(["s16.localhost", "evil.localhost", "s1.localhost.evil.example"].map(String::from));
    let client = client_for(&proxy.base, &names);
    for shard in &names[..16] {
        let answer = client
            .get(format!("http://{shard}:{port}/api/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{shard}");
    }
    for foreign in &names[16..] {
        let answer = client
            .get(format!("http://{foreign}:{port}/api/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(answer).await,
            (421, "misdirected_request".into()),
            "{foreign}"
        );
    }
    let health: serde_json::Value = proxy.get("/api/health").await.json().await.unwrap();
    assert_eq!(health["shard_hosts"], serde_json::json!(shard_names(16)));
}

#[tokio::test]
async fn named_shard_hosts_replace_the_defaults() {
    let proxy = demo_proxy(|c| c.shard_hosts = vec!["img{0..3}.example.com".into()]).await;
    let port = address(&proxy.base).port();
    let names: Vec<String> = [
        "img0.example.com",
        "img3.example.com",
        "img4.example.com",
        "s0.localhost",
    ]
    .map(String::from)
    .to_vec();
    let client = client_for(&proxy.base, &names);
    let status = |name: &'static str| {
        let client = client.clone();
        async move {
            client
                .get(format!("http://{name}:{port}/api/health"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("img0.example.com").await, 200);
    assert_eq!(status("img3.example.com").await, 200);
    assert_eq!(status("img4.example.com").await, 421);
    assert_eq!(status("s0.localhost").await, 421, "the defaults are gone");
    let health: serde_json::Value = proxy.get("/api/health").await.json().await.unwrap();
    assert_eq!(
        health["shard_hosts"],
        serde_json::json!([
            "img0.example.com",
            "img1.example.com",
            "img2.example.com",
            "img3.example.com"
        ])
    );
}

#[tokio::test]
async fn a_non_loopback_listen_has_no_default_shards_and_bad_patterns_stop_start_up() {
    let mut config = fanout_proxy::Config::for_tests();
    config.dist = common::test_dist();
    config.listen = "0.0.0.0:0".parse().unwrap();
    let proxy = fanout_proxy::Proxy::build(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(proxy.serve(listener, None, std::future::pending()));
    let health: serde_json::Value = reqwest::get(format!("http://{addr}/api/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["shard_hosts"], serde_json::json!([]));

    // On a wildcard address the page's own name must be given, or no shard could grant it.
    config.shard_hosts = vec!["img{0..3}.example.com".into()];
    let unnamed = fanout_proxy::Proxy::build(&config)
        .await
        .err()
        .expect("shards with no page name are refused");
    assert!(unnamed.to_string().contains("--allowed-host"), "{unnamed}");

    config.allowed_hosts = vec!["fanout.example.com".into()];
    config.shard_hosts = vec!["img{0..16}.example.com".into()];
    let refused = fanout_proxy::Proxy::build(&config)
        .await
        .err()
        .expect("17 shards are refused");
    assert!(refused.to_string().contains("at most 16"), "{refused}");
}

/// What a request to `shard` with `Origin: origin` gets back, for `path`.
async fn cross_origin_headers(
    client: &reqwest::Client,
    shard: &str,
    port: u16,
    path: &str,
    origin: Option<&str>,
) -> reqwest::Response {
    let mut request = client.get(format!("http://{shard}:{port}{path}"));
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    let answer = request.send().await.unwrap();
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    answer
}

#[tokio::test]
async fn api_answers_open_to_the_pages_own_origins_only() {
    let proxy = demo_proxy(|_| {}).await;
    let port = address(&proxy.base).port();
    let client = client_for(&proxy.base, &shard_names(2));
    let comic: serde_json::Value = proxy.get("/api/comics/614").await.json().await.unwrap();
    // No simulated delay: the answers' headers are what is checked.
    let image = format!("{}?latency_ms=0&jitter_ms=0", comic["img"].as_str().unwrap());
    for path in [
        "/api/comics/614?latency_ms=0&jitter_ms=0",
        &image,
        "/api/comics?ids=1,2&latency_ms=0&jitter_ms=0",
        "/api/health",
    ] {
        for page in [
            format!("http://127.0.0.1:{port}"),
            format!("http://localhost:{port}"),
            format!("http://s0.localhost:{port}"),
        ] {
            let answer = cross_origin_headers(&client, "s1.localhost", port, path, Some(&page)).await;
            let headers = answer.headers();
            assert_eq!(
                headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
                page.as_str(),
                "{path}"
            );
            assert_eq!(headers["timing-allow-origin"], page.as_str(), "{path}");
            assert!(
                headers.get_all(header::VARY).iter().any(|v| v
                    .to_str()
                    .unwrap()
                    .split(',')
                    .any(|v| v.trim().eq_ignore_ascii_case("origin"))),
                "{path}: {headers:?}"
            );
            assert!(
                headers.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none(),
                "no credentials are ever shared"
            );
        }
        for foreign in [
            format!("http://evil.localhost:{port}"),
            format!("http://s16.localhost:{port}"),
            format!("http://localhost:{}", port.wrapping_add(1).max(1)),
            "http://evil.example".to_string(),
            "null".to_string(),
        ] {
            let answer = cross_origin_headers(&client, "s1.localhost", port, path, Some(&foreign)).await;
            let headers = answer.headers();
            assert!(
                headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
                "{path} from {foreign}: {headers:?}"
            );
            assert!(
                headers.get("timing-allow-origin").is_none(),
                "{path} from {foreign}"
            );
        }
        let answer = cross_origin_headers(&client, "s1.localhost", port, path, None).await;
        assert!(
            answer
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }
    // Images stay unembeddable by no-cors loads from elsewhere: the page's own load them in
    // CORS mode, which this policy does not apply to.
    let answer = cross_origin_headers(&client, "s1.localhost", port, &image, None).await;
    assert_eq!(answer.headers()["cross-origin-resource-policy"], "same-origin");
    // The page's own files are not opened cross-origin.
    let page = cross_origin_headers(
        &client,
        "s1.localhost",
        port,
        "/robots.txt",
        Some(&format!("http://127.0.0.1:{port}")),
    )
    .await;
    assert!(page.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn the_pages_csp_lists_exactly_its_shards() {
    let proxy = demo_proxy(|_| {}).await;
    let port = address(&proxy.base).port();
    let page = proxy.get("/").await;
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    let shards: Vec<String> = shard_names(16)
        .iter()
        .map(|name| format!("http://{name}:{port}"))
        .collect();
    let directive = |name: &str| -> Vec<String> {
        csp.split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {csp}"))
            .split(' ')
            .map(String::from)
            .collect()
    };
    let mut img = vec!["'self'".to_string(), "data:".to_string()];
    img.extend(shards.iter().cloned());
    assert_eq!(directive("img-src"), img);
    let mut connect = vec!["'self'".to_string()];
    connect.extend(shards.iter().cloned());
    assert_eq!(directive("connect-src"), connect);
    assert_eq!(directive("default-src"), ["'self'"]);
}

#[tokio::test]
async fn one_clients_rate_limit_is_shared_across_its_shards() {
    let proxy = xkcd_proxy(|c| c.rate_limit = 2).await; // a burst of 10
    let port = address(&proxy.base).port();
    let names = shard_names(16);
    let client = client_for(&proxy.base, &names);
    let mut limited = 0;
    // Each name is asked once: a limit per host name would let every request through.
    for name in &names {
        let answer = client
            .get(format!("http://{name}:{port}/api/health"))
            .send()
            .await
            .unwrap();
        if answer.status() == 429 {
            limited += 1;
        }
    }
    assert!(
        limited >= 1,
        "16 requests over 16 names exceed one client's burst of 10"
    );
    // Another client is untouched.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let answer = other
        .get(format!("{}/api/health", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

/// True when the server closes `tcp` (EOF or reset) within `within`.
async fn closed_by_server(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(within, tcp.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn one_clients_connection_cap_is_shared_across_its_shards() {
    let proxy = demo_proxy(|c| c.max_connections_per_client = 3).await;
    let addr = address(&proxy.base);
    let mut held = Vec::new();
    for name in shard_names(3) {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(format!("GET /api/health HTTP/1.1\r\nHost: {name}:{}\r\n\r\n", addr.port()).as_bytes())
            .await
            .unwrap();
        let mut answer = [0u8; 12];
        tcp.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200", "{name}");
        held.push(tcp);
    }
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    let _ = fourth
        .write_all(
            format!(
                "GET /api/health HTTP/1.1\r\nHost: s3.localhost:{}\r\n\r\n",
                addr.port()
            )
            .as_bytes(),
        )
        .await;
    assert!(
        closed_by_server(&mut fourth, Duration::from_secs(5)).await,
        "a fourth connection, to a fourth shard, is over the same client's cap of 3"
    );
}

#[test]
fn check_refuses_a_bad_shard_pattern_before_serving() {
    let check = |pattern: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fanout-proxy"))
            .args(["--check", "--shard-host", pattern])
            .output()
            .unwrap()
    };
    let refused = check("img{0..16}.example.com");
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("at most 16"),
        "{refused:?}"
    );
    assert!(check("img{0..15}.example.com").status.success());
}
