use serde::{Deserialize, Serialize};

/// A comic as the proxy serves it to the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comic {
    pub num: u32,
    pub year: String,
    pub month: String,
    pub day: String,
    pub title: String,
    pub safe_title: String,
    pub alt: String,
    /// Same-origin image path (`/api/img/{file}`), or `None` when the comic has no usable image.
    pub img: Option<String>,
    pub link: String,
    pub news: String,
    pub transcript: String,
    /// True for the interactive comics that xkcd marks with `extra_parts`.
    pub interactive: bool,
}

impl Comic {
    /// The comic's page on xkcd.com, for "view the original" links.
    pub fn xkcd_url(&self) -> String {
        format!("https://xkcd.com/{}/", self.num)
    }

    /// `YYYY-MM-DD`, or empty when the upstream date is incomplete.
    pub fn date(&self) -> String {
        match (
            self.year.parse::<u32>(),
            self.month.parse::<u32>(),
            self.day.parse::<u32>(),
        ) {
            (Ok(y), Ok(m), Ok(d)) => format!("{y:04}-{m:02}-{d:02}"),
            _ => String::new(),
        }
    }
}

/// Which upstream the proxy uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OriginKind {
    Xkcd,
    Demo,
}

impl OriginKind {
    /// Every origin, for readers that look one up by its wire name.
    pub const ALL: [OriginKind; 2] = [OriginKind::Xkcd, OriginKind::Demo];

    /// The name on the wire (`"xkcd"`, `"demo"`). The page uses this rather than
    /// lowercasing the `Debug` text: `str::to_lowercase` brings Unicode's case tables, 11 KB,
    /// into the page's wasm.
    pub fn as_str(self) -> &'static str {
        match self {
            OriginKind::Xkcd => "xkcd",
            OriginKind::Demo => "demo",
        }
    }
}

/// `GET /api/health`: answered at all means the proxy is up; the body says what it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub origin: OriginKind,
    /// A short human description, e.g. "demo origin: offline catalogue".
    pub description: String,
    /// The newest comic number the origin is known to have, when known.
    pub latest: Option<u32>,
    /// The host names that reach this same proxy, for spreading a run's requests over more
    /// HTTP/1.1 connections (domain sharding): shard `j` is `shard_hosts[j]` at the page's
    /// own scheme and port. Empty: this proxy offers no shards.
    #[serde(default)]
    pub shard_hosts: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_names_are_the_wire_names() {
        for origin in OriginKind::ALL {
            assert_eq!(serde_json::to_value(origin).unwrap(), origin.as_str());
        }
    }

    #[test]
    fn all_lists_every_origin_once() {
        // A new variant stops this match from compiling until it is placed in `ALL`.
        let position = |origin| match origin {
            OriginKind::Xkcd => 0,
            OriginKind::Demo => 1,
        };
        let positions: Vec<usize> = OriginKind::ALL.into_iter().map(position).collect();
        assert_eq!(positions, (0..OriginKind::ALL.len()).collect::<Vec<_>>());
    }

    #[test]
    fn date_is_zero_padded_iso() {
        let comic = Comic {
            num: 1,
            year: "2006".into(),
            month: "1".into(),
            day: "1".into(),
            title: String::new(),
            safe_title: String::new(),
            alt: String::new(),
            img: None,
            link: String::new(),
            news: String::new(),
            transcript: String::new(),
            interactive: false,
        };
        assert_eq!(comic.date(), "2006-01-01");
        assert_eq!(comic.xkcd_url(), "https://xkcd.com/1/");
    }
}
