//! Reads the proxy's answers from JSON the browser has already parsed (`Response.json()`,
//! `JSON.parse`), field by field. Serde (with serde-wasm-bindgen) did this before; its
//! generic machinery and error texts kept f64 printing and `escape_debug` in the page's wasm.
//! The names here are the wire's: the tests check every type against `fanout-api`'s own serde
//! derives, so the two cannot drift apart.

use fanout_api::{
    BatchLine, BatchOutcome, Comic, ComicId, ErrorBody, ErrorCode, ErrorDetail, Health, OriginKind,
};
use wasm_bindgen::{JsCast, JsValue};

/// A parsed JSON value: the browser's in the page, serde_json's in the native tests.
pub trait Json: Sized {
    /// The member `key` of an object; `None` when it is missing or `null`.
    fn field(&self, key: &str) -> Option<Self>;
    fn string(&self) -> Option<String>;
    fn number(&self) -> Option<f64>;
    fn boolean(&self) -> Option<bool>;
    fn items(&self) -> Option<Vec<Self>>;
}

impl Json for JsValue {
    fn field(&self, key: &str) -> Option<Self> {
        if !self.is_object() {
            return None;
        }
        js_sys::Reflect::get(self, &JsValue::from_str(key))
            .ok()
            .filter(|value| !value.is_undefined() && !value.is_null())
    }

    fn string(&self) -> Option<String> {
        self.as_string()
    }

    fn number(&self) -> Option<f64> {
        self.as_f64()
    }

    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }

    fn items(&self) -> Option<Vec<Self>> {
        self.dyn_ref::<js_sys::Array>().map(js_sys::Array::to_vec)
    }
}

/// A type the page reads from the proxy's JSON.
pub trait Decode: Sized {
    fn decode<J: Json>(value: &J) -> Result<Self, String>;
}

/// The member `key`, which must be there.
fn required<T: Decode, J: Json>(object: &J, key: &str) -> Result<T, String> {
    optional(object, key)?.ok_or_else(|| missing(key))
}

/// The member `key`, which may be missing or `null`.
fn optional<T: Decode, J: Json>(object: &J, key: &str) -> Result<Option<T>, String> {
    object
        .field(key)
        .map(|value| T::decode(&value).map_err(|err| within(key, err)))
        .transpose()
}

// The messages are built apart from the generic readers above, so that each type read does
// not compile its own copy of them.
#[inline(never)]
fn missing(key: &str) -> String {
    format!("missing field `{key}`")
}

#[inline(never)]
fn within(key: &str, err: String) -> String {
    format!("{key}: {err}")
}

impl Decode for String {
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        value.string().ok_or_else(|| "expected a string".into())
    }
}

impl Decode for bool {
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        value.boolean().ok_or_else(|| "expected true or false".into())
    }
}

impl Decode for u32 {
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        let number = value.number().ok_or("expected a number")?;
        // The cast saturates, so fractions, negatives and overflow all fail the comparison.
        let whole = number as u32;
        if f64::from(whole) == number {
            Ok(whole)
        } else {
            Err("expected a whole number from 0 to 4294967295".into())
        }
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        value
            .items()
            .ok_or("expected an array")?
            .iter()
            .map(T::decode)
            .collect()
    }
}

impl Decode for ComicId {
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        if value.string().as_deref() == Some("latest") {
            return Ok(ComicId::Latest);
        }
        match value.number().map(|_| u32::decode(value)) {
            Some(Ok(num)) if (1..=fanout_api::MAX_COMIC_NUMBER).contains(&num) => Ok(ComicId::Number(num)),
            _ => Err(format!(
                "expected a comic number from 1 to {} or \"latest\"",
                fanout_api::MAX_COMIC_NUMBER
            )),
        }
    }
}

/// Every error code under its wire name (`fanout-api` spells it out only through serde).
const ERROR_CODES: [(ErrorCode, &str); 10] = [
    (ErrorCode::BadRequest, "bad_request"),
    (ErrorCode::NotFound, "not_found"),
    (ErrorCode::MethodNotAllowed, "method_not_allowed"),
    (ErrorCode::UriTooLong, "uri_too_long"),
    (ErrorCode::HeadersTooLarge, "headers_too_large"),
    (ErrorCode::RateLimited, "rate_limited"),
    (ErrorCode::UpstreamError, "upstream_error"),
    (ErrorCode::UpstreamTimeout, "upstream_timeout"),
    (ErrorCode::MisdirectedRequest, "misdirected_request"),
    (ErrorCode::Overloaded, "overloaded"),
];

impl Decode for ErrorCode {
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        let name = String::decode(value)?;
        ERROR_CODES
            .into_iter()
            .find(|(_, wire)| *wire == name)
            .map(|(code, _)| code)
            .ok_or_else(|| "unknown error code".into())
    }
}

impl Decode for OriginKind {
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        let name = String::decode(value)?;
        OriginKind::ALL
            .into_iter()
            .find(|origin| origin.as_str() == name)
            .ok_or_else(|| "unknown origin".into())
    }
}

impl Decode for Comic {
    // Read by the single route and by each line of a batch: one copy for both.
    #[inline(never)]
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        Ok(Comic {
            num: required(value, "num")?,
            year: required(value, "year")?,
            month: required(value, "month")?,
            day: required(value, "day")?,
            title: required(value, "title")?,
            safe_title: required(value, "safe_title")?,
            alt: required(value, "alt")?,
            img: optional(value, "img")?,
            link: required(value, "link")?,
            news: required(value, "news")?,
            transcript: required(value, "transcript")?,
            interactive: required(value, "interactive")?,
        })
    }
}

impl Decode for Health {
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        Ok(Health {
            origin: required(value, "origin")?,
            description: required(value, "description")?,
            latest: optional(value, "latest")?,
        })
    }
}

impl Decode for ErrorDetail {
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        Ok(ErrorDetail {
            code: required(value, "code")?,
            message: required(value, "message")?,
        })
    }
}

impl Decode for ErrorBody {
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        Ok(ErrorBody {
            error: required(value, "error")?,
        })
    }
}

impl Decode for BatchLine {
    /// `{"id":…,"comic":{…}}` or `{"id":…,"error":{…}}`: exactly one of the two.
    fn decode<J: Json>(value: &J) -> Result<Self, String> {
        let id = required(value, "id")?;
        let outcome = match (optional(value, "comic")?, optional(value, "error")?) {
            (Some(comic), None) => BatchOutcome::Comic(comic),
            (None, Some(error)) => BatchOutcome::Error(error),
            _ => {
                return Err(format!(
                    "batch line for {id} needs exactly one of comic and error"
                ));
            }
        };
        Ok(BatchLine { id, outcome })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    impl Json for Value {
        fn field(&self, key: &str) -> Option<Self> {
            self.get(key).filter(|value| !value.is_null()).cloned()
        }

        fn string(&self) -> Option<String> {
            self.as_str().map(str::to_owned)
        }

        fn number(&self) -> Option<f64> {
            self.as_f64()
        }

        fn boolean(&self) -> Option<bool> {
            self.as_bool()
        }

        fn items(&self) -> Option<Vec<Self>> {
            self.as_array().cloned()
        }
    }

    /// `value` as the proxy writes it (serde), read back the way the page reads it.
    fn round_trip<T: serde::Serialize + Decode + PartialEq + std::fmt::Debug>(value: T) {
        let wire = serde_json::to_value(&value).unwrap();
        assert_eq!(T::decode(&wire), Ok(value), "{wire}");
    }

    fn comic(num: u32, img: Option<&str>) -> Comic {
        Comic {
            num,
            year: "2009".into(),
            month: "7".into(),
            day: "1".into(),
            title: "Title".into(),
            safe_title: "Safe \"title\"".into(),
            alt: "alt text é".into(),
            img: img.map(str::to_owned),
            link: "https://example.org".into(),
            news: String::new(),
            transcript: "[[a]]\n".into(),
            interactive: img.is_none(),
        }
    }

    #[test]
    fn reads_every_answer_the_proxy_writes() {
        round_trip(comic(614, Some("/api/img/woodpecker.png")));
        round_trip(comic(1608, None));
        for origin in OriginKind::ALL {
            for latest in [None, Some(3000)] {
                round_trip(Health {
                    origin,
                    description: "demo origin".into(),
                    latest,
                });
            }
        }
        round_trip(ErrorBody::new(ErrorCode::Overloaded, "busy"));
        round_trip(vec![
            BatchLine {
                id: ComicId::Number(614),
                outcome: BatchOutcome::Comic(comic(614, Some("/api/img/a.png"))),
            },
            BatchLine {
                id: ComicId::Latest,
                outcome: BatchOutcome::Error(ErrorDetail {
                    code: ErrorCode::NotFound,
                    message: "no such comic".into(),
                }),
            },
        ]);
    }

    #[test]
    fn error_codes_have_their_wire_names() {
        let every_code: Vec<ErrorCode> = (100..600).filter_map(ErrorCode::from_status).collect();
        assert_eq!(every_code.len(), ERROR_CODES.len());
        for code in every_code {
            let (_, name) = ERROR_CODES.iter().find(|(c, _)| *c == code).unwrap();
            assert_eq!(serde_json::to_value(code).unwrap(), *name);
            round_trip(ErrorDetail {
                code,
                message: "m".into(),
            });
        }
    }

    #[test]
    fn refuses_what_serde_refuses() {
        let mut wire = serde_json::to_value(comic(1, None)).unwrap();
        wire["num"] = json!(1.5);
        assert_eq!(
            Comic::decode(&wire),
            Err("num: expected a whole number from 0 to 4294967295".into())
        );
        for bad in [json!(-1), json!(4294967296.0), json!("1")] {
            assert!(u32::decode(&bad).is_err(), "{bad}");
        }
        wire.as_object_mut().unwrap().remove("num");
        assert_eq!(Comic::decode(&wire), Err("missing field `num`".into()));
        for bad in [
            json!(0),
            json!(1_000_000),
            json!(2.5),
            json!("Latest"),
            json!(null),
        ] {
            assert!(ComicId::decode(&bad).is_err(), "{bad}");
            assert!(serde_json::from_value::<ComicId>(bad).is_err());
        }
        assert!(ErrorCode::decode(&json!("teapot")).is_err());
        assert!(OriginKind::decode(&json!("Xkcd")).is_err());
        let both = json!({"id": 1, "comic": serde_json::to_value(comic(1, None)).unwrap(), "error": {"code": "not_found", "message": "m"}});
        let neither = json!({"id": 1});
        for bad in [both, neither] {
            assert!(BatchLine::decode(&bad).is_err(), "{bad}");
            assert!(serde_json::from_value::<BatchLine>(bad).is_err());
        }
        assert!(Vec::<BatchLine>::decode(&json!({"id": 1})).is_err());
    }
}
