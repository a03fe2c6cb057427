//! The connection level, through real sockets on loopback: caps, the header timeout, the
//! shutdown deadline, and the proxy in a child process under a 1024 open-file limit while
//! one address holds 1,200 sockets. Any 127.x.y.z is loopback, so "another client" is a
//! socket bound to 127.0.0.2.

mod common;

use std::{
    io::{BufRead, BufReader},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{demo_proxy, error_code};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{Instant, timeout},
};

const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn address(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

/// Waits until the server closes `stream` (end of file or a reset); false if it is still
/// open after `within`. Anything the server sends first is read and ignored.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

fn client_from(ip: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn one_client_gets_no_more_than_its_share_of_connections() {
    let proxy = demo_proxy(|c| c.max_connections_per_client = 3).await;
    let addr = address(&proxy.base);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_by_server(&mut fourth, Duration::from_secs(5)).await,
        "a fourth connection from the same address is closed"
    );
    // Another address is not disturbed.
    let other = client_from(OTHER_CLIENT)
        .get(format!("{}/api/health", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    // Nor are the held connections: each still serves a request.
    let mut first = held.remove(0);
    first
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    first.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    // A closed connection frees its place.
    drop(first);
    drop(fourth);
    let mut again = None;
    for _ in 0..50 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 12];
        if stream.read_exact(&mut answer).await.is_ok() {
            again = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(&again.expect("a place frees up"), b"HTTP/1.1 200");
}

/// Waits until the server closes `stream`; how long that took from `since`, or `None` if it
/// was still open after five seconds.
async fn closes_after(stream: &mut TcpStream, since: Instant) -> Option<Duration> {
    closed_by_server(stream, Duration::from_secs(5))
        .await
        .then(|| since.elapsed())
}

#[tokio::test]
async fn silent_trickling_and_kept_alive_connections_go_at_the_header_timeout() {
    // The header timeout far below the idle timeout, so that which one closed each
    // connection shows in when it closed.
    let header_timeout = Duration::from_millis(300);
    let idle_timeout = Duration::from_secs(4);
    let proxy = demo_proxy(|c| {
        c.header_timeout_ms = header_timeout.as_millis() as u64;
        c.idle_timeout_ms = idle_timeout.as_millis() as u64;
    })
    .await;
    let addr = address(&proxy.base);
    let opened = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut trickling = TcpStream::connect(addr).await.unwrap();
    trickling
        .write_all(b"GET /api/health HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        let opened = Instant::now();
        for _ in 0..100 {
            if trickling.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        closes_after(&mut trickling, opened).await
    });
    // An HTTP/2 connection (prior knowledge) that asks for nothing.
    let mut h2 = TcpStream::connect(addr).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    // A kept-alive HTTP/1.1 connection after its one request: the wait for the next request
    // is header time.
    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    kept.read_exact(&mut answer).await.unwrap();
    let answered = Instant::now();
    assert_eq!(&answer, b"HTTP/1.1 200");

    let closed = [
        ("silent", closes_after(&mut silent, opened).await),
        ("trickling", trickle.await.unwrap()),
        ("h2 with no request", closes_after(&mut h2, opened).await),
        ("kept alive", closes_after(&mut kept, answered).await),
    ];
    for (what, after) in closed {
        let after = after.unwrap_or_else(|| panic!("{what}: still open"));
        assert!(
            after >= header_timeout * 8 / 10 && after < idle_timeout / 2,
            "{what}: closed after {after:?}, not at the header timeout"
        );
    }
}

/// One HTTP/2 frame: its type, flags, stream and payload.
async fn read_frame(stream: &mut TcpStream) -> std::io::Result<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).await?;
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream_id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await?;
    Ok((head[3], head[4], stream_id, payload))
}

#[tokio::test]
async fn an_h2_connection_idle_after_a_request_gets_a_goaway_at_the_idle_timeout() {
    // The idle timeout well above the header timeout, so that a GOAWAY at the header
    // timeout would show. (With the idle timeout below the header timeout the GOAWAY comes
    // at the header timeout instead: `drive` sleeps until the deadline it computed before
    // the first request.)
    let header_timeout = Duration::from_millis(300);
    let idle_timeout = Duration::from_millis(1500);
    let proxy = demo_proxy(|c| {
        c.header_timeout_ms = header_timeout.as_millis() as u64;
        c.idle_timeout_ms = idle_timeout.as_millis() as u64;
    })
    .await;
    let mut h2 = TcpStream::connect(address(&proxy.base)).await.unwrap();
    // The preface, empty SETTINGS, and GET /api/health on stream 1 (HPACK: indexed :method
    // GET and :scheme http, then :path and :authority as literals without indexing).
    let mut block = vec![0x82, 0x86, 0x04, 11];
    block.extend_from_slice(b"/api/health");
    block.extend_from_slice(&[0x01, 9]);
    block.extend_from_slice(b"127.0.0.1");
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0".to_vec();
    hello.extend_from_slice(&(block.len() as u32).to_be_bytes()[1..]);
    hello.extend_from_slice(&[0x01, 0x05, 0, 0, 0, 1]); // HEADERS, END_STREAM | END_HEADERS
    hello.extend_from_slice(&block);
    h2.write_all(&hello).await.unwrap();
    const DATA: u8 = 0x0;
    const HEADERS: u8 = 0x1;
    const SETTINGS: u8 = 0x4;
    const GOAWAY: u8 = 0x7;
    const END_STREAM: u8 = 0x1;
    let mut answered = None;
    let mut response_headers = false;
    let goaway_after = timeout(Duration::from_secs(10), async {
        loop {
            let (kind, flags, stream_id, _) = read_frame(&mut h2).await.expect("a frame, not a close");
            match kind {
                SETTINGS if flags & 0x1 == 0 => h2.write_all(b"\0\0\0\x04\x01\0\0\0\0").await.unwrap(),
                HEADERS if stream_id == 1 => response_headers = true,
                DATA if stream_id == 1 && flags & END_STREAM != 0 => answered = Some(Instant::now()),
                GOAWAY => return answered.expect("GOAWAY after the answer").elapsed(),
                _ => {}
            }
        }
    })
    .await
    .expect("a GOAWAY within ten seconds");
    assert!(response_headers, "the request was answered");
    assert!(
        goaway_after >= idle_timeout * 9 / 10 && goaway_after < idle_timeout * 2,
        "GOAWAY {goaway_after:?} after the answer, not at the idle timeout"
    );
    // And then the connection closes.
    assert!(closed_by_server(&mut h2, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn shutdown_closes_what_is_still_busy_after_the_deadline() {
    let mut config = fanout_proxy::Config::for_tests();
    config.dist = common::test_dist();
    config.shutdown_timeout_ms = 200;
    config.upstream_timeout_ms = 20_000;
    config.max_simulated_waits = 1;
    let common::Stoppable { addr, stop, server } = common::start_stoppable(config, None).await;
    // Waits 10 s (the longest delay) and then the 20 s upstream timeout.
    let slow = common::send_holding_the_one_simulated_wait(
        &reqwest::Client::new(),
        &format!("http://{addr}"),
        "/api/comics/3?latency_ms=10000&jitter_ms=0&timeout_rate=1",
    )
    .await;
    stop.send(()).unwrap();
    timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns soon after the deadline, not after the slow request")
        .unwrap()
        .unwrap();
    let slow = timeout(Duration::from_secs(10), slow).await.unwrap().unwrap();
    assert!(slow.is_err(), "the slow request was cut off: {slow:?}");
}

#[tokio::test]
async fn only_named_hosts_are_served() {
    let proxy = demo_proxy(|c| c.allowed_hosts = vec!["fanout.example".into()]).await;
    let port = address(&proxy.base).port();
    for (host, status) in [
        (format!("127.0.0.1:{port}"), 200),
        (format!("localhost:{port}"), 200),
        (format!("fanout.example:{port}"), 200),
        (format!("evil.example:{port}"), 421),
        ("127.0.0.2".to_owned(), 421),
    ] {
        let response = proxy
            .client
            .get(format!("{}/api/health", proxy.base))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        if status == 200 {
            assert_eq!(response.status(), 200, "{host}");
        } else {
            assert_eq!(
                error_code(response).await,
                (421, "misdirected_request".into()),
                "{host}"
            );
        }
    }
    // The page too: a rebinding page must not read it either.
    let page = proxy
        .client
        .get(format!("{}/", proxy.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 421);
}

/// Stops the child proxy when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary, started the way a person starts it but with its open-file limit (soft and
/// hard) lowered to 1024; returns it, its address and everything it prints.
fn start_limited_proxy(args: &[&str]) -> (Killed, SocketAddr, Arc<Mutex<Vec<String>>>) {
    let (child, base, lines) = start_proxy_binary(args, Some((1024, 1024)));
    (child, address(&base), lines)
}

/// The binary on the demo origin with `args` (on 127.0.0.1:0 unless they say `--listen`),
/// and, when given, its open-file limit (soft, hard) set before it starts; returns it, the
/// base URL it prints (`http://…` or `https://…`, no trailing slash) and everything it prints.
fn start_proxy_binary(args: &[&str], files: Option<(u64, u64)>) -> (Killed, String, Arc<Mutex<Vec<String>>>) {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_fanout-proxy"));
    if !args.contains(&"--listen") {
        command.args(["--listen", "127.0.0.1:0"]);
    }
    command
        .args(["--origin", "demo", "--dist"])
        .arg(common::test_dist())
        .args(args)
        .env("RUST_LOG", "info,fanout_proxy::access=off")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some((soft, hard)) = files {
        // SAFETY: setrlimit is a single system call, safe between fork and exec.
        unsafe {
            command.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard));
        }
    }
    let mut child = command.spawn().expect("the proxy starts");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (found, base) = std::sync::mpsc::channel();
    for output in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let lines = lines.clone();
        let found = found.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("fanout-proxy listening on ") {
                    let _ = found.send(rest.split('/').take(3).collect::<Vec<_>>().join("/"));
                }
                lines.lock().unwrap().push(line);
            }
        });
    }
    let child = Killed(child);
    let base = base
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("no address printed: {:?}", lines.lock().unwrap()));
    (child, base, lines)
}

/// Sends `signal` (`TERM`, `INT`) to the child, as `kill` from a shell does.
fn signal(child: &Killed, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.0.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits (polling) until the child has exited; its exit status.
async fn exited(child: &mut Killed) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the proxy did not exit");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn on_sigterm_and_sigint_a_request_in_flight_finishes_over_http_and_https() {
    // Four proxies side by side: each signal over each protocol.
    let cases = [("TERM", false), ("INT", false), ("TERM", true), ("INT", true)];
    futures::future::join_all(cases.map(|(signal_name, tls)| async move {
        let mut args = vec!["--max-simulated-waits", "1", "--shutdown-timeout-ms", "10000"];
        if tls {
            args.push("--tls-self-signed");
        }
        let (mut proxy, base, log) = start_proxy_binary(&args, None);
        assert_eq!(base.starts_with("https://"), tls, "{base}");
        // Only this test's own proxy, with the certificate it generated for this run.
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let request = common::send_holding_the_one_simulated_wait(
            &client,
            &base,
            "/api/comics/3?latency_ms=1500&jitter_ms=0",
        )
        .await;
        signal(&proxy, signal_name);
        let response = request.await.unwrap().unwrap();
        assert_eq!(response.status(), 200, "SIG{signal_name}, TLS {tls}");
        assert_eq!(response.json::<fanout_api::Comic>().await.unwrap().num, 3);
        let status = exited(&mut proxy).await;
        assert!(status.success(), "SIG{signal_name}, TLS {tls}: {status}");
        assert!(
            log.lock().unwrap().iter().any(|l| l.ends_with("stopped")),
            "{:?}",
            log.lock().unwrap()
        );
        assert!(
            client.get(format!("{base}/api/health")).send().await.is_err(),
            "nothing listens after"
        );
    }))
    .await;
}

#[tokio::test]
async fn the_soft_file_limit_is_raised_to_the_hard_one_and_the_cap_fits_it() {
    let (_proxy, _, log) = start_proxy_binary(&["--max-upstream-concurrency", "16"], Some((512, 1024)));
    // The caps are logged once it serves, just after it prints its address.
    common::wait_until("the proxy logs its caps", || {
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("accepting connections"))
    })
    .await;
    let log = log.lock().unwrap().join("\n");
    assert!(
        log.contains("open-file limit: soft 512, hard 1024; soft raised to 1024"),
        "{log}"
    );
    // 1024 files, less 128 held back and one per upstream slot.
    assert!(log.contains("max_connections=880"), "{log}");
}

#[tokio::test]
async fn a_wildcard_listen_address_without_allowed_hosts_warns_at_start_up() {
    let (_proxy, base, log) = start_proxy_binary(&["--listen", "0.0.0.0:0"], None);
    assert!(base.starts_with("http://0.0.0.0:"), "{base}");
    let warned = |log: &[String]| {
        log.iter()
            .any(|l| l.contains("WARN") && l.contains("no --allowed-host") && l.contains("DNS rebinding"))
    };
    assert!(warned(&log.lock().unwrap()), "{:?}", log.lock().unwrap());
    let (_named, _, log) = start_proxy_binary(
        &["--listen", "0.0.0.0:0", "--allowed-host", "fanout.example"],
        None,
    );
    assert!(!warned(&log.lock().unwrap()), "{:?}", log.lock().unwrap());
    let (_loopback, _, log) = start_proxy_binary(&[], None);
    assert!(!warned(&log.lock().unwrap()), "{:?}", log.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_held_sockets_from_one_address_starve_no_one_under_a_1024_file_limit() {
    const IDLE: usize = 600;
    const HALF_SENT: usize = 600;
    let header_timeout = Duration::from_secs(2);
    // This process holds the 1,200 sockets itself.
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let wanted = 4096.min(hard);
    if soft < wanted {
        rlimit::setrlimit(rlimit::Resource::NOFILE, wanted, hard).unwrap();
    }
    assert!(
        wanted >= 2048,
        "the test needs 2048 open files for itself; the hard limit is {hard}"
    );

    let (proxy, addr, log) = start_limited_proxy(&["--header-timeout-ms", "2000"]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", proxy.0.id())).unwrap();
    let files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .take(2)
        .collect::<Vec<_>>();
    assert_eq!(files, ["1024", "1024"], "{limits}");

    // One address opens 1,200 sockets: half say nothing, half send part of a request head
    // and then a byte of a header value every half second, never finishing it.
    let mut hostile = Vec::new();
    let started = Instant::now();
    for i in 0..IDLE + HALF_SENT {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let opened = Instant::now();
        let half_sent = i % 2 == 1;
        if half_sent {
            // The server may already have closed it (over the cap); that is fine.
            let _ = stream
                .write_all(b"GET /api/comics/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .await;
        }
        hostile.push(tokio::spawn(async move {
            let mut buf = [0u8; 256];
            let mut trickle = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    read = stream.read(&mut buf) => match read {
                        Ok(0) | Err(_) => return Some(opened.elapsed()),
                        Ok(_) => {}
                    },
                    _ = trickle.tick(), if half_sent => {
                        if stream.write_all(b"z").await.is_err() {
                            return Some(opened.elapsed());
                        }
                    }
                    () = tokio::time::sleep(Duration::from_secs(30)) => return None,
                }
            }
        }));
    }

    // Meanwhile another address asks for comics, each on a fresh connection, for longer
    // than the header timeout: every request succeeds.
    let other = client_from(OTHER_CLIENT);
    let mut served = 0;
    let mut n = 1;
    // At least twenty requests, and for as long as the held sockets last.
    while served < 20 || started.elapsed() < header_timeout * 2 {
        let response = other
            .get(format!("http://{addr}/api/comics/{n}?latency_ms=0&jitter_ms=0"))
            .send()
            .await
            .unwrap_or_else(|err| panic!("request {n} from another address failed: {err}"));
        assert_eq!(response.status(), 200, "comic {n}");
        response.bytes().await.unwrap();
        served += 1;
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every held socket is closed by the server: over the per-client cap at once, the
    // rest when the header timeout runs out.
    let mut closed_after = Vec::new();
    for task in hostile {
        closed_after.push(task.await.unwrap().expect("the server closed the socket"));
    }
    // Held ones go when the header timeout runs out, counted from accept; the others at
    // once, so anything near the timeout was held.
    let held = closed_after
        .iter()
        .filter(|t| **t >= header_timeout * 9 / 10)
        .count();
    assert!(
        held > 0 && held <= 256,
        "up to the per-client cap (256) were held until the header timeout: {held}"
    );
    let log = log.lock().unwrap();
    assert!(!log.iter().any(|l| l.contains("Too many open files")), "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.contains("open-file limit: soft 1024, hard 1024")),
        "{log:?}"
    );
}
