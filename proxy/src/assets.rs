//! The built page's files, read into memory once at start-up and served from there: an
//! answer in flight holds a reference to shared bytes, never an open file, so a client that
//! stops reading cannot use up the proxy's file handles. Trunk's output with its `.br` and
//! `.gz` is under 300 KB.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::{Context as _, bail};
use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::Response,
};
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// The most `--dist` may hold in all: far above a real build, low enough that a wrong
/// folder (a home directory, say) is refused at start-up rather than read into memory.
pub const MAX_DIST_BYTES: u64 = 64 * 1024 * 1024;
/// Folders deeper than this under `--dist` are not read.
const MAX_DEPTH: usize = 8;

/// One file's bytes as they are sent, with its validator.
struct Variant {
    bytes: Bytes,
    etag: HeaderValue,
}

impl Variant {
    fn new(bytes: Vec<u8>) -> Self {
        let digest = Sha256::digest(&bytes);
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Variant {
            bytes: Bytes::from(bytes),
            // Weak: the compression layer may still encode a plain file on the way out, and a
            // weak tag is right for representations that differ only so.
            etag: HeaderValue::from_str(&format!("W/\"{hex}\"")).expect("hex is ASCII"),
        }
    }
}

/// A file and its precompressed variants (`name.br`, `name.gz`) when the build has them.
struct Asset {
    content_type: HeaderValue,
    last_modified: Option<HeaderValue>,
    modified: Option<SystemTime>,
    plain: Variant,
    br: Option<Variant>,
    gzip: Option<Variant>,
}

/// Every file under `--dist`, by its URL path (`/app-….js`).
#[derive(Default)]
pub struct Assets {
    files: HashMap<String, Asset>,
    total_bytes: u64,
}

impl Assets {
    /// Reads every file under `dist`. A missing folder gives no files (the page then says
    /// it is not built); one over [`MAX_DIST_BYTES`] is an error.
    pub fn load(dist: &Path) -> anyhow::Result<Self> {
        let mut found = Vec::new();
        if dist.is_dir() {
            collect(dist, dist, 0, &mut found)?;
        }
        let total_bytes: u64 = found.iter().map(|(_, _, len)| *len).sum();
        if total_bytes > MAX_DIST_BYTES {
            bail!(
                "{} holds {} MiB; the proxy keeps the built page in memory and takes at most {} MiB \
                 (is --dist the right folder?)",
                dist.display(),
                total_bytes / (1024 * 1024),
                MAX_DIST_BYTES / (1024 * 1024)
            );
        }
        let mut bytes_of = HashMap::new();
        for (url, path, _) in &found {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            bytes_of.insert(url.clone(), (bytes, modified));
        }
        let mut files = HashMap::new();
        for (url, (bytes, modified)) in &bytes_of {
            let variant = |suffix: &str| {
                bytes_of
                    .get(&format!("{url}.{suffix}"))
                    .map(|(bytes, _)| Variant::new(bytes.clone()))
            };
            let content_type = mime_guess::from_path(url)
                .first_raw()
                .unwrap_or("application/octet-stream");
            files.insert(
                url.clone(),
                Asset {
                    content_type: HeaderValue::from_static(content_type),
                    last_modified: modified.map(|at| {
                        HeaderValue::from_str(&httpdate::fmt_http_date(at)).expect("a date is ASCII")
                    }),
                    modified: *modified,
                    plain: Variant::new(bytes.clone()),
                    br: variant("br"),
                    gzip: variant("gz"),
                },
            );
        }
        Ok(Assets { files, total_bytes })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// The answer for `path`, or `None` when no file has that path (the SPA's turn).
    pub fn answer(&self, method: &Method, path: &str, request: &HeaderMap) -> Option<Response> {
        let asset = self.files.get(path)?;
        let accepts = |coding: &str| accepts_encoding(request, coding);
        let (variant, encoding) = match (&asset.br, &asset.gzip) {
            (Some(br), _) if accepts("br") => (br, Some("br")),
            (_, Some(gz)) if accepts("gzip") => (gz, Some("gzip")),
            _ => (&asset.plain, None),
        };
        let mut response = Response::new(Body::empty());
        let headers = response.headers_mut();
        headers.insert(header::ETAG, variant.etag.clone());
        if let Some(last_modified) = &asset.last_modified {
            headers.insert(header::LAST_MODIFIED, last_modified.clone());
        }
        if not_modified(request, &variant.etag, asset.modified) {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return Some(response);
        }
        headers.insert(header::CONTENT_TYPE, asset.content_type.clone());
        if let Some(encoding) = encoding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(variant.bytes.len()));
        if method != Method::HEAD {
            *response.body_mut() = Body::from(variant.bytes.clone());
        }
        Some(response)
    }
}

/// The files under `dir` as (URL path, file path, length); `.br` and `.gz` included.
fn collect(
    root: &Path,
    dir: &Path,
    depth: usize,
    found: &mut Vec<(String, PathBuf, u64)>,
) -> anyhow::Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        let meta = std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            collect(root, &path, depth + 1, found)?;
        } else if meta.is_file() {
            let Some(relative) = path.strip_prefix(root).ok().and_then(Path::to_str) else {
                continue; // not UTF-8: no URL reaches it
            };
            let url = format!("/{}", relative.replace(std::path::MAIN_SEPARATOR, "/"));
            found.push((url, path.clone(), meta.len()));
            let total: u64 = found.iter().map(|(_, _, len)| *len).sum();
            if total > MAX_DIST_BYTES {
                // Enough to refuse it; no need to walk the rest.
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Whether Accept-Encoding names `coding` (or `*`) with a q-value above zero.
fn accepts_encoding(request: &HeaderMap, coding: &str) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (name.eq_ignore_ascii_case(coding) || name == "*") && q > 0.0
        })
}

/// If-None-Match when present (RFC 9110 §13.1.2), else If-Modified-Since.
fn not_modified(request: &HeaderMap, etag: &HeaderValue, modified: Option<SystemTime>) -> bool {
    if let Some(if_none_match) = request.get(header::IF_NONE_MATCH) {
        let Ok(tags) = if_none_match.to_str() else {
            return false;
        };
        // The weak comparison (RFC 9110 §8.8.3.2), as If-None-Match asks.
        let opaque = |tag: &str| tag.strip_prefix("W/").unwrap_or(tag).to_owned();
        let ours = opaque(etag.to_str().unwrap_or_default());
        return tags
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || opaque(tag) == ours);
    }
    let since = request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    match (since, modified) {
        // HTTP dates have whole seconds.
        (Some(since), Some(modified)) => modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .zip(since.duration_since(SystemTime::UNIX_EPOCH).ok())
            .is_some_and(|(m, s)| m.as_secs() <= s.as_secs()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn encodings_follow_accept_encoding_and_its_q_values() {
        let h = headers(&[("accept-encoding", "gzip, deflate, br;q=0")]);
        assert!(accepts_encoding(&h, "gzip"));
        assert!(!accepts_encoding(&h, "br"));
        assert!(accepts_encoding(&headers(&[("accept-encoding", "*")]), "br"));
        assert!(!accepts_encoding(&HeaderMap::new(), "gzip"));
    }

    #[test]
    fn validators_answer_304() {
        let etag = HeaderValue::from_static("\"abc\"");
        assert!(not_modified(
            &headers(&[("if-none-match", "\"x\", W/\"abc\"")]),
            &etag,
            None
        ));
        assert!(!not_modified(
            &headers(&[("if-none-match", "\"x\"")]),
            &etag,
            None
        ));
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(at);
        let mut h = HeaderMap::new();
        h.insert(header::IF_MODIFIED_SINCE, HeaderValue::from_str(&date).unwrap());
        assert!(not_modified(&h, &etag, Some(at)));
        assert!(!not_modified(
            &h,
            &etag,
            Some(at + std::time::Duration::from_secs(2))
        ));
    }

    #[test]
    fn a_dist_over_the_limit_is_refused_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let big = std::fs::File::create(dir.path().join("big.bin")).unwrap();
        big.set_len(MAX_DIST_BYTES + 1).unwrap();
        let err = Assets::load(dir.path()).err().expect("refused");
        assert!(err.to_string().contains("in memory"), "{err}");
        assert_eq!(Assets::load(&dir.path().join("missing")).unwrap().len(), 0);
    }
}
