use std::fmt::Write;

use super::{markup::escaped, ms};
use crate::{
    plot::{Area, Scale, axis_ticks, staircase, tenths},
    run_config::strategy_label,
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
const COLOURS: u64 = 6;

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
            label: strategy_label(row.mode, row.limit, row.priority),
            settle_times: row.settle_times.clone(),
            total: row.comics.len(),
            mean_ms: row.summary.mean_ms,
        }
    }
}

/// Appends a progress curve to `out`: comics settled against time, one staircase per run on
/// shared axes (the earlier a line climbs, the sooner the gallery fills, whatever the wall
/// time), its numbers in its label, and a legend.
pub fn curve_figure(out: &mut String, lines: &[CurveLine], label: &str) {
    out.push_str(r#"<figure class="curve" data-testid="progress-curve">"#);
    let s = Scale::fitting(lines.iter().map(|l| (l.settle_times.as_slice(), l.total)), AREA);
    let _ = write!(
        out,
        r#"<svg class="chart curve-chart" role="img" aria-label="{}. "#,
        escaped(label)
    );
    for (i, l) in lines.iter().enumerate() {
        let last = l.settle_times.iter().copied().fold(0.0, f64::max);
        let _ = write!(
            out,
            "{}#{} {}: {} of {} settled, the last at {}, mean time to tile {}",
            if i == 0 { "" } else { "; " },
            l.run_id,
            escaped(&l.label),
            l.settle_times.len(),
            l.total,
            ms(last),
            ms(l.mean_ms)
        );
    }
    let _ = write!(out, r#"" viewBox="0 0 {WIDTH} {HEIGHT}">"#);
    let (top, bottom, left) = (AREA.top, AREA.top + AREA.height, AREA.left);
    for t in axis_ticks(s.end_ms) {
        let x = tenths(s.x(t));
        let _ = write!(
            out,
            r#"<line class="tick" x1="{x}" x2="{x}" y1="{top}" y2="{bottom}"/><text class="tick-label" x="{x}" y="{}">{}</text>"#,
            HEIGHT - 6.0,
            ms(t)
        );
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{left}" x2="{}" y1="{bottom}" y2="{bottom}"/><line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/><text class="row-label" x="{}" y="{}">{}</text><text class="row-label" x="{}" y="{bottom}">0</text>"#,
        left + AREA.width,
        left - 4.0,
        top + 8.0,
        s.most,
        left - 4.0,
    );
    for l in lines {
        let _ = write!(
            out,
            r#"<path class="curve-line colour-{}" d="{}" data-testid="curve-line" data-run="{}" data-settled="{}"/>"#,
            l.run_id % COLOURS,
            staircase(&l.settle_times, &s),
            l.run_id,
            l.settle_times.len()
        );
    }
    let _ = write!(
        out,
        r#"</svg><figcaption><span class="curve-title">{}</span><ul class="legend">"#,
        escaped(label)
    );
    for l in lines {
        let _ = write!(
            out,
            r#"<li><span class="swatch colour-{}" aria-hidden="true"></span>#{} {}: mean {}</li>"#,
            l.run_id % COLOURS,
            l.run_id,
            escaped(&l.label),
            ms(l.mean_ms)
        );
    }
    out.push_str("</ul></figcaption></figure>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(run_id: u64, label: &str, settle_times: &[f64], total: usize) -> CurveLine {
        CurveLine {
            run_id,
            label: label.to_string(),
            settle_times: settle_times.to_vec(),
            total,
            mean_ms: 1234.4,
        }
    }

    #[test]
    fn one_line_per_run_on_shared_axes() {
        let mut figure = String::new();
        let lines = [
            line(7, "all at once", &[600.0, 1200.0], 2),
            line(8, "one <after> another", &[], 4),
        ];
        curve_figure(&mut figure, &lines, "Comics settled");
        assert_eq!(
            figure,
            concat!(
                r#"<figure class="curve" data-testid="progress-curve">"#,
                r#"<svg class="chart curve-chart" role="img" aria-label="Comics settled. "#,
                "#7 all at once: 2 of 2 settled, the last at 1,200 ms, mean time to tile 1,234 ms; ",
                r#"#8 one &lt;after&gt; another: 0 of 4 settled, the last at 0 ms, mean time to tile 1,234 ms" viewBox="0 0 600 150">"#,
                r#"<line class="tick" x1="126" x2="126" y1="6" y2="130"/><text class="tick-label" x="126" y="144">200 ms</text>"#,
                r#"<line class="tick" x1="218" x2="218" y1="6" y2="130"/><text class="tick-label" x="218" y="144">400 ms</text>"#,
                r#"<line class="tick" x1="310" x2="310" y1="6" y2="130"/><text class="tick-label" x="310" y="144">600 ms</text>"#,
                r#"<line class="tick" x1="402" x2="402" y1="6" y2="130"/><text class="tick-label" x="402" y="144">800 ms</text>"#,
                r#"<line class="tick" x1="494" x2="494" y1="6" y2="130"/><text class="tick-label" x="494" y="144">1,000 ms</text>"#,
                r#"<line class="axis" x1="34" x2="586" y1="130" y2="130"/><line class="axis" x1="34" x2="34" y1="6" y2="130"/>"#,
                r#"<text class="row-label" x="30" y="14">4</text><text class="row-label" x="30" y="130">0</text>"#,
                r#"<path class="curve-line colour-1" d="M34,130H310V99H586V68" data-testid="curve-line" data-run="7" data-settled="2"/>"#,
                r#"<path class="curve-line colour-2" d="M34,130" data-testid="curve-line" data-run="8" data-settled="0"/>"#,
                r#"</svg><figcaption><span class="curve-title">Comics settled</span><ul class="legend">"#,
                r#"<li><span class="swatch colour-1" aria-hidden="true"></span>#7 all at once: mean 1,234 ms</li>"#,
                r#"<li><span class="swatch colour-2" aria-hidden="true"></span>#8 one &lt;after&gt; another: mean 1,234 ms</li>"#,
                "</ul></figcaption></figure>"
            )
        );
    }
}
