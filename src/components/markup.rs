//! Markup the page builds as text (charts and tables that only show numbers and labels):
//! one `inner_html` update per region costs far less wasm than a typed view per element.
//! Numbers the page formats itself go in as they are; every piece of text (labels, names,
//! anything that came from a URL or the network) passes through [`escaped`].

use std::fmt;

/// `text`, safe as HTML text and inside a double- or single-quoted attribute value.
pub fn escaped(text: &str) -> Escaped<'_> {
    Escaped(text)
}

/// Text that formats with `&`, `<`, `>`, `"` and `'` replaced by character references.
pub struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// A comic whose texts need escaping, for the markup tests of the tile and the viewer.
#[cfg(test)]
pub(crate) fn sample_comic(year: &str) -> fanout_api::Comic {
    fanout_api::Comic {
        num: 614,
        year: year.into(),
        month: "7".into(),
        day: "24".into(),
        title: "Woodpecker".into(),
        safe_title: "Wood<pecker>".into(),
        alt: "If you \"don't\" & so".into(),
        img: Some("/api/img/woodpecker.png".into()),
        link: String::new(),
        news: String::new(),
        transcript: String::new(),
        interactive: false,
    }
}

#[cfg(test)]
mod tests {
    use super::escaped;

    #[test]
    fn markup_characters_become_references() {
        assert_eq!(
            escaped(r#"<img src=x onerror="alert('&')">"#).to_string(),
            "&lt;img src=x onerror=&quot;alert(&#39;&amp;&#39;)&quot;&gt;"
        );
    }

    #[test]
    fn other_text_is_kept() {
        assert_eq!(escaped("").to_string(), "");
        assert_eq!(
            escaped("img x_614.png…, “all at once” ×").to_string(),
            "img x_614.png…, “all at once” ×"
        );
    }
}
