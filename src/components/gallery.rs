use leptos::prelude::*;

use super::tile::tile_view;
use crate::{run_config::TileOrder, state::AppState};

/// Runs of up to this many comics get an entrance animation per tile.
const GENTLE_ENTRANCE_UP_TO: usize = 20;

/// Every comic of the run; each tile re-renders only when its own comic changes.
#[component]
pub fn Gallery() -> impl IntoView {
    let state = expect_context::<AppState>();
    let by_completion = Signal::derive(move || state.config.with(|c| c.order == TileOrder::Completion));
    let count = Memo::new(move |_| state.tiles.with(Vec::len));
    // Each arriving tile fades in, unless so many arrive at once that a hundred overlapping
    // fades would cost the run itself (measured: 50 to 140 ms later last tile at N=100).
    let many = move || count.get() > GENTLE_ENTRANCE_UP_TO;
    // One region per slot, made once per tile count, each re-rendered when its own tile's
    // comic or version changes (what `<For>` keyed on, without its keyed diff).
    let slots = move || {
        (0..count.get())
            .map(|slot| {
                let key = Memo::new(move |_| state.tiles.with(|t| t.get(slot).map(|t| (t.num, t.version))));
                move || {
                    // Read, not just tracked: a memo nobody reads never computes, so never updates.
                    key.get()
                        .and_then(|_| state.tiles.with_untracked(|t| t.get(slot).cloned()))
                        .map(|tile| tile_view(state, tile, by_completion))
                }
            })
            .collect_view()
    };
    view! {
        <section class="gallery-section" aria-label="Comics">
            <ol class="gallery" class:many=many data-testid="gallery">
                {slots}
            </ol>
        </section>
    }
}
