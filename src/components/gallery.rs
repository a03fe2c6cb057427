use leptos::{html::Ol, prelude::*};
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};

use super::tile::{completion_place, tile_markup};
use crate::{
    run_config::TileOrder,
    runner,
    state::{AppState, TileState},
};

/// Runs of up to this many comics get an entrance animation per tile.
const GENTLE_ENTRANCE_UP_TO: usize = 20;

/// What identifies what a tile shows: its comic and its version.
type Shown = (u32, u32);

/// Every comic of the run; each tile is rewritten only when its own comic changes.
#[component]
pub fn Gallery() -> impl IntoView {
    let state = expect_context::<AppState>();
    let list = NodeRef::<Ol>::new();
    // One markup region per tile (its whole `<li>`), rewritten when its own comic or
    // version changes; all of them when the number of tiles changes.
    Effect::new(move |shown: Option<Vec<Shown>>| {
        let shown = shown.unwrap_or_default();
        let Some(list) = list.get() else {
            return shown;
        };
        let by_completion = state.config.with(|c| c.order == TileOrder::Completion);
        state.tiles.with(|tiles| {
            list.set_class_name(list_class(tiles.len(), by_completion));
            let now: Vec<Shown> = tiles.iter().map(|t| (t.num, t.version)).collect();
            // A live list: it sees the items each rewrite puts in.
            let items = list.children();
            let drawn = match stale_slots(&shown, &now) {
                None => {
                    list.set_inner_html(&tiles.iter().map(tile_markup).collect::<String>());
                    (0..tiles.len()).collect()
                }
                Some(slots) => {
                    for &slot in &slots {
                        if let Some(item) = items.item(slot as u32) {
                            item.set_outer_html(&tile_markup(&tiles[slot]));
                        }
                    }
                    slots
                }
            };
            // Through the CSSOM: the page's CSP refuses a `style` attribute that comes as markup.
            for slot in drawn {
                if let Some(item) = items.item(slot as u32) {
                    let _ = item
                        .unchecked_into::<HtmlElement>()
                        .style()
                        .set_property("--done", &completion_place(&tiles[slot]).to_string());
                }
            }
            now
        })
    });
    // One listener for every tile's button (real buttons, so the keyboard reaches them):
    // Retry, or the loaded comic's image, which shows it large.
    let on_click = move |ev: leptos::ev::MouseEvent| {
        let Some(button) = event_target::<Element>(&ev).closest("button").ok().flatten() else {
            return;
        };
        let Some(slot) = button
            .closest("li")
            .ok()
            .flatten()
            .and_then(|item| item.get_attribute("data-slot")?.parse::<usize>().ok())
        else {
            return;
        };
        if button.class_name() == "retry" {
            runner::retry(state, slot);
        } else if let Some(viewing) = state.tiles.with_untracked(|tiles| match &tiles.get(slot)?.state {
            TileState::Loaded { comic, image_url } => Some(((**comic).clone(), image_url.clone())),
            _ => None,
        }) {
            state.viewing.set(Some(viewing));
        }
    };
    view! {
        <section class="gallery-section" aria-label="Comics">
            <ol node_ref=list class="gallery" data-testid="gallery" on:click=on_click></ol>
        </section>
    }
}

/// The list's classes: `many` when so many tiles arrive at once that a hundred overlapping
/// fades would cost the run itself (measured: 50 to 140 ms later last tile at N=100), so
/// they get none; `by-completion` to show settled tiles first, in the order they settled.
fn list_class(count: usize, by_completion: bool) -> &'static str {
    match (count > GENTLE_ENTRANCE_UP_TO, by_completion) {
        (false, false) => "gallery",
        (true, false) => "gallery many",
        (false, true) => "gallery by-completion",
        (true, true) => "gallery many by-completion",
    }
}

/// The slots whose tile changed from `shown` to `now`, or `None` when the number of tiles
/// changed and every tile is drawn anew.
fn stale_slots(shown: &[Shown], now: &[Shown]) -> Option<Vec<usize>> {
    (shown.len() == now.len()).then(|| (0..now.len()).filter(|&slot| shown[slot] != now[slot]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_tiles_are_drawn_again() {
        assert_eq!(stale_slots(&[(1, 0), (2, 0)], &[(1, 0), (2, 1)]), Some(vec![1]));
        assert_eq!(stale_slots(&[(1, 0), (2, 0)], &[(3, 0), (2, 0)]), Some(vec![0]));
        assert_eq!(stale_slots(&[(1, 0)], &[(1, 0)]), Some(vec![]));
    }

    #[test]
    fn a_new_number_of_tiles_draws_them_all() {
        assert_eq!(stale_slots(&[], &[(1, 0)]), None);
        assert_eq!(stale_slots(&[(1, 0), (2, 0)], &[(1, 0)]), None);
    }

    #[test]
    fn large_runs_have_no_entrance_and_completion_order_is_a_class() {
        assert_eq!(list_class(20, false), "gallery");
        assert_eq!(list_class(21, false), "gallery many");
        assert_eq!(list_class(3, true), "gallery by-completion");
        assert_eq!(list_class(30, true), "gallery many by-completion");
    }
}
