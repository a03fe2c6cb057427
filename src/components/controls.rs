use fanout_api::MAX_DELAY_MS;
use leptos::{ev, html::Input, prelude::*};

use crate::{
    run_config::{MAX_COMICS, MAX_SHARDS, Mode, Priority, RunConfig, TileOrder, parse_comic_list},
    runner,
    state::AppState,
};

/// The run's settings. Every field is bound to `config`: an edit goes through [`edit`] (tested
/// natively) into `config`, and a field shows `config`'s value, except while what is typed in
/// it already means that value (see [`shown_text`]): so "12.50" or "007" stay as typed.
#[component]
pub fn Controls() -> impl IntoView {
    let state = AppState::from_context();
    let list_error = RwSignal::new(None::<String>);
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
                <WholeField label="Comics" name="n" min=1 max=MAX_COMICS disabled=|c| c.comics.is_some() />
                <ListField error=list_error />
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
            <HowFields />
            <NetworkFields />
            <Actions />
        </form>
    }
}

/// Applies the edit of the field `name` to `config`, and says what it did.
fn apply(config: RwSignal<RunConfig>, name: &str, value: &str, checked: bool) -> Edit {
    let result = config.with_untracked(|c| edit(c, name, value, checked));
    if let Edit::Apply(next) = &result {
        config.set(next.clone());
    }
    result
}

/// What the field `name` shows: what is typed in it while that already means the setting's
/// value (a number input reads "12." as empty, which would not), else the setting itself.
/// It is evaluated again only when this field's own setting changes.
fn shown_text(config: RwSignal<RunConfig>, name: &'static str, input: NodeRef<Input>) -> impl Fn() -> String {
    let own = Memo::new(move |_| config.with(|c| setting_text(c, name)));
    move || {
        let setting = own.get();
        input
            .get_untracked()
            .map(|field| field.value())
            .filter(|typed| config.with_untracked(|c| edit(c, name, typed, false) == Edit::Apply(c.clone())))
            .unwrap_or(setting)
    }
}

/// A whole-number input from `min` to `max`; [`edit`] checks what is typed against the same
/// range and marks the field invalid when it is outside.
#[component]
fn WholeField(
    label: &'static str,
    name: &'static str,
    min: u32,
    max: u32,
    /// When the settings make this field moot: a plain function read in the field's own
    /// binding. As two `Signal<bool>`s, the page's only derived `bool` signals, they cost
    /// 972 B of a first visit's gzip.
    #[prop(optional)]
    disabled: Option<fn(&RunConfig) -> bool>,
) -> impl IntoView {
    let config = AppState::from_context().config;
    let input = NodeRef::<Input>::new();
    let invalid = RwSignal::new(false);
    view! {
        <label class="field">
            <span>{label}</span>
            <input
                node_ref=input
                type="number"
                name=name
                min=min
                max=max
                step="1"
                inputmode="numeric"
                prop:value=shown_text(config, name, input)
                disabled=move || disabled.is_some_and(|moot| config.with(moot))
                aria-invalid=move || if invalid.get() { "true" } else { "false" }
                on:input:target=move |ev| {
                    let refused = matches!(apply(config, name, &ev.target().value(), false), Edit::Refuse(_));
                    invalid.set(refused);
                }
            />
        </label>
    }
}

/// A percentage input backed by a 0..=1 rate; values outside 0 to 100 wait, unapplied.
#[component]
fn RateField(label: &'static str, name: &'static str) -> impl IntoView {
    let config = AppState::from_context().config;
    let input = NodeRef::<Input>::new();
    view! {
        <label class="field">
            <span>{label}</span>
            <input
                node_ref=input
                type="number"
                name=name
                min="0"
                max="100"
                // Rates take decimals (12.5 %): with step 1 the browser would refuse to submit.
                step="any"
                prop:value=shown_text(config, name, input)
                on:input:target=move |ev| {
                    apply(config, name, &ev.target().value(), false);
                }
            />
        </label>
    }
}

/// The explicit comic list; empty means `n` random comics. Why a list is refused is shown
/// below it.
#[component]
fn ListField(error: RwSignal<Option<String>>) -> impl IntoView {
    let config = AppState::from_context().config;
    let input = NodeRef::<Input>::new();
    view! {
        <label class="field wide">
            <span>"or these comics"</span>
            <input
                node_ref=input
                type="text"
                name="comics"
                inputmode="numeric"
                placeholder="e.g. 1,404,614"
                prop:value=shown_text(config, "comics", input)
                aria-invalid=move || if error.with(Option::is_some) { "true" } else { "false" }
                on:input:target=move |ev| {
                    error
                        .set(
                            match apply(config, "comics", &ev.target().value(), false) {
                                Edit::Refuse(reason) => reason,
                                _ => None,
                            },
                        );
                }
            />
        </label>
    }
}

/// How the comics are fetched: the strategy, its limit, the order tiles appear in, the cache
/// and the priority hints.
#[component]
fn HowFields() -> impl IntoView {
    let config = AppState::from_context().config;
    let on_choice = move |ev: ev::Event| {
        let field = event_target::<web_sys::HtmlInputElement>(&ev);
        apply(config, &field.name(), &field.value(), field.checked());
    };
    view! {
        <fieldset>
            <legend>"How"</legend>
            <div class="modes" role="radiogroup">
                // A fixed list: built once, so no keyed <For>.
                {Mode::ALL
                    .map(|mode| {
                        view! {
                            <label class="mode">
                                <input
                                    type="radio"
                                    name="mode"
                                    value=mode.as_str()
                                    prop:checked=move || config.with(|c| c.mode == mode)
                                    on:change=on_choice
                                />
                                <span>{mode.label()}</span>
                            </label>
                        }
                    })}
            </div>
            <WholeField
                label="at most k in flight"
                name="limit"
                min=1
                max=MAX_COMICS
                disabled=|c| c.mode != Mode::Limited
            />
            <label class="field">
                <span>"Tiles appear"</span>
                <select
                    name="order"
                    on:change:target=move |ev| {
                        apply(config, "order", &ev.target().value(), false);
                    }
                >
                    {TileOrder::ALL
                        .map(|order| {
                            view! {
                                <option
                                    value=order.as_str()
                                    prop:selected=move || config.with(|c| c.order == order)
                                >
                                    {order_label(order)}
                                </option>
                            }
                        })}
                </select>
            </label>
            <label class="check">
                <input
                    type="checkbox"
                    name="cache"
                    prop:checked=move || config.with(|c| c.use_cache)
                    on:change=on_choice
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
                    on:change=on_choice
                />
                <span>"Images first (priority hints)"</span>
            </label>
            // Comic i goes to host i mod k: over HTTP/1.1 each host name gets its own six
            // connections (domain sharding), at the cost of a connection set-up per host.
            <WholeField label="hosts (shards)" name="shards" min=1 max=MAX_SHARDS />
        </fieldset>
    }
}

/// The demo origin's simulated network; idle (dashed) when the proxy serves xkcd.
#[component]
fn NetworkFields() -> impl IntoView {
    let state = AppState::from_context();
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
            <WholeField label="latency (ms)" name="latency_ms" min=0 max=MAX_DELAY_MS />
            <WholeField label="jitter (ms)" name="jitter_ms" min=0 max=MAX_DELAY_MS />
            <WholeField label="seed" name="seed" min=0 max=u32::MAX />
            <RateField label="fail %" name="fail_rate" />
            <RateField label="timeout %" name="timeout_rate" />
            <RateField label="missing image %" name="missing_rate" />
        </fieldset>
    }
}

/// Run (the form's submit), Stop and Compare.
#[component]
fn Actions() -> impl IntoView {
    let state = AppState::from_context();
    view! {
        <div class="actions">
            <button type="submit" class="primary" data-testid="run">
                "Run"
            </button>
            <button
                type="button"
                data-testid="stop"
                disabled=move || !runner::is_stoppable(state)
                on:click=move |_| runner::stop(state)
            >
                "Stop"
            </button>
            <button
                type="button"
                data-testid="compare"
                title="Run the same comics one after another, at most k at a time, all at once and gathered by the server (streamed, and waiting for all), then all at once with the other priority setting, then all at once and gathered over 8 hosts"
                on:click=move |_| runner::start_run(state, true)
            >
                "Compare strategies"
            </button>
        </div>
    }
}

/// What one edited field does to the settings.
#[derive(Debug, PartialEq)]
enum Edit {
    /// The settings with the new value.
    Apply(RunConfig),
    /// The value is refused and the field marked invalid, with a reason to show when the
    /// field has one of its own (the comic list).
    Refuse(Option<String>),
    /// Nothing changes (a rate outside 0 to 100, a field this form does not know).
    Ignore,
}

/// The settings after the field `name` took `value` (`checked` for a checkbox); whole
/// numbers are only ever stored within their field's `min..=max`.
fn edit(config: &RunConfig, name: &str, value: &str, checked: bool) -> Edit {
    let mut next = config.clone();
    let whole = |min: u32, max: u32| value.parse::<u32>().ok().filter(|v| (min..=max).contains(v));
    let rate = || {
        fanout_api::parse_decimal(value)
            .filter(|pct| (0.0..=100.0).contains(pct))
            .map(|pct| pct / 100.0)
    };
    match name {
        "n" | "limit" | "shards" | "latency_ms" | "jitter_ms" | "seed" => {
            let (min, max) = match name {
                "n" | "limit" => (1, MAX_COMICS),
                "shards" => (1, MAX_SHARDS),
                "seed" => (0, u32::MAX),
                _ => (0, MAX_DELAY_MS),
            };
            let Some(v) = whole(min, max) else {
                return Edit::Refuse(None);
            };
            match name {
                "n" => next.n = v,
                "limit" => next.limit = v,
                "shards" => next.shards = v,
                "latency_ms" => next.sim.latency_ms = v,
                "jitter_ms" => next.sim.jitter_ms = v,
                _ => next.sim.seed = u64::from(v),
            }
        }
        "comics" if value.trim().is_empty() => next.comics = None,
        "comics" => match parse_comic_list(value) {
            Ok(list) => next.comics = Some(list),
            Err(reason) => return Edit::Refuse(Some(reason)),
        },
        "fail_rate" | "timeout_rate" | "missing_rate" => {
            let Some(r) = rate() else {
                return Edit::Ignore;
            };
            match name {
                "fail_rate" => next.sim.fail_rate = r,
                "timeout_rate" => next.sim.timeout_rate = r,
                _ => next.sim.missing_rate = r,
            }
        }
        "mode" => match Mode::parse(value) {
            Some(mode) => next.mode = mode,
            None => return Edit::Ignore,
        },
        "order" => match TileOrder::parse(value) {
            Some(order) => next.order = order,
            None => return Edit::Ignore,
        },
        "cache" => next.use_cache = checked,
        "priority" => {
            next.priority = if checked {
                Priority::ImagesFirst
            } else {
                Priority::NoHints
            }
        }
        _ => return Edit::Ignore,
    }
    Edit::Apply(next)
}

/// The setting behind the text or number field `name`, as the field shows it.
fn setting_text(config: &RunConfig, name: &str) -> String {
    let percent = |rate: f64| ((rate * 1e8).round() / 1e6).to_string();
    match name {
        "n" => config.n.to_string(),
        "limit" => config.limit.to_string(),
        "shards" => config.shards.to_string(),
        "latency_ms" => config.sim.latency_ms.to_string(),
        "jitter_ms" => config.sim.jitter_ms.to_string(),
        "seed" => config.sim.seed.to_string(),
        "fail_rate" => percent(config.sim.fail_rate),
        "timeout_rate" => percent(config.sim.timeout_rate),
        "missing_rate" => percent(config.sim.missing_rate),
        "comics" => config
            .comics
            .as_ref()
            .map(|c| c.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn order_label(order: TileOrder) -> &'static str {
    match order {
        TileOrder::Completion => "in completion order",
        TileOrder::Grid => "in a fixed grid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(name: &str, value: &str, checked: bool) -> RunConfig {
        match edit(&RunConfig::default(), name, value, checked) {
            Edit::Apply(config) => config,
            other => panic!("{name}={value}: {other:?}"),
        }
    }

    #[test]
    fn whole_numbers_are_stored_only_within_their_range() {
        assert_eq!(applied("n", "7", false).n, 7);
        assert_eq!(applied("limit", "3", false).limit, 3);
        assert_eq!(applied("shards", "16", false).shards, 16);
        assert_eq!(applied("latency_ms", "0", false).sim.latency_ms, 0);
        assert_eq!(applied("jitter_ms", "25", false).sim.jitter_ms, 25);
        assert_eq!(applied("seed", "4294967295", false).sim.seed, u64::from(u32::MAX));
        let config = RunConfig::default();
        for (name, value) in [
            ("n", "0"),
            ("n", "101"),
            ("limit", "-1"),
            ("shards", "0"),
            ("shards", "17"),
            ("n", "2.5"),
            ("n", ""),
            ("latency_ms", &(MAX_DELAY_MS + 1).to_string()),
        ] {
            assert_eq!(
                edit(&config, name, value, false),
                Edit::Refuse(None),
                "{name}={value}"
            );
        }
    }

    #[test]
    fn the_comic_list_explains_what_it_refuses_and_empty_means_random() {
        assert_eq!(
            applied("comics", "1, 404,614", false).comics,
            Some(vec![1, 404, 614])
        );
        let listed = RunConfig {
            comics: Some(vec![1]),
            ..RunConfig::default()
        };
        assert!(matches!(edit(&listed, "comics", "  ", false), Edit::Apply(c) if c.comics.is_none()));
        assert!(matches!(
            edit(&listed, "comics", "1,0,abc", false),
            Edit::Refuse(Some(reason)) if reason.contains("comic number")
        ));
    }

    #[test]
    fn rates_are_percentages_and_out_of_range_ones_wait() {
        assert_eq!(applied("fail_rate", "12.5", false).sim.fail_rate, 0.125);
        assert_eq!(applied("timeout_rate", "100", false).sim.timeout_rate, 1.0);
        assert_eq!(applied("missing_rate", "0", false).sim.missing_rate, 0.0);
        assert_eq!(
            edit(&RunConfig::default(), "fail_rate", "101", false),
            Edit::Ignore
        );
        assert_eq!(edit(&RunConfig::default(), "fail_rate", "x", false), Edit::Ignore);
    }

    #[test]
    fn a_field_shows_its_setting_and_reads_it_back() {
        let config = RunConfig {
            comics: Some(vec![1, 404, 614]),
            sim: fanout_api::NetSim {
                fail_rate: 0.125,
                timeout_rate: 0.07,
                ..fanout_api::NetSim::default()
            },
            ..RunConfig::default()
        };
        assert_eq!(setting_text(&config, "n"), "20");
        assert_eq!(setting_text(&config, "comics"), "1,404,614");
        assert_eq!(setting_text(&config, "fail_rate"), "12.5");
        assert_eq!(setting_text(&config, "timeout_rate"), "7");
        for name in [
            "n",
            "limit",
            "shards",
            "latency_ms",
            "jitter_ms",
            "seed",
            "fail_rate",
            "timeout_rate",
            "missing_rate",
            "comics",
        ] {
            assert_eq!(
                edit(&config, name, &setting_text(&config, name), false),
                Edit::Apply(config.clone()),
                "{name}"
            );
        }
    }

    #[test]
    fn choices_set_mode_order_cache_and_priority() {
        assert_eq!(applied("mode", "gather-all", false).mode, Mode::GatherAll);
        assert_eq!(applied("order", "grid", false).order, TileOrder::Grid);
        assert!(applied("cache", "on", true).use_cache);
        assert!(!applied("cache", "on", false).use_cache);
        assert_eq!(applied("priority", "on", false).priority, Priority::NoHints);
        assert_eq!(applied("priority", "on", true).priority, Priority::ImagesFirst);
        assert_eq!(edit(&RunConfig::default(), "mode", "fast", false), Edit::Ignore);
        assert_eq!(edit(&RunConfig::default(), "unknown", "1", false), Edit::Ignore);
    }
}
