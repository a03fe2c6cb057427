use leptos::prelude::*;

const WIDTH: f64 = 600.0;
const LABEL: f64 = 240.0;
const ROW: f64 = 22.0;

/// A horizontal bar chart in SVG, with its numbers as text for screen readers.
#[component]
pub fn BarChart(bars: Signal<Vec<(String, f64)>>, unit: &'static str, label: &'static str) -> impl IntoView {
    let max = move || bars.with(|b| b.iter().map(|(_, v)| *v).fold(1.0, f64::max));
    let height = move || bars.with(|b| b.len() as f64 * ROW + 4.0);
    let description = move || {
        bars.with(|b| {
            let parts: Vec<String> = b
                .iter()
                .map(|(name, v)| format!("{name}: {} {unit}", v.round()))
                .collect();
            format!("{label}. {}", parts.join("; "))
        })
    };
    view! {
        <svg
            class="chart bars"
            role="img"
            aria-label=description
            viewBox=move || format!("0 0 {WIDTH} {}", height())
            height=move || height().to_string()
        >
            {move || {
                bars.get()
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, value))| {
                        let y = i as f64 * ROW + 2.0;
                        let w = (value / max() * (WIDTH - LABEL - 90.0)).max(1.0);
                        view! {
                            <text class="row-label" x=LABEL - 8.0 y=y + ROW * 0.65>
                                {name}
                            </text>
                            <rect class="bar-fill" x=LABEL y=y + 3.0 width=w height=ROW - 8.0 />
                            <text class="value" x=LABEL + w + 6.0 y=y + ROW * 0.65>
                                {format!("{} {unit}", value.round())}
                            </text>
                        }
                    })
                    .collect_view()
            }}
        </svg>
    }
}
