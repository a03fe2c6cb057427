use fanout_api::MAX_DELAY_MS;
use leptos::prelude::*;

use crate::{
    run_config::{MAX_COMICS, Mode, Priority, TileOrder, parse_comic_list},
    runner,
    state::AppState,
};

#[component]
pub fn Controls() -> impl IntoView {
    let state = expect_context::<AppState>();
    let config = state.config;
    let stoppable = move || runner::is_stoppable(state);
    let list_error = RwSignal::new(None::<String>);
    let list_text = RwSignal::new(
        config
            .get_untracked()
            .comics
            .map(|c| c.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
    );

    let on_list = move |ev| {
        let text = event_target_value(&ev);
        list_text.set(text.clone());
        if text.trim().is_empty() {
            list_error.set(None);
            config.update(|c| c.comics = None);
            return;
        }
        match parse_comic_list(&text) {
            Ok(list) => {
                list_error.set(None);
                config.update(|c| c.comics = Some(list));
            }
            Err(err) => list_error.set(Some(err)),
        }
    };

    view! {
        <form
            class="controls"
            on:submit=move |ev| {
                ev.prevent_default();
                runner::start_run(state, false);
            }
        >
            <fieldset>
                <legend>"What to fetch"</legend>
                <NumberField
                    label="Comics"
                    name="n"
                    min=1
                    max=MAX_COMICS
                    get=move || config.with(|c| c.n)
                    set=move |v| config.update(|c| c.n = v)
                    disabled=Signal::derive(move || config.with(|c| c.comics.is_some()))
                />
                <label class="field wide">
                    <span>"or these comics"</span>
                    <input
                        type="text"
                        name="comics"
                        inputmode="numeric"
                        placeholder="e.g. 1,404,614"
                        prop:value=move || list_text.get()
                        on:input=on_list
                        aria-invalid=move || list_error.with(|e| e.is_some()).to_string()
                    />
                </label>
                {move || {
                    list_error
                        .get()
                        .map(|e| {
                            view! {
                                <p class="field-error" role="alert">
                                    {e}
                                </p>
                            }
                        })
                }}
            </fieldset>
            <fieldset>
                <legend>"How"</legend>
                <div class="modes" role="radiogroup">
                    {Mode::ALL
                        .into_iter()
                        .map(|mode| {
                            view! {
                                <label class="mode">
                                    <input
                                        type="radio"
                                        name="mode"
                                        value=mode.as_str()
                                        prop:checked=move || config.with(|c| c.mode == mode)
                                        on:change=move |_| config.update(|c| c.mode = mode)
                                    />
                                    <span>{mode.label()}</span>
                                </label>
                            }
                        })
                        .collect_view()}
                </div>
                <NumberField
                    label="at most k in flight"
                    name="limit"
                    min=1
                    max=MAX_COMICS
                    get=move || config.with(|c| c.limit)
                    set=move |v| config.update(|c| c.limit = v)
                    disabled=Signal::derive(move || config.with(|c| c.mode != Mode::Limited))
                />
                <label class="field">
                    <span>"Tiles appear"</span>
                    <select
                        name="order"
                        on:change=move |ev| {
                            if let Some(order) = TileOrder::parse(&event_target_value(&ev)) {
                                config.update(|c| c.order = order);
                            }
                        }
                    >
                        {TileOrder::ALL
                            .into_iter()
                            .map(|order| {
                                view! {
                                    <option
                                        value=order.as_str()
                                        selected=move || config.with(|c| c.order == order)
                                    >
                                        {order_label(order)}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label class="check">
                    <input
                        type="checkbox"
                        name="cache"
                        prop:checked=move || config.with(|c| c.use_cache)
                        on:change=move |ev| config.update(|c| c.use_cache = event_target_checked(&ev))
                    />
                    <span>"let the browser cache answer repeats"</span>
                </label>
                <label
                    class="check"
                    title="Each comic's image asks for high priority and its metadata for low, so over HTTP/1.1 a free connection goes to an image before the next comic's metadata"
                >
                    <input
                        type="checkbox"
                        name="priority"
                        prop:checked=move || config.with(|c| c.priority == Priority::ImagesFirst)
                        on:change=move |ev| {
                            let priority = if event_target_checked(&ev) {
                                Priority::ImagesFirst
                            } else {
                                Priority::NoHints
                            };
                            config.update(|c| c.priority = priority);
                        }
                    />
                    <span>"Images first (priority hints)"</span>
                </label>
            </fieldset>
            <NetworkControls />
            <div class="actions">
                <button type="submit" class="primary" data-testid="run">
                    "Run"
                </button>
                <button
                    type="button"
                    data-testid="stop"
                    disabled=move || !stoppable()
                    on:click=move |_| runner::stop(state)
                >
                    "Stop"
                </button>
                <button
                    type="button"
                    data-testid="compare"
                    title="Run the same comics one after another, at most k at a time, all at once and gathered by the server (streamed, and waiting for all), then all at once with the other priority setting"
                    on:click=move |_| runner::start_run(state, true)
                >
                    "Compare strategies"
                </button>
            </div>
        </form>
    }
}

#[component]
fn NetworkControls() -> impl IntoView {
    let state = expect_context::<AppState>();
    let config = state.config;
    let is_demo = move || {
        state
            .health
            .with(|h| matches!(h, Some(Ok(h)) if h.origin == fanout_api::OriginKind::Demo))
    };
    view! {
        <fieldset class="network" class:inactive=move || !is_demo()>
            <legend>"Demo network"</legend>
            <p class="hint">
                {move || {
                    if is_demo() {
                        "The demo origin waits this long per request (metadata and image each), with a long-tailed jitter."
                    } else {
                        "These apply to the demo origin only; xkcd's latency is real."
                    }
                }}
            </p>
            <NumberField
                label="latency (ms)"
                name="latency_ms"
                min=0
                max=MAX_DELAY_MS
                get=move || config.with(|c| c.sim.latency_ms)
                set=move |v| config.update(|c| c.sim.latency_ms = v)
                disabled=Signal::derive(|| false)
            />
            <NumberField
                label="jitter (ms)"
                name="jitter_ms"
                min=0
                max=MAX_DELAY_MS
                get=move || config.with(|c| c.sim.jitter_ms)
                set=move |v| config.update(|c| c.sim.jitter_ms = v)
                disabled=Signal::derive(|| false)
            />
            <NumberField
                label="seed"
                name="seed"
                min=0
                max=u32::MAX
                get=move || config.with(|c| c.sim.seed as u32)
                set=move |v| config.update(|c| c.sim.seed = u64::from(v))
                disabled=Signal::derive(|| false)
            />
            <RateField
                label="fail %"
                name="fail_rate"
                get=move || config.with(|c| c.sim.fail_rate)
                set=move |v| config.update(|c| c.sim.fail_rate = v)
            />
            <RateField
                label="timeout %"
                name="timeout_rate"
                get=move || config.with(|c| c.sim.timeout_rate)
                set=move |v| config.update(|c| c.sim.timeout_rate = v)
            />
            <RateField
                label="missing image %"
                name="missing_rate"
                get=move || config.with(|c| c.sim.missing_rate)
                set=move |v| config.update(|c| c.sim.missing_rate = v)
            />
        </fieldset>
    }
}

fn order_label(order: TileOrder) -> &'static str {
    match order {
        TileOrder::Completion => "in completion order",
        TileOrder::Grid => "in a fixed grid",
    }
}

/// A whole-number input that only ever stores values within `min..=max`.
#[component]
fn NumberField(
    label: &'static str,
    name: &'static str,
    min: u32,
    max: u32,
    get: impl Fn() -> u32 + Send + Sync + Copy + 'static,
    set: impl Fn(u32) + Send + Sync + Copy + 'static,
    disabled: Signal<bool>,
) -> impl IntoView {
    let invalid = RwSignal::new(false);
    let on_input = move |ev| match event_target_value(&ev).parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => {
            invalid.set(false);
            set(v)
        }
        _ => invalid.set(true),
    };
    view! {
        <label class="field">
            <span>{label}</span>
            <input
                type="number"
                name=name
                min=min
                max=max
                step="1"
                inputmode="numeric"
                prop:value=move || get().to_string()
                disabled=move || disabled.get()
                aria-invalid=move || invalid.get().to_string()
                on:input=on_input
            />
        </label>
    }
}

/// A percentage input backed by a 0..=1 rate.
#[component]
fn RateField(
    label: &'static str,
    name: &'static str,
    get: impl Fn() -> f64 + Send + Sync + Copy + 'static,
    set: impl Fn(f64) + Send + Sync + Copy + 'static,
) -> impl IntoView {
    let on_input = move |ev| {
        if let Some(pct) = fanout_api::parse_decimal(&event_target_value(&ev))
            && (0.0..=100.0).contains(&pct)
        {
            set(pct / 100.0);
        }
    };
    view! {
        <label class="field">
            <span>{label}</span>
            <input
                type="number"
                name=name
                min="0"
                max="100"
                step="1"
                prop:value=move || format!("{}", (get() * 100.0).round())
                on:input=on_input
            />
        </label>
    }
}
