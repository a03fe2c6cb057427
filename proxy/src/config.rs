use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, ValueEnum};

/// Serves the Fanout page and a narrow same-origin /api that reaches xkcd and nothing else.
#[derive(Debug, Clone, Parser)]
#[command(name = "fanout-proxy", version)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "FANOUT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The built page (Trunk's output folder).
    #[arg(long, env = "FANOUT_DIST", default_value = "dist")]
    pub dist: PathBuf,

    /// Which upstream to use; `auto` tries xkcd once at start-up and falls back to the demo.
    #[arg(long, env = "FANOUT_ORIGIN", value_enum, default_value_t = OriginChoice::Auto)]
    pub origin: OriginChoice,

    /// Base URL of the xkcd JSON API.
    #[arg(long, env = "FANOUT_XKCD_URL", default_value = "https://xkcd.com")]
    pub xkcd_url: String,

    /// Base URL of xkcd's image host; images are fetched from `{imgs-url}/comics/{file}`.
    #[arg(long, env = "FANOUT_IMGS_URL", default_value = "https://imgs.xkcd.com")]
    pub imgs_url: String,

    /// How long one upstream request may take before the client gets a 504.
    #[arg(long, env = "FANOUT_UPSTREAM_TIMEOUT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=120_000))]
    pub upstream_timeout_ms: u64,

    /// At most this many requests to xkcd at once, out of politeness.
    #[arg(long, env = "FANOUT_MAX_UPSTREAM_CONCURRENCY", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_upstream_concurrency: u32,

    /// Requests per second allowed to one client address on /api (bursts of five seconds'
    /// worth are fine); 0 turns the limit off.
    #[arg(long, env = "FANOUT_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit: u32,

    /// Requests per second allowed to one client address on the built page's files (bursts
    /// of five seconds' worth are fine), apart from the /api limit; 0 turns it off.
    #[arg(long, env = "FANOUT_STATIC_RATE_LIMIT", default_value_t = 200)]
    pub static_rate_limit: u32,

    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with this PEM certificate chain.
    #[arg(
        long,
        env = "FANOUT_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key for --tls-cert.
    #[arg(long, env = "FANOUT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve HTTPS with a certificate for localhost and 127.0.0.1 generated at start-up.
    #[arg(long, env = "FANOUT_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,

    /// How long a "not found" from upstream (a comic or an image) is remembered, so that
    /// asking again for a missing comic costs upstream nothing.
    #[arg(long, env = "FANOUT_MISSING_TTL_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(100..=86_400_000))]
    pub missing_ttl_ms: u64,

    /// Memory for cached images, in MiB.
    #[arg(long, env = "FANOUT_IMAGE_CACHE_MB", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub image_cache_mb: u64,

    /// A connection must deliver a complete request head within this long of being
    /// accepted (the TLS handshake, if any, included), or it is closed. Over HTTP/1.1 this also bounds the wait for the
    /// next request on a kept-alive connection.
    #[arg(long, env = "FANOUT_HEADER_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub header_timeout_ms: u64,

    /// A connection with no request in flight for this long is closed (HTTP/2 gets a GOAWAY).
    #[arg(long, env = "FANOUT_IDLE_TIMEOUT_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub idle_timeout_ms: u64,

    /// Open connections at most, in total; further ones are closed at once. The open-file
    /// limit lowers it further (less a reserve for upstream sockets and files).
    #[arg(long, env = "FANOUT_MAX_CONNECTIONS", default_value_t = 16_384,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Open connections at most from one client (an IPv4 address or an IPv6 /64); further
    /// ones are closed at once. A browser needs 6 over HTTP/1.1 and 1 over HTTP/2.
    #[arg(long, env = "FANOUT_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_client: u32,

    /// A response that cannot send a byte for this long (its client reads nothing) is ended:
    /// over HTTP/1.1 its connection is closed; over HTTP/2 its connection gets a GOAWAY and
    /// is closed once all it still has in flight is stalled so (as nginx's send_timeout).
    #[arg(long, env = "FANOUT_SEND_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub send_timeout_ms: u64,

    /// Requests in flight at most from one client (an IPv4 address or an IPv6 /64), over
    /// all its connections and streams; further ones are refused (HTTP/2: REFUSED_STREAM,
    /// HTTP/1.1: 503 with Retry-After). A 100-comic run needs up to 200.
    #[arg(long, env = "FANOUT_MAX_IN_FLIGHT_PER_CLIENT", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight_per_client: u32,

    /// Read buffer per HTTP/1.1 connection, in KiB: the most a request head may take.
    #[arg(long, env = "FANOUT_MAX_BUFFER_KB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(32..=1024))]
    pub max_buffer_kb: u32,

    /// Concurrent streams per HTTP/2 connection; a 100-comic run needs up to 200.
    #[arg(long, env = "FANOUT_HTTP2_MAX_STREAMS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub http2_max_streams: u32,

    /// On SIGINT/SIGTERM, requests in flight get this long to finish before their
    /// connections are closed.
    #[arg(long, env = "FANOUT_SHUTDOWN_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub shutdown_timeout_ms: u64,

    /// A host name (or address) this proxy answers to besides the listen address,
    /// localhost, 127.0.0.1 and [::1]; repeatable. Other Host headers get 421. With a
    /// wildcard --listen (0.0.0.0 or [::]) and no name given, any Host is accepted.
    #[arg(long = "allowed-host", env = "FANOUT_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Shard host names for domain sharding, each reaching this proxy (wildcard DNS, say):
    /// a name, or a pattern with one range such as `img{0..15}.example.com`; repeatable, at
    /// most 16 names in all. They are answered like --allowed-host names, and the page spreads
    /// its requests over them. With none given and a loopback --listen, `s0.localhost` …
    /// `s15.localhost` (browsers resolve `*.localhost` to loopback).
    #[arg(long = "shard-host", env = "FANOUT_SHARD_HOSTS", value_delimiter = ',')]
    pub shard_hosts: Vec<String>,

    /// Simulated waits (demo origin delays and timeouts) in flight at most, over all
    /// clients, of which one client may hold an eighth; beyond it requests get 503 with
    /// Retry-After.
    #[arg(long, env = "FANOUT_MAX_SIMULATED_WAITS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_simulated_waits: u32,

    /// Check the flags and exit without serving (`cargo xtask serve` uses it before it builds
    /// the page).
    #[arg(long)]
    pub check: bool,
}

/// `--origin`: xkcd, the built-in demo, or xkcd when it answers at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OriginChoice {
    Auto,
    Xkcd,
    Demo,
}

impl Config {
    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_timeout_ms)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout_ms)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    /// Defaults with everything pointed at nothing, for tests that set what they need.
    pub fn for_tests() -> Self {
        Config::parse_from(["fanout-proxy", "--listen", "127.0.0.1:0", "--origin", "demo"])
    }
}
