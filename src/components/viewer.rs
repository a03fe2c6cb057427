use leptos::{html::Dialog, prelude::*};

use super::markup::escaped;
use crate::state::AppState;
use fanout_api::Comic;

/// The comic shown large: title, image, alt text, date and a link to the original.
#[component]
pub fn Viewer() -> impl IntoView {
    let state = expect_context::<AppState>();
    let dialog = NodeRef::<Dialog>::new();
    Effect::new(move |_| {
        let Some(dialog) = dialog.get() else {
            return;
        };
        state.viewing.with(|viewing| match viewing {
            Some((comic, url)) => {
                // The content first: opening focuses its `autofocus` close button.
                dialog.set_inner_html(&viewer_markup(comic, url));
                if !dialog.open() {
                    let _ = dialog.show_modal();
                }
            }
            None => {
                if dialog.open() {
                    dialog.close();
                }
                dialog.set_inner_html("");
            }
        });
    });
    view! {
        <dialog
            node_ref=dialog
            class="viewer"
            data-testid="viewer"
            aria-labelledby="viewer-title"
            on:close=move |_| state.viewing.set(None)
        ></dialog>
    }
}

/// The dialog's content. Its close button submits a `method="dialog"` form, which closes
/// the dialog natively (and its `close` event clears what is shown).
fn viewer_markup(comic: &Comic, url: &str) -> String {
    let date = comic.date();
    let date = if date.is_empty() {
        String::new()
    } else {
        format!(r#"<time datetime="{0}">{0}</time> · "#, escaped(&date))
    };
    format!(
        concat!(
            r#"<header><h2 id="viewer-title">#{} {}</h2><form method="dialog"><button class="close" autofocus aria-label="Close">×</button></form></header>"#,
            r#"<img src="{}" alt="{alt}"><p class="alt">{alt}</p><p class="meta">{}<a href="{}" target="_blank" rel="noreferrer">the original on xkcd.com</a></p>"#
        ),
        comic.num,
        escaped(&comic.safe_title),
        escaped(url),
        date,
        escaped(&comic.xkcd_url()),
        alt = escaped(&comic.alt),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::markup::sample_comic;

    #[test]
    fn the_comic_large_with_its_escaped_texts_date_and_link() {
        assert_eq!(
            viewer_markup(&sample_comic("2009"), "/api/img/woodpecker.png?a=1&b=2"),
            concat!(
                r#"<header><h2 id="viewer-title">#614 Wood&lt;pecker&gt;</h2><form method="dialog"><button class="close" autofocus aria-label="Close">×</button></form></header>"#,
                r#"<img src="/api/img/woodpecker.png?a=1&amp;b=2" alt="If you &quot;don&#39;t&quot; &amp; so"><p class="alt">If you &quot;don&#39;t&quot; &amp; so</p>"#,
                r#"<p class="meta"><time datetime="2009-07-24">2009-07-24</time> · <a href="https://xkcd.com/614/" target="_blank" rel="noreferrer">the original on xkcd.com</a></p>"#
            )
        );
    }

    #[test]
    fn an_incomplete_date_is_left_out() {
        let markup = viewer_markup(&sample_comic(""), "/i.png");
        assert!(
            markup.contains(r#"<p class="meta"><a href="https://xkcd.com/614/""#),
            "{markup}"
        );
    }
}
