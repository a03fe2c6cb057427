//! The connection level: accepting sockets, TLS, HTTP/1.1 and HTTP/2 through hyper-util
//! with a timer, and the rules that keep one client from holding the proxy with sockets
//! alone. A connection must send a complete request head within the header timeout of
//! being accepted, is closed when it has had nothing in flight for the idle timeout, and
//! counts against a cap in total and one per client; over a cap it is closed at once.

use std::{
    cell::RefCell,
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use anyhow::Context as _;
use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response, Version},
    response::IntoResponse,
};
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
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

use crate::{Config, error::ApiError, guard::client_key, tls::TlsMaterial};

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
/// Header fields hyper's HTTP/1.1 parser takes: above the router's limit.
const H1_MAX_HEADERS: usize = 2 * crate::guard::MAX_HEADERS;
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
    pub send_timeout: Duration,
    pub max_in_flight_per_client: usize,
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
            send_timeout: config.send_timeout(),
            max_in_flight_per_client: config.max_in_flight_per_client as usize,
            max_buffer_bytes: config.max_buffer_kb as usize * 1024,
            http2_max_streams: config.http2_max_streams,
            max_connections,
            max_connections_per_client: (config.max_connections_per_client as usize).min(max_connections),
            shutdown_timeout: config.shutdown_timeout(),
        }
    }

    fn http(&self) -> auto::Builder<StreamExecutor> {
        let mut builder = auto::Builder::new(StreamExecutor);
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .max_buf_size(self.max_buffer_bytes)
            // hyper answers more header fields than it takes with a bare 431; taking more
            // than the router allows lets the router answer in JSON. (Past hyper's default
            // of 100 it parses into a heap buffer rather than the stack.)
            .max_headers(H1_MAX_HEADERS)
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
        send_timeout_ms = settings.send_timeout.as_millis() as u64,
        max_in_flight_per_client = settings.max_in_flight_per_client,
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
                    slot,
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
/// Each client's entry also holds its [`ClientShare`] of requests in flight, which its
/// connections pick up once, when they are admitted.
struct ConnectionCounts {
    max_total: usize,
    max_per_client: usize,
    open: Mutex<OpenConnections>,
}

#[derive(Default)]
struct OpenConnections {
    total: usize,
    per_client: HashMap<IpAddr, ClientConnections>,
}

struct ClientConnections {
    open: usize,
    share: Arc<ClientShare>,
}

impl ConnectionCounts {
    fn new(max_total: usize, max_per_client: usize) -> Self {
        ConnectionCounts {
            max_total,
            max_per_client,
            open: Mutex::new(OpenConnections::default()),
        }
    }

    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let client = client_key(ip);
        let mut open = self.open.lock().expect("the connection table is never poisoned");
        let OpenConnections { total, per_client } = &mut *open;
        let mine = per_client.get(&client).map_or(0, |mine| mine.open);
        if *total >= self.max_total || mine >= self.max_per_client {
            tracing::debug!(%client, total = *total, mine, "connection over the cap: closed");
            return None;
        }
        *total += 1;
        let entry = per_client.entry(client).or_insert_with(|| ClientConnections {
            open: 0,
            share: Arc::new(ClientShare::default()),
        });
        entry.open += 1;
        Some(Slot {
            counts: self.clone(),
            client,
            share: entry.share.clone(),
        })
    }
}

struct Slot {
    counts: Arc<ConnectionCounts>,
    client: IpAddr,
    share: Arc<ClientShare>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .counts
            .open
            .lock()
            .expect("the connection table is never poisoned");
        let OpenConnections { total, per_client } = &mut *open;
        *total -= 1;
        if let Some(mine) = per_client.get_mut(&self.client) {
            mine.open -= 1;
            if mine.open == 0 {
                per_client.remove(&self.client);
            }
        }
    }
}

/// One client's requests in flight, over all its connections and streams. Its connections
/// share it and take a place with one atomic operation: no lock and no lookup per request.
/// (A table of clients behind a mutex, taken twice per request, cost about N % of cached
/// JSON throughput under wrk.)
#[derive(Default)]
struct ClientShare {
    in_flight: AtomicUsize,
}

impl ClientShare {
    /// One more request in flight, unless `max` already are.
    fn take(&self, max: usize) -> bool {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    fn give_back(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One accepted connection and what it needs to be served.
struct Connection {
    router: Router,
    http: Arc<auto::Builder<StreamExecutor>>,
    settings: ConnectionSettings,
    peer: SocketAddr,
    stopping: watch::Receiver<()>,
    slot: Slot,
}

impl Connection {
    async fn run(mut self, tcp: TcpStream, acceptor: Option<TlsAcceptor>) {
        // Small answers go out at once rather than waiting on Nagle's algorithm; over h2 a
        // held-back frame would hold back every stream behind it.
        let _ = tcp.set_nodelay(true);
        let accepted = Instant::now();
        let activity = Arc::new(Activity::new(
            accepted,
            self.slot.client,
            self.slot.share.clone(),
            self.settings.max_in_flight_per_client,
        ));
        match acceptor {
            None => self.drive(tcp, activity).await,
            Some(acceptor) => {
                // The handshake counts against the header timeout.
                let due = accepted + self.settings.header_timeout;
                let handshake = tokio::time::timeout_at(due, acceptor.accept(tcp));
                tokio::select! {
                    done = handshake => {
                        if let Ok(Ok(tls)) = done {
                            self.drive(tls, activity).await;
                        }
                    }
                    _ = self.stopping.changed() => {}
                }
            }
        }
    }

    /// Serves HTTP on `io` until the peer leaves, the connection idles out, its responses
    /// stall, or the server stops.
    ///
    /// A stalled HTTP/2 stream is reset alone, through its task ([`StreamExecutor`]). A
    /// stalled HTTP/1.1 response can only end with its connection: the first stall past
    /// the send timeout asks the connection to close (no keep-alive), and once everything
    /// left in flight is stalled, it is closed.
    async fn drive<I>(&mut self, io: I, activity: Arc<Activity>)
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
        let settings = &self.settings;
        // Set once the connection has been asked to close: by when it must be gone.
        let mut closing_by: Option<Instant> = None;
        let mut draining = false;
        loop {
            let now = Instant::now();
            let survey = activity.survey(now, settings.send_timeout);
            if survey.stalled > 0 && !draining {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            if survey.stalled > 0 && survey.stalled == survey.in_flight {
                tracing::debug!(
                    client = %activity.client,
                    stalled = survey.stalled,
                    "every response in flight is stalled: closing the connection"
                );
                return;
            }
            let idle_due = activity.idle_due(&survey, settings);
            if closing_by.is_none() && idle_due.is_some_and(|due| now >= due) {
                conn.as_mut().graceful_shutdown();
                draining = true;
                closing_by = Some(now + CLOSE_GRACE);
            }
            if closing_by.is_some_and(|by| now >= by) {
                return;
            }
            // Look again when something is due, and at least every half send timeout: a
            // request may arrive and start to wait on its client at any moment. (Waking
            // this loop on each request instead cost a task wake-up and a timer reset per
            // request on kept-alive HTTP/1.1.) So a stall is found within 1.5 send timeouts.
            let recheck = now + settings.send_timeout.min(settings.idle_timeout) / 2;
            let wake = [closing_by, idle_due, survey.next_stall]
                .into_iter()
                .flatten()
                .fold(recheck, Instant::min);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = self.stopping.changed() => {
                    // Server shutdown: finish what is in flight; `serve` closes whatever is
                    // still busy at its deadline.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                    return;
                }
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

/// Runs hyper's HTTP/2 stream tasks on tokio, each of which can be ended on its own. A
/// stalled response cannot be reset through its body: hyper 1.12 holds its next chunk while
/// it waits for window (`PipeToSendStream`) and polls neither the body nor anything of ours.
/// But dropping the stream's task drops the last handle to the h2 stream, and h2 then resets
/// it (RST_STREAM with CANCEL), leaving the connection and its other streams as they are.
#[derive(Clone, Copy)]
struct StreamExecutor;

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, task: F) {
        tokio::spawn(EndableStream {
            task: Box::pin(task),
            handle: Arc::new(StreamHandle::default()),
        });
    }
}

/// Ends one HTTP/2 stream's task from outside it.
#[derive(Default)]
struct StreamHandle {
    ended: AtomicBool,
    waker: futures::task::AtomicWaker,
}

impl StreamHandle {
    fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.waker.wake();
    }
}

thread_local! {
    /// The stream task being polled on this thread: the response it produces finds it here.
    static POLLING_STREAM: RefCell<Option<Arc<StreamHandle>>> = const { RefCell::new(None) };
}

struct EndableStream<F> {
    task: Pin<Box<F>>,
    handle: Arc<StreamHandle>,
}

impl<F: Future> Future for EndableStream<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.handle.waker.register(cx.waker());
        if this.handle.ended.load(Ordering::Acquire) {
            // tokio drops the finished task, and with it the stream's last handle.
            return Poll::Ready(());
        }
        // Restored on drop, so a panicking handler (caught by tokio) cannot leave this
        // stream's handle behind for whatever the thread polls next.
        let _polling = PollingStream::enter(this.handle.clone());
        this.task.as_mut().poll(cx).map(drop)
    }
}

/// Marks the stream a thread is polling, for as long as it lives.
struct PollingStream(Option<Arc<StreamHandle>>);

impl PollingStream {
    fn enter(handle: Arc<StreamHandle>) -> Self {
        PollingStream(POLLING_STREAM.replace(Some(handle)))
    }
}

impl Drop for PollingStream {
    fn drop(&mut self) {
        POLLING_STREAM.set(self.0.take());
    }
}

/// What a connection is doing: requests in flight and how far each has got, and when it
/// last had none.
struct Activity {
    /// When the connection was accepted; progress times are milliseconds after it.
    epoch: Instant,
    client: IpAddr,
    /// The client's requests in flight over all its connections, and how many it may have.
    share: Arc<ClientShare>,
    max_in_flight: usize,
    had_request: AtomicBool,
    /// When a response last ended, in milliseconds after the epoch ([`NEVER`]: none yet).
    last_done_ms: AtomicU64,
    responses: Mutex<Responses>,
}

/// The responses in flight on one connection. A response's [`Progress`] is kept when it
/// ends and given to the next request, so that a request allocates nothing here.
#[derive(Default)]
struct Responses {
    progress: Vec<Arc<Progress>>,
    /// The HTTP/2 stream each response goes out on, which a stall ends alone.
    streams: Vec<Option<Arc<StreamHandle>>>,
    /// Indexes into `progress` that no response holds.
    free: Vec<usize>,
}

/// How far one response has got. `since_ms` is when it last handed hyper a frame (or its
/// head), in milliseconds after the connection's epoch, or [`WORKING`] while the proxy
/// itself is still producing it (a handler or an upstream answer pending): only time spent
/// waiting on the client to take bytes counts as a stall. [`UNUSED`]: no response holds it.
struct Progress {
    since_ms: AtomicU64,
    /// The stall has been logged (once per response).
    reported: AtomicBool,
}

const WORKING: u64 = u64::MAX;
const UNUSED: u64 = u64::MAX - 1;
const NEVER: u64 = u64::MAX;

/// What a look over a connection's responses found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Survey {
    in_flight: usize,
    /// The proxy is still producing at least one response: the connection is busy.
    working: bool,
    /// Responses that have sent nothing for the send timeout, and have no stream of their
    /// own to end (HTTP/1.1): only their connection can end them.
    stalled: usize,
    /// Stalled HTTP/2 streams, ended one by one (their tasks dropped: RST_STREAM).
    reset: usize,
    /// The latest progress of any response in flight.
    latest_progress: Option<Instant>,
    /// When the next response still within its send timeout runs out of it.
    next_stall: Option<Instant>,
}

impl Activity {
    fn new(epoch: Instant, client: IpAddr, share: Arc<ClientShare>, max_in_flight: usize) -> Self {
        Activity {
            epoch,
            client,
            share,
            max_in_flight,
            had_request: AtomicBool::new(false),
            last_done_ms: AtomicU64::new(NEVER),
            responses: Mutex::new(Responses::default()),
        }
    }

    /// A request begins, if its client is within its in-flight budget.
    fn begin(self: &Arc<Self>) -> Option<InFlight> {
        if !self.share.take(self.max_in_flight) {
            return None;
        }
        self.had_request.store(true, Ordering::Relaxed);
        let mut responses = self.responses.lock().expect("never poisoned");
        let index = match responses.free.pop() {
            Some(index) => index,
            None => {
                responses.progress.push(Arc::new(Progress {
                    since_ms: AtomicU64::new(UNUSED),
                    reported: AtomicBool::new(false),
                }));
                responses.streams.push(None);
                responses.progress.len() - 1
            }
        };
        let progress = responses.progress[index].clone();
        progress.since_ms.store(WORKING, Ordering::Release);
        progress.reported.store(false, Ordering::Relaxed);
        drop(responses);
        Some(InFlight {
            activity: self.clone(),
            index,
            progress,
        })
    }

    /// Milliseconds from the epoch to `at`. (In u64: `Duration::as_millis` divides a u128,
    /// and this runs three times a request.)
    fn millis(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.epoch);
        since.as_secs() * 1000 + u64::from(since.subsec_millis())
    }

    /// Looks over the responses in flight at `now`; logs (once each) those that have sent
    /// nothing for `send_timeout`.
    fn survey(&self, now: Instant, send_timeout: Duration) -> Survey {
        let mut survey = Survey::default();
        let limit = send_timeout.as_millis() as u64;
        let now_ms = self.millis(now);
        let responses = self.responses.lock().expect("never poisoned");
        survey.in_flight = responses.progress.len() - responses.free.len();
        for (progress, stream) in responses.progress.iter().zip(&responses.streams) {
            let since = progress.since_ms.load(Ordering::Acquire);
            if since == UNUSED {
                continue;
            }
            if since == WORKING {
                survey.working = true;
                continue;
            }
            let at = self.epoch + Duration::from_millis(since);
            survey.latest_progress = survey.latest_progress.max(Some(at));
            if now_ms.saturating_sub(since) >= limit {
                match stream {
                    Some(stream) => {
                        stream.end();
                        survey.reset += 1;
                    }
                    None => survey.stalled += 1,
                }
                if !progress.reported.swap(true, Ordering::Relaxed) {
                    tracing::debug!(
                        client = %self.client,
                        stalled_ms = now_ms - since,
                        "a response has sent nothing for the send timeout: ending it"
                    );
                }
            } else {
                let due = at + send_timeout;
                survey.next_stall = Some(survey.next_stall.map_or(due, |next: Instant| next.min(due)));
            }
        }
        survey
    }

    /// When this connection is due to be closed as idle if nothing happens before then: the
    /// header timeout after it was accepted until a first request arrives, then the idle
    /// timeout after its last response ended or last sent anything. `None` while the proxy
    /// is still producing a response. Responses that only wait on the client to read do
    /// not keep a connection from being idle.
    fn idle_due(&self, survey: &Survey, settings: &ConnectionSettings) -> Option<Instant> {
        if survey.working {
            return None;
        }
        if !self.had_request.load(Ordering::Relaxed) {
            return Some(self.epoch + settings.header_timeout);
        }
        let last_done = match self.last_done_ms.load(Ordering::Acquire) {
            NEVER => self.epoch,
            ms => self.epoch + Duration::from_millis(ms),
        };
        Some(last_done.max(survey.latest_progress.unwrap_or(last_done)) + settings.idle_timeout)
    }
}

/// One request in flight; it ends when its response body has been sent (or dropped).
struct InFlight {
    activity: Arc<Activity>,
    /// Where its progress is in the connection's [`Responses`].
    index: usize,
    progress: Arc<Progress>,
}

impl InFlight {
    /// Notes the HTTP/2 stream this response goes out on, if it is polled in one's task.
    fn find_stream(&self) {
        if let Some(stream) = POLLING_STREAM.with_borrow(Clone::clone) {
            self.activity.responses.lock().expect("never poisoned").streams[self.index] = Some(stream);
        }
    }

    /// The response handed hyper something (its head or a frame) just now.
    fn progressed(&self) {
        let now = self.activity.millis(Instant::now());
        self.progress.since_ms.store(now, Ordering::Release);
    }

    /// The proxy is producing more of the response (its body is waiting on us).
    fn working(&self) {
        self.progress.since_ms.store(WORKING, Ordering::Release);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.activity;
        activity.share.give_back();
        activity
            .last_done_ms
            .store(activity.millis(Instant::now()), Ordering::Release);
        let mut responses = activity.responses.lock().expect("never poisoned");
        self.progress.since_ms.store(UNUSED, Ordering::Release);
        responses.streams[self.index] = None;
        responses.free.push(self.index);
    }
}

/// The router as hyper sees it on one connection: with the peer's address for the rate
/// limiter, and each request counted, against its client's budget too, until its body is
/// sent.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

/// How long a client over its budget is asked to wait (HTTP/1.1's Retry-After).
const OVER_BUDGET_RETRY_AFTER_SECS: u64 = 1;

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<Body>;
    type Error = h2::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, h2::Error>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let Some(in_flight) = self.activity.begin() else {
            tracing::debug!(client = %self.activity.client, "request over the client's in-flight budget: refused");
            if request.version() == Version::HTTP_2 {
                // hyper resets the stream with the reason it finds in the service's error.
                return Box::pin(std::future::ready(Err(h2::Error::from(
                    h2::Reason::REFUSED_STREAM,
                ))));
            }
            let refusal = ApiError::Overloaded {
                retry_after_secs: OVER_BUDGET_RETRY_AFTER_SECS,
            };
            return Box::pin(std::future::ready(Ok(refusal.into_response())));
        };
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let response = self.router.clone().oneshot(request);
        Box::pin(async move {
            in_flight.find_stream();
            let Ok(response) = response.await;
            // From here on the response waits on hyper, and so on the client.
            in_flight.progressed();
            Ok(response.map(|body| {
                Body::new(Tracked {
                    body,
                    rest: None,
                    in_flight,
                })
            }))
        })
    }
}

/// The most a response hands hyper at once. hyper asks for the next frame only once it
/// could send the last, so smaller frames show send progress more finely: a slow reader
/// taking a 300 KB file makes progress every 16 KiB, not once.
const FRAME_BYTES: usize = 16 * 1024;

/// A response body that keeps its request counted as in flight until it is done, and
/// records when it last made progress.
struct Tracked {
    body: Body,
    /// What is left of a data frame larger than [`FRAME_BYTES`].
    rest: Option<Bytes>,
    in_flight: InFlight,
}

impl Tracked {
    fn slice(&mut self, mut data: Bytes) -> Frame<Bytes> {
        if data.len() > FRAME_BYTES {
            self.rest = Some(data.split_off(FRAME_BYTES));
        }
        Frame::data(data)
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Some(rest) = this.rest.take() {
            this.in_flight.progressed();
            return Poll::Ready(Some(Ok(this.slice(rest))));
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Pending => {
                this.in_flight.working();
                Poll::Pending
            }
            Poll::Ready(frame) => {
                this.in_flight.progressed();
                Poll::Ready(frame.map(|frame| {
                    frame.map(|frame| match frame.into_data() {
                        Ok(data) => this.slice(data),
                        Err(frame) => frame,
                    })
                }))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let hint = self.body.size_hint();
        let Some(rest) = &self.rest else { return hint };
        let more = rest.len() as u64;
        let mut with_rest = SizeHint::new();
        with_rest.set_lower(hint.lower() + more);
        if let Some(upper) = hint.upper() {
            with_rest.set_upper(upper + more);
        }
        with_rest
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

    fn activity(slot: &Slot, max_in_flight: usize) -> Arc<Activity> {
        Arc::new(Activity::new(
            Instant::now(),
            slot.client,
            slot.share.clone(),
            max_in_flight,
        ))
    }

    #[test]
    fn a_client_has_one_in_flight_budget_over_all_its_connections() {
        let counts = Arc::new(ConnectionCounts::new(10, 10));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let (a1, a2) = (counts.admit(a).unwrap(), counts.admit(a).unwrap());
        let b1 = counts.admit("10.0.0.2".parse().unwrap()).unwrap();
        let (on_a1, on_a2, on_b1) = (activity(&a1, 2), activity(&a2, 2), activity(&b1, 2));
        let first = on_a1.begin().expect("within the budget");
        let _second = on_a2.begin().expect("within the budget");
        assert!(on_a1.begin().is_none(), "a third, on either connection");
        assert!(on_a2.begin().is_none(), "a third, on either connection");
        assert!(on_b1.begin().is_some(), "another client has its own budget");
        drop(first);
        assert!(on_a2.begin().is_some(), "an ended request frees its place");
    }

    #[test]
    fn a_connection_reuses_the_progress_of_ended_responses() {
        let counts = Arc::new(ConnectionCounts::new(10, 10));
        let slot = counts.admit("10.0.0.1".parse().unwrap()).unwrap();
        let on = activity(&slot, 10);
        let settle = Duration::from_secs(30);
        for _ in 0..3 {
            let in_flight = on.begin().unwrap();
            in_flight.progressed();
            assert_eq!(on.survey(Instant::now(), settle).in_flight, 1);
        }
        let (one, two) = (on.begin().unwrap(), on.begin().unwrap());
        let survey = on.survey(Instant::now(), settle);
        assert_eq!((survey.in_flight, survey.working), (2, true));
        drop((one, two));
        assert_eq!(on.survey(Instant::now(), settle), Survey::default());
        assert_eq!(on.responses.lock().unwrap().progress.len(), 2);
        let waiting = on.begin().unwrap();
        waiting.progressed();
        let survey = on.survey(Instant::now() + settle, settle);
        assert_eq!(
            (survey.in_flight, survey.stalled),
            (1, 1),
            "sent nothing for the send timeout"
        );
    }
}
