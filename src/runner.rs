//! The run lifecycle: picking a run's comics, starting it (or a compare batch), stopping it,
//! and retrying one comic. One future per comic (metadata, then the decoded image),
//! scheduled by [`crate::schedule::run_bounded_until`], each painting its tile as it settles; or,
//! when the proxy gathers the metadata, one request for all of it ([`gather`]).

mod gather;

use std::{cell::Cell, future::Future};

use fanout_api::{Comic, ComicId, Route};
use leptos::{prelude::*, task::spawn_local};
use web_sys::{AbortController, AbortSignal};

use crate::{
    api_client::{self, Failure, Fetcher},
    run_config::{Mode, Priority, RunConfig},
    schedule::run_bounded_until,
    state::{AppState, HISTORY_LEN, HistoryRow, RunStatus, RunView, Tile, TileState},
    stats::ChainTiming,
};

/// What Stop cancels: the current run or compare batch, and every retry started since, each
/// through its own `AbortController`. Aborting one fails its requests at once, and its work
/// then changes nothing ([`RunContext::stopped`]). Kept in [`AppState::control`] until the
/// next Stop or Run.
pub struct RunControl {
    runs: Vec<AbortController>,
    /// Retries of the run on screen: the next run of a compare batch cancels them, so that
    /// they neither compete with it for connections nor outlive their tiles.
    retries: Vec<AbortController>,
}

/// How many hosts Compare's two sharded runs spread over.
const COMPARE_SHARDS: u32 = 8;

/// The waterfall redraws every bar, so mid-run it is refreshed at most this often; with
/// 100 comics, redrawing on every settle made the page itself the bottleneck.
const WATERFALL_REFRESH_MS: f64 = 250.0;

/// How long the end of a run waits for Resource Timing to list its last images: at most
/// this many pauses of [`LATE_ENTRY_WAIT_MS`] (a timer, which also runs in a tab in the
/// background, where no animation frame comes).
const LATE_ENTRY_WAITS: u32 = 25;
const LATE_ENTRY_WAIT_MS: i32 = 20;

/// Picks the run's comics (the explicit list, or `n` random ones) and starts it; with
/// `compare`, the same comics run once per strategy, and all at once with and without hints.
pub fn start_run(state: AppState, compare: bool) {
    let config = state.config.get_untracked();
    let previous = state.run.get_untracked().comics;
    let comics = match &config.comics {
        Some(list) => list.clone(),
        // Compare reuses what is on screen, so the strategies face the same comics.
        None if compare && previous.len() == config.n as usize => previous,
        None => {
            let latest = state
                .latest
                .get_value()
                .unwrap_or(fanout_api::MAX_COMIC_NUMBER.min(2000));
            crate::pick::random_comics(config.n, latest, js_sys::Math::random)
        }
    };
    let strategies = if compare {
        // Every strategy as set, then all at once in the other order: the hints' effect
        // shows on the same comics; then all at once and gathered over 8 hosts, which lift
        // the six-connection queue of HTTP/1.1 without HTTP/2.
        let mut all: Vec<_> = Mode::ALL
            .into_iter()
            .map(|mode| (mode, config.priority, config.shards))
            .collect();
        all.push((Mode::Concurrent, config.priority.other(), config.shards));
        all.push((Mode::Concurrent, config.priority, COMPARE_SHARDS));
        all.push((Mode::Gather, config.priority, COMPARE_SHARDS));
        all
    } else {
        vec![(config.mode, config.priority, config.shards)]
    };
    start_batch(state, comics, strategies);
}

/// Aborts every in-flight request of the current run and its retries; their work sees it is
/// stopped and paints nothing more, and every tile that had not settled shows that it was
/// stopped.
pub fn stop(state: AppState) {
    let running = is_stoppable(state);
    let Some(control) = state.control.try_update_value(Option::take).flatten() else {
        return;
    };
    for work in control.runs.iter().chain(&control.retries) {
        work.abort();
    }
    // WebKit goes on downloading an image whose <img> lost its src (WebKitGTK 2.50: the
    // connection stayed open until the answer came, 3 s later); stopping the document's
    // loads cancels those downloads in every engine. Only when something runs: a new run
    // after a finished one must not cancel the page's other loads (the health check).
    if running && let Some(window) = web_sys::window() {
        let _ = window.stop();
    }
    state.tiles.with_untracked(|tiles| {
        for tile in tiles {
            if tile.with_untracked(|t| matches!(t.state, TileState::Pending)) {
                tile.update(|t| t.state = TileState::Cancelled);
            }
        }
    });
    state.tally_now();
    state.run.update(|run| {
        if run.status == RunStatus::Running {
            run.status = RunStatus::Cancelled;
        }
    });
    record_history(state);
}

/// True while Stop has something to stop: the run itself or a retry.
pub fn is_stoppable(state: AppState) -> bool {
    state.run.with(|r| r.status == RunStatus::Running)
        || state.tiles.with(|tiles| {
            tiles
                .iter()
                .any(|t| t.with(|t| matches!(t.state, TileState::Pending)))
        })
}

/// Runs `comics` once per strategy in `strategies`, one run after another (one strategy: a
/// plain run).
fn start_batch(state: AppState, comics: Vec<u32>, strategies: Vec<(Mode, Priority, u32)>) {
    stop(state);
    let base = state.config.get_untracked();
    crate::url_state::write(&base);
    let batch_id = state.run.with_untracked(|run| run.id) + 1;
    let started = spawn_stoppable(state, Work::Run, move |signal| async move {
        for (mode, priority, shards) in strategies {
            if signal.aborted() {
                return;
            }
            let config = RunConfig {
                mode,
                priority,
                shards,
                ..base.clone()
            };
            Box::pin(run_once(state, &config, batch_id, comics.clone(), signal.clone())).await;
        }
    });
    if let Err(problem) = started {
        state.problems.set(vec![problem]);
    }
}

/// Tries one failed comic again, with a fresh draw of the demo origin's faults. Stop reaches
/// it like any request of the run.
pub fn retry(state: AppState, slot: usize) {
    let run = state.run.get_untracked();
    let Some(tile_signal) = state.tile(slot) else {
        return;
    };
    let tile = tile_signal.get_untracked();
    let config = state.config.get_untracked();
    let started = spawn_stoppable(state, Work::Retry, move |signal| async move {
        let run = RunContext::new(state, &run, &config, tile.attempt + 1, signal);
        run.load_tile(slot, tile.num).await;
        run.refresh_network_times();
        // One comic: nothing to gather into a frame, and the summary follows its tile at once.
        state.tally_now();
    });
    match started {
        // Pending only once it is under way: the spawned work runs after this returns.
        Ok(()) => {
            tile_signal.update(|t| t.state = TileState::Pending);
            state.tally_soon();
        }
        Err(problem) => state.problems.set(vec![problem]),
    }
}

/// What [`spawn_stoppable`] starts: a run (or compare batch), or one comic's retry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    Run,
    Retry,
}

/// Spawns `work` so that Stop reaches it through the signal it is given.
fn spawn_stoppable<F>(state: AppState, kind: Work, work: impl FnOnce(AbortSignal) -> F) -> Result<(), String>
where
    F: Future<Output = ()> + 'static,
{
    spawn_local(work(register(state, kind)?));
    Ok(())
}

/// Enrols new work of `kind` with the current run's control (made if there is none): the
/// signal for its requests, which Stop aborts.
fn register(state: AppState, kind: Work) -> Result<AbortSignal, String> {
    let work = AbortController::new()
        .map_err(|_| "this browser cannot cancel requests (no AbortController)".to_string())?;
    let signal = work.signal();
    state
        .control
        .try_update_value(|control| {
            let control = control.get_or_insert_with(|| RunControl {
                runs: Vec::new(),
                retries: Vec::new(),
            });
            match kind {
                Work::Run => control.runs.push(work),
                Work::Retry => control.retries.push(work),
            }
        })
        .ok_or_else(|| "the page is shutting down".to_string())?;
    Ok(signal)
}

async fn run_once(state: AppState, config: &RunConfig, batch: u64, comics: Vec<u32>, signal: AbortSignal) {
    state.control.update_value(|control| {
        for retry in control.iter_mut().flat_map(|c| c.retries.drain(..)) {
            retry.abort();
        }
    });
    state.problems.set(Vec::new());
    state.requests.set(Vec::new());
    state.show_tiles(
        comics
            .iter()
            .enumerate()
            .map(|(slot, &num)| Tile::pending(num, slot)),
    );
    api_client::prepare_resource_timing();
    // The hosts the run really uses: the proxy may offer fewer shard names than asked for
    // (none off loopback without --shard-host), and the labels must say what ran.
    let offered = shard_origins(state, config.shards).len() as u32;
    let shards = offered.max(1);
    if shards < config.shards {
        state.problems.set(vec![format!(
            "This run used {shards} host{}, not the {} asked for: the proxy offers {offered} shard host names.",
            if shards == 1 { "" } else { "s" },
            config.shards
        )]);
    }
    let view = RunView {
        id: state.run.with_untracked(|run| run.id) + 1,
        batch,
        status: RunStatus::Running,
        mode: config.mode,
        limit: config.limit,
        priority: config.priority,
        shards,
        comics: comics.clone(),
        started_at: api_client::now(),
    };
    state.run.set(view.clone());
    let run = RunContext::new(state, &view, config, 0, signal);
    // The bigger awaited futures of a run are boxed (here, in the compare loop and in a
    // tile's chain): each is then driven by its own code rather than copied into its
    // caller's state machine, which measured a smaller module.
    if config.mode.is_gather() {
        Box::pin(run.gather(&comics, config.mode == Mode::GatherAll)).await;
    } else {
        let in_flight = config.max_in_flight(comics.len());
        let jobs = comics.into_iter().enumerate();
        Box::pin(run_bounded_until(
            jobs,
            in_flight,
            || run.stopped(),
            |(slot, num)| run.load_tile(slot, num),
        ))
        .await;
    }
    // Stopped: Stop has already settled the run and its history.
    if run.stopped() {
        return;
    }
    run.until_every_image_is_timed().await;
    run.refresh_network_times();
    state.tally_now();
    state.run.update(|run| run.status = RunStatus::Done);
    record_history(state);
}

/// What every comic of one run (or one retry) shares: where it paints, how it fetches, and
/// the run's clock.
struct RunContext {
    state: AppState,
    run_id: u64,
    /// `performance.now()` when the run started; every timing is relative to it.
    started_at: f64,
    fetcher: Fetcher,
    /// When the waterfall was last refreshed (`performance.now()`).
    last_refresh: Cell<f64>,
}

impl RunContext {
    /// A comic asks the way its run asked (`run`'s priority), with `config`'s network and
    /// cache settings, as try number `attempt`.
    fn new(state: AppState, run: &RunView, config: &RunConfig, attempt: u32, signal: AbortSignal) -> Self {
        RunContext {
            state,
            run_id: run.id,
            started_at: run.started_at,
            fetcher: Fetcher::new(
                config.sim,
                config.use_cache,
                run.priority,
                attempt,
                signal,
                shard_origins(state, run.shards),
            ),
            last_refresh: Cell::new(f64::NEG_INFINITY),
        }
    }

    /// True once Stop (or the next run of a compare batch, for a retry) has cancelled this
    /// work: its requests have failed, and nothing it still does may change the page.
    fn stopped(&self) -> bool {
        self.fetcher.stopped()
    }

    /// Milliseconds since the run started.
    fn elapsed(&self) -> f64 {
        api_client::now() - self.started_at
    }

    /// Loads one comic, its metadata then its image, and paints its tile.
    async fn load_tile(&self, slot: usize, num: u32) {
        if self.stopped() {
            return;
        }
        let began = self.elapsed();
        let comic = Box::pin(self.fetcher.comic(num, slot)).await;
        self.load_image(slot, comic, began, self.elapsed()).await;
    }

    /// The rest of a comic's chain once its metadata has arrived (or failed) at `arrived`,
    /// however it was asked for: the decoded image, then the tile.
    async fn load_image(&self, slot: usize, comic: Result<Comic, Failure>, began: f64, arrived: f64) {
        let metadata_done = if comic.is_ok() { arrived } else { began };
        let outcome = match comic {
            Ok(comic) => match comic.img.clone() {
                Some(path) => Box::pin(self.fetcher.image(&path, slot))
                    .await
                    .map(|image_url| (comic, image_url)),
                None => Err(Failure::Permanent(if comic.interactive {
                    "interactive comic: no image to show".into()
                } else {
                    "this comic has no image".into()
                })),
            },
            Err(failure) => Err(failure),
        };
        let timing = ChainTiming {
            started: began,
            metadata_done,
            finished: self.elapsed(),
            network_ms: None,
        };
        self.settle(slot, outcome, timing);
    }

    /// Paints one comic's outcome, unless its run has been stopped or replaced meanwhile.
    fn settle(&self, slot: usize, outcome: Result<(Comic, String), Failure>, timing: ChainTiming) {
        if self.stopped() || self.state.run.with_untracked(|run| run.id) != self.run_id {
            return;
        }
        let new_state = match outcome {
            Ok((comic, image_url)) => TileState::Loaded {
                comic: Box::new(comic),
                image_url,
            },
            Err(failure) => TileState::from(failure),
        };
        let attempt = self.fetcher.attempt();
        let Some(tile) = self.state.tile(slot) else {
            return;
        };
        let order = self.state.each_tile_untracked(|t| t.settled_as).len();
        tile.update(|tile| {
            tile.settled_as = Some(tile.settled_as.unwrap_or(order));
            tile.state = new_state;
            tile.timing = Some(timing);
            tile.attempt = attempt;
        });
        self.state.tally_soon();
        if api_client::now() - self.last_refresh.get() >= WATERFALL_REFRESH_MS {
            self.refresh_network_times();
        }
    }

    /// Waits, a few ms at a time for at most [`LATE_ENTRY_WAITS`], until Resource Timing lists
    /// an image request for every loaded comic: WebKit records an image's entry a moment
    /// after its decode resolves, and the waterfall and the HAR missed the last one (seen:
    /// 39 bars of 40 at the end of a run). Only when every image was asked for afresh: a
    /// cached one leaves no entry.
    async fn until_every_image_is_timed(&self) {
        if !self.fetcher.fetches_fresh() {
            return;
        }
        for _ in 0..LATE_ENTRY_WAITS {
            let loaded = self
                .state
                .each_tile_untracked(|t| matches!(t.state, TileState::Loaded { .. }).then_some(()))
                .len();
            let timed = api_client::api_requests_since(self.started_at)
                .iter()
                .filter(|r| matches!(r.route, Some(Route::Image(_))))
                .count();
            if timed >= loaded || self.stopped() {
                return;
            }
            api_client::pause(LATE_ENTRY_WAIT_MS).await;
        }
    }

    /// Reads the browser's Resource Timing for the run so far: the waterfall's bars, and each
    /// settled comic's own network time (its queueing for a connection left out).
    fn refresh_network_times(&self) {
        // A retry that outlived its run (Compare moved on) must not paint the next run's.
        if self.stopped() || self.state.run.with_untracked(|run| run.id) != self.run_id {
            return;
        }
        self.last_refresh.set(api_client::now());
        let requests = api_client::api_requests_since(self.started_at);
        // When the batch request of a gather run went out (it is recorded once it has ended).
        let batch_sent = requests.iter().find(|r| r.route == Some(Route::Comics)).map(|r| {
            if r.request_start > 0.0 {
                r.request_start
            } else {
                r.start
            }
        });
        self.state.tiles.with_untracked(|tiles| {
            for signal in tiles {
                let (timing, num, image_route) = signal.with_untracked(|tile| {
                    let image_route = match &tile.state {
                        TileState::Loaded { comic, .. } => comic.img.as_deref().and_then(Route::parse),
                        _ => None,
                    };
                    (tile.timing, tile.num, image_route)
                });
                let Some(timing) = timing else {
                    continue;
                };
                let comic_route = Route::Comic(ComicId::Number(num));
                // The comic's own requests: its metadata (unless it came in the batch) and
                // its image.
                let mut network_ms = None;
                let mut own_metadata = false;
                for request in &requests {
                    let Some(route) = &request.route else { continue };
                    let is_metadata = *route == comic_route;
                    if is_metadata || Some(route) == image_route.as_ref() {
                        own_metadata |= is_metadata;
                        let p = request.phases();
                        *network_ms.get_or_insert(0.0) += p.waiting + p.download;
                    }
                }
                // Metadata that came in the batch has no request of its own: its share is
                // from the batch going out to the comic's line arriving.
                if let Some(sent) = batch_sent
                    && !own_metadata
                {
                    let share = (timing.metadata_done - sent).max(0.0);
                    network_ms = Some(network_ms.unwrap_or(0.0) + share);
                }
                // Only a change wakes the tile, and what sums up the run.
                if network_ms.is_some() && network_ms != timing.network_ms {
                    signal.update(|tile| {
                        if let Some(timing) = tile.timing.as_mut() {
                            timing.network_ms = network_ms;
                        }
                    });
                    self.state.tally_soon();
                }
            }
        });
        self.state.requests.set(requests);
    }
}

/// The origins a run with `shards` hosts spreads its comics over, from the shard names the
/// proxy gave in `/api/health` and the page's own scheme and port.
fn shard_origins(state: AppState, shards: u32) -> Vec<String> {
    let hosts = state.health.with_untracked(|health| match health {
        Some(Ok(health)) => health.shard_hosts.clone(),
        _ => Vec::new(),
    });
    let Some(location) = web_sys::window().map(|w| w.location()) else {
        return Vec::new();
    };
    crate::run_config::shard_origins(
        &location.protocol().unwrap_or_default(),
        &location.port().unwrap_or_default(),
        &hosts,
        shards,
    )
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
    let record = std::sync::Arc::new(har_record(state, &run, summary));
    state.history.update(|history| {
        history.insert(
            0,
            HistoryRow {
                id: run.id,
                batch: run.batch,
                mode: run.mode,
                limit: run.limit,
                priority: run.priority,
                shards: run.shards,
                comics: run.comics.clone(),
                summary,
                settle_times,
                status: run.status,
                record,
            },
        );
        history.truncate(HISTORY_LEN);
    });
}

/// The run as its HAR export needs it, read fresh from Resource Timing: a stop can come
/// between two refreshes of the waterfall.
fn har_record(state: AppState, run: &RunView, summary: crate::stats::Summary) -> crate::har::RunRecord {
    let reproduce = RunConfig {
        n: run.comics.len() as u32,
        mode: run.mode,
        limit: run.limit,
        priority: run.priority,
        shards: run.shards,
        comics: Some(run.comics.clone()),
        ..state.config.get_untracked()
    };
    let tiles = state.each_tile_untracked(|tile| {
        Some(crate::har::TileFacts {
            num: tile.num,
            outcome: match &tile.state {
                TileState::Loaded { .. } => "loaded",
                TileState::Failed { .. } => "failed",
                TileState::Cancelled => "stopped",
                TileState::Pending => "pending",
            },
            image: match &tile.state {
                TileState::Loaded { comic, .. } => comic.img.clone(),
                _ => None,
            },
        })
    });
    crate::har::RunRecord {
        id: run.id,
        mode: run.mode,
        limit: run.limit,
        priority: run.priority,
        comics: run.comics.clone(),
        status: run.status,
        summary,
        started_epoch_ms: api_client::time_origin() + run.started_at,
        run_url: format!("?{}", reproduce.to_query()),
        requests: api_client::api_requests_since(run.started_at),
        tiles,
    }
}
