//! A built-in origin shaped like xkcd, for machines without the internet and for every test
//! and benchmark. It answers exactly what xkcd would: the same JSON (old comics with
//! escaped slashes), HTTP 404 with an HTML page for comic 404 and for unknown numbers,
//! interactive comics whose `img` is a bare directory, and PNG images.

use bytes::Bytes;
use fanout_api::{ComicId, XKCD_IMAGE_PREFIX};

use super::{Fetched, XkcdComic, demo_image};

/// The newest comic in the demo catalogue.
pub const DEMO_LATEST: u32 = 3000;

/// Comics that, like xkcd's interactive ones, have no usable image.
const INTERACTIVE: [u32; 5] = [1190, 1416, 1608, 1663, 2198];

const ADJECTIVES: [&str; 24] = [
    "Concurrent",
    "Lazy",
    "Recursive",
    "Quantum",
    "Orbital",
    "Tiny",
    "Infinite",
    "Async",
    "Borrowed",
    "Parallel",
    "Cached",
    "Distant",
    "Hidden",
    "Sudden",
    "Gentle",
    "Sharded",
    "Eventual",
    "Atomic",
    "Bounded",
    "Spurious",
    "Nested",
    "Stale",
    "Blocking",
    "Idle",
];
const NOUNS: [&str; 24] = [
    "Tuesday",
    "Raptors",
    "Hat",
    "Graph",
    "Sandwich",
    "Protocol",
    "Volcano",
    "Password",
    "Kite",
    "Compiler",
    "Bridge",
    "Telescope",
    "Lemma",
    "Dinosaur",
    "Queue",
    "Latency",
    "Penguin",
    "Router",
    "Physicist",
    "Spreadsheet",
    "Comet",
    "Future",
    "Mutex",
    "Balloon",
];
const ALT_TEMPLATES: [&str; 6] = [
    "The {} was fine until someone measured it.",
    "I keep telling people the {} is a feature.",
    "Every {} is a distributed system if you wait long enough.",
    "My advisor still thinks the {} is a metaphor.",
    "In my defense, the {} started it.",
    "Somewhere, a {} is waiting on six connections.",
];

/// The built-in, offline origin shaped like xkcd: generated comics and images, no network.
#[derive(Debug, Default, Clone, Copy)]
pub struct DemoOrigin;

impl DemoOrigin {
    pub fn comic_json(&self, id: ComicId) -> Fetched {
        let num = match id {
            ComicId::Latest => DEMO_LATEST,
            ComicId::Number(n) => n,
        };
        match demo_comic(num) {
            Some(comic) => {
                let mut json = serde_json::to_string(&comic).expect("a comic serialises");
                if num < 1000 {
                    // xkcd's older payloads escape every slash.
                    json = json.replace('/', "\\/");
                }
                Fetched {
                    status: 200,
                    content_type: Some("application/json".into()),
                    body: Bytes::from(json),
                }
            }
            None => not_found(),
        }
    }

    pub fn image(&self, file: &str) -> Fetched {
        match comic_of_image(file).and_then(demo_comic) {
            // The exact name only: any other spelling would be one more cache entry to fill.
            Some(comic) if comic.img.strip_prefix(XKCD_IMAGE_PREFIX) == Some(file) => Fetched {
                status: 200,
                content_type: Some("image/png".into()),
                body: Bytes::from(demo_image::render(comic.num, &comic.safe_title)),
            },
            _ => not_found(),
        }
    }
}

fn not_found() -> Fetched {
    Fetched {
        status: 404,
        content_type: Some("text/html; charset=utf-8".into()),
        body: Bytes::from_static(b"<html><body><h1>404 - Not Found</h1></body></html>"),
    }
}

/// A deterministic 64-bit mix, so that every comic looks different but never changes.
pub(super) fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn demo_comic(num: u32) -> Option<XkcdComic> {
    if num == 0 || num == 404 || num > DEMO_LATEST {
        return None;
    }
    let h = mix(u64::from(num));
    let adjective = ADJECTIVES[(h % 24) as usize];
    let noun = NOUNS[((h >> 8) % 24) as usize];
    let title = format!("{adjective} {noun}");
    let slug = title.to_ascii_lowercase().replace(' ', "_");
    // A few names carry parentheses, as some of xkcd's do.
    let file = if num.is_multiple_of(37) {
        format!("{slug}_({num}).png")
    } else {
        format!("{slug}_{num}.png")
    };
    let interactive = INTERACTIVE.contains(&num);
    let (year, month, day) = publication_date(num);
    let alt = ALT_TEMPLATES[((h >> 16) % 6) as usize].replace("{}", &noun.to_ascii_lowercase());
    Some(XkcdComic {
        num,
        year: year.to_string(),
        month: month.to_string(),
        day: day.to_string(),
        safe_title: title.clone(),
        transcript: format!("[[A stick figure regards the {}.]]", noun.to_ascii_lowercase()),
        title,
        alt,
        img: if interactive {
            XKCD_IMAGE_PREFIX.to_owned()
        } else {
            format!("{XKCD_IMAGE_PREFIX}{file}")
        },
        link: String::new(),
        news: String::new(),
        extra_parts: interactive.then(|| serde_json::json!({"pre": "", "post": "", "headerextra": ""})),
    })
}

/// The comic number a demo image name ends with: `…_614.png` or `…_(629).png`.
fn comic_of_image(file: &str) -> Option<u32> {
    let stem = file.strip_suffix(".png")?;
    let tail = stem.rsplit('_').next()?;
    let digits = tail
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(tail);
    fanout_api::parse_comic_number(digits).ok()
}

/// Three comics a week from 2006-01-01, like xkcd's Monday/Wednesday/Friday.
fn publication_date(num: u32) -> (i32, u8, u8) {
    let first = time::Date::from_calendar_date(2006, time::Month::January, 1).expect("a real date");
    let date = first + time::Duration::days(i64::from(num) * 7 / 3);
    (date.year(), u8::from(date.month()), date.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::interpret_comic;

    #[test]
    fn dates_start_in_2006_and_stay_valid() {
        assert_eq!(publication_date(0), (2006, 1, 1));
        assert_eq!(publication_date(3), (2006, 1, 8));
        let (y, m, d) = publication_date(DEMO_LATEST);
        assert!((2024..2030).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d));
        // Day 791 crosses 2008's 29 February.
        assert_eq!(publication_date(339), (2008, 3, 2));
    }

    #[test]
    fn every_comic_parses_like_xkcd_and_its_image_resolves() {
        let demo = DemoOrigin;
        for num in 1..=DEMO_LATEST {
            let fetched = demo.comic_json(ComicId::Number(num));
            if num == 404 {
                assert_eq!(fetched.status, 404);
                continue;
            }
            let comic = interpret_comic(ComicId::Number(num), fetched).unwrap();
            assert_eq!(comic.num, num);
            match comic.img {
                Some(path) => {
                    let file = path.strip_prefix(fanout_api::routes::IMAGE_PREFIX).unwrap();
                    assert_eq!(comic_of_image(file), Some(num), "{file}");
                }
                None => assert!(INTERACTIVE.contains(&num)),
            }
        }
    }

    #[test]
    fn old_comics_escape_slashes() {
        let body = DemoOrigin.comic_json(ComicId::Number(12)).body;
        assert!(
            std::str::from_utf8(&body)
                .unwrap()
                .contains(r"https:\/\/imgs.xkcd.com\/comics\/")
        );
    }

    #[test]
    fn unknown_image_names_are_missing() {
        assert_eq!(DemoOrigin.image("nope_12.png").status, 404);
        assert_eq!(DemoOrigin.image("x.png").status, 404);
    }

    #[test]
    fn only_the_exact_image_name_answers() {
        let comic = demo_comic(614).unwrap();
        let file = comic.img.strip_prefix(XKCD_IMAGE_PREFIX).unwrap();
        assert_eq!(DemoOrigin.image(file).status, 200);
        for alias in [
            &file[1..],
            &file[file.len() - 7..],
            "614.png",
            &format!("x{file}"),
        ] {
            assert_eq!(DemoOrigin.image(alias).status, 404, "{alias}");
        }
    }
}
