use std::fmt::Write;

use fanout_api::Health;
use leptos::{prelude::*, tachys::html::InertElement, task::spawn_local};

use super::{
    controls::Controls, gallery::Gallery, history::History, markup::escaped, summary::RunSummary,
    viewer::Viewer, waterfall::Waterfall,
};
use crate::{api_client, runner, state::AppState, url_state};

#[component]
pub fn App() -> impl IntoView {
    let (config, problems) = url_state::read();
    let run_on_load = config.run_on_load;
    let state = AppState::new(config, problems);
    provide_context(state);

    spawn_local(async move {
        let health = api_client::health().await;
        let known_latest = health.as_ref().ok().and_then(|h| h.latest);
        state.health.set(Some(health));
        let latest = match known_latest {
            Some(latest) => Some(latest),
            None => api_client::latest().await.ok(),
        };
        state.latest.set(latest);
        if run_on_load {
            runner::start_run(state, false);
        }
    });

    view! {
        <header class="masthead">
            <h1>"Fanout"</h1>
            <p class="tagline">"What concurrent requests buy you, one comic at a time."</p>
            {origin_badge(state)}
        </header>
        {url_problems(state)}
        <main>
            <Controls />
            <RunSummary />
            <Gallery />
            <Waterfall />
            <History />
        </main>
        <Viewer />
        <footer>
            <p>
                "Comics by Randall Munroe, " <a href="https://xkcd.com/license.html" rel="noreferrer">
                    "xkcd.com"
                </a> " (CC BY-NC 2.5). Fetched through this page's own proxy: xkcd sends no CORS headers."
            </p>
        </footer>
    }
}

/// Which origin the proxy uses, or why it cannot be reached: one element, rebuilt from
/// markup when the health check answers.
fn origin_badge(state: AppState) -> impl IntoView {
    // `Some`: the same view type as the optional markup regions, so compiled once.
    move || {
        Some(InertElement::new(
            state.health.with(|health| badge_markup(health.as_ref())),
        ))
    }
}

/// The origin badge. The test id marks an answer (or its absence): "connecting…" has none.
fn badge_markup(health: Option<&Result<Health, String>>) -> String {
    match health {
        None => r#"<span class="badge">connecting…</span>"#.to_owned(),
        Some(Ok(health)) => format!(
            r#"<span class="badge" data-testid="origin" data-origin="{}">{}</span>"#,
            escaped(health.origin.as_str()),
            escaped(&health.description)
        ),
        Some(Err(err)) => format!(
            r#"<span class="badge badge-error" data-testid="origin">proxy unreachable: {}</span>"#,
            escaped(err)
        ),
    }
}

/// What was wrong with the address, while there is something.
fn url_problems(state: AppState) -> impl IntoView {
    move || {
        state
            .problems
            .with(|problems| (!problems.is_empty()).then(|| InertElement::new(problems_markup(problems))))
    }
}

fn problems_markup(problems: &[String]) -> String {
    let mut html = String::from(
        r#"<div class="problems" role="alert" data-testid="problems"><p>Some settings in the address were not understood and were replaced by defaults:</p><ul>"#,
    );
    for problem in problems {
        let _ = write!(html, "<li>{}</li>", escaped(problem));
    }
    html.push_str("</ul></div>");
    html
}

#[cfg(test)]
mod tests {
    use fanout_api::{Health, OriginKind};

    use super::*;

    #[test]
    fn the_badge_follows_the_health_check() {
        assert_eq!(badge_markup(None), r#"<span class="badge">connecting…</span>"#);
        let health = Health {
            origin: OriginKind::Demo,
            description: "demo <origin>".into(),
            latest: None,
        };
        assert_eq!(
            badge_markup(Some(&Ok(health))),
            r#"<span class="badge" data-testid="origin" data-origin="demo">demo &lt;origin&gt;</span>"#
        );
        assert_eq!(
            badge_markup(Some(&Err("refused & gone".into()))),
            r#"<span class="badge badge-error" data-testid="origin">proxy unreachable: refused &amp; gone</span>"#
        );
    }

    #[test]
    fn problems_are_listed_escaped() {
        assert_eq!(
            problems_markup(&["n must be <1>".into(), "mode".into()]),
            r#"<div class="problems" role="alert" data-testid="problems"><p>Some settings in the address were not understood and were replaced by defaults:</p><ul><li>n must be &lt;1&gt;</li><li>mode</li></ul></div>"#
        );
    }
}
