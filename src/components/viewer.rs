use leptos::{html::Dialog, prelude::*};

use crate::state::{AppState, Viewing};

/// The comic shown large: title, image, alt text, date and a link to the original. Closing
/// it (Escape, or its close button) clears what is shown; the tile that opened it takes the
/// focus back.
#[component]
pub fn Viewer() -> impl IntoView {
    let state = AppState::from_context();
    let dialog = NodeRef::<Dialog>::new();
    Effect::new(move |_| {
        let Some(dialog) = dialog.get() else {
            return;
        };
        if state.viewing.with(Option::is_some) {
            if !dialog.open() {
                let _ = dialog.show_modal();
            }
        } else if dialog.open() {
            dialog.close();
        }
    });
    view! {
        <dialog
            node_ref=dialog
            class="viewer"
            data-testid="viewer"
            aria-labelledby="viewer-title"
            on:close=move |_| state.viewing.set(None)
        >
            {move || state.viewing.get().map(content)}
        </dialog>
    }
}

/// The dialog's content. Its close button submits a `method="dialog"` form, which closes
/// the dialog natively (and its `close` event clears what is shown).
fn content(Viewing { comic, image_url, .. }: Viewing) -> impl IntoView {
    let date = comic.date();
    let xkcd_url = comic.xkcd_url();
    view! {
        <header>
            <h2 id="viewer-title">{format!("#{} {}", comic.num, comic.safe_title)}</h2>
            <form method="dialog">
                <button class="close" autofocus aria-label="Close">
                    "×"
                </button>
            </form>
        </header>
        <img crossorigin="anonymous" src=image_url alt=comic.alt.clone() />
        <p class="alt">{comic.alt}</p>
        <p class="meta">
            {(!date.is_empty())
                .then(|| {
                    view! {
                        <time datetime=date.clone()>{date.clone()}</time>
                        " · "
                    }
                })} <a href=xkcd_url target="_blank" rel="noreferrer">
                "the original on xkcd.com"
            </a>
        </p>
    }
}
