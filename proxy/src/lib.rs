//! `fanout-proxy`: serves the Fanout page and a narrow same-origin `/api` that reaches
//! xkcd (or the built-in demo origin) and nothing else.

mod assets;
mod batch;
pub mod cache;
pub mod config;
pub mod demo_network;
pub mod error;
mod guard;
pub mod origin;
mod routes;
mod server;
mod shards;
mod spa;
pub mod tls;
mod upstream_share;
mod waits;

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{Router, http::HeaderName, middleware};
use tokio::net::TcpListener;

pub use config::{Config, OriginChoice};
use origin::{DemoOrigin, HttpOrigin, Origin};
pub use server::{ConnectionSettings, open_file_limit, raise_open_file_limit};

/// Says whether a response came from the cache; the access log reads it too.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// How long `--origin auto` waits for xkcd at start-up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What every `/api` handler shares: the origin and its caches, and the simulated-wait pool.
pub struct ApiState {
    store: cache::Store,
    upstream_timeout: Duration,
    /// Places for simulated waits in flight (`--max-simulated-waits`, a share per client).
    simulated_waits: Arc<waits::WaitPool>,
    /// The shard host names, as `/api/health` tells the page.
    shard_hosts: Vec<String>,
}

/// A proxy ready to serve: its router and what it decided at start-up.
pub struct Proxy {
    pub router: Router,
    pub origin_description: &'static str,
    pub page_built: bool,
    /// Timeouts and caps for the sockets `serve` accepts.
    pub connections: ConnectionSettings,
}

impl Proxy {
    /// Chooses the origin (probing xkcd for `auto`) and builds the whole router.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let shard_hosts = configured_shard_hosts(config).map_err(anyhow::Error::msg)?;
        let origin = choose_origin(config).await.context("choosing the origin")?;
        let origin_description = origin.description();
        let state = Arc::new(ApiState {
            store: cache::Store::new(
                origin,
                config.image_cache_mb * 1024 * 1024,
                Duration::from_millis(config.missing_ttl_ms),
            ),
            upstream_timeout: config.upstream_timeout(),
            simulated_waits: waits::WaitPool::new(config.max_simulated_waits),
            shard_hosts: shard_hosts.clone(),
        });
        let mut api = routes::router(state);
        if let Some(limiter) = guard::ClientLimiter::new(config.rate_limit) {
            spawn_sweeper(limiter.clone());
            api = api.route_layer(middleware::from_fn_with_state(limiter, guard::rate_limit));
        }
        let assets = assets::Assets::load(&config.dist).context("loading the built page")?;
        tracing::info!(
            files = assets.len(),
            bytes = assets.total_bytes(),
            "the built page is in memory"
        );
        let tls = config.tls_cert.is_some() || config.tls_self_signed;
        let page = spa::Spa::load(&config.dist, &shard_hosts, tls);
        let page_built = page.is_built();
        let mut static_routes = spa::router(assets, page);
        if let Some(limiter) = guard::ClientLimiter::new(config.static_rate_limit) {
            spawn_sweeper(limiter.clone());
            static_routes = static_routes.layer(middleware::from_fn_with_state(limiter, guard::rate_limit));
        }
        let hosts = guard::HostCheck::with_shards(config.listen.ip(), &config.allowed_hosts, &shard_hosts);
        if hosts.is_off() {
            tracing::warn!(
                "listening on {} with no --allowed-host: any Host header is accepted, so a page \
                 whose DNS name points here can drive this proxy (DNS rebinding); name the hosts \
                 you serve with --allowed-host",
                config.listen.ip()
            );
        }
        let site = guard::Site {
            hosts,
            cross_origin: shards::CrossOrigin::new(
                &guard::HostCheck::page_hosts(config.listen.ip(), &config.allowed_hosts),
                &shard_hosts,
            ),
        };
        let router = Router::new()
            .merge(api)
            .merge(static_routes)
            .layer(middleware::from_fn_with_state(Arc::new(site), guard::frontline));
        Ok(Proxy {
            router,
            origin_description,
            page_built,
            connections: ConnectionSettings::from_config(config),
        })
    }

    /// Serves on `listener` (HTTPS with `tls`, HTTP/1.1 and HTTP/2 either way) until
    /// `shutdown` resolves, then gives requests in flight the shutdown timeout to finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        tls: Option<tls::TlsMaterial>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        server::serve(self.router, self.connections, listener, tls, shutdown).await
    }
}

/// Whether `--shard-host` names valid hosts, 16 at most (`--check` asks before serving).
pub fn check_shard_hosts(config: &Config) -> Result<(), String> {
    configured_shard_hosts(config).map(drop)
}

fn configured_shard_hosts(config: &Config) -> Result<Vec<String>, String> {
    shards::page_named_for(config.listen.ip(), &config.allowed_hosts, &config.shard_hosts)?;
    shards::shard_hosts(config.listen.ip(), &config.shard_hosts)
}

/// Forgets a limiter's idle clients now and then, so that its table stays small.
fn spawn_sweeper(limiter: Arc<guard::ClientLimiter>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            limiter.forget_idle();
        }
    });
}

async fn choose_origin(config: &Config) -> anyhow::Result<Origin> {
    let xkcd = || {
        HttpOrigin::new(
            &config.xkcd_url,
            &config.imgs_url,
            config.upstream_timeout(),
            config.max_upstream_concurrency as usize,
        )
    };
    Ok(match config.origin {
        OriginChoice::Demo => Origin::Demo(DemoOrigin),
        OriginChoice::Xkcd => Origin::Xkcd(xkcd()?),
        OriginChoice::Auto => {
            let http = xkcd()?;
            if http.probe(PROBE_TIMEOUT.min(config.upstream_timeout())).await {
                Origin::Xkcd(http)
            } else {
                tracing::warn!("{} does not answer; using the demo origin", config.xkcd_url);
                Origin::Demo(DemoOrigin)
            }
        }
    })
}
