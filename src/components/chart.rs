use leptos::prelude::*;

use super::ShownKey;

const WIDTH: f64 = 600.0;
const LABEL: f64 = 240.0;
const ROW: f64 = 22.0;

/// A horizontal bar chart in SVG, with its numbers as text for screen readers.
#[component]
pub fn BarChart(
    /// Each bar's name and value. A plain closure, not a `Signal`: the page's only
    /// `Signal<Vec<(String, f64)>>` brought signal code of its own (521 B of a first visit's gzip).
    bars: impl Fn() -> Vec<(String, f64)> + Copy + Send + Sync + 'static,
    unit: &'static str,
    label: &'static str,
) -> impl IntoView {
    let max = move || bars().iter().map(|(_, v)| *v).fold(1.0, f64::max);
    let height = move || bars().len() as f64 * ROW + 4.0;
    let description = move || {
        let parts: Vec<String> = bars()
            .iter()
            .map(|(name, v)| format!("{name}: {} {unit}", v.round()))
            .collect();
        format!("{label}. {}", parts.join("; "))
    };
    view! {
        <svg
            class="chart bars"
            role="img"
            aria-label=description
            viewBox=move || format!("0 0 {WIDTH} {}", height())
            height=move || height().to_string()
        >
            // Keyed by what a bar shows, so a new run redraws only the bars that changed.
            <For
                each=move || {
                    let max = max();
                    bars()
                        .into_iter()
                        .enumerate()
                        .map(move |(i, (name, value))| {
                            let width = (value / max * (WIDTH - LABEL - 90.0)).max(1.0);
                            (i, name, value.round() as u64, width.to_bits())
                        })
                }
                key=bar_key
                children=move |(i, name, value, width)| {
                    view! { <Bar i name value width=f64::from_bits(width) unit /> }
                }
            />
        </svg>
    }
}

/// A bar (place, name, value, width's bits) as the key every chart's keyed list shares.
fn bar_key((i, name, value, width): &(usize, String, u64, u64)) -> ShownKey {
    (*i, *width, name.clone(), [*value, 0, 0, 0])
}

/// One bar, its name and its value.
#[component]
fn Bar(i: usize, name: String, value: u64, width: f64, unit: &'static str) -> impl IntoView {
    let y = i as f64 * ROW + 2.0;
    view! {
        <text class="row-label" x=LABEL - 8.0 y=y + ROW * 0.65>
            {name}
        </text>
        <rect class="bar-fill" x=LABEL y=y + 3.0 width=width height=ROW - 8.0 />
        <text class="value" x=LABEL + width + 6.0 y=y + ROW * 0.65>
            {format!("{value} {unit}")}
        </text>
    }
}

/// A time axis's ticks: at each `(x, ms)`, a line from `top` to `bottom` and its label at
/// `label_y`. Every chart draws its ticks through this one function, so they share one
/// view type (498 B of a first visit's gzip against a view each).
pub(crate) fn ticks(marks: Vec<(f64, f64)>, top: f64, bottom: f64, label_y: f64) -> impl IntoView {
    marks
        .into_iter()
        .map(|(x, t)| {
            view! {
                <line class="tick" x1=x x2=x y1=top y2=bottom />
                <text class="tick-label" x=x y=label_y>
                    {super::ms(t)}
                </text>
            }
        })
        .collect_view()
}
