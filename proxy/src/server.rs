//! The connection level: accepting sockets, TLS, HTTP/1.1 and HTTP/2 through hyper-util
//! with a timer, and the rules that keep one client from holding the proxy with sockets
//! alone. A connection must send a complete request head within the header timeout of
//! being accepted, is closed when it has had nothing in flight for the idle timeout, and
//! counts against a cap in total and one per client; over a cap it is closed at once.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use anyhow::Context as _;
use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response},
};
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
    time::Instant,
};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::{Config, guard::client_key, tls::TlsMaterial};

/// After an idle connection is asked to close (HTTP/2: GOAWAY), how long it may take.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// HTTP/2 pings an idle peer this often, and drops it when a ping goes unanswered as long.
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
/// Receive windows: the proxy only takes GET and HEAD, so a client never needs to send us
/// much; small windows bound what one stream or connection can make us buffer.
const H2_STREAM_WINDOW: u32 = 64 * 1024;
const H2_CONNECTION_WINDOW: u32 = 1024 * 1024;
/// HTTP/2 header lists up to this size reach the router, which answers larger than its own
/// 16 KiB limit with a JSON 431; beyond it hyper refuses the stream itself.
const H2_MAX_HEADER_LIST: u32 = 64 * 1024;
/// Open files kept for everything but client connections (upstream sockets, static files,
/// the runtime's own), on top of the upstream concurrency.
const RESERVED_FILES: u64 = 128;
/// How often a failing accept (for example EMFILE) is logged at most.
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(5);

/// The connection-level settings, from [`Config`].
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_buffer_bytes: usize,
    pub http2_max_streams: u32,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub shutdown_timeout: Duration,
}

impl ConnectionSettings {
    /// The flags' values, with the total cap lowered to what the open-file limit allows.
    pub fn from_config(config: &Config) -> Self {
        let reserved = RESERVED_FILES + u64::from(config.max_upstream_concurrency);
        let by_files = open_file_limit()
            .map(|(soft, _)| soft.saturating_sub(reserved).max(16))
            .unwrap_or(u64::MAX);
        let max_connections = u64::from(config.max_connections).min(by_files) as usize;
        ConnectionSettings {
            header_timeout: config.header_timeout(),
            idle_timeout: config.idle_timeout(),
            max_buffer_bytes: config.max_buffer_kb as usize * 1024,
            http2_max_streams: config.http2_max_streams,
            max_connections,
            max_connections_per_client: (config.max_connections_per_client as usize).min(max_connections),
            shutdown_timeout: config.shutdown_timeout(),
        }
    }

    fn http(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .max_buf_size(self.max_buffer_bytes)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.http2_max_streams)
            .initial_stream_window_size(H2_STREAM_WINDOW)
            .initial_connection_window_size(H2_CONNECTION_WINDOW)
            .max_header_list_size(H2_MAX_HEADER_LIST)
            .keep_alive_interval(H2_PING_INTERVAL)
            .keep_alive_timeout(H2_PING_INTERVAL);
        builder
    }
}

/// The soft and hard open-file limits.
pub fn open_file_limit() -> Option<(u64, u64)> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).ok()
}

/// Raises the soft open-file limit to the hard one: every connection is a file, and the
/// usual soft default of 1024 is far below what the proxy can hold. Returns (before, after).
pub fn raise_open_file_limit() -> std::io::Result<((u64, u64), (u64, u64))> {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    rlimit::setrlimit(rlimit::Resource::NOFILE, before.1, before.1)?;
    Ok((before, rlimit::getrlimit(rlimit::Resource::NOFILE)?))
}

/// Accepts connections until `shutdown` resolves, then lets requests in flight finish for
/// up to the shutdown timeout and closes whatever is left.
pub async fn serve(
    router: Router,
    settings: ConnectionSettings,
    listener: TcpListener,
    tls: Option<TlsMaterial>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let acceptor = tls.as_ref().map(TlsMaterial::acceptor).transpose()?;
    let http = Arc::new(settings.http());
    let counts = Arc::new(ConnectionCounts::new(
        settings.max_connections,
        settings.max_connections_per_client,
    ));
    tracing::info!(
        max_connections = settings.max_connections,
        max_connections_per_client = settings.max_connections_per_client,
        header_timeout_ms = settings.header_timeout.as_millis() as u64,
        idle_timeout_ms = settings.idle_timeout.as_millis() as u64,
        "accepting connections"
    );
    let (stop, stopping) = watch::channel(());
    let mut connections = JoinSet::new();
    let mut last_accept_error: Option<Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        if last_accept_error.is_none_or(|at| at.elapsed() >= ACCEPT_ERROR_LOG_EVERY) {
                            tracing::warn!("accept error: {err}");
                            last_accept_error = Some(Instant::now());
                        }
                        // Out of files or memory: give the connections we hold time to end.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                // Over a cap the socket is dropped here, which closes it: no request is read.
                let Some(slot) = counts.admit(peer.ip()) else { continue };
                let connection = Connection {
                    router: router.clone(),
                    http: http.clone(),
                    settings: settings.clone(),
                    peer,
                    stopping: stopping.clone(),
                    _slot: slot,
                };
                connections.spawn(connection.run(tcp, acceptor.clone()));
            }
        }
    }
    drop(listener);
    let _ = stop.send(());
    let open = connections.len();
    if open > 0 {
        tracing::info!(
            "waiting up to {:?} for {open} connections",
            settings.shutdown_timeout
        );
    }
    let drained = tokio::time::timeout(settings.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} connections still busy after {:?}; closing them",
            connections.len(),
            settings.shutdown_timeout
        );
        connections.shutdown().await;
    }
    // The TLS material (and a generated certificate's private directory) goes last.
    drop(tls);
    Ok(())
}

impl TlsMaterial {
    /// A rustls acceptor offering h2 and http/1.1 by ALPN.
    fn acceptor(&self) -> anyhow::Result<TlsAcceptor> {
        use tokio_rustls::rustls::{
            ServerConfig,
            crypto::ring,
            pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
        };
        let certs = CertificateDer::pem_slice_iter(&self.cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .context("reading the TLS certificate chain")?;
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem).context("reading the TLS private key")?;
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("setting up TLS")?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .context("the TLS certificate and key do not fit together")?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// How many connections are open, in total and per client; a [`Slot`] is one of them.
struct ConnectionCounts {
    max_total: usize,
    max_per_client: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

impl ConnectionCounts {
    fn new(max_total: usize, max_per_client: usize) -> Self {
        ConnectionCounts {
            max_total,
            max_per_client,
            open: Mutex::new((0, HashMap::new())),
        }
    }

    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let client = client_key(ip);
        let mut open = self.open.lock().expect("the connection table is never poisoned");
        let (total, per_client) = &mut *open;
        let mine = per_client.get(&client).copied().unwrap_or(0);
        if *total >= self.max_total || mine >= self.max_per_client {
            tracing::debug!(%client, total = *total, mine, "connection over the cap: closed");
            return None;
        }
        *total += 1;
        per_client.insert(client, mine + 1);
        Some(Slot {
            counts: self.clone(),
            client,
        })
    }
}

struct Slot {
    counts: Arc<ConnectionCounts>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .counts
            .open
            .lock()
            .expect("the connection table is never poisoned");
        let (total, per_client) = &mut *open;
        *total -= 1;
        if let Some(mine) = per_client.get_mut(&self.client) {
            *mine -= 1;
            if *mine == 0 {
                per_client.remove(&self.client);
            }
        }
    }
}

/// One accepted connection and what it needs to be served.
struct Connection {
    router: Router,
    http: Arc<auto::Builder<TokioExecutor>>,
    settings: ConnectionSettings,
    peer: SocketAddr,
    stopping: watch::Receiver<()>,
    _slot: Slot,
}

impl Connection {
    async fn run(mut self, tcp: TcpStream, acceptor: Option<TlsAcceptor>) {
        // Small answers go out at once rather than waiting on Nagle's algorithm; over h2 a
        // held-back frame would hold back every stream behind it.
        let _ = tcp.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let accepted = Instant::now();
        match acceptor {
            None => self.drive(tcp, activity, accepted).await,
            Some(acceptor) => {
                // The handshake counts against the header timeout.
                let due = accepted + self.settings.header_timeout;
                let handshake = tokio::time::timeout_at(due, acceptor.accept(tcp));
                tokio::select! {
                    done = handshake => {
                        if let Ok(Ok(tls)) = done {
                            self.drive(tls, activity, accepted).await;
                        }
                    }
                    _ = self.stopping.changed() => {}
                }
            }
        }
    }

    /// Serves HTTP on `io` (accepted at `accepted`) until the peer leaves, the connection
    /// idles out, or the server stops.
    async fn drive<I>(&mut self, io: I, activity: Arc<Activity>, accepted: Instant)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = ConnectionService {
            router: self.router.clone(),
            peer: self.peer,
            activity: activity.clone(),
        };
        let conn = self.http.serve_connection(TokioIo::new(io), service);
        let mut conn = std::pin::pin!(conn);
        let mut closing_by: Option<Instant> = None;
        loop {
            let wake = closing_by.unwrap_or_else(|| activity.due(accepted, &self.settings));
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = self.stopping.changed() => {
                    // Server shutdown: finish what is in flight; `serve` closes whatever is
                    // still busy at its deadline.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                    return;
                }
                () = tokio::time::sleep_until(wake) => {
                    if closing_by.is_some() {
                        return;
                    }
                    if activity.is_idle() && Instant::now() >= activity.due(accepted, &self.settings) {
                        conn.as_mut().graceful_shutdown();
                        closing_by = Some(Instant::now() + CLOSE_GRACE);
                    }
                }
            }
        }
    }
}

/// What a connection is doing: requests in flight, and when it last had none.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    had_request: AtomicBool,
    last_done: Mutex<Option<Instant>>,
}

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.had_request.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// When this connection is due to be closed if nothing happens before then: the header
    /// timeout after it was accepted until a first request arrives, then the idle timeout
    /// after its last response. While busy, look again an idle timeout from now.
    fn due(&self, accepted: Instant, settings: &ConnectionSettings) -> Instant {
        if !self.is_idle() {
            return Instant::now() + settings.idle_timeout;
        }
        if !self.had_request.load(Ordering::Relaxed) {
            return accepted + settings.header_timeout;
        }
        let last = self.last_done.lock().expect("never poisoned").unwrap_or(accepted);
        last + settings.idle_timeout
    }
}

/// One request in flight; it ends when its response body has been sent (or dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last_done.lock().expect("never poisoned") = Some(Instant::now());
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The router as hyper sees it on one connection: with the peer's address for the rate
/// limiter, and each request counted until its body is sent.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin();
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let response = self.router.clone().oneshot(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| {
                Body::new(Tracked {
                    body,
                    _in_flight: in_flight,
                })
            }))
        })
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_in_total_and_per_client() {
        let counts = Arc::new(ConnectionCounts::new(3, 2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = counts.admit(a).unwrap();
        let _a2 = counts.admit(a).unwrap();
        assert!(counts.admit(a).is_none(), "a third from one client");
        let _b1 = counts.admit(b).unwrap();
        assert!(counts.admit(b).is_none(), "over the total");
        drop(a1);
        assert!(counts.admit(a).is_some(), "a closed connection frees its slot");
    }

    #[test]
    fn one_ipv6_slash_64_is_one_client() {
        let counts = Arc::new(ConnectionCounts::new(10, 1));
        let _first = counts.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(counts.admit("2001:db8:1:2:ffff::9".parse().unwrap()).is_none());
        assert!(counts.admit("2001:db8:1:3::1".parse().unwrap()).is_some());
    }
}
