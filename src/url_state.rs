//! The run's settings in the address bar, so that a run can be shared and scripted.

use wasm_bindgen::JsCast;

use crate::run_config::RunConfig;

/// The settings in the page's URL, with a message for every value that was refused.
pub fn read() -> (RunConfig, Vec<String>) {
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else {
        return (RunConfig::default(), vec!["the address could not be read".into()]);
    };
    // `Array.from` walks the params' own iterator: every `[key, value]` pair, in order.
    let pairs: Vec<(String, String)> = js_sys::Array::from(&params)
        .iter()
        .map(|entry| {
            let pair: js_sys::Array = entry.unchecked_into();
            (
                pair.get(0).as_string().unwrap_or_default(),
                pair.get(1).as_string().unwrap_or_default(),
            )
        })
        .collect();
    RunConfig::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// Puts `config` in the address bar without reloading or adding a history entry.
pub fn write(config: &RunConfig) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let url = format!("?{}", config.to_query());
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}
