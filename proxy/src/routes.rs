//! The /api router and its handlers.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    Json, Router,
    extract::{ConnectInfo, FromRequestParts, Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use fanout_api::{ComicId, Health, NetSim, OriginKind, Route, routes, validate_image_name};

use crate::{
    ApiState, batch,
    cache::{CacheStatus, Cached},
    demo_network::{self, Fault},
    error::ApiError,
    origin::DEMO_LATEST,
};

/// Comics never change once published, but an origin switch must not stick for long.
const COMIC_CACHE_CONTROL: &str = "public, max-age=3600";
const LATEST_CACHE_CONTROL: &str = "public, max-age=300";
const IMAGE_CACHE_CONTROL: &str = "public, max-age=86400";
/// A shed request is told to come back after this long: most simulated waits are shorter.
const SHED_RETRY_AFTER_SECS: u64 = 1;
/// Images are served as inert documents: never sniffed, never scripted.
const IMAGE_CSP: &str = "default-src 'none'; img-src 'self'; sandbox";

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route(routes::HEALTH, get(health))
        .route(routes::COMIC, get(comic))
        .route(routes::COMICS, get(batch::comics))
        .route(routes::IMAGE, get(image))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Unknown /api paths are API errors, never the page.
        .route(routes::API_ROOT, any(no_such_route))
        .route(&format!("{}/", routes::API_ROOT), any(no_such_route))
        .route(routes::API_ANY, any(no_such_route))
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

async fn health(State(app): State<Arc<ApiState>>) -> Json<Health> {
    let origin = app.store.origin();
    Json(Health {
        origin: origin.kind(),
        description: origin.description().into(),
        latest: (origin.kind() == OriginKind::Demo).then_some(DEMO_LATEST),
        shard_hosts: app.shard_hosts.clone(),
    })
}

async fn comic(
    State(app): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiPath(segment): ApiPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = ComicId::parse(&segment).map_err(|err| ApiError::BadRequest(err.0))?;
    if let Some(sim) = app.demo_network(query.as_deref())? {
        app.simulate(peer.ip(), &sim, &Route::Comic(id)).await?;
    }
    let (cached, status) = app.store.comic(id, peer.ip()).await?;
    let cache_control = match id {
        ComicId::Latest => LATEST_CACHE_CONTROL,
        ComicId::Number(_) => COMIC_CACHE_CONTROL,
    };
    Ok(respond(&cached, status, cache_control, &headers))
}

async fn image(
    State(app): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiPath(file): ApiPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file = validate_image_name(&file).map_err(|err| ApiError::BadRequest(err.0))?;
    if let Some(sim) = app.demo_network(query.as_deref())? {
        app.simulate(peer.ip(), &sim, &Route::Image(file.to_owned()))
            .await?;
    }
    let (cached, status) = app.store.image(file, peer.ip()).await?;
    let mut response = respond(&cached, status, IMAGE_CACHE_CONTROL, &headers);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(IMAGE_CSP),
    );
    Ok(response)
}

impl ApiState {
    /// The simulated network a request asks for, on the demo origin only: the real origin
    /// ignores the parameters, since its network is real.
    pub(crate) fn demo_network(&self, query: Option<&str>) -> Result<Option<NetSim>, ApiError> {
        if self.store.origin().kind() != OriginKind::Demo {
            return Ok(None);
        }
        NetSim::from_query(query.unwrap_or(""))
            .map(Some)
            .map_err(|err| ApiError::BadRequest(err.0))
    }

    /// Waits out the simulated network for one request and fails it as drawn; a simulated
    /// timeout is waited out too (as long as the real upstream would take). Waits hold a
    /// place in a global pool, of which each client may take only a share, so that
    /// parameters asking for long waits cannot pile up requests without bound or crowd out
    /// other clients; with no place left the request is shed at once.
    pub(crate) async fn simulate(&self, peer: IpAddr, sim: &NetSim, route: &Route) -> Result<(), ApiError> {
        let (what, is_image) = match route {
            Route::Comic(id) => (routes::comic(*id), false),
            Route::Image(file) => (routes::image(file), true),
            Route::Health | Route::Comics => return Ok(()),
        };
        let plan = demo_network::plan(sim, &what, is_image);
        let times_out = plan.fault == Some(Fault::Timeout);
        if !plan.delay.is_zero() || times_out {
            let _permit = self
                .simulated_waits
                .try_acquire(peer)
                .ok_or(ApiError::Overloaded {
                    retry_after_secs: SHED_RETRY_AFTER_SECS,
                })?;
            tokio::time::sleep(plan.delay).await;
            if times_out {
                tokio::time::sleep(self.upstream_timeout).await;
            }
        }
        match plan.fault {
            None => Ok(()),
            Some(fault) => Err(fault_error(fault, route)),
        }
    }
}

/// The error a simulated fault answers with: the same one a real upstream failure gives.
fn fault_error(fault: Fault, route: &Route) -> ApiError {
    match (fault, route) {
        (Fault::Timeout, _) => ApiError::UpstreamTimeout,
        (Fault::MissingImage, Route::Image(file)) => ApiError::missing_image(file),
        _ => ApiError::upstream_status(500),
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
