use fanout_api::{Comic, image_name_from_xkcd_url, routes};
use serde::{Deserialize, Serialize};

/// A comic as xkcd's `info.0.json` spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XkcdComic {
    pub num: u32,
    #[serde(default)]
    pub year: String,
    #[serde(default)]
    pub month: String,
    #[serde(default)]
    pub day: String,
    pub title: String,
    #[serde(default)]
    pub safe_title: String,
    #[serde(default)]
    pub alt: String,
    pub img: String,
    #[serde(default)]
    pub link: String,
    #[serde(default)]
    pub news: String,
    #[serde(default)]
    pub transcript: String,
    /// Present on interactive comics; its content is never passed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_parts: Option<serde_json::Value>,
}

impl XkcdComic {
    /// The page's view: the image rewritten to our own origin, or `None` when unusable.
    pub fn into_comic(self) -> Comic {
        let img = image_name_from_xkcd_url(&self.img).map(routes::image);
        Comic {
            num: self.num,
            year: self.year,
            month: self.month,
            day: self.day,
            title: self.title,
            safe_title: self.safe_title,
            alt: self.alt,
            img,
            link: self.link,
            news: self.news,
            transcript: self.transcript,
            interactive: self.extra_parts.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_real_payload_with_escaped_slashes_and_drops_extra_parts() {
        let raw = r#"{"month": "7", "num": 1608, "link": "", "year": "2015", "news": "",
            "safe_title": "Hoverboard", "transcript": "", "alt": "I'm a hoverboard",
            "img": "https:\/\/imgs.xkcd.com\/comics\/", "title": "Hoverboard", "day": "29",
            "extra_parts": {"pre": "", "headerextra": "", "post": "<script>x</script>"}}"#;
        let comic = serde_json::from_str::<XkcdComic>(raw).unwrap().into_comic();
        assert_eq!(comic.num, 1608);
        assert_eq!(comic.img, None);
        assert!(comic.interactive);
        assert!(!serde_json::to_string(&comic).unwrap().contains("<script"));
    }

    #[test]
    fn rewrites_image_to_same_origin() {
        let raw = r#"{"num": 2, "title": "Petit Trees (sketch)",
            "img": "https:\/\/imgs.xkcd.com\/comics\/tree_cropped_(1).jpg"}"#;
        let comic = serde_json::from_str::<XkcdComic>(raw).unwrap().into_comic();
        assert_eq!(comic.img.as_deref(), Some("/api/img/tree_cropped_(1).jpg"));
    }
}
