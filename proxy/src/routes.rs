//! The /api router and its handlers.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    Json, Router,
    extract::{ConnectInfo, FromRequestParts, Path, RawQuery, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use bytes::Bytes;
use fanout_api::{ComicId, Health, NetSim, OriginKind, validate_image_name};

use crate::{
    AppState,
    cache::{CacheStatus, Cached},
    error::ApiError,
    netsim::{self, Fault},
    origin::{DEMO_LATEST, Fetched, interpret_comic, interpret_image},
};

/// Comics never change once published, but an origin switch must not stick for long.
const COMIC_CACHE_CONTROL: &str = "public, max-age=3600";
const LATEST_CACHE_CONTROL: &str = "public, max-age=300";
const IMAGE_CACHE_CONTROL: &str = "public, max-age=86400";
/// A shed request is told to come back after this long: most simulated waits are shorter.
const SHED_RETRY_AFTER_SECS: u64 = 1;
/// Images are served as inert documents: never sniffed, never scripted.
const IMAGE_CSP: &str = "default-src 'none'; img-src 'self'; sandbox";

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/comics/{id}", get(comic))
        .route("/api/img/{file}", get(image))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Unknown /api paths are API errors, never the page.
        .route("/api", any(no_such_route))
        .route("/api/", any(no_such_route))
        .route("/api/{*rest}", any(no_such_route))
        .with_state(state)
}

/// axum's `Path`, refusing in the JSON error contract (axum's own rejection is plain text),
/// for example a segment whose escapes do not decode to UTF-8.
struct ApiPath<T>(T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "the path is not valid: {}",
                rejection.body_text()
            ))),
        }
    }
}

async fn no_such_route() -> ApiError {
    ApiError::NotFound("no such API route".into())
}

async fn health(State(app): State<Arc<AppState>>) -> Json<Health> {
    let origin = app.store.origin();
    Json(Health {
        status: "ok".into(),
        origin: origin.kind(),
        description: origin.description().into(),
        latest: (origin.kind() == OriginKind::Demo).then_some(DEMO_LATEST),
    })
}

async fn comic(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiPath(segment): ApiPath<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let id = ComicId::parse(&segment).map_err(|err| ApiError::BadRequest(err.0))?;
    if let Some(fault) = app
        .simulate_network(peer.ip(), &fanout_api::routes::comic(id), query, false)
        .await?
    {
        return Err(match fault {
            // Waited out in `simulate_network`, which answers timeouts itself.
            Fault::Timeout => ApiError::UpstreamTimeout,
            _ => interpret_comic(id, upstream_failure(500)).expect_err("a 500 is an error"),
        });
    }
    let (cached, status) = app.store.comic(id).await?;
    let cache_control = match id {
        ComicId::Latest => LATEST_CACHE_CONTROL,
        ComicId::Number(_) => COMIC_CACHE_CONTROL,
    };
    Ok(respond(&cached, status, cache_control, headers))
}

async fn image(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiPath(file): ApiPath<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let file = validate_image_name(&file).map_err(|err| ApiError::BadRequest(err.0))?;
    if let Some(fault) = app
        .simulate_network(peer.ip(), &fanout_api::routes::image(file), query, true)
        .await?
    {
        let status = match fault {
            Fault::Timeout => return Err(ApiError::UpstreamTimeout),
            Fault::ServerError => 500,
            Fault::MissingImage => 404,
        };
        return Err(
            interpret_image(file, &upstream_failure(status)).expect_err("a failure status is an error")
        );
    }
    let (cached, status) = app.store.image(file).await?;
    let mut response = respond(&cached, status, IMAGE_CACHE_CONTROL, headers);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(IMAGE_CSP),
    );
    Ok(response)
}

impl AppState {
    /// On the demo origin, waits out the simulated network and says whether this request
    /// fails; a simulated timeout is waited out too (as long as the real upstream would
    /// take) and answered here. Waits hold a place in a global pool, of which each client may
    /// take only a share, so that parameters asking for long waits cannot pile up requests
    /// without bound or crowd out other clients; with no place left the request is shed at
    /// once. The real origin ignores the parameters: its network is real.
    async fn simulate_network(
        &self,
        peer: IpAddr,
        what: &str,
        query: Option<String>,
        is_image: bool,
    ) -> Result<Option<Fault>, ApiError> {
        if self.store.origin().kind() != OriginKind::Demo {
            return Ok(None);
        }
        let sim =
            NetSim::from_query(query.as_deref().unwrap_or("")).map_err(|err| ApiError::BadRequest(err.0))?;
        let plan = netsim::plan(&sim, what, is_image);
        let times_out = plan.fault == Some(Fault::Timeout);
        if plan.delay.is_zero() && !times_out {
            return Ok(plan.fault);
        }
        let _permit = self
            .simulated_waits
            .try_acquire(peer)
            .ok_or(ApiError::Overloaded {
                retry_after_secs: SHED_RETRY_AFTER_SECS,
            })?;
        tokio::time::sleep(plan.delay).await;
        if times_out {
            tokio::time::sleep(self.upstream_timeout).await;
            return Err(ApiError::UpstreamTimeout);
        }
        Ok(plan.fault)
    }
}

/// What a failing upstream sends: a status and an HTML error page.
fn upstream_failure(status: u16) -> Fetched {
    Fetched {
        status,
        content_type: Some("text/html".into()),
        body: Bytes::from_static(b"<html><body>error</body></html>"),
    }
}

/// A cached body as a response, or 304 when the client already has these bytes.
fn respond(
    cached: &Cached,
    status: CacheStatus,
    cache_control: &'static str,
    request: &HeaderMap,
) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim().trim_start_matches("W/") == cached.etag || tag.trim() == "*")
        });
    let headers = [
        (header::ETAG, cached.etag.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache_control)),
        (crate::X_CACHE, HeaderValue::from_static(status.as_str())),
    ];
    if fresh {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        (
            headers,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(cached.content_type),
            )],
            cached.body.clone(),
        )
            .into_response()
    }
}
