use std::fmt::Write;

use super::{markup::escaped, ms};
use crate::state::{Tile, TileState};

/// One comic as a gallery `<li>`: a placeholder while pending, the decoded image once
/// loaded (a button that shows it large), the reason it failed with a retry button, or a
/// quiet "stopped" when its run was stopped first.
pub fn tile_markup(tile: &Tile) -> String {
    let num = tile.num;
    // A retry in flight, or one that was stopped, shows no timing from the try before.
    let timing = tile.settled_timing();
    let state_name = match tile.state {
        TileState::Pending => "pending",
        TileState::Cancelled => "cancelled",
        TileState::Loaded { .. } => "loaded",
        TileState::Failed { .. } => "error",
    };
    let mut html = format!(
        r#"<li class="tile tile-{state_name}" data-testid="tile" data-num="{num}" data-state="{state_name}" data-ms="{}" data-metadata-ms="{}" data-slot="{}">"#,
        timing.map(|t| t.total().round().to_string()).unwrap_or_default(),
        timing
            .map(|t| t.metadata().round().to_string())
            .unwrap_or_default(),
        tile.slot,
    );
    let _ = match &tile.state {
        TileState::Pending => write!(
            html,
            r#"<div class="tile-body placeholder" aria-label="comic {num} loading"><span class="num">#{num}</span><span class="spinner" aria-hidden="true"></span></div>"#
        ),
        TileState::Cancelled => write!(
            html,
            r#"<div class="tile-body placeholder stopped"><span class="num">#{num}</span><span class="stopped-label" data-testid="tile-stopped">stopped</span></div>"#
        ),
        TileState::Loaded { comic, image_url } => write!(
            html,
            r##"<button type="button" class="tile-body" aria-label="#{0} {1}: show large"><img src="{2}" alt="{3}" decoding="async"><span class="caption"><span class="num">#{0}</span> {1}</span></button>"##,
            comic.num,
            escaped(&comic.safe_title),
            escaped(image_url),
            escaped(&comic.alt),
        ),
        TileState::Failed { reason, retryable } => write!(
            html,
            r#"<div class="tile-body failed" role="group" aria-label="comic {num} failed"><span class="num">#{num}</span><p class="reason" data-testid="tile-error">{}</p>{}</div>"#,
            escaped(reason),
            // A retry cannot bring back a comic that does not exist or has no image.
            if *retryable {
                r#"<button type="button" class="retry" data-testid="retry">Retry</button>"#
            } else {
                ""
            },
        ),
    };
    if let Some(t) = timing {
        let _ = write!(
            html,
            r#"<p class="timing"><strong>{}</strong><span class="phases"> = {} metadata + {} image</span></p>"#,
            ms(t.total()),
            ms(t.metadata()),
            ms(t.image())
        );
    }
    html.push_str("</li>");
    html
}

/// The tile's place when settled tiles come first (`.by-completion` orders by it as `--done`;
/// the DOM order never changes): its place in completion order, else after every settled one.
pub fn completion_place(tile: &Tile) -> usize {
    tile.settled_as.unwrap_or(1000 + tile.slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{components::markup::sample_comic, stats::ChainTiming};

    fn timing() -> ChainTiming {
        ChainTiming {
            started: 10.0,
            metadata_done: 130.4,
            finished: 1310.0,
            network_ms: None,
        }
    }

    #[test]
    fn settled_tiles_come_first_in_the_order_they_settled() {
        assert_eq!(completion_place(&Tile::pending(614, 2)), 1002);
        let settled = Tile {
            settled_as: Some(3),
            ..Tile::pending(5, 0)
        };
        assert_eq!(completion_place(&settled), 3);
    }

    #[test]
    fn a_pending_tile_is_a_placeholder_after_the_settled_ones() {
        assert_eq!(
            tile_markup(&Tile::pending(614, 2)),
            concat!(
                r#"<li class="tile tile-pending" data-testid="tile" data-num="614" data-state="pending" data-ms="" data-metadata-ms="" data-slot="2">"#,
                r#"<div class="tile-body placeholder" aria-label="comic 614 loading"><span class="num">#614</span><span class="spinner" aria-hidden="true"></span></div></li>"#
            )
        );
    }

    #[test]
    fn a_loaded_tile_opens_large_and_shows_its_escaped_texts_and_timing() {
        let tile = Tile {
            state: TileState::Loaded {
                comic: Box::new(sample_comic("2009")),
                image_url: "/api/img/woodpecker.png?latency_ms=0&fresh=1".into(),
            },
            settled_as: Some(0),
            timing: Some(timing()),
            version: 1,
            ..Tile::pending(614, 2)
        };
        assert_eq!(
            tile_markup(&tile),
            concat!(
                r#"<li class="tile tile-loaded" data-testid="tile" data-num="614" data-state="loaded" data-ms="1300" data-metadata-ms="120" data-slot="2">"#,
                r##"<button type="button" class="tile-body" aria-label="#614 Wood&lt;pecker&gt;: show large">"##,
                r#"<img src="/api/img/woodpecker.png?latency_ms=0&amp;fresh=1" alt="If you &quot;don&#39;t&quot; &amp; so" decoding="async">"#,
                r#"<span class="caption"><span class="num">#614</span> Wood&lt;pecker&gt;</span></button>"#,
                r#"<p class="timing"><strong>1,300 ms</strong><span class="phases"> = 120 ms metadata + 1,180 ms image</span></p></li>"#
            )
        );
    }

    #[test]
    fn a_failed_tile_says_why_and_offers_retry_only_where_it_helps() {
        let failed = |retryable| Tile {
            state: TileState::Failed {
                reason: "HTTP 404: <no> such comic".into(),
                retryable,
            },
            settled_as: Some(3),
            timing: Some(timing()),
            ..Tile::pending(5, 0)
        };
        let retry = r#"<button type="button" class="retry" data-testid="retry">Retry</button>"#;
        let markup = tile_markup(&failed(true));
        assert!(markup.starts_with(r#"<li class="tile tile-error" data-testid="tile" data-num="5" data-state="error" data-ms="1300" data-metadata-ms="120" data-slot="0"><div class="tile-body failed" role="group" aria-label="comic 5 failed"><span class="num">#5</span><p class="reason" data-testid="tile-error">HTTP 404: &lt;no&gt; such comic</p>"#), "{markup}");
        assert!(markup.contains(retry), "{markup}");
        assert!(markup.contains(r#"<p class="timing">"#), "{markup}");
        assert!(!tile_markup(&failed(false)).contains("retry"));
    }

    #[test]
    fn a_stopped_tile_is_quiet_and_shows_no_timing_from_the_try_before() {
        let tile = Tile {
            state: TileState::Cancelled,
            timing: Some(timing()),
            ..Tile::pending(7, 1)
        };
        assert_eq!(
            tile_markup(&tile),
            concat!(
                r#"<li class="tile tile-cancelled" data-testid="tile" data-num="7" data-state="cancelled" data-ms="" data-metadata-ms="" data-slot="1">"#,
                r#"<div class="tile-body placeholder stopped"><span class="num">#7</span><span class="stopped-label" data-testid="tile-stopped">stopped</span></div></li>"#
            )
        );
    }
}
