use leptos::prelude::*;

use super::{
    export::ExportRun,
    ms,
    progress_curve::{CurveLine, ProgressCurve},
};
use crate::{
    hints,
    run_config::sharded_label,
    state::{AppState, RunStatus},
    stats::Summary,
};

/// The run's numbers, with stable `data-*` hooks for outside tools.
#[component]
pub fn RunSummary() -> impl IntoView {
    let state = AppState::from_context();
    let summary = Memo::new(move |_| state.summary());
    let status = move || state.run.with(|r| r.status);
    let comics = move || state.run.with(|r| r.comics.len());
    let settled = move || summary.with(|s| s.loaded + s.failed);
    let finished = move || matches!(status(), RunStatus::Done | RunStatus::Cancelled);
    // Requests that opened a connection of their own (Resource Timing shows its set-up):
    // what more hosts cost, one set-up per connection.
    let connections = Memo::new(move |_| {
        state
            .requests
            .with(|r| r.iter().filter(|t| t.connect.is_some()).count())
    });

    view! {
        <section
            class="summary"
            aria-labelledby="summary-title"
            data-testid="run-summary"
            data-state=move || status().as_str()
            data-total-ms=move || summary.with(|s| s.wall_ms.round().to_string())
            data-first-ms=move || summary.with(|s| s.first_ms.round().to_string())
            data-mean-ms=move || summary.with(|s| s.mean_ms.round().to_string())
            data-loaded=move || summary.with(|s| s.loaded.to_string())
            data-failed=move || summary.with(|s| s.failed.to_string())
            data-connections=move || connections.get().to_string()
            data-hints=move || {
                state.requests.with(|r| hints::verdict(state.run.with(|run| run.priority), r)).as_str()
            }
        >
            <h2 id="summary-title" class="visually-hidden">
                "Run summary"
            </h2>
            <div class="progress" aria-live="polite">
                <progress
                    max=move || comics().max(1).to_string()
                    value=move || settled().to_string()
                ></progress>
                <span data-testid="progress">
                    {move || match status() {
                        RunStatus::Idle => "Pick comics and a strategy, then press Run.".to_string(),
                        RunStatus::Running => format!("{} of {} settled…", settled(), comics()),
                        RunStatus::Done => format!("Done: {} of {} settled.", settled(), comics()),
                        RunStatus::Cancelled => {
                            format!("Stopped: {} of {} settled before the stop.", settled(), comics())
                        }
                    }}
                </span>
            </div>
            <dl class="figures" class:dim=move || !finished()>
                <Figure term="wall time" summary value=|s| ms(s.wall_ms) hint="from Run to the last comic" />
                <Figure
                    term="first tile"
                    summary
                    value=|s| ms(s.first_ms)
                    hint="from Run to the first comic on screen"
                />
                <Figure
                    term="mean time to tile"
                    summary
                    value=|s| ms(s.mean_ms)
                    hint="how long a comic keeps you waiting, on average: from Run to its tile (failed ones when they failed)"
                />
                <Figure
                    term="sum of latencies"
                    summary
                    value=|s| ms(s.sum_ms)
                    hint="what one after another would have cost"
                />
                <Figure
                    term="speedup"
                    summary
                    value=|s| format!("{:.1}×", s.speedup())
                    hint="sum of latencies ÷ wall time"
                />
                <Figure
                    term="vs. ideal"
                    summary
                    value=|s| format!("{:.2}×", s.vs_ideal())
                    hint="wall time ÷ the slowest single comic; 1.00× is the limit"
                />
                <Figure
                    term="loaded / failed"
                    summary
                    value=|s| format!("{} / {}", s.loaded, s.failed)
                    hint="comics on screen and error tiles"
                />
                <div
                    class="figure"
                    title="new connections the run's requests opened, as the browser timed their set-up: over HTTP/1.1 up to six per host, over HTTP/2 one"
                >
                    <dt>"connections opened"</dt>
                    <dd>{move || connections.get().to_string()}</dd>
                </div>
            </dl>
            <BatchCurve summary />
            <ExportRun />
        </section>
    }
}

/// The current run's progress curve, over the runs before it in the same Compare.
#[component]
fn BatchCurve(summary: Memo<Summary>) -> impl IntoView {
    let state = AppState::from_context();
    let lines = Signal::derive(move || {
        let run = state.run.get();
        if run.id == 0 {
            return Vec::new();
        }
        let mut lines: Vec<CurveLine> = state.history.with(|rows| {
            rows.iter()
                .rev()
                .filter(|row| row.batch == run.batch && row.id != run.id)
                .map(CurveLine::of)
                .collect()
        });
        lines.push(CurveLine {
            run_id: run.id,
            label: sharded_label(run.mode, run.limit, run.priority, run.shards),
            settle_times: state.settle_times(),
            total: run.comics.len(),
            mean_ms: summary.with(|s| s.mean_ms),
        });
        lines
    });
    view! { <ProgressCurve lines label="Comics settled over time" /> }
}

/// One figure of the run, `value` read from its summary (a plain function, so the seven
/// figures share one view type).
#[component]
fn Figure(
    term: &'static str,
    summary: Memo<Summary>,
    value: fn(&Summary) -> String,
    hint: &'static str,
) -> impl IntoView {
    view! {
        <div class="figure" title=hint>
            <dt>{term}</dt>
            <dd>{move || summary.with(value)}</dd>
        </div>
    }
}
