use leptos::prelude::*;

use super::{
    chart::BarChart,
    export::ExportHistory,
    ms,
    progress_curve::{CurveLine, ProgressCurve},
};
use crate::{
    run_config::sharded_label,
    state::{AppState, HistoryRow},
};

/// More lines than this on one progress curve stop being readable.
const CURVES: usize = 8;

/// The last runs, so that strategies can be compared on the same comics.
#[component]
pub fn History() -> impl IntoView {
    let state = AppState::from_context();
    let rows = state.history;
    let bars = move || {
        rows.with(|rows| {
            rows.iter()
                .rev()
                .map(|row| {
                    (
                        format!(
                            "#{} {}",
                            row.id,
                            sharded_label(row.mode, row.limit, row.priority, row.shards)
                        ),
                        row.summary.wall_ms,
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    // Derived, not memoized, here and in the run summary's curve: the page's only
    // `Memo<Vec<CurveLine>>` brought memo code of its own (453 B of a first visit's gzip),
    // and a few lines cost little to work out again where they are read.
    let lines = Signal::derive(move || {
        rows.with(|rows| {
            rows.iter()
                .take(CURVES)
                .rev()
                .map(CurveLine::of)
                .collect::<Vec<_>>()
        })
    });
    // Not memoized: it only hides a note, and the page's `Memo<bool>`s cost 138 B of a
    // first visit's gzip.
    let any = move || rows.with(|r| !r.is_empty());
    view! {
        <section class="history" aria-labelledby="history-title" data-testid="history">
            <h2 id="history-title">"History"</h2>
            <p class="empty" hidden=any>
                "Finished runs appear here. “Compare strategies” runs the same comics every way, then all at once in the other priority order, then all at once and gathered over 8 hosts."
            </p>
            <BarChart bars unit="ms" label="Wall time per run" />
            <ProgressCurve lines label="Comics settled over time, the last six runs" />
            <table class="numbers">
                <thead>
                    <tr>
                        <th>"run"</th>
                        <th>"strategy"</th>
                        <th>"comics"</th>
                        <th>"same set as"</th>
                        <th>"wall"</th>
                        <th>"first tile"</th>
                        <th>"mean to tile"</th>
                        <th>"speedup"</th>
                        <th>"vs. ideal"</th>
                        <th>"failed"</th>
                        <th>"state"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || rows.get() key=row_key let:row>
                        <HistoryRowView row />
                    </For>
                </tbody>
            </table>
            <ExportHistory />
        </section>
    }
}

/// One finished run's numbers. A row never changes once recorded, except which later runs
/// used the same comics.
#[component]
fn HistoryRowView(row: HistoryRow) -> impl IntoView {
    let rows = AppState::from_context().history;
    let (id, comics) = (row.id, row.comics.clone());
    let same_as = move || {
        rows.with(|all| {
            all.iter()
                .filter(|o| o.id != id && o.comics == comics)
                .map(|o| format!("#{}", o.id))
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    let s = row.summary;
    view! {
        <tr
            data-testid="history-row"
            data-mode=row.mode.as_str()
            data-priority=row.priority.as_str()
            data-shards=row.shards.to_string()
            data-total-ms=s.wall_ms.round().to_string()
            data-first-ms=s.first_ms.round().to_string()
            data-mean-ms=s.mean_ms.round().to_string()
        >
            <td>{format!("#{}", row.id)}</td>
            <td>{sharded_label(row.mode, row.limit, row.priority, row.shards)}</td>
            <td>{row.comics.len()}</td>
            <td>{same_as}</td>
            <td>{ms(s.wall_ms)}</td>
            <td>{ms(s.first_ms)}</td>
            <td>{ms(s.mean_ms)}</td>
            <td>{format!("{:.1}×", s.speedup())}</td>
            <td>{format!("{:.2}×", s.vs_ideal())}</td>
            <td>{s.failed}</td>
            <td>{row.status.as_str()}</td>
        </tr>
    }
}

/// A row's key: its run's id, in the key type every keyed list shares.
fn row_key(row: &HistoryRow) -> super::ShownKey {
    (row.id as usize, 0, String::new(), [0; 4])
}
