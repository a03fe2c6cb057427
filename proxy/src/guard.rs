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
    http::{HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{X_CACHE, error::ApiError};

pub const MAX_URI_BYTES: usize = 2048;
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses oversized request lines and headers before any handler runs.
pub async fn limit_request_size(request: Request, next: Next) -> Response {
    if request.uri().to_string().len() > MAX_URI_BYTES {
        return ApiError::UriTooLong.into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
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
pub async fn harden(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("permissions-policy"),
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
    response
}

/// One line per request: method, path, status, latency and cache hit or miss.
pub async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
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
    response
}
