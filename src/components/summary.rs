use std::fmt::Write;

use leptos::prelude::*;

use super::{
    markup::escaped,
    ms,
    progress_curve::{CurveLine, curve_figure},
};
use crate::{
    run_config::strategy_label,
    state::{AppState, RunStatus},
    stats::Summary,
};

/// The run's figures, in order: what each is called and what it means.
const FIGURES: [(&str, &str); 7] = [
    ("wall time", "from Run to the last comic"),
    ("first tile", "from Run to the first comic on screen"),
    (
        "mean time to tile",
        "how long a comic keeps you waiting, on average: from Run to its tile (failed ones when they failed)",
    ),
    ("sum of latencies", "what one after another would have cost"),
    ("speedup", "sum of latencies ÷ wall time"),
    (
        "vs. ideal",
        "wall time ÷ the slowest single comic; 1.00× is the limit",
    ),
    ("loaded / failed", "comics on screen and error tiles"),
];

/// The run's numbers, with stable `data-*` hooks for outside tools.
#[component]
pub fn RunSummary() -> impl IntoView {
    let state = expect_context::<AppState>();
    let summary = Memo::new(move |_| state.summary());
    let status = move || state.run.with(|r| r.status);
    let comics = move || state.run.with(|r| r.comics.len());
    let settled = move || summary.with(|s| s.loaded + s.failed);
    let finished = move || matches!(status(), RunStatus::Done | RunStatus::Cancelled);
    // The current run's progress curve, over the runs before it in the same Compare.
    let lines = move || {
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
            label: strategy_label(run.mode, run.limit, run.priority),
            settle_times: state.settle_times(),
            total: run.comics.len(),
            mean_ms: summary.with(|s| s.mean_ms),
        });
        lines
    };

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
            <div inner_html=move || { summary.with(|s| figures_and_curve(s, finished(), &lines())) }></div>
        </section>
    }
}

/// The figures' list (terms and values, each with what it means as its tooltip, dimmed until
/// the run is over), then the progress curve once a run has started.
fn figures_and_curve(s: &Summary, finished: bool, lines: &[CurveLine]) -> String {
    let values = [
        ms(s.wall_ms),
        ms(s.first_ms),
        ms(s.mean_ms),
        ms(s.sum_ms),
        format!("{:.1}×", s.speedup()),
        format!("{:.2}×", s.vs_ideal()),
        format!("{} / {}", s.loaded, s.failed),
    ];
    let mut out = String::from(if finished {
        r#"<dl class="figures">"#
    } else {
        r#"<dl class="figures dim">"#
    });
    for ((term, hint), value) in FIGURES.iter().zip(values) {
        let _ = write!(
            out,
            r#"<div class="figure" title="{}"><dt>{}</dt><dd>{}</dd></div>"#,
            escaped(hint),
            escaped(term),
            value
        );
    }
    out.push_str("</dl>");
    if !lines.is_empty() {
        curve_figure(&mut out, lines, "Comics settled over time");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: Summary = Summary {
        wall_ms: 1234.6,
        first_ms: 300.0,
        mean_ms: 800.0,
        sum_ms: 2469.2,
        ideal_ms: 617.3,
        loaded: 3,
        failed: 1,
    };

    #[test]
    fn figures_carry_their_meaning_as_a_tooltip() {
        let markup = figures_and_curve(&SUMMARY, true, &[]);
        assert_eq!(
            markup.matches(r#"<div class="figure" title=""#).count(),
            7,
            "{markup}"
        );
        assert!(
            markup.starts_with(r#"<dl class="figures"><div class="figure" title="from Run to the last comic"><dt>wall time</dt><dd>1,235 ms</dd></div>"#),
            "{markup}"
        );
        for figure in [
            "<dd>2.0×</dd>",
            "<dd>2.00×</dd>",
            "<dd>3 / 1</dd>",
            "<dd>2,469 ms</dd>",
        ] {
            assert!(markup.contains(figure), "{figure} in {markup}");
        }
        assert!(markup.ends_with("</dl>"), "no curve before a run: {markup}");
    }

    #[test]
    fn figures_are_dim_until_the_run_is_over_and_the_curve_follows_them() {
        let line = CurveLine {
            run_id: 1,
            label: "all at once".to_string(),
            settle_times: vec![300.0],
            total: 4,
            mean_ms: 300.0,
        };
        let markup = figures_and_curve(&SUMMARY, false, &[line]);
        assert!(markup.starts_with(r#"<dl class="figures dim">"#), "{markup}");
        assert!(
            markup.contains(r#"</dl><figure class="curve" data-testid="progress-curve">"#),
            "{markup}"
        );
        assert!(markup.contains(r#"data-run="1" data-settled="1"/>"#), "{markup}");
    }
}
