use leptos::prelude::*;

use super::tile::TileView;
use crate::{run_config::TileOrder, state::AppState};

/// Runs of up to this many comics get an entrance animation per tile.
const GENTLE_ENTRANCE_UP_TO: usize = 20;

/// Every comic of the run; each tile re-renders only when its own comic settles.
#[component]
pub fn Gallery() -> impl IntoView {
    let state = expect_context::<AppState>();
    let by_completion = move || state.config.with(|c| c.order == TileOrder::Completion);
    // Each arriving tile fades in, unless so many arrive at once that a hundred overlapping
    // fades would cost the run itself (measured: 50 to 140 ms later last tile at N=100).
    let many = Memo::new(move |_| state.tiles.with(|t| t.len() > GENTLE_ENTRANCE_UP_TO));
    view! {
        <section class="gallery-section" aria-label="Comics">
            <ol class="gallery" class:many=many data-testid="gallery">
                <For
                    each=move || state.tiles.get()
                    key=|tile| (tile.slot, tile.num, tile.version)
                    children=move |tile| {
                        view! { <TileView tile by_completion=Signal::derive(by_completion) /> }
                    }
                />
            </ol>
        </section>
    }
}
