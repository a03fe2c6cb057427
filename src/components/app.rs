use leptos::{either::EitherOf3, prelude::*, task::spawn_local};

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
        state.latest.set_value(latest);
        if run_on_load {
            runner::start_run(state, false);
        }
    });

    view! {
        <header class="masthead">
            <h1>"Fanout"</h1>
            <p class="tagline">"What concurrent requests buy you, one comic at a time."</p>
            <OriginBadge />
        </header>
        <Problems />
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

#[component]
fn OriginBadge() -> impl IntoView {
    let state = AppState::from_context();
    // One `EitherOf3`, not three `.into_any()` arms: each type-erased arm brings its own
    // build, rebuild and mount code.
    move || match state.health.get() {
        None => EitherOf3::A(view! { <span class="badge">"connecting…"</span> }),
        Some(Ok(health)) => EitherOf3::B(view! {
            <span class="badge" data-testid="origin" data-origin=health.origin.as_str()>
                {health.description}
            </span>
        }),
        Some(Err(err)) => EitherOf3::C(view! {
            <span class="badge badge-error" data-testid="origin">
                {format!("proxy unreachable: {err}")}
            </span>
        }),
    }
}

#[component]
fn Problems() -> impl IntoView {
    let state = AppState::from_context();
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
