//! The page's state: one small `Copy` bundle of signals shared by every component.

use fanout_api::{Comic, Health};
use leptos::prelude::*;

use crate::{
    api_client::Failure,
    run_config::{Mode, Priority, RunConfig},
    runner::RunControl,
    stats::{ChainTiming, RequestTiming, Summary},
};

/// Where the run on screen stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Idle,
    Running,
    Done,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Idle => "idle",
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// Where one comic stands.
#[derive(Debug, Clone, PartialEq)]
pub enum TileState {
    /// Requested, or waiting for its turn.
    Pending,
    /// On screen: its metadata and its decoded image.
    Loaded { comic: Box<Comic>, image_url: String },
    /// Settled with an error; `retryable` when asking again may help.
    Failed { reason: String, retryable: bool },
    /// The run was stopped before it settled.
    Cancelled,
}

impl TileState {
    /// True once the comic has an outcome of its own (loaded or failed).
    pub fn is_settled(&self) -> bool {
        matches!(self, TileState::Loaded { .. } | TileState::Failed { .. })
    }
}

impl From<Failure> for TileState {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Aborted => TileState::Cancelled,
            Failure::Retryable(reason) => TileState::Failed {
                reason,
                retryable: true,
            },
            Failure::Permanent(reason) => TileState::Failed {
                reason,
                retryable: false,
            },
        }
    }
}

/// One comic of the current run.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    pub num: u32,
    /// Its fixed position in the run's list.
    pub slot: usize,
    pub state: TileState,
    /// Its place in completion order, once settled.
    pub settled_as: Option<usize>,
    pub timing: Option<ChainTiming>,
    /// How many times it was retried.
    pub attempt: u32,
}

impl Tile {
    /// Its timing, if it has settled (a retry in flight or a stopped retry has not).
    pub fn settled_timing(&self) -> Option<ChainTiming> {
        self.timing.filter(|_| self.state.is_settled())
    }

    pub fn pending(num: u32, slot: usize) -> Self {
        Tile {
            num,
            slot,
            state: TileState::Pending,
            settled_as: None,
            timing: None,
            attempt: 0,
        }
    }
}

/// The run on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub id: u64,
    /// The id of the first run started by the same press of Run or Compare.
    pub batch: u64,
    pub status: RunStatus,
    pub mode: Mode,
    pub limit: u32,
    pub priority: Priority,
    /// How many host names its comics went to (1: the page's own).
    pub shards: u32,
    pub comics: Vec<u32>,
    /// `performance.now()` when it started; every timing of the run is relative to it.
    pub started_at: f64,
}

impl Default for RunView {
    fn default() -> Self {
        RunView {
            id: 0,
            batch: 0,
            status: RunStatus::Idle,
            mode: Mode::Concurrent,
            limit: 6,
            priority: Priority::ImagesFirst,
            shards: 1,
            comics: Vec::new(),
            started_at: 0.0,
        }
    }
}

/// The comic shown large, and the slot of the tile that opened it (focus returns there).
#[derive(Debug, Clone, PartialEq)]
pub struct Viewing {
    pub comic: Comic,
    pub image_url: String,
    pub slot: usize,
}

/// One finished run, for comparing strategies.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub id: u64,
    pub batch: u64,
    pub mode: Mode,
    pub limit: u32,
    pub priority: Priority,
    pub shards: u32,
    pub comics: Vec<u32>,
    pub summary: Summary,
    /// When each comic settled, in ms from Run: the run's progress curve.
    pub settle_times: Vec<f64>,
    pub status: RunStatus,
    /// What its HAR export needs: its requests and where each comic ended up.
    /// Shared, not copied: the history's keyed list and the Export buttons clone rows.
    pub record: std::sync::Arc<crate::har::RunRecord>,
}

/// How many finished runs the history keeps.
pub const HISTORY_LEN: usize = 12;

/// Everything the page shows, as signals; provided as context to every component.
#[derive(Clone, Copy)]
pub struct AppState {
    /// The run's settings; the controls' fields follow it (see `controls::Controls`).
    pub config: RwSignal<RunConfig>,
    /// What was wrong with the URL, shown until the next run.
    pub problems: RwSignal<Vec<String>>,
    pub health: RwSignal<Option<Result<Health, String>>>,
    /// The newest comic number, once known: read only when a run picks its comics, so a
    /// stored value rather than a signal (as the page's only `RwSignal<Option<u32>>`, it
    /// cost 225 B of a first visit's gzip).
    pub latest: StoredValue<Option<u32>>,
    pub run: RwSignal<RunView>,
    /// The run's comics, each its own signal (leptos's todomvc: a signal per item), so that a
    /// settle wakes its own tile, not every tile of the gallery.
    pub tiles: RwSignal<Vec<ArcRwSignal<Tile>>>,
    /// Notified when what sums up the run (its figures, its progress curve) should be
    /// counted again: at most once per animation frame while tiles settle (see
    /// [`AppState::tally_soon`]).
    pub tally: Trigger,
    /// True while a frame is asked for to notify `tally`.
    tally_asked: StoredValue<bool>,
    pub requests: RwSignal<Vec<RequestTiming>>,
    pub history: RwSignal<Vec<HistoryRow>>,
    /// The comic shown large, if any.
    pub viewing: RwSignal<Option<Viewing>>,
    /// The current run's in-flight work, for Stop (see [`crate::runner`]).
    pub control: StoredValue<Option<RunControl>, LocalStorage>,
}

impl AppState {
    /// The page's state, which [`crate::App`] provides to every component below it. Read
    /// with `use_context`, not `expect_context`, whose panic message prints its caller's
    /// `Location` with `Debug`: that formatting code cost 558 B of a first visit's gzip.
    pub fn from_context() -> Self {
        use_context().expect("App provides AppState to every component")
    }

    pub fn new(config: RunConfig, problems: Vec<String>) -> Self {
        AppState {
            config: RwSignal::new(config),
            problems: RwSignal::new(problems),
            health: RwSignal::new(None),
            latest: StoredValue::new(None),
            run: RwSignal::new(RunView::default()),
            tiles: RwSignal::new(Vec::new()),
            tally: Trigger::new(),
            tally_asked: StoredValue::new(false),
            requests: RwSignal::new(Vec::new()),
            history: RwSignal::new(Vec::new()),
            viewing: RwSignal::new(None),
            control: StoredValue::new_local(None),
        }
    }

    /// Puts a new run's tiles on screen, each with a signal of its own.
    pub fn show_tiles(&self, tiles: impl IntoIterator<Item = Tile>) {
        self.tiles.set(tiles.into_iter().map(ArcRwSignal::new).collect());
    }

    /// The tile at `slot` of the run on screen, if there is one (untracked: for work that
    /// changes it, not for views).
    pub fn tile(&self, slot: usize) -> Option<ArcRwSignal<Tile>> {
        self.tiles.with_untracked(|tiles| tiles.get(slot).cloned())
    }

    /// `f` of every tile, in slot order, without tracking (for work outside views).
    pub fn each_tile_untracked<R>(&self, mut f: impl FnMut(&Tile) -> Option<R>) -> Vec<R> {
        let mut found = Vec::new();
        self.visit_tiles_untracked(&mut |tile| found.extend(f(tile)));
        found
    }

    /// Shows `visit` every tile, in slot order, without tracking. Through `dyn`, so that
    /// walking the tiles' signals is compiled once, not once per caller of
    /// [`Self::each_tile_untracked`] (803 B of a first visit's gzip).
    fn visit_tiles_untracked(&self, visit: &mut dyn FnMut(&Tile)) {
        self.tiles.with_untracked(|tiles| {
            for tile in tiles {
                tile.with_untracked(|t| visit(t));
            }
        });
    }

    /// Has what sums up the run count its tiles again at the next animation frame, once
    /// however many settle before it. With 100 comics settling within half a second over
    /// HTTP/2, recounting and redrawing on every settle made the page's own work the
    /// bottleneck of the run (Chromium, N=100 over h2: the page's script time per run
    /// 266 ms before, 210 ms after).
    pub fn tally_soon(&self) {
        if self.tally_asked.get_value() {
            return;
        }
        self.tally_asked.set_value(true);
        let state = *self;
        request_animation_frame(move || state.tally_now());
    }

    /// Has what sums up the run count its tiles again now: when a run ends or is stopped
    /// (and in a tab in the background, where no frame comes).
    pub fn tally_now(&self) {
        self.tally_asked.set_value(false);
        self.tally.notify();
    }

    /// The current run's numbers, from its settled tiles (pending and stopped ones count
    /// neither as loaded nor as failed). In a view it follows a new run and [`Self::tally`].
    pub fn summary(&self) -> Summary {
        self.track_tally();
        let settled = self.each_tile_untracked(|t| {
            Some((t.settled_timing()?, matches!(t.state, TileState::Loaded { .. })))
        });
        Summary::of(&settled)
    }

    /// When each settled comic of the current run settled, in ms from Run; in a view it
    /// follows a new run and [`Self::tally`].
    pub fn settle_times(&self) -> Vec<f64> {
        self.track_tally();
        self.each_tile_untracked(|t| Some(t.settled_timing()?.finished))
    }

    fn track_tally(&self) {
        self.tiles.track();
        self.tally.track();
    }
}
