//! `fanout-proxy`: serves the Fanout page and a narrow same-origin `/api` that reaches
//! xkcd (or the built-in demo origin) and nothing else.

pub mod cache;
pub mod config;
pub mod error;
mod guard;
pub mod netsim;
pub mod origin;
mod routes;
mod spa;
pub mod tls;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, http::HeaderName, middleware, serve::ListenerExt};
use axum_server::{accept::NoDelayAcceptor, tls_rustls::RustlsAcceptor};
use tokio::net::TcpListener;

pub use config::{Config, OriginChoice};
use origin::{DemoOrigin, HttpOrigin, Origin};

/// Says whether a response came from the cache; the access log reads it too.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// How long `--origin auto` waits for xkcd at start-up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct AppState {
    store: cache::Store,
    upstream_timeout: Duration,
}

/// A proxy ready to serve: its router and what it decided at start-up.
pub struct Proxy {
    pub router: Router,
    pub origin_description: &'static str,
    pub page_built: bool,
}

impl Proxy {
    /// Chooses the origin (probing xkcd for `auto`) and builds the whole router.
    pub async fn build(config: &Config) -> Result<Self, String> {
        let origin = choose_origin(config).await?;
        let origin_description = origin.description();
        let state = Arc::new(AppState {
            store: cache::Store::new(origin, config.image_cache_mb * 1024 * 1024),
            upstream_timeout: config.upstream_timeout(),
        });
        let mut api = routes::router(state);
        if let Some(limiter) = guard::ClientLimiter::new(config.rate_limit) {
            let sweeper = limiter.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(60));
                loop {
                    every.tick().await;
                    sweeper.forget_idle();
                }
            });
            api = api.route_layer(middleware::from_fn_with_state(limiter, guard::rate_limit));
        }
        let page = spa::Spa::load(&config.dist);
        let page_built = page.is_built();
        let router = Router::new()
            .merge(api)
            .merge(spa::router(&config.dist, page))
            .layer(middleware::from_fn(guard::frontline));
        Ok(Proxy {
            router,
            origin_description,
            page_built,
        })
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // Small answers go out at once rather than waiting on Nagle's algorithm.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(
            listener,
            self.router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

impl Proxy {
    /// Serves HTTPS until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn serve_tls(
        self,
        listener: std::net::TcpListener,
        material: &tls::TlsMaterial,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(
            material.cert_pem.clone(),
            material.key_pem.clone(),
        )
        .await?;
        listener.set_nonblocking(true)?;
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopper.graceful_shutdown(Some(Duration::from_secs(30)));
        });
        // As over plain HTTP: no Nagle delay. Many h2 streams share this one connection,
        // so a held-back frame would hold back every comic behind it.
        let acceptor = RustlsAcceptor::new(config).acceptor(NoDelayAcceptor::new());
        axum_server::from_tcp(listener)?
            .acceptor(acceptor)
            .handle(handle)
            .serve(self.router.into_make_service_with_connect_info::<SocketAddr>())
            .await
    }
}

async fn choose_origin(config: &Config) -> Result<Origin, String> {
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
