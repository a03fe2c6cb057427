//! Starts, stops and retries runs: one future per comic (metadata, then the decoded image),
//! scheduled by [`crate::schedule::run_bounded`], each painting its tile as it settles.

use std::cell::RefCell;

use fanout_api::{ComicId, Route};
use futures::future::{AbortHandle, Abortable};
use leptos::{prelude::*, task::spawn_local};
use web_sys::AbortController;

use crate::{
    api_client::{self, Failure, Fetcher},
    run_config::{Mode, Priority, RunConfig},
    schedule::run_bounded,
    state::{AppState, HISTORY_LEN, HistoryRow, RunStatus, RunView, Tile, TileState},
    stats::ChainTiming,
};

/// The in-flight work of the current run (or compare batch), so it can be stopped.
struct Control {
    requests: AbortController,
    futures: AbortHandle,
}

/// The waterfall redraws every bar, so mid-run it is refreshed at most this often; with
/// 100 comics, redrawing on every settle made the page itself the bottleneck.
const WATERFALL_REFRESH_MS: f64 = 250.0;

thread_local! {
    static LAST_REFRESH: std::cell::Cell<f64> = const { std::cell::Cell::new(f64::NEG_INFINITY) };
    static CURRENT: RefCell<Option<Control>> = const { RefCell::new(None) };
}

/// Aborts every in-flight request of the current run; its futures never resume.
pub fn stop(state: AppState) {
    if let Some(control) = CURRENT.with(|c| c.borrow_mut().take()) {
        control.requests.abort();
        control.futures.abort();
        state.run.update(|run| {
            if run.status == RunStatus::Running {
                run.status = RunStatus::Cancelled;
            }
        });
        record_history(state);
    }
}

/// Runs `comics` once per strategy in `strategies`, one run after another (one strategy: a
/// plain run).
pub fn start(state: AppState, comics: Vec<u32>, strategies: Vec<(Mode, Priority)>) {
    stop(state);
    let Ok(requests) = AbortController::new() else {
        state.problems.set(vec![
            "this browser cannot cancel requests (no AbortController)".into(),
        ]);
        return;
    };
    let signal = requests.signal();
    let (futures, registration) = AbortHandle::new_pair();
    CURRENT.with(|c| *c.borrow_mut() = Some(Control { requests, futures }));
    let base = state.config.get_untracked();
    crate::url_state::write(&base);
    let batch_id = state.run.get_untracked().id + 1;
    spawn_local(async move {
        let batch = async {
            for (mode, priority) in strategies {
                let config = RunConfig {
                    mode,
                    priority,
                    ..base.clone()
                };
                run_once(state, &config, batch_id, comics.clone(), signal.clone()).await;
            }
        };
        if Abortable::new(batch, registration).await.is_ok() {
            CURRENT.with(|c| c.borrow_mut().take());
        }
    });
}

async fn run_once(
    state: AppState,
    config: &RunConfig,
    batch: u64,
    comics: Vec<u32>,
    signal: web_sys::AbortSignal,
) {
    let id = state.run.get_untracked().id + 1;
    state.problems.set(Vec::new());
    state.requests.set(Vec::new());
    state.tiles.set(
        comics
            .iter()
            .enumerate()
            .map(|(slot, &num)| Tile::pending(num, slot))
            .collect(),
    );
    api_client::prepare_resource_timing();
    let started = api_client::now();
    state.run.set(RunView {
        id,
        batch,
        status: RunStatus::Running,
        mode: config.mode,
        limit: config.limit,
        priority: config.priority,
        comics: comics.clone(),
        started_at: started,
    });
    let fetcher = Fetcher::new(config.sim, config.use_cache, config.priority, signal);
    let in_flight = config.max_in_flight(comics.len());
    let jobs: Vec<(usize, u32)> = comics.into_iter().enumerate().collect();
    run_bounded(jobs, in_flight, |(slot, num)| {
        let fetcher = fetcher.clone();
        async move { load_tile(state, id, slot, num, 0, &fetcher, started).await }
    })
    .await;
    refresh_network_times(state, started);
    state.run.update(|run| run.status = RunStatus::Done);
    record_history(state);
}

/// Loads one comic and paints its tile, unless its run has been replaced meanwhile.
async fn load_tile(
    state: AppState,
    run_id: u64,
    slot: usize,
    num: u32,
    attempt: u32,
    fetcher: &Fetcher,
    run_started: f64,
) {
    let began = api_client::now() - run_started;
    let mut metadata_done = began;
    let result = async {
        let comic = fetcher.comic(num).await?;
        metadata_done = api_client::now() - run_started;
        let Some(path) = comic.img.clone() else {
            return Err(Failure::Final(if comic.interactive {
                "interactive comic: no image to show".into()
            } else {
                "this comic has no image".into()
            }));
        };
        let image_url = fetcher.image(&path).await?;
        Ok((comic, image_url))
    }
    .await;
    let finished = api_client::now() - run_started;
    if state.run.get_untracked().id != run_id {
        return;
    }
    let new_state = match result {
        Err(Failure::Aborted) => return,
        Err(Failure::Failed(reason)) => TileState::Failed {
            reason,
            retryable: true,
        },
        Err(Failure::Final(reason)) => TileState::Failed {
            reason,
            retryable: false,
        },
        Ok((comic, image_url)) => TileState::Loaded {
            comic: Box::new(comic),
            image_url,
        },
    };
    state.tiles.update(|tiles| {
        let order = tiles.iter().filter(|t| t.settled_as.is_some()).count();
        if let Some(tile) = tiles.get_mut(slot) {
            tile.settled_as = Some(tile.settled_as.unwrap_or(order));
            tile.state = new_state;
            tile.timing = Some(ChainTiming {
                started: began,
                metadata_done,
                finished,
                network_ms: None,
            });
            tile.attempt = attempt;
            tile.version += 1;
        }
    });
    let now = api_client::now();
    if now - LAST_REFRESH.get() >= WATERFALL_REFRESH_MS {
        refresh_network_times(state, run_started);
    }
}

/// Reads the browser's Resource Timing for the run so far: the waterfall's bars, and each
/// settled comic's own network time (its queueing for a connection left out).
fn refresh_network_times(state: AppState, run_started: f64) {
    LAST_REFRESH.set(api_client::now());
    let requests = api_client::api_requests_since(run_started);
    state.tiles.update(|tiles| {
        for tile in tiles.iter_mut() {
            let Some(timing) = tile.timing.as_mut() else {
                continue;
            };
            let comic_route = Route::Comic(ComicId::Number(tile.num));
            let image_route = match &tile.state {
                TileState::Loaded { comic, .. } => comic.img.as_deref().and_then(Route::parse),
                _ => None,
            };
            let mine: Vec<_> = requests
                .iter()
                .filter(|r| {
                    r.route
                        .as_ref()
                        .is_some_and(|route| *route == comic_route || Some(route) == image_route.as_ref())
                })
                .collect();
            if !mine.is_empty() {
                timing.network_ms = Some(
                    mine.iter()
                        .map(|r| {
                            let p = r.phases();
                            p.waiting + p.download
                        })
                        .sum(),
                );
            }
        }
    });
    state.requests.set(requests);
}

/// Tries one failed comic again, with a fresh draw of the demo origin's faults.
pub fn retry(state: AppState, slot: usize) {
    let run = state.run.get_untracked();
    let Some(tile) = state.tiles.with_untracked(|t| t.get(slot).cloned()) else {
        return;
    };
    let Ok(requests) = AbortController::new() else {
        return;
    };
    let mut config = state.config.get_untracked();
    config.sim.attempt = tile.attempt + 1;
    // The retry asks the way its run asked, whatever the controls say now.
    let fetcher = Fetcher::new(config.sim, config.use_cache, run.priority, requests.signal());
    state.tiles.update(|tiles| {
        if let Some(t) = tiles.get_mut(slot) {
            t.state = TileState::Pending;
            t.version += 1;
        }
    });
    spawn_local(async move {
        let _keep_alive = requests;
        load_tile(
            state,
            run.id,
            slot,
            tile.num,
            tile.attempt + 1,
            &fetcher,
            run.started_at,
        )
        .await;
        refresh_network_times(state, run.started_at);
    });
}

fn record_history(state: AppState) {
    let run = state.run.get_untracked();
    if run.id == 0
        || state
            .history
            .with_untracked(|h| h.first().is_some_and(|row| row.id == run.id))
    {
        return;
    }
    let summary = state.summary();
    let settle_times = state.settle_times();
    state.history.update(|history| {
        history.insert(
            0,
            HistoryRow {
                id: run.id,
                batch: run.batch,
                mode: run.mode,
                limit: run.limit,
                priority: run.priority,
                comics: run.comics.clone(),
                summary,
                settle_times,
                status: run.status,
            },
        );
        history.truncate(HISTORY_LEN);
    });
}
