use leptos::{prelude::*, task::spawn_local};

use super::{
    controls::Controls, gallery::Gallery, history::History, summary::RunSummary, viewer::Viewer,
    waterfall::Waterfall,
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

/// Which origin the proxy uses, or why it cannot be reached: one element whose attributes
/// and text follow the health check (one view type, not one per outcome).
fn origin_badge(state: AppState) -> impl IntoView {
    move || {
        // The test id marks an answer (or its absence): "connecting…" has none.
        let (class, test_id, origin, text) = match state.health.get() {
            None => ("badge", None, None, "connecting…".to_owned()),
            Some(Ok(health)) => (
                "badge",
                Some("origin"),
                Some(health.origin.as_str()),
                health.description,
            ),
            Some(Err(err)) => (
                "badge badge-error",
                Some("origin"),
                None,
                format!("proxy unreachable: {err}"),
            ),
        };
        view! {
            <span class=class data-testid=test_id data-origin=origin>
                {text}
            </span>
        }
    }
}

fn url_problems(state: AppState) -> impl IntoView {
    move || {
        let problems = state.problems.get();
        (!problems.is_empty()).then(|| {
            view! {
                <div class="problems" role="alert" data-testid="problems">
                    <p>"Some settings in the address were not understood and were replaced by defaults:"</p>
                    <ul>{problems.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
                </div>
            }
        })
    }
}
