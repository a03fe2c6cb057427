//! Middleware that every request passes: size limits, per-address rate limiting on /api,
//! hardening headers, and one structured log line per request.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::Arc,
    time::Instant,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{X_CACHE, error::ApiError};

pub const MAX_URI_BYTES: usize = 2048;
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What every request passes through first: size limits, then the handler, then the
/// hardening headers, with one log line at the end. One layer rather than three, because
/// each layer costs a boxed future on the hot path.
pub async fn frontline(request: Request, next: Next) -> Response {
    let log = tracing::enabled!(target: "fanout_proxy::access", tracing::Level::INFO);
    let started = Instant::now();
    let logged = log.then(|| (request.method().clone(), request.uri().path().to_owned()));
    let mut response = match oversized(&request) {
        Some(refusal) => refusal.into_response(),
        None => next.run(request).await,
    };
    harden(response.headers_mut());
    if let Some((method, path)) = logged {
        let cache = response
            .headers()
            .get(&X_CACHE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info!(
            target: "fanout_proxy::access",
            %method,
            path,
            status = response.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            cache,
        );
    }
    response
}

/// Refuses oversized request lines and headers before any handler runs.
fn oversized(request: &Request) -> Option<ApiError> {
    let uri = request.uri();
    if uri.path().len() + uri.query().map_or(0, str::len) > MAX_URI_BYTES {
        return Some(ApiError::UriTooLong);
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (header_bytes > MAX_HEADER_BYTES).then_some(ApiError::HeadersTooLarge)
}

pub struct ClientLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl ClientLimiter {
    /// `per_second` requests a second per address, with five seconds' worth as a burst so
    /// that one run of 100 comics (200 requests) goes through at once.
    pub fn new(per_second: u32) -> Option<Arc<Self>> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(per_second.saturating_mul(5)).unwrap_or(rate);
        Some(Arc::new(ClientLimiter {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }))
    }

    /// Forgets idle addresses so that the table stays small.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

pub async fn rate_limit(
    State(limiter): State<Arc<ClientLimiter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match limiter.limiter.check_key(&peer.ip()) {
        Ok(()) => next.run(request).await,
        Err(_) => ApiError::RateLimited { retry_after_secs: 1 }.into_response(),
    }
}

/// Headers every response carries; responses that set their own CSP keep it.
fn harden(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'; sandbox",
        ));
}
