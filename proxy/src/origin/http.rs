use std::{sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use fanout_api::ComicId;
use reqwest::{Client, header};

use super::{FetchError, Fetched, MAX_IMAGE_BYTES, MAX_JSON_BYTES};
use crate::upstream_share::{Lane, PriorityLine};

/// The real xkcd, over HTTP. It only ever builds three kinds of URL from validated parts:
/// `{xkcd}/info.0.json`, `{xkcd}/{n}/info.0.json` and `{imgs}/comics/{file}`.
pub struct HttpOrigin {
    client: Client,
    xkcd_url: String,
    imgs_url: String,
    timeout: Duration,
    /// The global slots, images first (see `upstream_share`).
    slots: Arc<PriorityLine>,
    max_concurrency: usize,
}

impl HttpOrigin {
    pub fn new(
        xkcd_url: &str,
        imgs_url: &str,
        timeout: Duration,
        max_concurrency: usize,
    ) -> anyhow::Result<Self> {
        let client = Client::builder()
            .user_agent(concat!("fanout-proxy/", env!("CARGO_PKG_VERSION")))
            // A redirect could lead anywhere; xkcd's API does not need one.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|err| anyhow::anyhow!("cannot build the HTTP client: {err}"))?;
        Ok(HttpOrigin {
            client,
            xkcd_url: base_url(xkcd_url, "--xkcd-url").map_err(anyhow::Error::msg)?,
            imgs_url: base_url(imgs_url, "--imgs-url").map_err(anyhow::Error::msg)?,
            timeout,
            slots: PriorityLine::new(max_concurrency),
            max_concurrency,
        })
    }

    /// How many requests may be upstream at once (`--max-upstream-concurrency`).
    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    pub async fn comic_json(&self, id: ComicId) -> Result<Fetched, FetchError> {
        let url = match id {
            ComicId::Latest => format!("{}/info.0.json", self.xkcd_url),
            ComicId::Number(n) => format!("{}/{n}/info.0.json", self.xkcd_url),
        };
        self.get(&url, MAX_JSON_BYTES, Lane::Starts).await
    }

    /// `file` has been through `validate_image_name`, so it is one plain path segment.
    pub async fn image(&self, file: &str) -> Result<Fetched, FetchError> {
        self.get(
            &format!("{}/comics/{file}", self.imgs_url),
            MAX_IMAGE_BYTES,
            Lane::Completes,
        )
        .await
    }

    /// Answers whether the comic API is reachable, for `--origin auto`.
    pub async fn probe(&self, within: Duration) -> bool {
        matches!(
            tokio::time::timeout(within, self.comic_json(ComicId::Latest)).await,
            Ok(Ok(Fetched { status: 200, .. }))
        )
    }

    async fn get(&self, url: &str, cap: usize, lane: Lane) -> Result<Fetched, FetchError> {
        // Waiting for a permit counts against the same deadline as the request itself.
        tokio::time::timeout(self.timeout, async {
            let _slot = self.slots.clone().enter(lane).await;
            let response = self.client.get(url).send().await.map_err(describe)?;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if response.content_length().is_some_and(|len| len > cap as u64) {
                return Err(FetchError::TooLarge);
            }
            let body = read_capped(response, cap).await?;
            Ok(Fetched {
                status,
                content_type,
                body,
            })
        })
        .await
        .unwrap_or(Err(FetchError::Timeout))
    }
}

async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Bytes, FetchError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        if body.len() + chunk.len() > cap {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn describe(err: reqwest::Error) -> FetchError {
    if err.is_timeout() {
        FetchError::Timeout
    } else if err.is_connect() {
        FetchError::Transport("cannot connect to upstream".into())
    } else {
        FetchError::Transport("upstream connection failed".into())
    }
}

/// An http(s) base URL with no path, query or trailing slash.
fn base_url(raw: &str, flag: &str) -> Result<String, String> {
    let trimmed = raw.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("{flag} must start with http:// or https://, got {raw:?}"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "{flag} must be a bare origin such as https://xkcd.com, got {raw:?}"
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::base_url;

    #[test]
    fn base_urls_are_bare_origins() {
        assert_eq!(base_url("https://xkcd.com/", "x").unwrap(), "https://xkcd.com");
        assert_eq!(
            base_url("http://127.0.0.1:9000", "x").unwrap(),
            "http://127.0.0.1:9000"
        );
        for bad in [
            "xkcd.com",
            "ftp://x",
            "https://",
            "https://a/b",
            "https://u@h",
            "https://h?q",
        ] {
            assert!(base_url(bad, "x").is_err(), "{bad}");
        }
    }
}
