//! The built page: hashed assets from `--dist`, held in memory (their precompressed
//! variants when present), with long caching, and `index.html` for
//! every other path (client routes) with no caching and a strict Content-Security-Policy
//! that pins Trunk's inline bootstrap script by hash.

use std::{path::Path, sync::Arc};

use axum::{
    Router,
    extract::{Request, State},
    handler::Handler,
    http::{HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;

use crate::{assets::Assets, error::ApiError};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";
const SHORT: &str = "public, max-age=300";

/// The built page's `index.html`, served for every path that is not a file or the API.
#[derive(Clone)]
pub struct Spa {
    index: Option<Bytes>,
    /// The CSP up to its `img-src` sources, and from there on: the shard origins go between
    /// (at the port each request came to).
    csp: (String, String),
    shards: Arc<[String]>,
    tls: bool,
}

impl Spa {
    /// Reads `index.html` once; a missing build still starts, with a page that says so.
    pub fn load(dist: &Path, shards: &[String], tls: bool) -> Self {
        let index = std::fs::read(dist.join("index.html")).ok().map(Bytes::from);
        let scripts = index
            .as_deref()
            .map(|html| inline_script_hashes(&String::from_utf8_lossy(html)))
            .unwrap_or_default();
        Spa {
            csp: page_csp(&scripts),
            index,
            shards: shards.into(),
            tls,
        }
    }

    pub fn is_built(&self) -> bool {
        self.index.is_some()
    }
}

/// What the page's routes serve: the files, and the page for every other path.
#[derive(Clone)]
struct Page {
    assets: Arc<Assets>,
    spa: Spa,
}

pub fn router(assets: Assets, spa: Spa) -> Router {
    // `cargo xtask` writes `.br` and `.gz` beside the built assets; those go out as they
    // are. Anything without them (the in-memory index.html, a page built by hand) is
    // compressed on the way out by the layer below, which leaves encoded answers alone.
    let page = Page {
        assets: Arc::new(assets),
        spa: spa.clone(),
    };
    Router::new()
        .fallback_service(serve_page.with_state(page))
        .layer(middleware::from_fn_with_state(Arc::new(spa), page_headers))
        .layer(CompressionLayer::new())
}

async fn serve_page(State(page): State<Page>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return ApiError::MethodNotAllowed.into_response();
    }
    page.assets
        .answer(&parts.method, parts.uri.path(), &parts.headers)
        .unwrap_or_else(|| serve_index(&page.spa))
}

fn serve_index(spa: &Spa) -> Response {
    match spa.index.clone() {
        Some(html) => Html(html).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Html("<!doctype html><title>Fanout</title><p>The page is not built yet: run <code>cargo xtask serve</code>."),
        )
            .into_response(),
    }
}

async fn page_headers(State(spa): State<Arc<Spa>>, request: Request, next: Next) -> Response {
    let hashed = is_hashed_asset(request.uri().path());
    let shard_sources = crate::shards::csp_sources(&spa.shards, spa.tls, &request);
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/html"));
    let success = response.status().is_success();
    let headers = response.headers_mut();
    if is_html {
        let (head, tail) = &spa.csp;
        let csp = format!(
            "{head}{shard_sources}{tail}{shard_sources}; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        if let Ok(csp) = HeaderValue::from_str(&csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    } else if success {
        let policy = if hashed { IMMUTABLE } else { SHORT };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    // The same path answers brotli, gzip or plain bytes by the request's Accept-Encoding, so
    // a shared cache must key on it. The compression layer says so only for what it
    // compresses itself, not for the precompressed files or a plain answer.
    if success
        && !headers
            .get_all(header::VARY)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"accept-encoding"))
    {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Trunk names built assets `name-<16 hex digits>[_bg].ext`; those never change content.
fn is_hashed_asset(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or("");
    let stem = file.split('.').next().unwrap_or("");
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `'sha256-…'` sources for every inline `<script>` (those without `src`).
fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(tag_end) = after.find('>') else { break };
        let tag = &after[..tag_end];
        let body_and_more = &after[tag_end + 1..];
        let Some(close) = body_and_more.find("</script>") else {
            break;
        };
        if !tag.contains("src=") {
            let digest = Sha256::digest(&body_and_more.as_bytes()[..close]);
            hashes.push(format!("'sha256-{}'", BASE64.encode(digest)));
        }
        rest = &body_and_more[close..];
    }
    hashes
}

/// The page's CSP in two parts: up to the end of `img-src 'self' data:` and up to the end of
/// `connect-src 'self'`; the shard origins follow each (see `page_headers`).
fn page_csp(script_hashes: &[String]) -> (String, String) {
    (
        format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{}{}; style-src 'self'; \
             img-src 'self' data:",
            if script_hashes.is_empty() { "" } else { " " },
            script_hashes.join(" ")
        ),
        "; connect-src 'self'".to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_trunk_hashed_assets() {
        assert!(is_hashed_asset("/fanout-1a2b3c4d5e6f7a8b_bg.wasm"));
        assert!(is_hashed_asset("/fanout-1a2b3c4d5e6f7a8b.js"));
        assert!(is_hashed_asset("/main-0123456789abcdef.css"));
        assert!(!is_hashed_asset("/index.html"));
        assert!(!is_hashed_asset("/favicon.svg"));
        assert!(!is_hashed_asset("/a-b.css"));
    }

    #[test]
    fn hashes_only_inline_scripts() {
        let html = r#"<script src="/a.js"></script><script type="module">init()</script>"#;
        let hashes = inline_script_hashes(html);
        assert_eq!(hashes.len(), 1);
        let expected = BASE64.encode(Sha256::digest(b"init()"));
        assert_eq!(hashes[0], format!("'sha256-{expected}'"));
        assert!(page_csp(&hashes).0.contains(&hashes[0]));
        assert!(!page_csp(&hashes).0.contains(" 'unsafe-eval'"));
    }
}
