use leptos::{html::Dialog, prelude::*};

use crate::state::AppState;

/// The comic shown large: title, image, alt text, date and a link to the original.
#[component]
pub fn Viewer() -> impl IntoView {
    let state = expect_context::<AppState>();
    let dialog = NodeRef::<Dialog>::new();
    Effect::new(move |_| {
        if let Some(dialog) = dialog.get() {
            if state.viewing.with(|v| v.is_some()) {
                if !dialog.open() {
                    let _ = dialog.show_modal();
                }
            } else if dialog.open() {
                dialog.close();
            }
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
            {move || {
                state
                    .viewing
                    .get()
                    .map(|(comic, url)| {
                        let date = comic.date();
                        view! {
                            <header>
                                <h2 id="viewer-title">{format!("#{} {}", comic.num, comic.safe_title)}</h2>
                                <button
                                    type="button"
                                    class="close"
                                    autofocus
                                    on:click=move |_| state.viewing.set(None)
                                    aria-label="Close"
                                >
                                    "×"
                                </button>
                            </header>
                            <img src=url alt=comic.alt.clone() />
                            <p class="alt">{comic.alt.clone()}</p>
                            <p class="meta">
                                {(!date.is_empty())
                                    .then(|| {
                                        view! {
                                            <time datetime=date.clone()>{date.clone()}</time>
                                            " · "
                                        }
                                    })} <a href=comic.xkcd_url() target="_blank" rel="noreferrer">
                                    "the original on xkcd.com"
                                </a>
                            </p>
                        }
                    })
            }}
        </dialog>
    }
}
