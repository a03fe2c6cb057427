//! Bounded in-memory caches with request coalescing: N simultaneous requests for the same
//! uncached comic or image make exactly one upstream request (moka runs one initialiser
//! per key and hands its result to every waiter). Errors are never cached.

use std::{sync::Arc, time::Duration};

use axum::http::HeaderValue;
use bytes::Bytes;
use fanout_api::ComicId;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::{
    error::ApiError,
    origin::{Origin, interpret_comic, interpret_image},
};

/// xkcd's own `max-age` for the latest comic.
pub const LATEST_TTL: Duration = Duration::from_secs(300);

/// A ready-to-send response body.
#[derive(Debug)]
pub struct Cached {
    pub body: Bytes,
    pub content_type: &'static str,
    pub etag: HeaderValue,
}

impl Cached {
    fn new(body: Bytes, content_type: &'static str) -> Arc<Self> {
        let digest = Sha256::digest(&body);
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Arc::new(Cached {
            etag: HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header"),
            body,
            content_type,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
        }
    }
}

pub struct Store {
    origin: Origin,
    comics: Cache<u32, Arc<Cached>>,
    latest: Cache<(), Arc<Cached>>,
    images: Cache<String, Arc<Cached>>,
}

impl Store {
    pub fn new(origin: Origin, image_cache_bytes: u64) -> Self {
        Store {
            origin,
            comics: Cache::builder().max_capacity(20_000).build(),
            latest: Cache::builder().max_capacity(1).time_to_live(LATEST_TTL).build(),
            images: Cache::builder()
                .max_capacity(image_cache_bytes)
                .weigher(|_, v: &Arc<Cached>| v.body.len().try_into().unwrap_or(u32::MAX))
                .build(),
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub async fn comic(&self, id: ComicId) -> Result<(Arc<Cached>, CacheStatus), ApiError> {
        let load = async {
            let fetched = self.origin.comic_json(id).await?;
            let comic = interpret_comic(id, fetched)?;
            let json = serde_json::to_vec(&comic).expect("a comic serialises");
            Ok::<_, ApiError>(Cached::new(Bytes::from(json), "application/json"))
        };
        match id {
            ComicId::Latest => settle(self.latest.entry(()).or_try_insert_with(load).await),
            ComicId::Number(n) => {
                // The hot path: a plain lookup is much cheaper than the coalescing entry API.
                if let Some(hit) = self.comics.get(&n).await {
                    return Ok((hit, CacheStatus::Hit));
                }
                settle(self.comics.entry(n).or_try_insert_with(load).await)
            }
        }
    }

    pub async fn image(&self, file: &str) -> Result<(Arc<Cached>, CacheStatus), ApiError> {
        if let Some(hit) = self.images.get(file).await {
            return Ok((hit, CacheStatus::Hit));
        }
        let entry = self
            .images
            .entry_by_ref(file)
            .or_try_insert_with(async {
                let fetched = self.origin.image(file).await?;
                let content_type = interpret_image(file, &fetched)?;
                Ok::<_, ApiError>(Cached::new(fetched.body, content_type))
            })
            .await;
        settle(entry)
    }
}

fn settle<K>(
    entry: Result<moka::Entry<K, Arc<Cached>>, Arc<ApiError>>,
) -> Result<(Arc<Cached>, CacheStatus), ApiError> {
    match entry {
        // Fresh means this request ran the load; coalesced waiters and later ones hit.
        Ok(entry) if entry.is_fresh() => Ok((entry.into_value(), CacheStatus::Miss)),
        Ok(entry) => Ok((entry.into_value(), CacheStatus::Hit)),
        Err(err) => Err((*err).clone()),
    }
}
