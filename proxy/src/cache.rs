//! Bounded in-memory caches with request coalescing: N simultaneous requests for the same
//! uncached comic or image make exactly one upstream request (moka runs one initialiser
//! per key and hands its result to every waiter). Errors are never cached, except that
//! "not found" is remembered for a minute, and numbers above the latest comic are refused
//! without asking upstream: otherwise a client could keep every upstream slot busy with
//! comics that do not exist.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::http::HeaderValue;
use bytes::Bytes;
use fanout_api::{Comic, ComicId, routes, validate_image_name};
use moka::future::Cache;
// Tokio's clock, so that a test can let a minute pass at once.
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::upstream_share::{Lane, SharePlace, UpstreamShare};

use crate::{
    error::ApiError,
    origin::{Origin, interpret_comic, interpret_image},
};

/// xkcd's own `max-age` for the latest comic.
pub const LATEST_TTL: Duration = Duration::from_secs(300);
/// A number above the latest comic is refused on what was learnt within this long; after
/// that, the latest comic is asked for again first (one request, however many wait).
pub const LATEST_RECHECK: Duration = Duration::from_secs(60);

/// A ready-to-send response body.
#[derive(Debug)]
pub struct Cached {
    pub body: Bytes,
    pub content_type: &'static str,
    pub etag: HeaderValue,
}

impl Cached {
    pub(crate) fn new(body: Bytes, content_type: &'static str) -> Arc<Self> {
        let digest = Sha256::digest(&body);
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Arc::new(Cached {
            etag: HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header"),
            body,
            content_type,
        })
    }
}

/// Whether an answer came from the cache (the `x-cache` header and the access log).
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

/// The origin behind its caches: comics, images and remembered 404s, each fetched once
/// however many requests ask at the same time.
pub struct Store {
    origin: Arc<Origin>,
    comics: Cache<u32, Arc<Cached>>,
    latest: Cache<(), Arc<Cached>>,
    images: Cache<String, Arc<Cached>>,
    missing_comics: Cache<u32, ()>,
    missing_images: Cache<String, ()>,
    latest_known: Mutex<LatestKnown>,
    /// Held while the latest comic is asked for again, so that only one request does.
    latest_recheck: tokio::sync::Mutex<()>,
    /// Each client's share of the upstream slots (the xkcd origin only).
    share: Option<UpstreamShare>,
}

/// The newest comic number upstream has told us of, and when we last asked.
#[derive(Debug, Default, Clone, Copy)]
struct LatestKnown {
    num: Option<u32>,
    asked: Option<Instant>,
}

impl Store {
    /// `missing_ttl`: how long a "not found" from upstream is remembered.
    pub fn new(origin: Origin, image_cache_bytes: u64, missing_ttl: Duration) -> Self {
        let share = match &origin {
            Origin::Xkcd(http) => Some(UpstreamShare::new(http.max_concurrency())),
            Origin::Demo(_) => None,
        };
        Store {
            share,
            origin: Arc::new(origin),
            comics: Cache::builder().max_capacity(20_000).build(),
            latest: Cache::builder().max_capacity(1).time_to_live(LATEST_TTL).build(),
            images: Cache::builder()
                .max_capacity(image_cache_bytes)
                .weigher(|_, v: &Arc<Cached>| v.body.len().try_into().unwrap_or(u32::MAX))
                .build(),
            missing_comics: Cache::builder()
                .max_capacity(20_000)
                .time_to_live(missing_ttl)
                .build(),
            missing_images: Cache::builder()
                .max_capacity(20_000)
                .time_to_live(missing_ttl)
                .build(),
            latest_known: Mutex::new(LatestKnown::default()),
            latest_recheck: tokio::sync::Mutex::new(()),
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Comic `id` for `client`: from the cache, or fetched within the client's share.
    pub async fn comic(&self, id: ComicId, client: IpAddr) -> Result<(Arc<Cached>, CacheStatus), ApiError> {
        let n = match id {
            ComicId::Latest => return self.latest().await,
            ComicId::Number(n) => n,
        };
        // The hot path: a plain lookup is much cheaper than the coalescing entry API.
        if let Some(hit) = self.comics.get(&n).await {
            return Ok((hit, CacheStatus::Hit));
        }
        if self.missing_comics.contains_key(&n) {
            return Err(ApiError::no_such_comic(id));
        }
        if let Some(latest) = self.beyond_latest(n).await {
            return Err(ApiError::NotFound(format!(
                "there is no comic {n}: the latest is {latest}"
            )));
        }
        let place = self.enter_share(client, Lane::Starts).await;
        let loaded = settle(self.comics.entry(n).or_try_insert_with(self.load_comic(id)).await);
        if let Err(ApiError::NotFound(_)) = &loaded {
            self.missing_comics.insert(n, ()).await;
        }
        if let (Ok((comic, CacheStatus::Miss)), Some(place)) = (&loaded, place) {
            self.fetch_its_image(comic, place);
        }
        loaded
    }

    /// Fetches a comic's image the moment its metadata is in, with the same place in the
    /// client's share, so that the comic is completed before new ones start. The page asks
    /// for the image as soon as the metadata arrives, but by then freed places have gone to
    /// the next metadata fetches: a gather of 100 on the xkcd path showed its first tile at
    /// 2,146 ms (one chain is 600). The page's own request finds the image in the cache, or
    /// waits for this very fetch (the cache's coalescing) without a place of its own.
    fn fetch_its_image(&self, comic: &Cached, place: SharePlace) {
        let Some(file) = image_file(comic) else {
            return;
        };
        if self.images.contains_key(&file) || self.missing_images.contains_key(&file) {
            return;
        }
        let (origin, images, missing) = (
            self.origin.clone(),
            self.images.clone(),
            self.missing_images.clone(),
        );
        tokio::spawn(async move {
            let _place = place;
            let loaded = images
                .entry_by_ref(&file)
                .or_try_insert_with(fetch_image(&origin, &file))
                .await;
            if let Err(err) = loaded
                && let ApiError::NotFound(_) = *err
            {
                missing.insert(file, ()).await;
            }
        });
    }

    /// A place in `client`'s share of the upstream, for a request that may have to fetch.
    async fn enter_share(&self, client: IpAddr, lane: Lane) -> Option<SharePlace> {
        match &self.share {
            Some(share) => Some(share.enter(client, lane).await),
            None => None,
        }
    }

    async fn latest(&self) -> Result<(Arc<Cached>, CacheStatus), ApiError> {
        settle(
            self.latest
                .entry(())
                .or_try_insert_with(self.load_comic(ComicId::Latest))
                .await,
        )
    }

    async fn load_comic(&self, id: ComicId) -> Result<Arc<Cached>, ApiError> {
        let asked = Instant::now();
        let fetched = self.origin.comic_json(id).await;
        let comic = fetched
            .map_err(ApiError::from)
            .and_then(|f| interpret_comic(id, f));
        if id == ComicId::Latest {
            let mut known = self.latest_known.lock().expect("never poisoned");
            known.asked = Some(asked);
            if let Ok(comic) = &comic {
                known.num = Some(comic.num);
            }
        }
        let json = serde_json::to_vec(&comic?).expect("a comic serialises");
        Ok(Cached::new(Bytes::from(json), "application/json"))
    }

    /// The latest comic's number when `n` is above it, judged on what was learnt within
    /// [`LATEST_RECHECK`] (asking again first when that is older). `None` lets the request
    /// through, including when upstream cannot say what the latest is.
    async fn beyond_latest(&self, n: u32) -> Option<u32> {
        let known = || *self.latest_known.lock().expect("never poisoned");
        let fresh = |k: LatestKnown| k.asked.is_some_and(|at| at.elapsed() < LATEST_RECHECK);
        let first = known();
        if first.num.is_some_and(|latest| n <= latest) {
            return None;
        }
        if !fresh(first) {
            let _one_at_a_time = self.latest_recheck.lock().await;
            if !fresh(known()) {
                self.latest.invalidate(&()).await;
                let _ = self.latest().await;
            }
        }
        known().num.filter(|&latest| n > latest)
    }

    /// Image `file` for `client`: from the cache, or fetched within the client's share.
    pub async fn image(&self, file: &str, client: IpAddr) -> Result<(Arc<Cached>, CacheStatus), ApiError> {
        if let Some(hit) = self.images.get(file).await {
            return Ok((hit, CacheStatus::Hit));
        }
        if self.missing_images.contains_key(file) {
            return Err(ApiError::missing_image(file));
        }
        // An image completes a comic whose metadata is delivered: it goes first.
        let entry = self
            .images
            .entry_by_ref(file)
            .or_try_insert_with(async {
                // Only a request that fetches takes a place: one that finds its image on
                // the way (fetched with its comic) waits for that fetch instead.
                let _place = self.enter_share(client, Lane::Completes).await;
                fetch_image(&self.origin, file).await
            })
            .await;
        let loaded = settle(entry);
        if let Err(ApiError::NotFound(_)) = &loaded {
            self.missing_images.insert(file.to_owned(), ()).await;
        }
        loaded
    }
}

/// Image `file` from upstream, checked and ready to serve.
async fn fetch_image(origin: &Origin, file: &str) -> Result<Arc<Cached>, ApiError> {
    let fetched = origin.image(file).await?;
    let content_type = interpret_image(file, &fetched)?;
    // Hashing up to 8 MiB for the ETag is CPU work too.
    tokio::task::spawn_blocking(move || Cached::new(fetched.body, content_type))
        .await
        .map_err(|_| ApiError::Upstream("the image could not be stored".into()))
}

/// The image file a served comic names (`/api/img/{file}`), if it has one.
fn image_file(comic: &Cached) -> Option<String> {
    let comic: Comic = serde_json::from_slice(&comic.body).ok()?;
    let file = comic.img?.strip_prefix(routes::IMAGE_PREFIX)?.to_owned();
    validate_image_name(&file).ok()?;
    Some(file)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::DemoOrigin;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn refused(result: Result<(Arc<Cached>, CacheStatus), ApiError>) -> bool {
        matches!(result, Err(ApiError::NotFound(message)) if message.contains("the latest is 3000"))
    }

    #[tokio::test(start_paused = true)]
    async fn the_latest_comic_is_asked_for_again_only_when_what_we_know_is_stale() {
        let store = Store::new(Origin::Demo(DemoOrigin), 1 << 20, Duration::from_secs(60));
        let asked = || store.latest_known.lock().unwrap().asked;
        assert!(refused(store.comic(ComicId::Number(3001), LOCAL).await));
        let first = asked().expect("the latest was asked for");
        tokio::time::advance(LATEST_RECHECK / 2).await;
        assert!(refused(store.comic(ComicId::Number(3002), LOCAL).await));
        assert_eq!(asked(), Some(first), "fresh enough: not asked again");
        assert!(store.comic(ComicId::Number(2999), LOCAL).await.is_ok());
        tokio::time::advance(LATEST_RECHECK).await;
        assert!(refused(store.comic(ComicId::Number(3003), LOCAL).await));
        assert!(asked().unwrap() > first, "stale: asked again before refusing");
    }
}
