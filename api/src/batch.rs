//! The batch route, `GET /api/comics?ids=1,614,latest[&wait=all]`: the proxy fetches many
//! comics for one request (the server-side fan-out of the Flask tutorial) and answers one
//! [`BatchLine`] per distinct id, as NDJSON in completion order, or with `wait=all` as one
//! JSON array in the order of `ids`.

use std::fmt;

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, Visitor},
};

use crate::{Comic, ComicId, ErrorDetail, InvalidInput, MAX_COMIC_NUMBER};

/// The most ids one batch may name (as written, repeats included).
pub const MAX_BATCH_IDS: usize = 100;
/// The longest query the batch route reads: 100 six-digit ids with `%2C` separators, `wait`,
/// every demo-network key and a cache buster fit with room to spare; the proxy refuses any
/// URI above 2,048 bytes before this.
pub const MAX_BATCH_QUERY_LEN: usize = 1536;
/// `Content-Type` of the streamed answer: one JSON object per line.
pub const NDJSON: &str = "application/x-ndjson";

/// What a batch asks for: [`parse_batch_query`] reads it, [`crate::routes::comics`] writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRequest {
    /// Distinct ids in the order they were first written.
    pub ids: Vec<ComicId>,
    /// `wait=all`: one JSON array in the order of `ids`, sent after the slowest comic.
    pub wait_all: bool,
}

/// One comic's answer in a batch: `{"id":614,"comic":{…}}` or
/// `{"id":404,"error":{"code":"not_found","message":"…"}}`. The comic is the same JSON as
/// `/api/comics/{id}` answers; the error the same as that route's error body holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "WireLine", try_from = "WireLine")]
pub struct BatchLine {
    /// The id as the request wrote it (`"latest"` stays `"latest"`).
    pub id: ComicId,
    pub outcome: BatchOutcome,
}

/// How one id of a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
// Shaped like `Result<Comic, ErrorDetail>`, which it becomes at once; boxing would only add an
// allocation per line.
#[allow(clippy::large_enum_variant)]
pub enum BatchOutcome {
    Comic(Comic),
    Error(ErrorDetail),
}

impl BatchLine {
    /// The comic, or why there is none.
    pub fn into_result(self) -> Result<Comic, ErrorDetail> {
        match self.outcome {
            BatchOutcome::Comic(comic) => Ok(comic),
            BatchOutcome::Error(error) => Err(error),
        }
    }
}

/// The line as it travels. Written out rather than `#[serde(flatten)]` on an enum, which
/// buffers every field through serde's generic content type and grows the page's wasm.
#[derive(Serialize, Deserialize)]
struct WireLine {
    id: ComicId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comic: Option<Comic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail>,
}

impl From<BatchLine> for WireLine {
    fn from(line: BatchLine) -> Self {
        let (comic, error) = match line.outcome {
            BatchOutcome::Comic(comic) => (Some(comic), None),
            BatchOutcome::Error(error) => (None, Some(error)),
        };
        WireLine {
            id: line.id,
            comic,
            error,
        }
    }
}

impl TryFrom<WireLine> for BatchLine {
    type Error = String;

    fn try_from(wire: WireLine) -> Result<Self, String> {
        let outcome = match (wire.comic, wire.error) {
            (Some(comic), None) => BatchOutcome::Comic(comic),
            (None, Some(error)) => BatchOutcome::Error(error),
            _ => {
                return Err(format!(
                    "batch line for {} needs exactly one of comic and error",
                    wire.id
                ));
            }
        };
        Ok(BatchLine { id: wire.id, outcome })
    }
}

/// On the wire an id is a JSON number, or the string `"latest"`.
impl Serialize for ComicId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ComicId::Latest => serializer.serialize_str("latest"),
            ComicId::Number(n) => serializer.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for ComicId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ComicIdVisitor)
    }
}

struct ComicIdVisitor;

impl Visitor<'_> for ComicIdVisitor {
    type Value = ComicId;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a comic number from 1 to {MAX_COMIC_NUMBER} or \"latest\"")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<ComicId, E> {
        match u32::try_from(n) {
            Ok(n) if (1..=MAX_COMIC_NUMBER).contains(&n) => Ok(ComicId::Number(n)),
            _ => Err(E::invalid_value(de::Unexpected::Unsigned(n), &self)),
        }
    }

    // serde_json hands a negative number over as i64: it gets the same clear refusal.
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<ComicId, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(n), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<ComicId, E> {
        match text {
            "latest" => Ok(ComicId::Latest),
            _ => Err(E::invalid_value(de::Unexpected::Str(text), &self)),
        }
    }
}

/// Reads the batch route's query strictly: `ids` once, 1 to [`MAX_BATCH_IDS`] comma-separated
/// ids (a literal `,` or its escape `%2C`), each exactly as `/api/comics/{id}` accepts it;
/// `wait` at most once and only `all`. Every other key (the demo network's `latency_ms`,
/// `seed`, …, the page's `fresh`) is left to its own reader, as on every route.
pub fn parse_batch_query(query: &str) -> Result<BatchRequest, InvalidInput> {
    let refuse = |why: String| Err(InvalidInput(why));
    if query.len() > MAX_BATCH_QUERY_LEN {
        return refuse(format!(
            "the query is {} bytes; a batch query may be at most {MAX_BATCH_QUERY_LEN}",
            query.len()
        ));
    }
    let mut ids_text = None;
    let mut wait_all = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "ids" if ids_text.is_some() => return refuse("ids may be given only once".into()),
            "ids" => ids_text = Some(value),
            "wait" if wait_all.is_some() => return refuse("wait may be given only once".into()),
            "wait" if value == "all" => wait_all = Some(true),
            "wait" => {
                let shown: String = value.chars().take(16).collect();
                return refuse(format!("wait may only be \"all\", got {shown:?}"));
            }
            _ => {}
        }
    }
    let Some(ids_text) = ids_text.filter(|text| !text.is_empty()) else {
        return refuse(format!("name 1 to {MAX_BATCH_IDS} comics: ?ids=1,614,latest"));
    };
    let ids_text = ids_text.replace("%2C", ",").replace("%2c", ",");
    let written = ids_text.split(',').count();
    if written > MAX_BATCH_IDS {
        return refuse(format!(
            "a batch may name at most {MAX_BATCH_IDS} comics, got {written}"
        ));
    }
    let mut ids = Vec::with_capacity(written);
    for (position, element) in ids_text.split(',').enumerate() {
        if element.is_empty() {
            return refuse(format!("ids has an empty element at position {}", position + 1));
        }
        let id = ComicId::parse(element)
            .map_err(|err| InvalidInput(format!("ids, position {}: {err}", position + 1)))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(BatchRequest {
        ids,
        wait_all: wait_all.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, parse_comic_number, routes};
    use proptest::prelude::*;

    fn request(ids: &[ComicId], wait_all: bool) -> BatchRequest {
        BatchRequest {
            ids: ids.to_vec(),
            wait_all,
        }
    }

    fn query_of(url: &str) -> &str {
        url.split_once('?').map_or("", |(_, query)| query)
    }

    #[test]
    fn built_urls_parse_back() {
        let ids = [ComicId::Number(1), ComicId::Number(614), ComicId::Latest];
        for wait_all in [false, true] {
            let url = routes::comics(&ids, wait_all);
            assert_eq!(crate::Route::parse(&url), Some(crate::Route::Comics));
            assert_eq!(parse_batch_query(query_of(&url)), Ok(request(&ids, wait_all)));
        }
        assert_eq!(routes::comics(&ids, false), "/api/comics?ids=1,614,latest");
        assert_eq!(routes::comics(&ids[..1], true), "/api/comics?ids=1&wait=all");
    }

    #[test]
    fn repeats_are_answered_once_in_first_seen_order() {
        assert_eq!(
            parse_batch_query("ids=5,1,5,latest,1,latest"),
            Ok(request(
                &[ComicId::Number(5), ComicId::Number(1), ComicId::Latest],
                false
            ))
        );
    }

    #[test]
    fn other_keys_are_left_to_their_readers() {
        assert_eq!(
            parse_batch_query("latency_ms=300&ids=7&jitter_ms=0&seed=1&fail_rate=0.5&fresh=99&wait=all&x"),
            Ok(request(&[ComicId::Number(7)], true))
        );
        assert_eq!(
            parse_batch_query("ids=1%2C2%2c3"),
            Ok(request(
                &[ComicId::Number(1), ComicId::Number(2), ComicId::Number(3)],
                false
            )),
            "an encoder's %2C is a comma"
        );
    }

    #[test]
    fn limits_are_inclusive() {
        let hundred: Vec<String> = (1..=100).map(|n| (999_900 + n - 1).to_string()).collect();
        let parsed = parse_batch_query(&format!("ids={}", hundred.join(","))).unwrap();
        assert_eq!(parsed.ids.len(), MAX_BATCH_IDS);
        let mut too_many = hundred.clone();
        too_many.push("1".into());
        let err = parse_batch_query(&format!("ids={}", too_many.join(","))).unwrap_err();
        assert!(err.0.contains("at most 100"), "{err}");
        // The longest sensible query: 100 six-digit ids escaped, every demo key, wait, fresh.
        let longest = format!(
            "ids={}&wait=all&{}&fresh=18446744073709551615",
            hundred.join("%2C"),
            crate::NetSim {
                latency_ms: 10_000,
                jitter_ms: 10_000,
                seed: u64::MAX,
                fail_rate: 0.1234567891,
                timeout_rate: 0.1234567891,
                missing_rate: 0.1234567891,
                attempt: u32::MAX,
            }
            .to_query()
        );
        assert!(longest.len() <= MAX_BATCH_QUERY_LEN, "{}", longest.len());
        assert!(parse_batch_query(&longest).is_ok());
    }

    #[test]
    fn hostile_queries_are_refused_with_a_reason() {
        let long = format!("ids=1&fresh={}", "9".repeat(MAX_BATCH_QUERY_LEN));
        for (bad, why) in [
            ("", "name 1 to"),
            ("ids", "name 1 to"),
            ("ids=", "name 1 to"),
            ("wait=all", "name 1 to"),
            ("fresh=1", "name 1 to"),
            ("ids=1,,2", "empty element at position 2"),
            ("ids=,1", "empty element at position 1"),
            ("ids=1,", "empty element at position 2"),
            ("ids=%2C", "empty element"),
            ("ids=01", "leading zero"),
            ("ids=0", "at least 1"),
            ("ids=+1", "decimal digits"),
            ("ids=-1", "decimal digits"),
            ("ids=1e3", "decimal digits"),
            ("ids=0x10", "decimal digits"),
            ("ids=1000000", "decimal digits"),
            ("ids=1.0", "decimal digits"),
            ("ids=%201", "decimal digits"),
            ("ids=1 ", "decimal digits"),
            ("ids=Latest", "decimal digits"),
            ("ids=1;2", "decimal digits"),
            ("ids=１", "decimal digits"),
            ("ids=1&ids=2", "only once"),
            ("ids=1&wait=all&wait=all", "only once"),
            ("ids=1&wait=", "wait may only be"),
            ("ids=1&wait", "wait may only be"),
            ("ids=1&wait=ALL", "wait may only be"),
            ("ids=1&wait=each", "wait may only be"),
            (long.as_str(), "at most 1536"),
        ] {
            let err = parse_batch_query(bad).expect_err(bad);
            assert!(err.0.contains(why), "{bad:?}: {err}");
        }
        let err = parse_batch_query("ids=1,2,x").unwrap_err();
        assert!(err.0.starts_with("ids, position 3:"), "{err}");
    }

    #[test]
    fn lines_have_the_documented_shape() {
        let error = BatchLine {
            id: ComicId::Number(404),
            outcome: BatchOutcome::Error(ErrorDetail {
                code: ErrorCode::NotFound,
                message: "there is no comic 404".into(),
            }),
        };
        let json = serde_json::to_string(&error).unwrap();
        assert_eq!(
            json,
            r#"{"id":404,"error":{"code":"not_found","message":"there is no comic 404"}}"#
        );
        assert_eq!(serde_json::from_str::<BatchLine>(&json).unwrap(), error);

        let comic = Comic {
            num: 3000,
            year: "2024".into(),
            month: "11".into(),
            day: "15".into(),
            title: "T".into(),
            safe_title: "T".into(),
            alt: "a".into(),
            img: Some("/api/img/t.png".into()),
            link: String::new(),
            news: String::new(),
            transcript: String::new(),
            interactive: false,
        };
        let line = BatchLine {
            id: ComicId::Latest,
            outcome: BatchOutcome::Comic(comic.clone()),
        };
        let json = serde_json::to_string(&line).unwrap();
        let comic_json = serde_json::to_string(&comic).unwrap();
        assert_eq!(json, format!(r#"{{"id":"latest","comic":{comic_json}}}"#));
        assert_eq!(
            serde_json::from_str::<BatchLine>(&json).unwrap().into_result(),
            Ok(comic)
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            r#"{"id":1}"#,
            r#"{"id":0,"error":{"code":"not_found","message":""}}"#,
            r#"{"id":"1","error":{"code":"not_found","message":""}}"#,
            r#"{"id":-1,"error":{"code":"not_found","message":""}}"#,
            r#"{"id":1.5,"error":{"code":"not_found","message":""}}"#,
            r#"{"id":1000000,"error":{"code":"not_found","message":""}}"#,
            r#"{"error":{"code":"not_found","message":""}}"#,
        ] {
            assert!(serde_json::from_str::<BatchLine>(bad).is_err(), "{bad}");
        }
        let both = format!(
            r#"{{"id":1,"error":{{"code":"not_found","message":""}},"comic":{}}}"#,
            r#"{"num":1,"year":"","month":"","day":"","title":"","safe_title":"","alt":"","img":null,"link":"","news":"","transcript":"","interactive":false}"#
        );
        assert!(serde_json::from_str::<BatchLine>(&both).is_err());
    }

    proptest! {
        #[test]
        fn any_query_is_handled_and_what_is_accepted_is_bounded(query in "\\PC{0,200}") {
            if let Ok(batch) = parse_batch_query(&query) {
                prop_assert!((1..=MAX_BATCH_IDS).contains(&batch.ids.len()));
                for (i, id) in batch.ids.iter().enumerate() {
                    prop_assert!(!batch.ids[..i].contains(id));
                }
            }
        }

        /// Queries made of the pieces real ones are made of, good and bad, so that most are
        /// close calls: what is accepted is exactly the lists whose every element is valid.
        #[test]
        fn near_miss_queries_are_accepted_only_when_every_element_is_valid(
            elements in proptest::collection::vec(
                prop_oneof!["[1-9][0-9]{0,6}", Just("latest".to_string()), Just(String::new()), "0[0-9]{0,2}", "[+-][1-9]"],
                1..=120,
            ),
            separator in prop_oneof![Just(","), Just("%2C")],
            wait in prop_oneof![Just(""), Just("&wait=all"), Just("&wait=some")],
        ) {
            let query = format!("ids={}{wait}", elements.join(separator));
            let valid = |e: &String| e == "latest" || parse_comic_number(e).is_ok();
            let distinct: std::collections::HashSet<&String> = elements.iter().collect();
            let expected = elements.iter().all(valid)
                && distinct.len() <= MAX_BATCH_IDS
                && query.len() <= MAX_BATCH_QUERY_LEN
                && wait != "&wait=some";
            prop_assert_eq!(parse_batch_query(&query).is_ok(), expected, "{}", query);
        }

        #[test]
        fn id_lists_round_trip(numbers in proptest::collection::vec(1u32..=MAX_COMIC_NUMBER, 1..=MAX_BATCH_IDS), latest: bool, wait_all: bool) {
            let mut ids: Vec<ComicId> = numbers.into_iter().map(ComicId::Number).collect();
            if latest {
                ids.push(ComicId::Latest);
                let last = ids.len() - 1;
                ids.swap(0, last);
                ids.truncate(MAX_BATCH_IDS);
            }
            let url = routes::comics(&ids, wait_all);
            let batch = parse_batch_query(query_of(&url)).unwrap();
            let mut distinct = Vec::new();
            for id in ids {
                if !distinct.contains(&id) {
                    distinct.push(id);
                }
            }
            prop_assert_eq!(batch, request(&distinct, wait_all));
        }

        #[test]
        fn ids_serialise_as_numbers_or_latest(n in 1u32..=MAX_COMIC_NUMBER) {
            prop_assert_eq!(serde_json::to_string(&ComicId::Number(n)).unwrap(), n.to_string());
            prop_assert_eq!(serde_json::from_str::<ComicId>(&n.to_string()).unwrap(), ComicId::Number(n));
        }
    }
}
