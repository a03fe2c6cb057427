use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use fanout_api::{ErrorBody, ErrorCode, ErrorDetail};

/// Every way an /api request can fail; each becomes `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    MethodNotAllowed,
    UriTooLong,
    HeadersTooLarge,
    RateLimited {
        retry_after_secs: u64,
    },
    /// Upstream answered, but not with something we can pass on.
    Upstream(String),
    UpstreamTimeout,
    /// The Host header is not one this proxy answers to.
    MisdirectedRequest,
    /// Load shed; the client may retry after this many seconds.
    Overloaded {
        retry_after_secs: u64,
    },
}

impl ApiError {
    /// Upstream answered with a status we do not pass on.
    pub fn upstream_status(status: u16) -> Self {
        ApiError::Upstream(format!("upstream answered HTTP {status}"))
    }

    pub fn no_such_comic(id: fanout_api::ComicId) -> Self {
        ApiError::NotFound(format!("there is no comic {id}"))
    }

    pub fn missing_image(file: &str) -> Self {
        ApiError::NotFound(format!("image {file} is missing upstream"))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::UriTooLong => ErrorCode::UriTooLong,
            ApiError::HeadersTooLarge => ErrorCode::HeadersTooLarge,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Upstream(_) => ErrorCode::UpstreamError,
            ApiError::UpstreamTimeout => ErrorCode::UpstreamTimeout,
            ApiError::MisdirectedRequest => ErrorCode::MisdirectedRequest,
            ApiError::Overloaded { .. } => ErrorCode::Overloaded,
        }
    }

    /// The code and message, as a batch line carries them for one comic.
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code(),
            message: self.message(),
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest(m) | ApiError::NotFound(m) => m.clone(),
            ApiError::MethodNotAllowed => "only GET and HEAD are allowed here".into(),
            ApiError::UriTooLong => "the request URI is too long".into(),
            ApiError::HeadersTooLarge => "the request headers are too large".into(),
            ApiError::RateLimited { retry_after_secs } => {
                format!("too many requests from this address; retry in {retry_after_secs} s")
            }
            ApiError::Upstream(m) => format!("upstream misbehaved: {m}"),
            ApiError::UpstreamTimeout => "upstream did not answer in time".into(),
            ApiError::MisdirectedRequest => {
                "this proxy does not answer to that host name (see --allowed-host)".into()
            }
            ApiError::Overloaded { retry_after_secs } => {
                format!("the proxy is busy; retry in {retry_after_secs} s")
            }
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut response = (status, Json(ErrorBody { error: self.detail() })).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match self {
            ApiError::RateLimited { retry_after_secs } | ApiError::Overloaded { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            ApiError::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            }
            _ => {}
        }
        response
    }
}
