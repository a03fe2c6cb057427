//! A TCP relay between the browser and the proxy that sees each HTTP/1.1 request go by and
//! records when the browser closed a connection the proxy still held open, and which
//! request was the connection's last: how every engine gives up a request it no longer
//! wants over HTTP/1.1 (an aborted fetch, an `<img>` that lost its
//! `src`). The proxy cannot show it for images, which it fetches upstream whether or not
//! the page still waits (`proxy/src/cache.rs`), and Resource Timing shows it unevenly
//! (WebKit keeps no entry for a cancelled request; Firefox once took over 30 s to add one).

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// What went over the relayed connections.
#[derive(Default)]
pub struct Wire {
    requested: Mutex<Vec<(String, Instant)>>,
    given_up: Mutex<Vec<(String, Instant)>>,
}

impl Wire {
    /// When the browser sent a request whose path (query included) contains `part`.
    pub fn requested_at(&self, part: &str) -> Option<Instant> {
        find(&self.requested, part)
    }

    /// When the browser closed the connection whose last request's path contains `part`,
    /// while the proxy still held it open. (A browser keeps an idle connection for minutes,
    /// so soon after the request this means it gave the request up; a test compares the
    /// time with when the answer would have ended.)
    pub fn closed_by_browser_at(&self, part: &str) -> Option<Instant> {
        find(&self.given_up, part)
    }
}

fn find(list: &Mutex<Vec<(String, Instant)>>, part: &str) -> Option<Instant> {
    list.lock()
        .unwrap()
        .iter()
        .find(|(path, _)| path.contains(part))
        .map(|(_, at)| *at)
}

/// Listens on a free loopback port and relays every connection to `proxy`; returns the
/// port's address and the record.
pub async fn relay(proxy: SocketAddr) -> (SocketAddr, Arc<Wire>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let wire = Arc::new(Wire::default());
    let record = wire.clone();
    tokio::spawn(async move {
        while let Ok((browser, _)) = listener.accept().await {
            tokio::spawn(connection(browser, proxy, record.clone()));
        }
    });
    (addr, wire)
}

/// One connection's last request, and whether the proxy has closed its side.
#[derive(Default)]
struct Current {
    path: Option<String>,
    proxy_closed: bool,
}

async fn connection(browser: TcpStream, proxy: SocketAddr, wire: Arc<Wire>) {
    let Ok(upstream) = TcpStream::connect(proxy).await else {
        return;
    };
    let (mut from_browser, mut to_browser) = browser.into_split();
    let (mut from_proxy, mut to_proxy) = upstream.into_split();
    let current = Arc::new(Mutex::new(Current::default()));
    let up = {
        let current = current.clone();
        async move {
            let mut buf = vec![0; 16 * 1024];
            loop {
                let n = match from_browser.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                // A browser sends a request's head in one piece; a GET has no body.
                for line in String::from_utf8_lossy(&buf[..n]).lines() {
                    if let Some(path) = line.strip_prefix("GET ").and_then(|rest| rest.split(' ').next()) {
                        wire.requested
                            .lock()
                            .unwrap()
                            .push((path.to_owned(), Instant::now()));
                        current.lock().unwrap().path = Some(path.to_owned());
                    }
                }
                if to_proxy.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let now = Instant::now();
            let current = current.lock().unwrap();
            if let (Some(path), false) = (&current.path, current.proxy_closed) {
                wire.given_up.lock().unwrap().push((path.clone(), now));
            }
            // Dropping `to_proxy` closes the proxy's side too.
        }
    };
    let down = async move {
        let mut buf = vec![0; 16 * 1024];
        loop {
            let n = match from_proxy.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if to_browser.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        current.lock().unwrap().proxy_closed = true;
    };
    tokio::join!(up, down);
}
