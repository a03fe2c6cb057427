//! Upstreams behind one interface. The real xkcd and the built-in demo both answer with
//! raw, xkcd-shaped HTTP responses ([`Fetched`]); everything after that (validation,
//! rewriting, caching, errors) is the same code for both.

mod demo;
mod demo_image;
mod http;
mod xkcd_json;

use bytes::Bytes;
use fanout_api::{Comic, ComicId, OriginKind};

pub use demo::{DEMO_LATEST, DemoOrigin};
pub use http::HttpOrigin;
pub use xkcd_json::XkcdComic;

use crate::error::ApiError;

/// The largest comic JSON accepted from upstream.
pub const MAX_JSON_BYTES: usize = 256 * 1024;
/// The largest image accepted from upstream.
pub const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;

/// An upstream answer, before any interpretation.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// Why an upstream request produced no answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    Timeout,
    TooLarge,
    Transport(String),
}

impl From<FetchError> for ApiError {
    fn from(err: FetchError) -> Self {
        match err {
            FetchError::Timeout => ApiError::UpstreamTimeout,
            FetchError::TooLarge => ApiError::Upstream("response body is over the size cap".into()),
            FetchError::Transport(why) => ApiError::Upstream(why),
        }
    }
}

/// Where comics come from: xkcd over HTTPS, or the built-in demo.
pub enum Origin {
    Xkcd(HttpOrigin),
    Demo(DemoOrigin),
}

impl Origin {
    pub fn kind(&self) -> OriginKind {
        match self {
            Origin::Xkcd(_) => OriginKind::Xkcd,
            Origin::Demo(_) => OriginKind::Demo,
        }
    }

    pub fn description(&self) -> &'static str {
        match self {
            Origin::Xkcd(_) => "xkcd.com, through this proxy",
            Origin::Demo(_) => "demo origin: offline catalogue",
        }
    }

    pub async fn comic_json(&self, id: ComicId) -> Result<Fetched, FetchError> {
        match self {
            Origin::Xkcd(http) => http.comic_json(id).await,
            Origin::Demo(demo) => Ok(demo.comic_json(id)),
        }
    }

    pub async fn image(&self, file: &str) -> Result<Fetched, FetchError> {
        match self {
            Origin::Xkcd(http) => http.image(file).await,
            // Rendering a PNG takes milliseconds of CPU: not on the async workers.
            Origin::Demo(demo) => {
                let (demo, file) = (*demo, file.to_owned());
                tokio::task::spawn_blocking(move || demo.image(&file))
                    .await
                    .map_err(|_| FetchError::Transport("the demo image could not be drawn".into()))
            }
        }
    }
}

/// Turns an upstream comic answer into the page's [`Comic`], or the error the client sees.
pub fn interpret_comic(id: ComicId, fetched: Fetched) -> Result<Comic, ApiError> {
    match fetched.status {
        200 => {}
        404 => return Err(ApiError::no_such_comic(id)),
        status => return Err(ApiError::upstream_status(status)),
    }
    let is_json = fetched.content_type.as_deref().is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    });
    if !is_json {
        return Err(ApiError::Upstream(format!(
            "expected application/json, got {:?}",
            fetched.content_type.unwrap_or_default()
        )));
    }
    let raw: XkcdComic = serde_json::from_slice(&fetched.body)
        .map_err(|err| ApiError::Upstream(format!("malformed comic JSON: {err}")))?;
    if let ComicId::Number(n) = id
        && raw.num != n
    {
        return Err(ApiError::Upstream(format!(
            "asked for comic {n}, got {}",
            raw.num
        )));
    }
    Ok(raw.into_comic())
}

/// The image formats passed on, by content type and by the bytes' own signature.
const IMAGE_TYPES: [(&str, &[u8]); 3] = [
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", b"\xff\xd8\xff"),
    ("image/gif", b"GIF8"),
];

/// Checks an upstream image answer; returns the content type to serve it with.
pub fn interpret_image(file: &str, fetched: &Fetched) -> Result<&'static str, ApiError> {
    match fetched.status {
        200 => {}
        404 => return Err(ApiError::missing_image(file)),
        status => return Err(ApiError::upstream_status(status)),
    }
    let claimed = fetched
        .content_type
        .as_deref()
        .and_then(|ct| ct.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match IMAGE_TYPES.iter().find(|(ct, _)| *ct == claimed) {
        Some((ct, magic)) if fetched.body.starts_with(magic) => Ok(ct),
        Some(_) => Err(ApiError::Upstream(format!(
            "upstream bytes are not the {claimed} they claim to be"
        ))),
        None => Err(ApiError::Upstream(format!(
            "expected an image, got content type {claimed:?}"
        ))),
    }
}
