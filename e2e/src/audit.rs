//! Accessibility audits of the live page with axe-core (the version `cargo xtask test`
//! installs, named by `FANOUT_AXE`), and the colour scheme switched (through the DevTools
//! protocol in Chromium, the CSSOM elsewhere), so that one browser session audits the light
//! and the dark theme.

use std::path::PathBuf;

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};

use crate::Page;

/// axe-core's browser bundle; `cargo xtask test` installs it and sets the variable.
fn axe_source() -> String {
    let path = PathBuf::from(std::env::var("FANOUT_AXE").expect(
        "FANOUT_AXE is not set: run the end-to-end tests through `cargo xtask test`, \
         which installs axe-core into target/tools",
    ));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// The light or dark theme, as `prefers-color-scheme` reports it to the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Light,
    Dark,
}

impl Scheme {
    pub const BOTH: [Scheme; 2] = [Scheme::Light, Scheme::Dark];

    fn name(self) -> &'static str {
        match self {
            Scheme::Light => "light",
            Scheme::Dark => "dark",
        }
    }
}

/// Chromedriver's pass-through to the DevTools protocol (`POST /session/{id}/goog/cdp/execute`).
#[derive(Debug)]
pub struct Cdp {
    pub method: &'static str,
    pub params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        let session = session_id.expect("a WebDriver session is open");
        base_url.join(&format!("session/{session}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.method, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Chromedriver's log of DevTools events since the last read (`POST /session/{id}/se/log`,
/// type `performance`), when the session asked for it with `goog:loggingPrefs`.
#[derive(Debug)]
pub(crate) struct PerformanceLog;

impl WebDriverCompatibleCommand for PerformanceLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        let session = session_id.expect("a WebDriver session is open");
        base_url.join(&format!("session/{session}/se/log"))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "performance" }).to_string()),
        )
    }
}

impl Page {
    /// Puts the open page in the light or dark theme and checks that it took. Chromium
    /// emulates `prefers-color-scheme` (DevTools); the other engines' drivers cannot, so
    /// there the page's own `@media (prefers-color-scheme: …)` rules are switched on or off
    /// through the CSSOM and the root's `color-scheme` set, which is what the emulation
    /// changes for this page (its only theme switch is that media query; style/main.css).
    pub async fn set_color_scheme(&self, scheme: Scheme) {
        if self.engine.has_devtools() {
            self.client
                .issue_cmd(Cdp {
                    method: "Emulation.setEmulatedMedia",
                    params: json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme.name() }] }),
                })
                .await
                .unwrap_or_else(|err| panic!("cannot emulate the {} scheme: {err}", scheme.name()));
            let seen = self
                .eval(&format!(
                    "return matchMedia('(prefers-color-scheme: {})').matches;",
                    scheme.name()
                ))
                .await;
            assert_eq!(
                seen,
                Value::Bool(true),
                "the page does not see the {} scheme",
                scheme.name()
            );
            return;
        }
        let switched = self
            .eval(&format!(
                "const scheme = '{}';
                 const originals = window.__fanoutSchemeMedia ??= new Map();
                 let switched = 0;
                 const visit = (rules) => {{
                   for (const rule of rules) {{
                     if (rule instanceof CSSMediaRule) {{
                       const text = originals.get(rule) ?? rule.media.mediaText;
                       const wanted = text.match(/prefers-color-scheme:\\s*(light|dark)/);
                       if (wanted) {{
                         originals.set(rule, text);
                         rule.media.mediaText = wanted[1] === scheme ? 'all' : 'not all';
                         switched += 1;
                       }}
                       visit(rule.cssRules);
                     }}
                   }}
                 }};
                 for (const sheet of document.styleSheets) visit(sheet.cssRules);
                 document.documentElement.style.colorScheme = scheme;
                 return switched > 0 && getComputedStyle(document.documentElement).colorScheme === scheme;",
                scheme.name()
            ))
            .await;
        assert_eq!(
            switched,
            Value::Bool(true),
            "{}: could not put the page's stylesheet in the {} scheme",
            self.engine,
            scheme.name()
        );
    }

    /// Runs every axe-core rule on the page as it is now; panics naming each violated rule
    /// and the elements that break it. `state` says which state of the page this is.
    pub async fn assert_accessible(&self, state: &str) {
        // Injected through the driver, so the page's Content-Security-Policy does not apply.
        let injected = self
            .eval(&format!("{}\n;return typeof window.axe;", axe_source()))
            .await;
        assert_eq!(injected, "object", "axe-core did not load into the page");
        let violations = self
            .eval_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations.map(v => ({
                       rule: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.map(n => ({ target: n.target.join(' '), html: n.html, why: n.failureSummary })),
                   }))))
                   .catch(e => done({ error: String(e) }));",
            )
            .await;
        if let Some(error) = violations.get("error") {
            panic!("axe-core failed on {state}: {error}");
        }
        let Some(violations) = violations.as_array().cloned() else {
            panic!("axe-core answered {violations} on {state}, not a list of violations");
        };
        if violations.is_empty() {
            return;
        }
        let mut report = format!("axe-core {} violation(s) on {state}:", violations.len());
        for violation in &violations {
            report.push_str(&format!(
                "\n- {} ({}): {}",
                violation["rule"].as_str().unwrap_or("?"),
                violation["impact"].as_str().unwrap_or("?"),
                violation["help"].as_str().unwrap_or("")
            ));
            for node in violation["nodes"].as_array().into_iter().flatten() {
                report.push_str(&format!(
                    "\n    at `{}`: {}\n      {}",
                    node["target"].as_str().unwrap_or("?"),
                    node["html"].as_str().unwrap_or(""),
                    node["why"].as_str().unwrap_or("").replace('\n', "\n      ")
                ));
            }
        }
        panic!("{report}");
    }

    /// [`Page::assert_accessible`] in the light and then the dark scheme.
    pub async fn assert_accessible_in_both_schemes(&self, state: &str) {
        for scheme in Scheme::BOTH {
            self.set_color_scheme(scheme).await;
            self.assert_accessible(&format!("{state}, {} scheme", scheme.name()))
                .await;
        }
    }
}
