use std::fmt::Write;

use leptos::prelude::*;

use super::{
    chart::bar_chart,
    markup::escaped,
    ms,
    progress_curve::{CurveLine, curve_figure},
};
use crate::{
    run_config::strategy_label,
    state::{AppState, HistoryRow},
};

/// More lines than this on one progress curve stop being readable.
const CURVES: usize = 6;

/// The last runs, so that strategies can be compared on the same comics.
#[component]
pub fn History() -> impl IntoView {
    let rows = expect_context::<AppState>().history;
    // The heading stays put (the section is labelled by it); only the runs below it are rewritten.
    view! {
        <section class="history" aria-labelledby="history-title" data-testid="history">
            <h2 id="history-title">"History"</h2>
            <div inner_html=move || rows.with(|rows| history_markup(rows))></div>
        </section>
    }
}

/// The section's content below its heading, newest run first: a bar chart of wall times, the
/// progress curves of the last runs and a table of every number.
fn history_markup(rows: &[HistoryRow]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str(
            r#"<p class="empty">Finished runs appear here. “Compare strategies” runs the same comics three ways, then all at once in the other priority order.</p>"#,
        );
    }
    let bars: Vec<(String, f64)> = rows
        .iter()
        .rev()
        .map(|row| (format!("#{} {}", row.id, label(row)), row.summary.wall_ms))
        .collect();
    bar_chart(&mut out, &bars, "ms", "Wall time per run");
    if !rows.is_empty() {
        let lines: Vec<CurveLine> = rows.iter().take(CURVES).rev().map(CurveLine::of).collect();
        curve_figure(&mut out, &lines, "Comics settled over time, the last six runs");
    }
    out.push_str(concat!(
        r#"<table class="numbers"><thead><tr><th>run</th><th>strategy</th><th>comics</th><th>same set as</th>"#,
        "<th>wall</th><th>first tile</th><th>mean to tile</th><th>speedup</th><th>vs. ideal</th>",
        "<th>failed</th><th>state</th></tr></thead><tbody>"
    ));
    for row in rows {
        let s = &row.summary;
        let _ = write!(
            out,
            r#"<tr data-testid="history-row" data-mode="{}" data-priority="{}" data-total-ms="{}" data-first-ms="{}" data-mean-ms="{}"><td>#{}</td><td>{}</td><td>{}</td><td>"#,
            escaped(row.mode.as_str()),
            escaped(row.priority.as_str()),
            s.wall_ms.round() as i64,
            s.first_ms.round() as i64,
            s.mean_ms.round() as i64,
            row.id,
            escaped(&label(row)),
            row.comics.len(),
        );
        let same_set = rows.iter().filter(|o| o.id != row.id && o.comics == row.comics);
        for (i, other) in same_set.enumerate() {
            let _ = write!(out, "{}#{}", if i == 0 { "" } else { " " }, other.id);
        }
        let _ = write!(
            out,
            "</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}×</td><td>{:.2}×</td><td>{}</td><td>{}</td></tr>",
            ms(s.wall_ms),
            ms(s.first_ms),
            ms(s.mean_ms),
            s.speedup(),
            s.vs_ideal(),
            s.failed,
            escaped(row.status.as_str()),
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn label(row: &HistoryRow) -> String {
    strategy_label(row.mode, row.limit, row.priority)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        run_config::{Mode, Priority},
        state::RunStatus,
        stats::Summary,
    };

    fn row(id: u64, mode: Mode, comics: &[u32]) -> HistoryRow {
        HistoryRow {
            id,
            batch: 1,
            mode,
            limit: 6,
            priority: Priority::ImagesFirst,
            comics: comics.to_vec(),
            summary: Summary {
                wall_ms: 1234.6,
                first_ms: 300.2,
                mean_ms: 800.0,
                sum_ms: 2469.2,
                ideal_ms: 617.3,
                loaded: 3,
                failed: 1,
            },
            settle_times: vec![300.2, 1234.6],
            status: RunStatus::Done,
        }
    }

    #[test]
    fn before_any_run_it_says_what_will_appear() {
        let markup = history_markup(&[]);
        assert!(markup.starts_with(r#"<p class="empty">"#), "{markup}");
        assert!(!markup.contains("<figure"), "no curve without runs: {markup}");
        assert!(
            markup.ends_with("<th>state</th></tr></thead><tbody></tbody></table>"),
            "{markup}"
        );
    }

    #[test]
    fn a_row_per_run_with_its_hooks_and_numbers() {
        let markup = history_markup(&[
            row(3, Mode::Sequential, &[1, 2]),
            row(2, Mode::Concurrent, &[1, 2]),
            row(1, Mode::Limited, &[5]),
        ]);
        assert!(!markup.contains(r#"class="empty""#), "{markup}");
        assert!(markup.contains(r#"aria-label="Wall time per run. #1 at most 6 at a time: 1235 ms; #2 all at once: 1235 ms; #3 one after another: 1235 ms""#), "{markup}");
        assert_eq!(
            markup.matches(r#"data-testid="curve-line""#).count(),
            3,
            "{markup}"
        );
        assert!(markup.contains(concat!(
            r#"<tr data-testid="history-row" data-mode="sequential" data-priority="images" data-total-ms="1235" data-first-ms="300" data-mean-ms="800">"#,
            "<td>#3</td><td>one after another</td><td>2</td><td>#2</td><td>1,235 ms</td><td>300 ms</td><td>800 ms</td>",
            "<td>2.0×</td><td>2.00×</td><td>1</td><td>done</td></tr>"
        )), "{markup}");
        assert!(
            markup.contains("<td>#1</td><td>at most 6 at a time</td><td>1</td><td></td>"),
            "{markup}"
        );
    }
}
