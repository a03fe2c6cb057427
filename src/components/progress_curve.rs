use leptos::prelude::*;

use super::{chart::ticks, ms};
use crate::{
    plot::{Area, Scale, axis_ticks, staircase},
    run_config::sharded_label,
    state::HistoryRow,
};

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 150.0;
const AREA: Area = Area {
    left: 34.0,
    top: 6.0,
    width: WIDTH - 34.0 - 14.0,
    height: HEIGHT - 6.0 - 20.0,
};
/// Distinct line colours; a run keeps its colour (picked by its id) on every chart.
const COLOURS: u64 = 8;

/// One run's line on a progress curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveLine {
    pub run_id: u64,
    pub label: String,
    /// When each comic settled, in ms from Run.
    pub settle_times: Vec<f64>,
    /// How many comics the run has, settled or not.
    pub total: usize,
    pub mean_ms: f64,
}

impl CurveLine {
    /// A finished run's line, as history and Compare draw it.
    pub fn of(row: &HistoryRow) -> Self {
        CurveLine {
            run_id: row.id,
            label: sharded_label(row.mode, row.limit, row.priority, row.shards),
            settle_times: row.settle_times.clone(),
            total: row.comics.len(),
            mean_ms: row.summary.mean_ms,
        }
    }
}

/// Comics settled against time, one staircase per run on shared axes: the earlier a line
/// climbs, the sooner the gallery fills, whatever the wall time.
#[component]
pub fn ProgressCurve(lines: Signal<Vec<CurveLine>>, label: &'static str) -> impl IntoView {
    // Worked out where it is read (the axes, the lines) rather than memoized: the page's only
    // `Memo<Scale>` brought memo code of its own (497 B of a first visit's gzip).
    let scale = move || {
        lines.with(|lines| Scale::fitting(lines.iter().map(|l| (l.settle_times.as_slice(), l.total)), AREA))
    };
    let description = move || {
        lines.with(|lines| {
            let parts: Vec<String> = lines
                .iter()
                .map(|l| {
                    let last = l.settle_times.iter().copied().fold(0.0, f64::max);
                    format!(
                        "#{} {}: {} of {} settled, the last at {}, mean time to tile {}",
                        l.run_id,
                        l.label,
                        l.settle_times.len(),
                        l.total,
                        ms(last),
                        ms(l.mean_ms)
                    )
                })
                .collect();
            format!("{label}. {}", parts.join("; "))
        })
    };
    let bottom = AREA.top + AREA.height;
    view! {
        // Hidden until it has a line, rather than built when needed: the `<Show>`s that
        // built the history's and the run summary's curves cost 3,451 B of a first visit's
        // gzip.
        <figure class="curve" data-testid="progress-curve" hidden=move || lines.with(Vec::is_empty)>
            <svg
                class="chart curve-chart"
                role="img"
                aria-label=description
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            >
                {move || {
                    let s = scale();
                    view! {
                        {ticks(
                            axis_ticks(s.end_ms).into_iter().map(|t| (s.x(t), t)).collect(),
                            AREA.top,
                            bottom,
                            HEIGHT - 6.0,
                        )}
                        <line class="axis" x1=AREA.left x2=AREA.left + AREA.width y1=bottom y2=bottom />
                        <line class="axis" x1=AREA.left x2=AREA.left y1=AREA.top y2=bottom />
                        <text class="row-label" x=AREA.left - 4.0 y=AREA.top + 8.0>
                            {s.most}
                        </text>
                        <text class="row-label" x=AREA.left - 4.0 y=bottom>
                            "0"
                        </text>
                    }
                }}
                // One path per run, keyed by what it draws.
                <For
                    each=move || {
                        let s = scale();
                        lines
                            .get()
                            .into_iter()
                            .map(move |line| (
                                line.run_id,
                                staircase(&line.settle_times, &s),
                                line.settle_times.len(),
                            ))
                    }
                    key=line_key
                    children=|(run_id, d, settled)| {
                        view! {
                            <path
                                class=format!("curve-line {}", colour(run_id))
                                d=d
                                data-testid="curve-line"
                                data-run=run_id
                                data-settled=settled
                            />
                        }
                    }
                />
            </svg>
            <figcaption>
                <span class="curve-title">{label}</span>
                <ul class="legend">
                    <For
                        each=move || {
                            lines
                                .get()
                                .into_iter()
                                .map(|line| (
                                    line.run_id,
                                    format!("#{} {}: mean {}", line.run_id, line.label, ms(line.mean_ms)),
                                ))
                        }
                        key=legend_key
                        children=|(run_id, text)| {
                            view! {
                                <li>
                                    <span
                                        class=format!("swatch {}", colour(run_id))
                                        aria-hidden="true"
                                    ></span>
                                    {text}
                                </li>
                            }
                        }
                    />
                </ul>
            </figcaption>
        </figure>
    }
}

/// A run's line colour: it keeps it (picked by its id) on every chart.
fn colour(run_id: u64) -> String {
    format!("colour-{}", run_id % COLOURS)
}

/// A line's key, by what it draws, in the key type every keyed list shares (1,671 B of
/// gzip with the legend's, against keys of their own).
fn line_key((run_id, d, settled): &(u64, String, usize)) -> super::ShownKey {
    (*settled, *run_id, d.clone(), [0; 4])
}

/// A legend entry's key, by what it says.
fn legend_key((run_id, text): &(u64, String)) -> super::ShownKey {
    (0, *run_id, text.clone(), [0; 4])
}
