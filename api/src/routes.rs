//! Same-origin routes the page calls. The proxy mounts exactly these patterns, the page
//! builds its URLs with the functions here, and both read a URL back with [`Route::parse`],
//! so no other crate spells an `/api` path.

pub use crate::batch::{MAX_BATCH_IDS, MAX_BATCH_QUERY_LEN};
use crate::{ComicId, validate_image_name};

/// Everything under this prefix is the API; anything else is the page.
pub const API_ROOT: &str = "/api";
pub const HEALTH: &str = "/api/health";
/// One comic's metadata (axum pattern).
pub const COMIC: &str = "/api/comics/{id}";
/// Many comics in one request, fetched by the proxy (`?ids=1,614,404`).
pub const COMICS: &str = "/api/comics";
/// One image (axum pattern).
pub const IMAGE: &str = "/api/img/{file}";
/// Every other path under [`API_ROOT`] (axum pattern): an API error, never the page.
pub const API_ANY: &str = "/api/{*rest}";

const COMIC_PREFIX: &str = "/api/comics/";
pub const IMAGE_PREFIX: &str = "/api/img/";
/// A query key the proxy ignores: a fresh value per run keeps the browser from answering
/// an image request from its cache when the person asked it not to.
pub const CACHE_BUSTER: &str = "fresh";

/// `/api/comics/latest` or `/api/comics/{n}`.
pub fn comic(id: ComicId) -> String {
    format!("{COMIC_PREFIX}{id}")
}

/// `/api/comics?ids=1,614,latest`, with `&wait=all` for one array after the slowest comic.
/// Demo-network keys and a cache buster may follow (`&latency_ms=…`).
pub fn comics(ids: &[ComicId], wait_all: bool) -> String {
    let mut url = format!("{COMICS}?ids=");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            url.push(',');
        }
        url.push_str(&id.to_string());
    }
    if wait_all {
        url.push_str("&wait=all");
    }
    url
}

/// `/api/img/{file}` for an already validated file name.
pub fn image(file: &str) -> String {
    format!("{IMAGE_PREFIX}{file}")
}

/// Which API route a URL names; what the page's waterfall labels and its timing code sorts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Comic(ComicId),
    /// The batch route: many comics fetched by the proxy in one request.
    Comics,
    Image(String),
}

impl Route {
    /// Reads an absolute URL or a bare path (query and fragment ignored). `None` for anything
    /// that is not one of our routes with a valid parameter.
    pub fn parse(url: &str) -> Option<Route> {
        // The scheme ends at the first ':' (a char search: the page's wasm has no substring
        // search for `"://"` to carry).
        let path = match url.split_once(':').filter(|_| !url.starts_with('/')) {
            Some((_, rest)) => {
                let rest = rest.strip_prefix("//")?;
                &rest[rest.find('/')?..]
            }
            None => url,
        };
        let path = path.split(['?', '#']).next().unwrap_or(path);
        if path == HEALTH {
            Some(Route::Health)
        } else if path == COMICS {
            Some(Route::Comics)
        } else if let Some(id) = path.strip_prefix(COMIC_PREFIX) {
            ComicId::parse(id).ok().map(Route::Comic)
        } else if let Some(file) = path.strip_prefix(IMAGE_PREFIX) {
            validate_image_name(file)
                .ok()
                .map(|file| Route::Image(file.to_owned()))
        } else {
            None
        }
    }

    /// True for the routes that carry comic metadata (one comic or many).
    pub fn is_metadata(&self) -> bool {
        matches!(self, Route::Comic(_) | Route::Comics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_urls_parse_back() {
        for id in [ComicId::Latest, ComicId::Number(614)] {
            assert_eq!(Route::parse(&comic(id)), Some(Route::Comic(id)));
        }
        assert_eq!(
            Route::parse(&image("tree_cropped_(1).jpg")),
            Some(Route::Image("tree_cropped_(1).jpg".into()))
        );
        assert_eq!(Route::parse(HEALTH), Some(Route::Health));
    }

    #[test]
    fn absolute_urls_queries_and_fragments_are_read_by_path() {
        assert_eq!(
            Route::parse("https://127.0.0.1:8080/api/comics/614?latency=300&seed=1#x"),
            Some(Route::Comic(ComicId::Number(614)))
        );
        assert_eq!(
            Route::parse("http://localhost/api/comics?ids=1,2"),
            Some(Route::Comics)
        );
        assert_eq!(
            Route::parse("/api/comics/1?from=http://x/"),
            Some(Route::Comic(ComicId::Number(1))),
            "a URL inside the query is not the scheme"
        );
        assert_eq!(
            Route::parse("http://h/api/img/a_1.png?fresh=3"),
            Some(Route::Image("a_1.png".into()))
        );
    }

    #[test]
    fn anything_else_is_not_a_route() {
        for url in [
            "",
            "/",
            "/index.html",
            "/api",
            "/api/",
            "/api/comics/",
            "/api/comics/0614",
            "/api/comics/1/2",
            "/api/img/../secret.png",
            "/api/img/",
            "/apix/health",
            "https://example.com",
            "https://example.com/other/api/comics/1",
            "mailto:/api/health",
        ] {
            assert_eq!(Route::parse(url), None, "{url}");
        }
    }

    #[test]
    fn metadata_routes() {
        assert!(Route::Comics.is_metadata());
        assert!(Route::Comic(ComicId::Latest).is_metadata());
        assert!(!Route::Image("a.png".into()).is_metadata());
        assert!(!Route::Health.is_metadata());
    }
}
