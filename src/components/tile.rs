use leptos::{either::EitherOf4, prelude::*};

use super::ms;
use crate::{
    runner,
    state::{AppState, Tile, TileState},
};

/// One comic: a placeholder while pending, the decoded image once loaded, the reason it
/// failed with a retry button, or a quiet "stopped" when its run was stopped first.
pub fn tile_view(state: AppState, tile: Tile, by_completion: Signal<bool>) -> impl IntoView {
    let slot = tile.slot;
    let settled_as = tile.settled_as;
    // Completion order moves settled tiles forward visually; the DOM order never changes.
    let order = move || match (by_completion.get(), settled_as) {
        (true, Some(position)) => position.to_string(),
        (true, None) => (1000 + slot).to_string(),
        (false, _) => slot.to_string(),
    };
    // A retry in flight, or one that was stopped, shows no timing from the try before.
    let timing = tile.settled_timing();
    let chain_ms = timing.map(|t| t.total().round().to_string()).unwrap_or_default();
    let metadata_ms = timing
        .map(|t| t.metadata().round().to_string())
        .unwrap_or_default();
    let phases = timing.map(|t| {
        view! {
            <p class="timing">
                <strong>{ms(t.total())}</strong>
                <span class="phases">
                    {format!(" = {} metadata + {} image", ms(t.metadata()), ms(t.image()))}
                </span>
            </p>
        }
    });
    let (state_name, body) = match tile.state {
        TileState::Pending => (
            "pending",
            EitherOf4::A(view! {
                <div class="tile-body placeholder" aria-label=format!("comic {} loading", tile.num)>
                    <span class="num">{format!("#{}", tile.num)}</span>
                    <span class="spinner" aria-hidden="true"></span>
                </div>
            }),
        ),
        TileState::Cancelled => (
            "cancelled",
            EitherOf4::B(view! {
                <div class="tile-body placeholder stopped">
                    <span class="num">{format!("#{}", tile.num)}</span>
                    <span class="stopped-label" data-testid="tile-stopped">
                        "stopped"
                    </span>
                </div>
            }),
        ),
        TileState::Loaded { comic, image_url } => {
            let title = comic.safe_title.clone();
            let label = format!("#{} {}: show large", comic.num, title);
            let open = {
                let (comic, url) = (comic.clone(), image_url.clone());
                move |_| state.viewing.set(Some(((*comic).clone(), url.clone())))
            };
            (
                "loaded",
                EitherOf4::C(view! {
                    <button type="button" class="tile-body" on:click=open aria-label=label>
                        <img src=image_url alt=comic.alt.clone() decoding="async" />
                        <span class="caption">
                            <span class="num">{format!("#{}", comic.num)}</span>
                            " "
                            {title}
                        </span>
                    </button>
                    {phases}
                }),
            )
        }
        TileState::Failed { reason, retryable } => (
            "error",
            EitherOf4::D(view! {
                <div class="tile-body failed" role="group" aria-label=format!("comic {} failed", tile.num)>
                    <span class="num">{format!("#{}", tile.num)}</span>
                    <p class="reason" data-testid="tile-error">
                        {reason}
                    </p>
                    // A retry cannot bring back a comic that does not exist or has no image.
                    {retryable
                        .then(|| {
                            view! {
                                <button
                                    type="button"
                                    class="retry"
                                    data-testid="retry"
                                    on:click=move |_| runner::retry(state, slot)
                                >
                                    "Retry"
                                </button>
                            }
                        })}
                </div>
                {phases}
            }),
        ),
    };
    view! {
        <li
            class=format!("tile tile-{state_name}")
            data-testid="tile"
            data-num=tile.num
            data-state=state_name
            data-ms=chain_ms
            data-metadata-ms=metadata_ms
            data-slot=slot
            style:order=order
        >
            {body}
        </li>
    }
}
