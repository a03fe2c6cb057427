use serde::{Deserialize, Serialize};

/// Every error the proxy answers with: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of an error body: a code for programs and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// Machine-readable error codes; each maps to exactly one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    UriTooLong,
    HeadersTooLarge,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    /// The Host header names a site this proxy does not serve (DNS rebinding, for one).
    MisdirectedRequest,
    /// The proxy sheds load (for example, too many simulated waits at once); retry later.
    Overloaded,
}

impl ErrorCode {
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::UriTooLong => 414,
            ErrorCode::HeadersTooLarge => 431,
            ErrorCode::RateLimited => 429,
            ErrorCode::UpstreamError => 502,
            ErrorCode::UpstreamTimeout => 504,
            ErrorCode::MisdirectedRequest => 421,
            ErrorCode::Overloaded => 503,
        }
    }

    /// The code behind a status, for answers whose body cannot be read (an `<img>` load
    /// reports only its status).
    pub fn from_status(status: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.status() == status)
    }

    /// What the status means, in a few words for an error tile.
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "the proxy refused the request",
            ErrorCode::NotFound => "no such image",
            ErrorCode::MethodNotAllowed => "method not allowed",
            ErrorCode::UriTooLong => "address too long",
            ErrorCode::HeadersTooLarge => "headers too large",
            ErrorCode::RateLimited => "too many requests; the proxy asks to slow down",
            ErrorCode::UpstreamError => "the upstream failed",
            ErrorCode::UpstreamTimeout => "the upstream timed out",
            ErrorCode::MisdirectedRequest => "the proxy does not answer to this host name",
            ErrorCode::Overloaded => "the proxy is busy; try again shortly",
        }
    }

    /// True when asking again cannot help: the request itself was refused or names nothing
    /// there is. Upstream trouble, rate limits and load shedding may pass, so a retry can help.
    /// The one rule the page follows for offering Retry, for metadata and images alike.
    pub fn is_permanent(self) -> bool {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::NotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::UriTooLong
            | ErrorCode::HeadersTooLarge
            | ErrorCode::MisdirectedRequest => true,
            ErrorCode::RateLimited
            | ErrorCode::UpstreamError
            | ErrorCode::UpstreamTimeout
            | ErrorCode::Overloaded => false,
        }
    }

    const ALL: [ErrorCode; 10] = [
        ErrorCode::BadRequest,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::UriTooLong,
        ErrorCode::HeadersTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::UpstreamError,
        ErrorCode::UpstreamTimeout,
        ErrorCode::MisdirectedRequest,
        ErrorCode::Overloaded,
    ];
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_found_again_by_its_status() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_status(code.status()), Some(code));
            assert!(!code.meaning().is_empty());
        }
        assert_eq!(ErrorCode::from_status(200), None);
        assert_eq!(ErrorCode::from_status(500), None);
    }

    #[test]
    fn a_retry_helps_only_where_the_answer_may_change() {
        let permanent: Vec<u16> = ErrorCode::ALL
            .into_iter()
            .filter(|code| code.is_permanent())
            .map(ErrorCode::status)
            .collect();
        assert_eq!(permanent, [400, 404, 405, 414, 431, 421]);
        for transient in [429, 502, 503, 504] {
            let code = ErrorCode::from_status(transient).unwrap();
            assert!(!code.is_permanent(), "{transient}");
        }
    }
}
