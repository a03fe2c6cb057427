use leptos::prelude::*;

use super::{chart::BarChart, ms};
use crate::state::AppState;

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
                        format!("#{} {}", row.id, label(row.mode, row.limit)),
                        row.summary.wall_ms,
                    )
                })
                .collect::<Vec<_>>()
        })
    });
    view! {
        <section class="history" aria-labelledby="history-title" data-testid="history">
            <h2 id="history-title">"History"</h2>
            {move || rows.with(|r| r.is_empty()).then(|| view! {
                <p class="empty">"Finished runs appear here. “Compare strategies” runs the same comics three ways."</p>
            })}
            <BarChart bars unit="ms" label="Wall time per run"/>
            <table class="numbers">
                <thead><tr>
                    <th>"run"</th><th>"strategy"</th><th>"comics"</th><th>"same set as"</th><th>"wall"</th>
                    <th>"first tile"</th><th>"speedup"</th><th>"vs. ideal"</th><th>"failed"</th><th>"state"</th>
                </tr></thead>
                <tbody>
                    {move || rows.get().into_iter().map(|row| {
                        let same_as = rows.with_untracked(|all| {
                            all.iter().filter(|o| o.id != row.id && o.comics == row.comics).map(|o| format!("#{}", o.id)).collect::<Vec<_>>().join(" ")
                        });
                        view! { <tr data-testid="history-row" data-mode=row.mode.as_str() data-total-ms=row.summary.wall_ms.round().to_string()>
                            <td>{format!("#{}", row.id)}</td>
                            <td>{label(row.mode, row.limit)}</td>
                            <td>{row.comics.len()}</td>
                            <td>{same_as}</td>
                            <td>{ms(row.summary.wall_ms)}</td>
                            <td>{ms(row.summary.first_ms)}</td>
                            <td>{format!("{:.1}×", row.summary.speedup())}</td>
                            <td>{format!("{:.2}×", row.summary.fanout_ratio())}</td>
                            <td>{row.summary.failed}</td>
                            <td>{row.status.as_str()}</td>
                        </tr> }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

fn label(mode: crate::run_config::Mode, limit: u32) -> String {
    match mode {
        crate::run_config::Mode::Limited => format!("limited (k={limit})"),
        other => other.as_str().to_string(),
    }
}
