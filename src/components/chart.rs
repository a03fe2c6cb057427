use std::fmt::Write;

use super::markup::escaped;
use crate::plot::tenths;

const WIDTH: f64 = 600.0;
const LABEL: f64 = 240.0;
const ROW: f64 = 22.0;
/// Where a row's texts sit: their baseline, below the row's top.
const BASELINE: f64 = 14.3;

/// A horizontal bar chart in SVG, with its numbers in its label for screen readers:
/// appends the `<svg>` element to `out`.
pub fn bar_chart(out: &mut String, bars: &[(String, f64)], unit: &str, label: &str) {
    let max = bars.iter().map(|(_, v)| *v).fold(1.0, f64::max);
    let height = bars.len() * ROW as usize + 4;
    let unit = escaped(unit);
    let _ = write!(
        out,
        r#"<svg class="chart bars" role="img" aria-label="{}. "#,
        escaped(label)
    );
    for (i, (name, value)) in bars.iter().enumerate() {
        let separator = if i == 0 { "" } else { "; " };
        let _ = write!(
            out,
            "{separator}{}: {} {unit}",
            escaped(name),
            value.round() as i64
        );
    }
    let _ = write!(out, r#"" viewBox="0 0 {WIDTH} {height}" height="{height}">"#);
    for (i, (name, value)) in bars.iter().enumerate() {
        let y = i as f64 * ROW + 2.0;
        let w = tenths((value / max * (WIDTH - LABEL - 90.0)).max(1.0));
        let _ = write!(
            out,
            r#"<text class="row-label" x="{}" y="{}">{}</text><rect class="bar-fill" x="{LABEL}" y="{}" width="{w}" height="{}"/><text class="value" x="{}" y="{}">{} {unit}</text>"#,
            LABEL - 8.0,
            tenths(y + BASELINE),
            escaped(name),
            y + 3.0,
            ROW - 8.0,
            tenths(LABEL + w + 6.0),
            tenths(y + BASELINE),
            value.round() as i64,
        );
    }
    out.push_str("</svg>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_carry_their_numbers() {
        let mut svg = String::new();
        let bars = [("#1 <b>".to_string(), 1000.4), ("#2".to_string(), 500.0)];
        bar_chart(&mut svg, &bars, "ms", "Wall time");
        assert_eq!(
            svg,
            concat!(
                r#"<svg class="chart bars" role="img" aria-label="Wall time. #1 &lt;b&gt;: 1000 ms; #2: 500 ms" viewBox="0 0 600 48" height="48">"#,
                r#"<text class="row-label" x="232" y="16.3">#1 &lt;b&gt;</text><rect class="bar-fill" x="240" y="5" width="270" height="14"/><text class="value" x="516" y="16.3">1000 ms</text>"#,
                r#"<text class="row-label" x="232" y="38.3">#2</text><rect class="bar-fill" x="240" y="27" width="134.9" height="14"/><text class="value" x="380.9" y="38.3">500 ms</text>"#,
                "</svg>"
            )
        );
    }

    #[test]
    fn no_bars_is_an_empty_chart() {
        let mut svg = String::new();
        bar_chart(&mut svg, &[], "ms", "Wall time");
        assert_eq!(
            svg,
            r#"<svg class="chart bars" role="img" aria-label="Wall time. " viewBox="0 0 600 4" height="4"></svg>"#
        );
    }
}
