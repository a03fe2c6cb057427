use leptos::prelude::*;

use super::{
    chart::BarChart,
    ms,
    progress_curve::{CurveLine, ProgressCurve},
};
use crate::{run_config::strategy_label, state::AppState};

/// More lines than this on one progress curve stop being readable.
const CURVES: usize = 6;

/// The last runs, so that strategies can be compared on the same comics.
#[component]
pub fn History() -> impl IntoView {
    let state = expect_context::<AppState>();
    let rows = state.history;
    let bars = Signal::derive(move || {
        rows.with(|rows| {
            rows.iter()
                .rev()
                .map(|row| {
                    (
                        format!(
                            "#{} {}",
                            row.id,
                            strategy_label(row.mode, row.limit, row.priority)
                        ),
                        row.summary.wall_ms,
                    )
                })
                .collect::<Vec<_>>()
        })
    });
    let lines = Memo::new(move |_| {
        rows.with(|rows| {
            rows.iter()
                .take(CURVES)
                .rev()
                .map(CurveLine::of)
                .collect::<Vec<_>>()
        })
    });
    let any = Memo::new(move |_| rows.with(|r| !r.is_empty()));
    view! {
        <section class="history" aria-labelledby="history-title" data-testid="history">
            <h2 id="history-title">"History"</h2>
            {move || {
                rows.with(|r| r.is_empty())
                    .then(|| {
                        view! {
                            <p class="empty">
                                "Finished runs appear here. “Compare strategies” runs the same comics three ways, then all at once in the other priority order."
                            </p>
                        }
                    })
            }}
            <BarChart bars unit="ms" label="Wall time per run" />
            <Show when=move || any.get()>
                <ProgressCurve lines=lines.into() label="Comics settled over time, the last six runs" />
            </Show>
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
                    {move || {
                        rows.get()
                            .into_iter()
                            .map(|row| {
                                let same_as = rows
                                    .with_untracked(|all| {
                                        all.iter()
                                            .filter(|o| o.id != row.id && o.comics == row.comics)
                                            .map(|o| format!("#{}", o.id))
                                            .collect::<Vec<_>>()
                                            .join(" ")
                                    });
                                view! {
                                    <tr
                                        data-testid="history-row"
                                        data-mode=row.mode.as_str()
                                        data-priority=row.priority.as_str()
                                        data-total-ms=row.summary.wall_ms.round().to_string()
                                        data-first-ms=row.summary.first_ms.round().to_string()
                                        data-mean-ms=row.summary.mean_ms.round().to_string()
                                    >
                                        <td>{format!("#{}", row.id)}</td>
                                        <td>{strategy_label(row.mode, row.limit, row.priority)}</td>
                                        <td>{row.comics.len()}</td>
                                        <td>{same_as}</td>
                                        <td>{ms(row.summary.wall_ms)}</td>
                                        <td>{ms(row.summary.first_ms)}</td>
                                        <td>{ms(row.summary.mean_ms)}</td>
                                        <td>{format!("{:.1}×", row.summary.speedup())}</td>
                                        <td>{format!("{:.2}×", row.summary.vs_ideal())}</td>
                                        <td>{row.summary.failed}</td>
                                        <td>{row.status.as_str()}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
        </section>
    }
}
