use leptos::prelude::*;

use super::tile::TileView;
use crate::{run_config::TileOrder, state::AppState};

/// Every comic of the run; each tile re-renders only when its own comic settles.
#[component]
pub fn Gallery() -> impl IntoView {
    let state = expect_context::<AppState>();
    let by_completion = move || state.config.with(|c| c.order == TileOrder::Completion);
    view! {
        <section class="gallery-section" aria-label="Comics">
            <ol class="gallery" data-testid="gallery">
                <For
                    each=move || state.tiles.get()
                    key=|tile| (tile.slot, tile.num, tile.version)
                    children=move |tile| view! { <TileView tile by_completion=Signal::derive(by_completion)/> }
                />
            </ol>
        </section>
    }
}
