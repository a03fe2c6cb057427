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

    /// Memory for cached images, in MiB.
    #[arg(long, env = "FANOUT_IMAGE_CACHE_MB", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub image_cache_mb: u64,

    /// Check the flags and exit without serving (`cargo xtask serve` uses it before it builds
    /// the page).
    #[arg(long)]
    pub check: bool,
}

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

    /// Defaults with everything pointed at nothing, for tests that set what they need.
    pub fn for_tests() -> Self {
        Config::parse_from(["fanout-proxy", "--listen", "127.0.0.1:0", "--origin", "demo"])
    }
}
