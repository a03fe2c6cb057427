use leptos::{
    either::EitherOf4,
    html::{Button, Li},
    prelude::*,
};

use super::ms;
use crate::{
    runner,
    state::{AppState, Tile, TileState, Viewing},
};

/// One comic of the gallery, at its fixed place `index` in the run's list: a placeholder while
/// pending, the decoded image once loaded (a button that shows it large), the reason it
/// failed with a retry button, or a quiet "stopped" when its run was stopped first.
///
/// It reads only its own tile's signal, so one settle touches one `<li>`, and the `<li>`
/// itself (and focus inside it) outlives its changes.
#[component]
pub fn TileView(
    /// Its fixed place in the run's list.
    index: usize,
) -> impl IntoView {
    let slot = index;
    let state = AppState::from_context();
    // What the tile shows: its slot's signal (a new one each run) read. A comic's network
    // time, read later from Resource Timing, is not shown here, so it rebuilds nothing (and
    // moves no focus).
    let tile = Memo::new_with_compare(
        move |_| state.tiles.with(|t| t.get(slot).map(ArcRwSignal::get)),
        |old, new| old.map(shown_part) != new.map(shown_part),
    );
    let item = NodeRef::<Li>::new();
    let opener = NodeRef::<Button>::new();
    // The viewer closed after this tile opened it: focus comes back here, to the image's
    // button if it is still the one shown, else to the tile itself.
    Effect::new(move |was_viewing: Option<bool>| {
        let viewing = state.viewing.with(|v| v.as_ref().is_some_and(|v| v.slot == slot));
        if was_viewing == Some(true) && !viewing {
            let shown_button = opener.get_untracked().filter(|button| button.is_connected());
            let _ = match (shown_button, item.get_untracked()) {
                (Some(button), _) => button.focus(),
                (None, Some(item)) => item.focus(),
                (None, None) => Ok(()),
            };
        }
        viewing
    });
    let retry = move |_| {
        runner::retry(state, slot);
        // The retry button goes while the comic is fetched again; focus stays in the tile.
        if let Some(item) = item.get_untracked() {
            let _ = item.focus();
        }
    };
    let open = move |_| {
        if let Some(Tile {
            state: TileState::Loaded { comic, image_url },
            ..
        }) = tile.get_untracked()
        {
            state.viewing.set(Some(Viewing {
                comic: *comic,
                image_url,
                slot,
            }));
        }
    };
    let read = move |f: fn(&Tile) -> String| tile.with(|t| t.as_ref().map(f).unwrap_or_default());
    view! {
        <li
            node_ref=item
            class=move || read(|t| format!("tile tile-{}", state_name(&t.state)))
            data-testid="tile"
            data-num=move || read(|t| t.num.to_string())
            data-state=move || read(|t| state_name(&t.state).to_string())
            // A retry in flight, or one that was stopped, shows no timing from the try before.
            data-ms=move || read(|t| rounded(t, |timing| timing.total()))
            data-metadata-ms=move || read(|t| rounded(t, |timing| timing.metadata()))
            data-slot=slot
            tabindex="-1"
            style:--done=move || read(|t| completion_place(t).to_string())
        >
            {move || tile.get().map(|t| body(t, opener, retry, open))}
        </li>
    }
}

/// The tile's content for its state, and its timing once settled.
fn body(
    tile: Tile,
    opener: NodeRef<Button>,
    retry: impl Fn(leptos::ev::MouseEvent) + 'static,
    open: impl Fn(leptos::ev::MouseEvent) + 'static,
) -> impl IntoView {
    let num = tile.num;
    let phases = tile.settled_timing().map(|t| {
        view! {
            <p class="timing">
                <strong>{ms(t.total())}</strong>
                <span class="phases">
                    {format!(" = {} metadata + {} image", ms(t.metadata()), ms(t.image()))}
                </span>
            </p>
        }
    });
    match tile.state {
        TileState::Pending => EitherOf4::A(view! {
            <div class="tile-body placeholder" aria-label=format!("comic {num} loading")>
                <span class="num">{format!("#{num}")}</span>
                <span class="spinner" aria-hidden="true"></span>
            </div>
        }),
        TileState::Cancelled => EitherOf4::B(view! {
            <div class="tile-body placeholder stopped">
                <span class="num">{format!("#{num}")}</span>
                <span class="stopped-label" data-testid="tile-stopped">
                    "stopped"
                </span>
            </div>
        }),
        TileState::Loaded { comic, image_url } => {
            let label = format!("#{} {}: show large", comic.num, comic.safe_title);
            EitherOf4::C(view! {
                <button node_ref=opener type="button" class="tile-body" on:click=open aria-label=label>
                    // `crossorigin` before `src`: WebKit starts the load as `src` is set, so the
                    // other order fetched every sharded image twice there (measured).
                    <img crossorigin="anonymous" src=image_url alt=comic.alt decoding="async" />
                    <span class="caption">
                        <span class="num">{format!("#{}", comic.num)}</span>
                        " "
                        {comic.safe_title}
                    </span>
                </button>
                {phases}
            })
        }
        TileState::Failed { reason, retryable } => EitherOf4::D(view! {
            <div class="tile-body failed" role="group" aria-label=format!("comic {num} failed")>
                <span class="num">{format!("#{num}")}</span>
                <p class="reason" data-testid="tile-error">
                    {reason}
                </p>
                // A retry cannot bring back a comic that does not exist or has no image.
                {retryable
                    .then(|| {
                        view! {
                            <button type="button" class="retry" data-testid="retry" on:click=retry>
                                "Retry"
                            </button>
                        }
                    })}
            </div>
            {phases}
        }),
    }
}

/// What of a tile its view shows: all of it but the network time of its timing.
fn shown_part(tile: &Option<Tile>) -> Option<Tile> {
    tile.clone().map(|mut tile| {
        if let Some(timing) = tile.timing.as_mut() {
            timing.network_ms = None;
        }
        tile
    })
}

/// The state's name, as the tile's class and `data-state`.
pub fn state_name(state: &TileState) -> &'static str {
    match state {
        TileState::Pending => "pending",
        TileState::Cancelled => "cancelled",
        TileState::Loaded { .. } => "loaded",
        TileState::Failed { .. } => "error",
    }
}

/// A settled tile's `part` of its timing in whole ms, else nothing.
fn rounded(tile: &Tile, part: fn(&crate::stats::ChainTiming) -> f64) -> String {
    tile.settled_timing()
        .map(|t| part(&t).round().to_string())
        .unwrap_or_default()
}

/// The tile's place when settled tiles come first (`.by-completion` orders by it as `--done`;
/// the DOM order never changes): its place in completion order, else after every settled one.
pub fn completion_place(tile: &Tile) -> usize {
    tile.settled_as.unwrap_or(1000 + tile.slot)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_stopped_retry_shows_no_timing_from_the_try_before() {
        let timing = crate::stats::ChainTiming {
            started: 10.0,
            metadata_done: 130.4,
            finished: 1310.0,
            network_ms: None,
        };
        let stopped = Tile {
            state: TileState::Cancelled,
            timing: Some(timing),
            ..Tile::pending(7, 1)
        };
        assert_eq!(rounded(&stopped, |t| t.total()), "");
        let failed = Tile {
            state: TileState::Failed {
                reason: "HTTP 502".into(),
                retryable: true,
            },
            ..stopped
        };
        assert_eq!(rounded(&failed, |t| t.total()), "1300");
        assert_eq!(rounded(&failed, |t| t.metadata()), "120");
    }
}
