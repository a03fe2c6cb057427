//! The wire contract between the Fanout page and `fanout-proxy`.
//!
//! Both sides depend on this crate, so they cannot disagree about routes, JSON shapes,
//! or what counts as a valid comic number or image name.

mod comic;
mod error;
mod netsim;
mod validate;

pub use comic::{Comic, Health, OriginKind};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use netsim::{MAX_DELAY_MS, NetSim, NetSimError, parse_decimal};
pub use validate::{
    ComicId, InvalidInput, MAX_COMIC_NUMBER, MAX_IMAGE_NAME_LEN, XKCD_IMAGE_PREFIX, image_name_from_xkcd_url,
    parse_comic_number, validate_image_name,
};

/// Same-origin routes the page calls; the proxy mounts exactly these.
pub mod routes {
    use crate::ComicId;

    pub const HEALTH: &str = "/api/health";
    pub const IMAGE_PREFIX: &str = "/api/img/";
    /// A query key the proxy ignores: a fresh value per run keeps the browser from answering
    /// an image request from its cache when the person asked it not to.
    pub const CACHE_BUSTER: &str = "fresh";

    /// `/api/comics/latest` or `/api/comics/{n}`.
    pub fn comic(id: ComicId) -> String {
        format!("/api/comics/{id}")
    }

    /// `/api/img/{file}` for an already validated file name.
    pub fn image(file: &str) -> String {
        format!("{IMAGE_PREFIX}{file}")
    }
}
