//! A client that stops reading: HTTP/2 streams opened with a zero flow-control window, so
//! that the proxy can send headers but never a byte of body, from 127.0.0.1, against the
//! real `fanout-proxy` binary (its open files are counted in /proc). Meanwhile another
//! client, 127.0.0.2, must be served, and the stalled streams must end.
//!
//! Timings here are generous on purpose (the machine may be busy); the acceptance run with
//! its hard numbers is `proxy/scripts/stall_attack.py`.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    task::JoinSet,
    time::Instant,
};
use tokio_rustls::{
    TlsConnector,
    rustls::{ClientConfig, RootCertStore, crypto::ring, pki_types::CertificateDer, pki_types::ServerName},
};

/// A `fanout-proxy` process, killed when dropped.
struct Spawned {
    child: Child,
    port: u16,
    /// The certificate to trust, when it serves HTTPS.
    cert_pem: Option<Vec<u8>>,
    _dir: tempfile::TempDir,
}

impl Spawned {
    fn start(tls: bool, extra: &[&str]) -> Spawned {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_fanout-proxy"));
        command
            .args(["--listen", "127.0.0.1:0", "--origin", "demo", "--rate-limit", "0"])
            .args(["--static-rate-limit", "0", "--dist"])
            .arg(common::test_dist())
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut cert_pem = None;
        if tls {
            let material = fanout_proxy::tls::self_signed().unwrap();
            let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            std::fs::write(&cert, &material.cert_pem).unwrap();
            std::fs::write(&key, &material.key_pem).unwrap();
            command.arg("--tls-cert").arg(&cert).arg("--tls-key").arg(&key);
            cert_pem = Some(material.cert_pem);
        }
        let mut child = command.spawn().expect("the proxy starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("listening on") {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "the proxy exited");
        }
        // "fanout-proxy listening on http://127.0.0.1:PORT/ (origin: …)"
        let port = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .expect("the listening line names the port");
        // Keep reading what it prints, so that a full pipe never blocks it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Spawned {
            child,
            port,
            cert_pem,
            _dir: dir,
        }
    }

    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("Linux /proc")
            .count()
    }

    fn scheme(&self) -> &'static str {
        if self.cert_pem.is_some() { "https" } else { "http" }
    }

    /// A client bound to 127.0.0.2: another client, as far as the proxy can tell.
    fn bystander(&self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
            .timeout(Duration::from_secs(10));
        if let Some(pem) = &self.cert_pem {
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap());
        }
        builder.build().unwrap()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the attacker's streams have fared so far.
#[derive(Default)]
struct Tally {
    /// Response headers arrived (the body cannot: the window is 0).
    answered: AtomicUsize,
    /// Refused by the proxy with REFUSED_STREAM.
    refused: AtomicUsize,
    /// Answered, then ended by the proxy (reset, GOAWAY or connection closed).
    ended: AtomicUsize,
    /// Anything else: a body byte arrived, or the stream finished cleanly.
    unexpected: AtomicUsize,
}

impl Tally {
    fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

/// Opens `connections` HTTP/2 connections from 127.0.0.1 with a zero initial stream window,
/// and `streams` GETs of `path` on each, reading nothing.
async fn attack(
    proxy: &Spawned,
    path: &str,
    connections: usize,
    streams: usize,
) -> (Arc<Tally>, JoinSet<()>) {
    let tally = Arc::new(Tally::default());
    let mut tasks = JoinSet::new();
    for _ in 0..connections {
        let tcp = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
        match &proxy.cert_pem {
            None => open_streams(tcp, proxy, path, streams, &tally, &mut tasks).await,
            Some(pem) => {
                let tls = tls_connector(pem)
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await
                    .unwrap();
                assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
                open_streams(tls, proxy, path, streams, &tally, &mut tasks).await;
            }
        }
    }
    (tally, tasks)
}

fn tls_connector(pem: &[u8]) -> TlsConnector {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    TlsConnector::from(Arc::new(config))
}

async fn open_streams<T>(
    io: T,
    proxy: &Spawned,
    path: &str,
    streams: usize,
    tally: &Arc<Tally>,
    tasks: &mut JoinSet<()>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(io)
        .await
        .unwrap();
    // The connection task answers pings and settings, as the reviewer's client did.
    tasks.spawn(async move {
        let _ = connection.await;
    });
    let authority = match proxy.scheme() {
        "https" => format!("localhost:{}", proxy.port),
        _ => format!("127.0.0.1:{}", proxy.port),
    };
    for _ in 0..streams {
        send = send.ready().await.unwrap();
        let request = axum::http::Request::get(format!("{}://{authority}{path}", proxy.scheme()))
            .body(())
            .unwrap();
        let (response, _) = send.send_request(request, true).unwrap();
        let tally = tally.clone();
        tasks.spawn(async move {
            let response = match response.await {
                Ok(response) => response,
                Err(err) if err.reason() == Some(h2::Reason::REFUSED_STREAM) => {
                    tally.refused.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Err(_) => {
                    tally.unexpected.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            };
            tally.answered.fetch_add(1, Ordering::SeqCst);
            let mut body = response.into_body();
            // Waits without releasing any window: nothing can arrive but the stream's end.
            match body.data().await {
                Some(Err(_)) => tally.ended.fetch_add(1, Ordering::SeqCst),
                _ => tally.unexpected.fetch_add(1, Ordering::SeqCst),
            };
        });
    }
}

/// Polls `condition` every 20 ms for up to `limit`; panics with `what` if it never holds.
async fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < limit, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// Ordinary requests from 127.0.0.2 all succeed; returns the slowest.
async fn bystander_is_served(proxy: &Spawned) -> Duration {
    let client = proxy.bystander();
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        for path in ["/api/health", "/", "/robots.txt"] {
            let started = Instant::now();
            let response = client
                .get(format!("{}://localhost:{}{path}", proxy.scheme(), proxy.port))
                .send()
                .await
                .unwrap_or_else(|err| panic!("{path} from 127.0.0.2 during the attack: {err}"));
            assert_eq!(response.status(), 200, "{path}");
            response.bytes().await.unwrap();
            slowest = slowest.max(started.elapsed());
        }
    }
    slowest
}

/// The review's attack, scaled to a test: stalled streams hold no file, other clients are
/// served, and the stalled streams end after the send timeout.
async fn stalled_streams_hold_no_files_and_end(tls: bool, path: &str) {
    let proxy = Spawned::start(tls, &["--send-timeout-ms", "3000"]);
    let before = proxy.open_files();
    let (tally, _tasks) = attack(&proxy, path, 2, 250).await;
    wait_for("every stream is answered", Duration::from_secs(20), || {
        Tally::get(&tally.answered) + Tally::get(&tally.refused) == 500
    })
    .await;
    let during = proxy.open_files();
    // Two connections are two files; a file per stream (as ServeDir held) would be 500.
    assert!(
        during < before + 32,
        "open files {before} → {during} with 500 stalled streams"
    );
    let slowest = bystander_is_served(&proxy).await;
    eprintln!("{path} (tls: {tls}): open files {before} → {during}; slowest bystander {slowest:?}");
    let took = wait_for("the stalled streams end", Duration::from_secs(30), || {
        Tally::get(&tally.ended) == Tally::get(&tally.answered)
    })
    .await;
    eprintln!("stalled streams ended {took:?} after the bystander's requests");
    assert_eq!(Tally::get(&tally.unexpected), 0);
    assert_eq!(
        Tally::get(&tally.refused),
        0,
        "500 is within the default budget of 512"
    );
}

#[tokio::test]
async fn stalled_static_streams_over_h2c() {
    stalled_streams_hold_no_files_and_end(false, "/robots.txt").await;
}

#[tokio::test]
async fn stalled_static_streams_over_tls() {
    stalled_streams_hold_no_files_and_end(true, "/robots.txt").await;
}

#[tokio::test]
async fn stalled_batches_over_h2c() {
    stalled_streams_hold_no_files_and_end(false, "/api/comics?ids=1,2,3,4,5,6,7,8&latency_ms=0").await;
}

#[tokio::test]
async fn stalled_batches_over_tls() {
    stalled_streams_hold_no_files_and_end(true, "/api/comics?ids=1,2,3,4,5,6,7,8&latency_ms=0").await;
}

#[tokio::test]
async fn one_client_past_its_in_flight_budget_is_refused_and_others_are_not() {
    let proxy = Spawned::start(false, &["--max-in-flight-per-client", "100"]);
    let (tally, _tasks) = attack(&proxy, "/robots.txt", 1, 250).await;
    wait_for(
        "every stream is answered or refused",
        Duration::from_secs(20),
        || Tally::get(&tally.answered) + Tally::get(&tally.refused) == 250,
    )
    .await;
    assert_eq!(Tally::get(&tally.answered), 100);
    assert_eq!(Tally::get(&tally.refused), 150);
    // The same client over HTTP/1.1 gets the JSON answer with a wait.
    let h1 = reqwest::Client::builder().http1_only().build().unwrap();
    let refused = h1
        .get(format!("http://127.0.0.1:{}/api/health", proxy.port))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let (_, code) = common::error_code(refused).await;
    assert_eq!(code, "overloaded");
    bystander_is_served(&proxy).await;
}

#[tokio::test]
async fn a_connection_with_only_stalled_streams_is_idle() {
    // The send timeout is far off: only the idle timeout can end these streams.
    let proxy = Spawned::start(
        false,
        &["--idle-timeout-ms", "1000", "--send-timeout-ms", "600000"],
    );
    let (tally, _tasks) = attack(&proxy, "/robots.txt", 1, 10).await;
    wait_for("the streams are answered", Duration::from_secs(20), || {
        Tally::get(&tally.answered) == 10
    })
    .await;
    wait_for("the idle connection is closed", Duration::from_secs(20), || {
        Tally::get(&tally.ended) == 10
    })
    .await;
}

#[tokio::test]
async fn a_stalled_stream_is_reset_alone_and_its_connection_serves_on() {
    let proxy = Spawned::start(false, &["--send-timeout-ms", "300"]);
    let tcp = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = |method: &str| {
        axum::http::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{}/robots.txt", proxy.port))
            .body(())
            .unwrap()
    };
    let mut send = send.ready().await.unwrap();
    let (stalled, _) = send.send_request(request("GET"), true).unwrap();
    let mut body = stalled.await.unwrap().into_body();
    let ended = tokio::time::timeout(Duration::from_secs(20), body.data())
        .await
        .expect("the stalled stream ends")
        .expect("it ends in an error, not a clean end")
        .expect_err("no body byte can arrive through a zero window");
    assert_eq!(ended.reason(), Some(h2::Reason::CANCEL), "{ended}");
    // Reset alone: the same connection takes a new stream (a HEAD: no window needed).
    let mut send = send.ready().await.expect("no GOAWAY, no close");
    let (answer, _) = send.send_request(request("HEAD"), true).unwrap();
    assert_eq!(answer.await.unwrap().status(), 200);
}
