use leptos::prelude::*;

use super::tile::TileView;
use crate::{run_config::TileOrder, state::AppState};

/// Runs of up to this many comics get an entrance animation per tile.
const GENTLE_ENTRANCE_UP_TO: usize = 20;

/// Every comic of the run, one keyed tile per slot; each tile follows its own comic.
#[component]
pub fn Gallery() -> impl IntoView {
    let state = AppState::from_context();
    let count = Memo::new(move |_| state.tiles.with(Vec::len));
    let by_completion = move || state.config.with(|c| c.order == TileOrder::Completion);
    view! {
        <section class="gallery-section" aria-label="Comics">
            // `many`: so many tiles arrive at once that a hundred overlapping fades would
            // cost the run itself (measured: 50 to 140 ms later last tile at N=100), so they
            // get none. `by-completion`: settled tiles first, in the order they settled.
            <ol
                class="gallery"
                class:many=move || { count.get() > GENTLE_ENTRANCE_UP_TO }
                class:by-completion=by_completion
                data-testid="gallery"
            >
                <For
                    each=move || 0..count.get()
                    key=slot_key
                    children=|slot| view! { <TileView index=slot /> }
                />
            </ol>
        </section>
    }
}

/// A tile's key: its slot, as the one key type every keyed list shares (each key type
/// brings its own keyed-list code).
fn slot_key(slot: &usize) -> super::ShownKey {
    (*slot, 0, String::new(), [0; 4])
}
