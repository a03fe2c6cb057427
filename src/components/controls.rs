use std::fmt::Write;

use fanout_api::MAX_DELAY_MS;
use leptos::{ev, prelude::*, tachys::html::InertElement};
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlInputElement};

use super::markup::escaped;
use crate::{
    run_config::{MAX_COMICS, Mode, Priority, RunConfig, TileOrder, parse_comic_list},
    runner,
    state::AppState,
};

/// The run's settings. Only this form writes `config`, so each field starts from its
/// initial value and the browser keeps what is typed; one listener on the form reads every
/// edit (see [`edit`]). The fields are markup built once from the initial settings (see
/// [`fields_markup`]): a typed view per input costs far more wasm, and nothing in them
/// changes except whether `n` and `k` are disabled, which the listener sets itself.
#[component]
pub fn Controls() -> impl IntoView {
    let state = expect_context::<AppState>();
    let config = state.config;
    let [n, comics, how, network @ ..] = fields_markup(&config.get_untracked()).map(InertElement::new);
    let list_error = RwSignal::new(None::<String>);

    // One listener for everything the form does: Run (submit), Stop and Compare (clicks), and
    // every edit.
    let on_event = move |ev: web_sys::Event| {
        let kind = ev.type_();
        if kind == "submit" {
            ev.prevent_default();
            runner::start_run(state, false);
            return;
        }
        if kind == "click" {
            let target: Element = event_target(&ev);
            match target.get_attribute("data-testid").as_deref() {
                Some("stop") => runner::stop(state),
                Some("compare") => runner::start_run(state, true),
                _ => {}
            }
            return;
        }
        let field: HtmlInputElement = event_target(&ev);
        // Text and number fields act on every keystroke, choices once they are made.
        let is_choice = matches!(field.type_().as_str(), "radio" | "checkbox" | "select-one");
        if is_choice != (kind == "change") {
            return;
        }
        let name = field.name();
        let result = config.with_untracked(|c| edit(c, &name, &field.value(), field.checked()));
        if field.has_attribute("aria-invalid") {
            let invalid = matches!(result, Edit::Refuse(_));
            let _ = field.set_attribute("aria-invalid", if invalid { "true" } else { "false" });
        }
        if name == "comics" {
            list_error.set(match &result {
                Edit::Refuse(reason) => reason.clone(),
                _ => None,
            });
        }
        if let Edit::Apply(next) = result {
            // The listener sits on the form, so the event's current target is the form.
            if let Some(form) = ev.current_target() {
                let form: Element = form.unchecked_into();
                for (selector, off) in [
                    ("[name=n]", next.comics.is_some()),
                    ("[name=limit]", next.mode != Mode::Limited),
                ] {
                    if let Ok(Some(input)) = form.query_selector(selector) {
                        let _ = input.toggle_attribute_with_force("disabled", off);
                    }
                }
            }
            config.set(next);
        }
    };

    let is_demo = move || {
        state
            .health
            .with(|h| matches!(h, Some(Ok(h)) if h.origin == fanout_api::OriginKind::Demo))
    };

    view! {
        <form class="controls">
            <fieldset>
                <legend>"What to fetch"</legend>
                {n}
                {comics}
                {move || { list_error.with(|e| e.as_deref().map(|e| InertElement::new(error_markup(e)))) }}
            </fieldset>
            {how}
            <fieldset class="network" class:inactive=move || !is_demo()>
                <legend>"Demo network"</legend>
                // `Some`: the same view type as the optional markup regions, so compiled once.
                {move || {
                    Some(
                        InertElement::new(
                            if is_demo() {
                                r#"<p class="hint">The demo origin waits this long per request (metadata and image each), with a long-tailed jitter.</p>"#
                            } else {
                                r#"<p class="hint">These apply to the demo origin only; xkcd's latency is real.</p>"#
                            },
                        ),
                    )
                }}
                {network}
            </fieldset>
            <div class="actions">
                <button type="submit" class="primary" data-testid="run">
                    "Run"
                </button>
                <button type="button" data-testid="stop" disabled=move || !runner::is_stoppable(state)>
                    "Stop"
                </button>
                <button
                    type="button"
                    data-testid="compare"
                    title="Run the same comics one after another, at most k at a time, all at once and gathered by the server (streamed, and waiting for all), then all at once with the other priority setting"
                >
                    "Compare strategies"
                </button>
            </div>
        </form>
    }
    .into_inner()
    // Every event shares one listener type (a named event each would compile it again). In the
    // capture phase, so that it also sees events that do not bubble, such as the plain
    // `new Event('input')` a script fires after setting a field.
    .on(ev::capture(ev::Custom::new("submit")), on_event)
    .on(ev::capture(ev::Custom::new("click")), on_event)
    .on(ev::capture(ev::Custom::new("input")), on_event)
    .on(ev::capture(ev::Custom::new("change")), on_event)
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
        "n" | "limit" | "latency_ms" | "jitter_ms" | "seed" => {
            let (min, max) = match name {
                "n" | "limit" => (1, MAX_COMICS),
                "seed" => (0, u32::MAX),
                _ => (0, MAX_DELAY_MS),
            };
            let Some(v) = whole(min, max) else {
                return Edit::Refuse(None);
            };
            match name {
                "n" => next.n = v,
                "limit" => next.limit = v,
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

fn order_label(order: TileOrder) -> &'static str {
    match order {
        TileOrder::Completion => "in completion order",
        TileOrder::Grid => "in a fixed grid",
    }
}

/// The form's fields, each one element built from `initial`: the count `n`, the comic list,
/// the whole "How" fieldset, then the six demo-network fields.
fn fields_markup(initial: &RunConfig) -> [String; 9] {
    let list = initial
        .comics
        .as_ref()
        .map(|c| c.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    let mut how = String::from(r#"<fieldset><legend>How</legend><div class="modes" role="radiogroup">"#);
    for mode in Mode::ALL {
        let _ = write!(
            how,
            r#"<label class="mode"><input type="radio" name="mode" value="{}"{}><span>{}</span></label>"#,
            escaped(mode.as_str()),
            flag(" checked", initial.mode == mode),
            escaped(mode.label()),
        );
    }
    how.push_str("</div>");
    how.push_str(&number_field(
        "at most k in flight",
        "limit",
        MAX_COMICS,
        initial.limit,
        initial.mode != Mode::Limited,
    ));
    how.push_str(r#"<label class="field"><span>Tiles appear</span><select name="order">"#);
    for order in TileOrder::ALL {
        let _ = write!(
            how,
            r#"<option value="{}"{}>{}</option>"#,
            escaped(order.as_str()),
            flag(" selected", initial.order == order),
            escaped(order_label(order)),
        );
    }
    let _ = write!(
        how,
        r#"</select></label><label class="check"><input type="checkbox" name="cache"{}><span>let the browser cache answer repeats</span></label><label class="check" title="{}"><input type="checkbox" name="priority"{}><span>Images first (priority hints)</span></label></fieldset>"#,
        flag(" checked", initial.use_cache),
        escaped(
            "Each comic's image asks for high priority and its metadata for low, so over HTTP/1.1 a free connection goes to an image before the next comic's metadata"
        ),
        flag(" checked", initial.priority == Priority::ImagesFirst),
    );
    let sim = &initial.sim;
    [
        number_field("Comics", "n", MAX_COMICS, initial.n, initial.comics.is_some()),
        format!(
            r#"<label class="field wide"><span>or these comics</span><input type="text" name="comics" inputmode="numeric" placeholder="e.g. 1,404,614" value="{}" aria-invalid="false"></label>"#,
            escaped(&list)
        ),
        how,
        delay_field("latency (ms)", "latency_ms", MAX_DELAY_MS, sim.latency_ms),
        delay_field("jitter (ms)", "jitter_ms", MAX_DELAY_MS, sim.jitter_ms),
        delay_field("seed", "seed", u32::MAX, sim.seed as u32),
        rate_field("fail %", "fail_rate", sim.fail_rate),
        rate_field("timeout %", "timeout_rate", sim.timeout_rate),
        rate_field("missing image %", "missing_rate", sim.missing_rate),
    ]
}

/// Why the comic list is refused, next to it.
fn error_markup(reason: &str) -> String {
    format!(r#"<p class="field-error" role="alert">{}</p>"#, escaped(reason))
}

/// `attribute` when `on`, else nothing.
fn flag(attribute: &'static str, on: bool) -> &'static str {
    if on { attribute } else { "" }
}

/// A whole-number input from 1 to `max`; [`edit`] checks what is typed against the same
/// range, and the form's listener keeps `disabled` in step with the settings.
fn number_field(label: &str, name: &str, max: u32, value: u32, disabled: bool) -> String {
    whole_field(label, name, 1, max, value, flag(" disabled", disabled))
}

/// A whole-number input from 0 to `max` for the demo network.
fn delay_field(label: &str, name: &str, max: u32, value: u32) -> String {
    whole_field(label, name, 0, max, value, "")
}

fn whole_field(label: &str, name: &str, min: u32, max: u32, value: u32, disabled: &str) -> String {
    format!(
        r#"<label class="field"><span>{}</span><input type="number" name="{}" min="{min}" max="{max}" step="1" inputmode="numeric" value="{value}"{disabled} aria-invalid="false"></label>"#,
        escaped(label),
        escaped(name),
    )
}

/// A percentage input backed by a 0..=1 rate.
fn rate_field(label: &str, name: &str, rate: f64) -> String {
    format!(
        r#"<label class="field"><span>{}</span><input type="number" name="{}" min="0" max="100" step="1" value="{}"></label>"#,
        escaped(label),
        escaped(name),
        (rate * 100.0).round() as u32,
    )
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
        assert_eq!(applied("latency_ms", "0", false).sim.latency_ms, 0);
        assert_eq!(applied("jitter_ms", "25", false).sim.jitter_ms, 25);
        assert_eq!(applied("seed", "4294967295", false).sim.seed, u64::from(u32::MAX));
        let config = RunConfig::default();
        for (name, value) in [
            ("n", "0"),
            ("n", "101"),
            ("limit", "-1"),
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
    fn the_fields_start_from_the_settings() {
        let [n, comics, how, latency, _, seed, fail, ..] = fields_markup(&RunConfig::default());
        assert_eq!(
            n,
            r#"<label class="field"><span>Comics</span><input type="number" name="n" min="1" max="100" step="1" inputmode="numeric" value="20" aria-invalid="false"></label>"#
        );
        assert!(comics.contains(r#"name="comics" inputmode="numeric" placeholder="e.g. 1,404,614" value="" aria-invalid="false">"#), "{comics}");
        assert!(how.starts_with(r#"<fieldset><legend>How</legend><div class="modes" role="radiogroup"><label class="mode"><input type="radio" name="mode" value="sequential"><span>one after another</span></label>"#), "{how}");
        assert!(
            how.contains(r#"value="concurrent" checked><span>all at once</span>"#),
            "{how}"
        );
        assert!(how.contains(r#"name="limit" min="1" max="100" step="1" inputmode="numeric" value="6" disabled aria-invalid="false">"#), "{how}");
        assert!(how.contains(r#"<option value="completion" selected>in completion order</option><option value="grid">in a fixed grid</option>"#), "{how}");
        assert!(how.contains(r#"name="cache"><span>"#), "{how}");
        assert!(how.contains(r#"title="Each comic&#39;s image asks"#), "{how}");
        assert!(how.contains(r#"name="priority" checked>"#), "{how}");
        assert!(how.ends_with("</label></fieldset>"), "{how}");
        assert!(latency.contains(r#"name="latency_ms" min="0" max="#), "{latency}");
        assert!(!latency.contains("disabled"), "{latency}");
        assert!(seed.contains(&format!(r#"max="{}""#, u32::MAX)), "{seed}");
        assert_eq!(
            fail,
            r#"<label class="field"><span>fail %</span><input type="number" name="fail_rate" min="0" max="100" step="1" value="0"></label>"#
        );
    }

    #[test]
    fn the_list_error_is_escaped() {
        assert_eq!(
            error_markup("comics: <0>"),
            r#"<p class="field-error" role="alert">comics: &lt;0&gt;</p>"#
        );
    }

    #[test]
    fn the_fields_show_a_listed_run() {
        let config = RunConfig {
            comics: Some(vec![1, 404, 614]),
            mode: Mode::Limited,
            order: TileOrder::Grid,
            use_cache: true,
            priority: Priority::NoHints,
            ..RunConfig::default()
        };
        let [n, comics, how, ..] = fields_markup(&config);
        assert!(n.contains(r#"value="20" disabled aria-invalid"#), "{n}");
        assert!(comics.contains(r#"value="1,404,614""#), "{comics}");
        assert!(how.contains(r#"value="limited" checked>"#), "{how}");
        assert!(how.contains(r#"value="6" aria-invalid"#), "{how}");
        assert!(
            how.contains(
                r#"<option value="completion">in completion order</option><option value="grid" selected>"#
            ),
            "{how}"
        );
        assert!(how.contains(r#"name="cache" checked>"#), "{how}");
        assert!(how.contains(r#"name="priority"><span>"#), "{how}");
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
