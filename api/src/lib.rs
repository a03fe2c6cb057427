//! The wire contract between the Fanout page and `fanout-proxy`.
//!
//! Both sides depend on this crate, so they cannot disagree about routes, JSON shapes,
//! or what counts as a valid comic number or image name.

mod batch;
mod comic;
mod error;
mod netsim;
pub mod routes;
mod validate;

pub use batch::{
    BatchLine, BatchOutcome, BatchRequest, MAX_BATCH_IDS, MAX_BATCH_QUERY_LEN, NDJSON, parse_batch_query,
};
pub use comic::{Comic, Health, OriginKind};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use netsim::{MAX_DELAY_MS, NetSim, NetSimError, parse_decimal};
pub use routes::Route;
pub use validate::{
    ComicId, InvalidInput, MAX_COMIC_NUMBER, MAX_IMAGE_NAME_LEN, XKCD_IMAGE_PREFIX, image_name_from_xkcd_url,
    parse_comic_number, validate_image_name,
};
