//! Sections 2 and 3: the Flask tutorial's route as a peer, and the proxy under load next to
//! nginx serving the same bytes.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use fanout_e2e::free_port;

use crate::{
    Service, Setup, median_by,
    report::{self, Report},
    start_proxy_binary, wait_for,
};

/// The bench's own Python: a virtualenv with the tutorial's stack (and brotli, for sizes).
pub fn venv_python(setup: &Setup) -> PathBuf {
    let venv = setup.root.join("target/bench/venv");
    let python = venv.join("bin/python");
    let ready = venv.join(".fanout-ready");
    if !ready.is_file() {
        setup.progress(
            "creating the Python virtualenv for the peers (Flask[async], httpx)",
            0,
            1,
            Duration::from_secs(60),
        );
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "flask[async]>=2,<4",
            "httpx",
            "requests",
            "brotli",
        ]));
        std::fs::write(&ready, "").unwrap();
    }
    python
}

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|err| panic!("cannot run {cmd:?}: {err}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
}

/// gzip -9 and brotli (quality 11) sizes of a file.
pub fn compressed_sizes(setup: &Setup, file: &Path) -> (usize, usize) {
    let python = venv_python(setup);
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, gzip, brotli; d = open(sys.argv[1], 'rb').read(); \
             print(len(gzip.compress(d, 9)), len(brotli.compress(d, quality=11)))",
        ])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace().map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Section 2: the same job done server-side by the Flask 2.0 async tutorial's route.
pub async fn flask_peer(setup: &Setup, base: &str, report: &mut Report) {
    let python = venv_python(setup);
    let port = free_port();
    let _flask = Service(
        Command::new(&python)
            .arg(setup.root.join("bench/peers/flask_async.py"))
            .arg(port.to_string())
            .env("COMIC_ORIGIN", base)
            .env(
                "COMIC_QUERY",
                format!("latency_ms={}&jitter_ms=0", setup.latency_ms),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the Flask peer starts"),
    );
    let flask = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{flask}/comic?n=1"), Duration::from_secs(20)).await;
    let sizes: &[u32] = if setup.quick { &[5, 20] } else { &[5, 20, 50, 100] };
    for (i, &n) in sizes.iter().enumerate() {
        let left = Duration::from_millis(
            u64::from(setup.latency_ms) * sizes[i..].iter().map(|&m| u64::from(m) + 1).sum::<u64>(),
        );
        setup.progress(&format!("Flask peer: N={n}"), i, sizes.len(), left);
        let asynchronous = time_taken(&format!("{flask}/comic?n={n}")).await;
        let sequential = time_taken(&format!("{flask}/comic-sync?n={n}")).await;
        report.flask_row(n, asynchronous, sequential);
    }
}

/// The route's own "Time taken: …" in milliseconds.
async fn time_taken(url: &str) -> f64 {
    let body = reqwest::get(url).await.unwrap().text().await.unwrap();
    body.strip_prefix("Time taken: ")
        .and_then(|rest| rest.split('<').next())
        .and_then(|s| s.parse::<f64>().ok())
        .map(|s| s * 1000.0)
        .unwrap_or(f64::NAN)
}

pub struct WrkResult {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
}

fn wrk(url: &str, connections: u32, seconds: u64) -> WrkResult {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--timeout",
            "15s",
            "--latency",
            url,
        ])
        .output()
        .expect("wrk runs (apt-get install wrk)");
    parse_wrk(&String::from_utf8_lossy(&out.stdout))
}

fn parse_duration_ms(text: &str) -> f64 {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => f64::NAN,
    }
}

fn parse_wrk(output: &str) -> WrkResult {
    let mut result = WrkResult {
        rps: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        max_ms: f64::NAN,
        errors: 0,
    };
    for line in output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rps, ..] => result.rps = rps.parse().unwrap_or(f64::NAN),
            ["50%", value, ..] => result.p50_ms = parse_duration_ms(value),
            ["99%", value, ..] => result.p99_ms = parse_duration_ms(value),
            ["Latency", _avg, _stdev, max, ..] => result.max_ms = parse_duration_ms(max),
            ["Non-2xx", "or", "3xx", "responses:", count] => {
                result.errors += count.parse::<u64>().unwrap_or(0)
            }
            ["Socket", "errors:", rest @ ..] => {
                result.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    result
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Starts peak-memory accounting afresh (Linux: VmHWM restarts from the current size).
fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// The hostile client of the load section: `count` sockets to the proxy from 127.0.0.2,
/// half silent and half trickling a request head that never ends. One the server closes
/// is opened again a second later, so that `count` stay held for the whole run.
struct HostileSockets {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    closed_by_server: Arc<AtomicU64>,
}

const HOSTILE_SOCKETS: usize = 1000;
const HOSTILE_FROM: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);

impl HostileSockets {
    /// Returns once every socket has been opened once.
    async fn hold(target: SocketAddr, count: usize) -> Self {
        let closed_by_server = Arc::new(AtomicU64::new(0));
        let (opened, mut all_open) = tokio::sync::mpsc::channel::<()>(count);
        let tasks = (0..count)
            .map(|i| {
                let closed = closed_by_server.clone();
                let opened = opened.clone();
                tokio::spawn(async move {
                    loop {
                        if let Ok(mut stream) = hostile_connect(target, i % 2 == 1).await {
                            let _ = opened.try_send(());
                            let mut buf = [0u8; 256];
                            let mut trickle = tokio::time::interval(Duration::from_secs(1));
                            loop {
                                tokio::select! {
                                    read = stream.read(&mut buf) => if matches!(read, Ok(0) | Err(_)) { break },
                                    _ = trickle.tick(), if i % 2 == 1 => {
                                        if stream.write_all(b"z").await.is_err() { break }
                                    }
                                }
                            }
                            closed.fetch_add(1, Ordering::Relaxed);
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                })
            })
            .collect();
        for _ in 0..count {
            all_open.recv().await;
        }
        HostileSockets {
            tasks,
            closed_by_server,
        }
    }

    /// Closes every socket; returns how many the server had closed meanwhile.
    fn release(self) -> u64 {
        for task in self.tasks {
            task.abort();
        }
        self.closed_by_server.load(Ordering::Relaxed)
    }
}

async fn hostile_connect(target: SocketAddr, half_sent: bool) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(HOSTILE_FROM.into(), 0))?;
    let mut stream = socket.connect(target).await?;
    if half_sent {
        stream
            .write_all(b"GET /api/comics/614 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await?;
    }
    Ok(stream)
}

/// Section 3: fanout-proxy under wrk, with nginx serving the same bytes as the reference.
pub async fn proxy_under_load(setup: &Setup, report: &mut Report) {
    let seconds = if setup.quick { 5 } else { 10 };
    // wrk makes its 10,000 burst connections from one address, and every one of them waits
    // out a simulated delay: above the per-client defaults (256 connections, 512 requests in
    // flight, an eighth of 10,000 waits), so this proxy gets room for them. The hostile row's 1,000 sockets are then
    // all held, not closed at once over the cap: the harder case.
    let flags = [
        "--origin",
        "demo",
        "--max-connections-per-client",
        "12000",
        "--max-simulated-waits",
        "90000",
        "--max-in-flight-per-client",
        "12000",
    ];
    let (proxy, base) = start_proxy_binary(setup, &setup.proxy_bin, false, &flags);
    wait_for(&format!("{base}/api/health"), Duration::from_secs(10)).await;
    let zero = "latency_ms=0&jitter_ms=0";
    let comic_path = format!("/api/comics/614?{zero}");
    let comic_url = format!("{base}{comic_path}");
    let comic = reqwest::get(&comic_url).await.unwrap().bytes().await.unwrap();
    let img: serde_json::Value = serde_json::from_slice(&comic).unwrap();
    let image_url = format!("{base}{}?{zero}", img["img"].as_str().unwrap());
    reqwest::get(&image_url).await.unwrap();
    let static_path = "/robots.txt";
    // Another build (say, the commit before a change) in the same rounds as this one: the
    // machine's drift falls on both alike, which separate runs cannot promise.
    let baseline = setup.baseline_proxy.as_ref().map(|bin| {
        let (service, base) = start_proxy_binary(setup, bin, false, &flags);
        (bin.clone(), service, base)
    });
    if let Some((_, _, baseline_base)) = &baseline {
        wait_for(&format!("{baseline_base}/api/health"), Duration::from_secs(10)).await;
        wait_for(&format!("{baseline_base}{comic_path}"), Duration::from_secs(10)).await;
    }

    let nginx_dir = setup.root.join("target/bench/nginx");
    let _nginx = start_nginx(&nginx_dir, &comic, &base);
    let nginx_port = std::fs::read_to_string(nginx_dir.join("port")).unwrap();
    let nginx = format!("http://127.0.0.1:{nginx_port}");
    wait_for(&format!("{nginx}/comic.json"), Duration::from_secs(10)).await;

    // (what, URL): each under 256 connections.
    let mut steady: Vec<(&str, String)> = vec![
        (PLAIN_ROW, comic_url.clone()),
        (HOSTILE_ROW, comic_url.clone()),
        ("fanout-proxy: cached image", image_url),
        (
            "fanout-proxy: demo origin, 100 ms delay per request",
            format!("{base}/api/comics/614?latency_ms=100&jitter_ms=0"),
        ),
        (STATIC_ROW, format!("{base}{static_path}")),
        (
            "nginx: the same JSON as a static file",
            format!("{nginx}/comic.json"),
        ),
        (
            "nginx: proxy_cache in front of fanout-proxy",
            format!("{nginx}/api/comics/614?{zero}"),
        ),
    ];
    if let Some((_, _, baseline_base)) = &baseline {
        // Each right after this build's own row, so that the two runs are close in time.
        let at = |name: &str, steady: &[(&str, String)]| steady.iter().position(|(n, _)| *n == name).unwrap();
        let json_at = at(PLAIN_ROW, &steady) + 1;
        steady.insert(
            json_at,
            (BASELINE_PLAIN_ROW, format!("{baseline_base}{comic_path}")),
        );
        let static_at = at(STATIC_ROW, &steady) + 1;
        steady.insert(
            static_at,
            (BASELINE_STATIC_ROW, format!("{baseline_base}{static_path}")),
        );
    }
    let burst = (
        "fanout-proxy: demo origin, 1 s delay, 10,000 connections at once",
        format!("{base}/api/comics/614?latency_ms=1000&jitter_ms=0"),
    );
    // Back-to-back runs of one row swing by ±15 % here. Rounds interleave the rows, so
    // whatever drifts on the machine drifts under every row alike, and each row reports
    // its median round.
    let rounds = if setup.quick { 1 } else { LOAD_ROUNDS };
    let steps = rounds * steady.len() + 1;
    let mut results: Vec<Vec<WrkResult>> = steady.iter().map(|_| Vec::new()).collect();
    let target: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let pid = proxy.0.id();
    // The cached comic row with and without hostile sockets: peak memory of each run.
    let (mut plain_rss, mut hostile_rss, mut closed) = (Vec::new(), Vec::new(), 0);
    // Resetting the high-water mark loses what came before; keep the overall peak here.
    let mut overall_rss = f64::NAN;
    for round in 0..rounds {
        for (i, (name, url)) in steady.iter().enumerate() {
            let done = round * steady.len() + i;
            let left = Duration::from_secs(seconds * (steps - done) as u64);
            setup.progress(&format!("load, round {}: {name}", round + 1), done, steps, left);
            if *name == HOSTILE_ROW {
                let hostile = HostileSockets::hold(target, HOSTILE_SOCKETS).await;
                overall_rss = overall_rss.max(peak_rss_mib(pid));
                reset_peak_rss(pid);
                // wrk blocks this thread; the hostile sockets live on the runtime's others.
                results[i].push(tokio::task::block_in_place(|| wrk(url, 256, seconds)));
                hostile_rss.push(peak_rss_mib(pid));
                closed += hostile.release();
            } else {
                if i == 0 {
                    overall_rss = overall_rss.max(peak_rss_mib(pid));
                    reset_peak_rss(pid);
                }
                results[i].push(wrk(url, 256, seconds));
                if i == 0 {
                    plain_rss.push(peak_rss_mib(pid));
                }
            }
        }
    }
    // Peak memory under the ordinary load, before the burst raises it.
    report.proxy_peak_rss_mib = overall_rss.max(peak_rss_mib(pid));
    let mut medians = std::collections::HashMap::new();
    for ((name, url), runs) in steady.iter().zip(results) {
        let median = median_by(runs, |r| r.rps).expect("at least one round");
        report.load_row(name, url, 256, &median);
        medians.insert(*name, median);
    }
    if let Some((bin, _, _)) = &baseline {
        let rps = |row: &str| medians[row].rps;
        report.baseline = Some(format!(
            "\n**Against a baseline build.** `{}` ran beside this build in the same rounds, \
             with the same flags (those it has): cached comic JSON {:.0} requests/s against its \
             {:.0} ({:.0} %); a static file of the page {:.0} against {:.0} ({:.0} %).\n",
            bin.display(),
            rps(PLAIN_ROW),
            rps(BASELINE_PLAIN_ROW),
            100.0 * rps(PLAIN_ROW) / rps(BASELINE_PLAIN_ROW),
            rps(STATIC_ROW),
            rps(BASELINE_STATIC_ROW),
            100.0 * rps(STATIC_ROW) / rps(BASELINE_STATIC_ROW),
        ));
    }
    drop(baseline);
    let max = |v: Vec<f64>| v.into_iter().fold(f64::NAN, f64::max);
    report.hostile = Some(report::HostileComparison {
        plain: medians.remove(PLAIN_ROW).expect("the plain row ran"),
        hostile: medians.remove(HOSTILE_ROW).expect("the hostile row ran"),
        plain_rss_mib: max(plain_rss),
        hostile_rss_mib: max(hostile_rss),
        sockets: HOSTILE_SOCKETS,
        closed_by_server: closed,
    });
    setup.progress(
        &format!("load: {}", burst.0),
        steps - 1,
        steps,
        Duration::from_secs(seconds),
    );
    let result = wrk(&burst.1, 10_000, seconds);
    report.load_row(burst.0, &burst.1, 10_000, &result);
    report.proxy_burst_rss_mib = peak_rss_mib(proxy.0.id());
    report.load_seconds = seconds;
    report.load_rounds = rounds;
}

const LOAD_ROUNDS: usize = 3;
const PLAIN_ROW: &str = "fanout-proxy: cached comic JSON";
const HOSTILE_ROW: &str = "fanout-proxy: cached comic JSON, 1,000 hostile sockets held from 127.0.0.2";
const STATIC_ROW: &str = "fanout-proxy: a static file of the page";
const BASELINE_PLAIN_ROW: &str = "baseline fanout-proxy: cached comic JSON";
const BASELINE_STATIC_ROW: &str = "baseline fanout-proxy: a static file of the page";

/// nginx, stopped gracefully when dropped: its master killed outright (as [`Service`] does)
/// leaves its workers running, still bound to the port, after the bench has ended.
struct Nginx(Service);

impl Drop for Nginx {
    fn drop(&mut self) {
        let master = &mut (self.0).0;
        // SIGTERM: the master stops its workers, then exits.
        let stopped = Command::new("kill")
            .args(["-TERM", &master.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if stopped {
            let _ = master.wait();
        }
    }
}

fn start_nginx(dir: &Path, comic: &[u8], upstream: &str) -> Nginx {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::create_dir_all(dir.join("cache")).unwrap();
    std::fs::write(dir.join("www/comic.json"), comic).unwrap();
    let port = free_port();
    std::fs::write(dir.join("port"), port.to_string()).unwrap();
    let d = dir.display();
    let conf = format!(
        "worker_processes auto;\n\
         daemon off;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
           access_log off;\n\
           default_type application/json;\n\
           client_body_temp_path {d}/tmp;\n\
           proxy_temp_path {d}/tmp;\n\
           fastcgi_temp_path {d}/tmp;\n\
           uwsgi_temp_path {d}/tmp;\n\
           scgi_temp_path {d}/tmp;\n\
           proxy_cache_path {d}/cache keys_zone=fanout:10m;\n\
           keepalive_requests 100000;\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             root {d}/www;\n\
             location /api/ {{\n\
               proxy_pass {upstream};\n\
               proxy_http_version 1.1;\n\
               proxy_set_header Connection \"\";\n\
               proxy_cache fanout;\n\
               proxy_cache_valid 200 1h;\n\
             }}\n\
           }}\n\
         }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    Nginx(Service(
        Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts (apt-get install nginx)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let out = "Running 5s test @ http://127.0.0.1:1/x\n  2 threads and 256 connections\n\
  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     3.21ms    1.10ms  45.67ms   90.00%\n\
  Latency Distribution\n     50%    3.00ms\n     75%    3.50ms\n     90%    4.00ms\n     99%  812.00us\n\
  400000 requests in 5.00s, 100.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n\
  Non-2xx or 3xx responses: 4\nRequests/sec:  80000.50\nTransfer/sec:     20.00MB\n";
        let r = parse_wrk(out);
        assert_eq!(r.rps, 80000.5);
        assert_eq!(r.p50_ms, 3.0);
        assert_eq!(r.p99_ms, 0.812);
        assert_eq!(r.max_ms, 45.67);
        assert_eq!(r.errors, 7);
        assert_eq!(parse_duration_ms("1.5s"), 1500.0);
    }
}
