use std::fmt;

/// The largest comic number accepted: six digits.
pub const MAX_COMIC_NUMBER: u32 = 999_999;
/// The longest image file name accepted.
pub const MAX_IMAGE_NAME_LEN: usize = 128;
/// Images are only ever taken from this exact directory upstream.
pub const XKCD_IMAGE_PREFIX: &str = "https://imgs.xkcd.com/comics/";

const IMAGE_EXTENSIONS: [&str; 4] = [".png", ".jpg", ".jpeg", ".gif"];

/// Why a piece of client input was refused; the message is safe to show to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput(pub String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

/// `latest` or a comic number, as it appears in `/api/comics/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComicId {
    Latest,
    Number(u32),
}

impl ComicId {
    pub fn parse(segment: &str) -> Result<Self, InvalidInput> {
        if segment == "latest" {
            Ok(ComicId::Latest)
        } else {
            parse_comic_number(segment).map(ComicId::Number)
        }
    }
}

impl fmt::Display for ComicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComicId::Latest => f.write_str("latest"),
            ComicId::Number(n) => write!(f, "{n}"),
        }
    }
}

/// A plain decimal comic number: 1 to 6 ASCII digits, no sign, no leading zero, at least 1.
pub fn parse_comic_number(text: &str) -> Result<u32, InvalidInput> {
    let shown: String = text.chars().take(16).collect();
    if text.is_empty() || text.len() > 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidInput(format!(
            "comic number must be 1 to 6 decimal digits, got {shown:?}"
        )));
    }
    if text.starts_with('0') {
        return Err(InvalidInput(format!(
            "comic number must be at least 1 with no leading zero, got {shown:?}"
        )));
    }
    // Six digits always fit in u32. Summed digit by digit: `parse().expect(..)` kept
    // ParseIntError's Debug (and Debug's struct printer) in the page's wasm for a panic that
    // cannot happen.
    Ok(text.bytes().fold(0, |n, digit| n * 10 + u32::from(digit - b'0')))
}

/// One safe image file name: letters, digits and `_ - . ( )`, an image extension,
/// no separators, no dot-dot, not hidden, bounded length.
pub fn validate_image_name(name: &str) -> Result<&str, InvalidInput> {
    let shown: String = name.chars().take(40).collect();
    let refuse = |why: &str| Err(InvalidInput(format!("image name {shown:?} {why}")));
    if name.is_empty() || name.len() > MAX_IMAGE_NAME_LEN {
        return refuse(&format!("must be 1 to {MAX_IMAGE_NAME_LEN} characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'(' | b')'))
    {
        return refuse("may only contain letters, digits and _ - . ( )");
    }
    // A byte-pair scan, not `contains("..")`: the page's only substring search, whose
    // searcher was code of its own in the wasm (312 B of a first visit's gzip).
    if name.starts_with('.') || name.as_bytes().windows(2).any(|pair| pair == b"..") {
        return refuse("may not start with a dot or contain '..'");
    }
    let lower = name.to_ascii_lowercase();
    // A name that is only an extension starts with a dot, refused above.
    if IMAGE_EXTENSIONS.iter().any(|ext| lower.ends_with(ext)) {
        Ok(name)
    } else {
        refuse("must end in .png, .jpg, .jpeg or .gif")
    }
}

/// The image file name of an upstream `img` URL, when it is exactly one image file
/// directly under [`XKCD_IMAGE_PREFIX`]; `None` for interactive comics and anything odd.
pub fn image_name_from_xkcd_url(img: &str) -> Option<&str> {
    let name = img.strip_prefix(XKCD_IMAGE_PREFIX)?;
    validate_image_name(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn comic_numbers() {
        assert_eq!(parse_comic_number("1"), Ok(1));
        assert_eq!(parse_comic_number("614"), Ok(614));
        assert_eq!(parse_comic_number("999999"), Ok(999_999));
        for bad in [
            "", "0", "01", "+1", "-1", "1000000", "1.0", "1e3", " 1", "1 ", "０", "12a", "0x10",
        ] {
            assert!(parse_comic_number(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn comic_ids() {
        assert_eq!(ComicId::parse("latest"), Ok(ComicId::Latest));
        assert_eq!(ComicId::parse("42"), Ok(ComicId::Number(42)));
        assert!(ComicId::parse("Latest").is_err());
        assert_eq!(ComicId::Number(42).to_string(), "42");
    }

    #[test]
    fn image_names() {
        for good in ["barrel_cropped_(1).jpg", "hoverboard.png", "a.gif", "x-y.JPEG"] {
            assert_eq!(validate_image_name(good), Ok(good));
        }
        for bad in [
            "",
            ".png",
            "..png",
            "a..png",
            "../etc/passwd.png",
            "a/b.png",
            "a\\b.png",
            "a%2fb.png",
            "a.svg",
            "a.png.exe",
            "a b.png",
            ".hidden.png",
            "a\0.png",
            "ä.png",
        ] {
            assert!(validate_image_name(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(validate_image_name(&format!("{}.png", "a".repeat(200))).is_err());
    }

    #[test]
    fn upstream_image_urls() {
        assert_eq!(
            image_name_from_xkcd_url("https://imgs.xkcd.com/comics/barrel_cropped_(1).jpg"),
            Some("barrel_cropped_(1).jpg")
        );
        for odd in [
            "https://imgs.xkcd.com/comics/",
            "http://imgs.xkcd.com/comics/a.png",
            "https://imgs.xkcd.com/comics/sub/a.png",
            "https://imgs.xkcd.com.evil.example/comics/a.png",
            "https://evil.example/comics/a.png",
            "https://imgs.xkcd.com/comics/a.png?x=1",
            "https://imgs.xkcd.com/comics/../a.png",
        ] {
            assert_eq!(image_name_from_xkcd_url(odd), None, "{odd:?}");
        }
    }

    proptest! {
        #[test]
        fn accepted_numbers_round_trip(text in "\\PC{0,10}") {
            if let Ok(n) = parse_comic_number(&text) {
                prop_assert!((1..=MAX_COMIC_NUMBER).contains(&n));
                prop_assert_eq!(n.to_string(), text);
            }
        }

        #[test]
        fn every_number_in_range_is_accepted(n in 1u32..=MAX_COMIC_NUMBER) {
            prop_assert_eq!(parse_comic_number(&n.to_string()), Ok(n));
        }

        #[test]
        fn accepted_image_names_are_single_safe_segments(name in "[a-zA-Z0-9_.()/%\\\\-]{0,20}\\.(png|gif|jpg|svg)") {
            if let Ok(ok) = validate_image_name(&name) {
                prop_assert!(!ok.contains('/') && !ok.contains('\\') && !ok.contains(".."));
                prop_assert!(!ok.starts_with('.'));
                prop_assert!(ok.len() <= MAX_IMAGE_NAME_LEN);
                prop_assert!(!ok.ends_with(".svg"));
            }
        }

        #[test]
        fn any_string_is_handled(name in "\\PC{0,300}") {
            let _ = validate_image_name(&name);
            let _ = image_name_from_xkcd_url(&name);
        }
    }
}
