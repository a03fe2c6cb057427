//! HTTPS: HTTP/2 and HTTP/1.1 by ALPN, from PEM files or a generated certificate.

mod common;

use clap::Parser;
use fanout_proxy::{Config, Proxy, tls};

async fn serve_tls(config: Config, material: tls::TlsMaterial) -> String {
    let proxy = Proxy::build(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(proxy.serve(listener, Some(material), std::future::pending()));
    format!("https://localhost:{port}")
}

#[tokio::test]
async fn serves_http2_and_http11_over_tls_from_pem_files() {
    let dir = tempfile::tempdir().unwrap();
    let generated = tls::self_signed().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &generated.cert_pem).unwrap();
    std::fs::write(&key, &generated.key_pem).unwrap();

    let mut config = Config::parse_from([
        "fanout-proxy",
        "--origin",
        "demo",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    config.dist = common::test_dist();
    let material = tls::from_config(&config).unwrap().expect("TLS is on");
    assert!(material.saved.is_none());
    let base = serve_tls(config, material).await;

    let root = reqwest::Certificate::from_pem(&generated.cert_pem).unwrap();
    let h2 = reqwest::Client::builder()
        .add_root_certificate(root.clone())
        .build()
        .unwrap();
    let response = h2
        .get(format!("{base}/api/comics/3?latency_ms=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2, "ALPN picks h2");

    let h1 = reqwest::Client::builder()
        .add_root_certificate(root)
        .http1_only()
        .build()
        .unwrap();
    let response = h1.get(format!("{base}/api/health")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);

    // Plain HTTP to the TLS port is refused, not answered.
    assert!(
        reqwest::get(base.replace("https", "http") + "/api/health")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_generated_certificate_is_saved_for_trusting_and_removed_after_serving() {
    let mut config = Config::parse_from(["fanout-proxy", "--tls-self-signed", "--origin", "demo"]);
    config.dist = common::test_dist();
    let material = tls::from_config(&config).unwrap().unwrap();
    let path = material.saved.as_ref().expect("saved").path().to_owned();
    assert_eq!(std::fs::read(&path).unwrap(), material.cert_pem);
    assert!(tls::trust_hint(&path, "https://127.0.0.1:8080/").contains("--cacert"));

    let common::Stoppable { addr, stop, server } = common::start_stoppable(config, Some(material)).await;
    let port = addr.port();
    let root = reqwest::Certificate::from_pem(&std::fs::read(&path).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let health = client
        .get(format!("https://localhost:{port}/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the saved certificate is the one served");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(!path.exists(), "the certificate is removed when the proxy stops");
    assert!(!path.parent().unwrap().exists(), "and its private directory too");
}

#[test]
fn tls_flags_are_checked() {
    assert!(
        Config::try_parse_from(["fanout-proxy", "--tls-cert", "a.pem"]).is_err(),
        "a key is required"
    );
    assert!(
        Config::try_parse_from(["fanout-proxy", "--tls-key", "k.pem"]).is_err(),
        "a cert is required"
    );
    assert!(
        Config::try_parse_from([
            "fanout-proxy",
            "--tls-cert",
            "a",
            "--tls-key",
            "b",
            "--tls-self-signed"
        ])
        .is_err()
    );
    let missing = Config::parse_from([
        "fanout-proxy",
        "--tls-cert",
        "/nope/a.pem",
        "--tls-key",
        "/nope/b.pem",
    ]);
    let err = format!("{:#}", tls::from_config(&missing).err().unwrap());
    assert!(err.contains("--tls-cert /nope/a.pem"), "{err}");
}

#[tokio::test]
async fn a_handshake_that_never_comes_is_closed_after_the_header_timeout() {
    use tokio::io::AsyncReadExt;
    let mut config = Config::parse_from(["fanout-proxy", "--origin", "demo", "--header-timeout-ms", "300"]);
    config.dist = common::test_dist();
    let base = serve_tls(config, tls::self_signed().unwrap()).await;
    let addr = base.replace("https://localhost", "127.0.0.1");
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let opened = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), silent.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the server closed it: {read:?}"
    );
    // Closed by the timeout, not at once (which would also end the read).
    let after = opened.elapsed();
    assert!(
        after >= std::time::Duration::from_millis(240) && after < std::time::Duration::from_secs(5),
        "closed after {after:?}, not at the 300 ms header timeout"
    );
}
