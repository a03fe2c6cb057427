//! Finds or installs the tools the page needs, each at the version the project pins.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    cli::Browser,
    root,
    steps::{Job, run, timed},
};

/// The trunk line that builds with our Rust (0.22 needs a newer rustc).
const TRUNK_LINE: &str = "0.21";
/// binaryen from npm: Debian's version 108 produces modules today's browsers reject.
const BINARYEN: NpmTool = NpmTool {
    name: "binaryen",
    version: "132.0.0",
    what: "wasm-opt",
};
/// Minifies wasm-bindgen's JS glue in release builds (the post-build hook in Trunk.toml).
const TERSER: NpmTool = NpmTool {
    name: "terser",
    version: "5.51.2",
    what: "terser",
};
/// The accessibility rules the end-to-end suite injects into the page.
const AXE_CORE: NpmTool = NpmTool {
    name: "axe-core",
    version: "4.14.1",
    what: "axe-core",
};
/// Checks the page's HAR export against the HAR 1.2 JSON schema in the end-to-end suite.
const HAR_VALIDATOR: NpmTool = NpmTool {
    name: "har-validator",
    version: "5.1.5",
    what: "har-validator",
};
/// Formats the `view!` blocks that rustfmt leaves alone; `cargo xtask test` checks them.
const LEPTOSFMT_VERSION: &str = "0.1.33";
/// geckodriver (Firefox's WebDriver server) from crates.io; about 2.5 min to compile here.
const GECKODRIVER_VERSION: &str = "0.37.0";
/// cargo-mutants, for `cargo xtask mutants` only.
const CARGO_MUTANTS_VERSION: &str = "27.1.0";
/// Lighthouse for the benchmark: 12.2.3 runs on Node 20, 13 needs Node 22.
const LIGHTHOUSE: NpmTool = NpmTool {
    name: "lighthouse",
    version: "12.2.3",
    what: "Lighthouse",
};

/// The installed tools the page build needs, found or installed at their pinned versions.
pub struct Tools {
    /// Put first on PATH so that Trunk finds our wasm-opt instead of downloading one.
    wasm_opt_dir: PathBuf,
}

impl Tools {
    /// Installs what is missing. `browser`: also Chromium and chromedriver (for tests).
    /// trunk and wasm-bindgen-cli compile side by side: each spends minutes on one crate
    /// or one link at a time, so together they keep both cores busy.
    pub fn ensure(browser: bool) -> Result<Self, String> {
        ensure_wasm_target()?;
        let wasm_bindgen = locked_version("wasm-bindgen")?;
        std::thread::scope(|scope| {
            let trunk = scope.spawn(ensure_trunk);
            let bindgen = scope.spawn(|| ensure_wasm_bindgen(&wasm_bindgen));
            let wasm_opt_dir = ensure_wasm_opt();
            let terser = TERSER.ensure();
            let browser = if browser { ensure_chromium() } else { Ok(()) };
            let trunk = trunk
                .join()
                .unwrap_or_else(|_| Err("installing trunk panicked".into()));
            let bindgen = bindgen
                .join()
                .unwrap_or_else(|_| Err("installing wasm-bindgen-cli panicked".into()));
            trunk?;
            bindgen?;
            terser?;
            browser?;
            Ok(Tools {
                wasm_opt_dir: wasm_opt_dir?,
            })
        })
    }

    pub fn trunk(&self) -> Command {
        let mut cmd = Command::new("trunk");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.wasm_opt_dir.clone(), cargo_bin()];
        dirs.extend(std::env::split_paths(&path));
        cmd.env(
            "PATH",
            std::env::join_paths(dirs).expect("PATH entries are valid"),
        );
        cmd.current_dir(root());
        cmd
    }

    pub fn chromedriver(&self) -> Result<PathBuf, String> {
        which("chromedriver")
            .ok_or_else(|| "chromedriver is missing: run `apt-get install chromium-driver`".into())
    }

    pub fn chromium(&self) -> Result<PathBuf, String> {
        ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find_map(which)
            .ok_or_else(|| "Chromium is missing: run `apt-get install chromium`".into())
    }
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .unwrap_or_default()
        .join("bin")
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

pub fn ensure_wasm_target() -> Result<(), String> {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        return Ok(());
    }
    timed("installing the wasm32-unknown-unknown target", || {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
    })
}

fn ensure_trunk() -> Result<(), String> {
    let version = output("trunk", &["--version"]).unwrap_or_default();
    if version.starts_with(&format!("trunk {TRUNK_LINE}.")) {
        return Ok(());
    }
    cargo_install("trunk", &format!("~{TRUNK_LINE}"), Profile::Unoptimised)
}

fn ensure_wasm_bindgen(wanted: &str) -> Result<(), String> {
    let have = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    if have == format!("wasm-bindgen {wanted}") {
        return Ok(());
    }
    cargo_install(
        "wasm-bindgen-cli",
        &format!("={wanted}"),
        Profile::LightlyOptimised,
    )
}

/// How a tool is compiled: as lightly as its run time allows (measured here, two cores).
#[derive(Clone, Copy)]
enum Profile {
    /// trunk only orchestrates other programs: unoptimised, it builds the page as fast as
    /// its release build (12.6-13.4 s against 12.6-14.1 s) and compiles in 6.1 min instead
    /// of 13.1 (its release profile has fat LTO and one codegen unit).
    Unoptimised,
    /// wasm-bindgen rewrites the whole module on every build. At opt-level 1 it takes the
    /// same 0.09 s of CPU on our wasm as a release build, and compiles in 200 s of CPU
    /// instead of 238; unoptimised it would compile in 85 s but take 0.37 s on every build.
    LightlyOptimised,
}

/// `cargo install --locked` in the background, or unlocked at the same version when the
/// registry lags.
fn cargo_install(krate: &str, version: &str, profile: Profile) -> Result<(), String> {
    let install = |locked: bool| {
        let mut cmd = Command::new("cargo");
        cmd.args(["install", krate, "--version", version]);
        if locked {
            cmd.arg("--locked");
        }
        match profile {
            // No debug info: nobody debugs the tool, and it shortens the link.
            Profile::Unoptimised => cmd.arg("--debug").env("CARGO_PROFILE_DEV_DEBUG", "0"),
            Profile::LightlyOptimised => cmd.env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1"),
        };
        let log = root().join(format!("target/tools/logs/{krate}.log"));
        Job::start(&format!("installing {krate} {version} (once)"), &mut cmd, log)?.wait()
    };
    install(true).or_else(|err| {
        // Expected when the registry lags behind the tool's own lock file: say so in one
        // line; the full reason is in the log, and surfaces if the second try fails too.
        let reason = err
            .lines()
            .find(|line| line.starts_with("error:"))
            .unwrap_or("see its log")
            .trim_start_matches("error: ")
            .to_owned();
        eprintln!("    the locked install of {krate} failed ({reason}); trying the same version unlocked");
        install(false)
    })
}

/// The version of `package` in Cargo.lock.
pub fn locked_version(package: &str) -> Result<String, String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|err| format!("cannot read Cargo.lock: {err}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"")
            && let Some(version) = lines.next().and_then(|l| l.trim().strip_prefix("version = \""))
        {
            return Ok(version.trim_end_matches('"').to_owned());
        }
    }
    Err(format!("{package} is not in Cargo.lock"))
}

fn ensure_wasm_opt() -> Result<PathBuf, String> {
    Ok(BINARYEN.ensure()?.join(".bin"))
}

/// leptosfmt at its pinned version. It only rewrites source text, so an unoptimised build
/// is plenty (it formats the whole page in milliseconds either way).
pub fn ensure_leptosfmt() -> Result<PathBuf, String> {
    let have = output("leptosfmt", &["--version"]).unwrap_or_default();
    if have != format!("leptosfmt {LEPTOSFMT_VERSION}") {
        cargo_install(
            "leptosfmt",
            &format!("={LEPTOSFMT_VERSION}"),
            Profile::Unoptimised,
        )?;
        return Ok(cargo_bin().join("leptosfmt"));
    }
    Ok(which("leptosfmt").unwrap_or_else(|| cargo_bin().join("leptosfmt")))
}

/// cargo-mutants (`cargo install`, lightly optimised: it spends its time in cargo, not in
/// itself); returns the binary.
pub fn ensure_cargo_mutants() -> Result<PathBuf, String> {
    let have = output("cargo-mutants", &["--version"]).unwrap_or_default();
    if have != format!("cargo-mutants {CARGO_MUTANTS_VERSION}") {
        cargo_install(
            "cargo-mutants",
            &format!("={CARGO_MUTANTS_VERSION}"),
            Profile::LightlyOptimised,
        )?;
        return Ok(cargo_bin().join("cargo-mutants"));
    }
    Ok(which("cargo-mutants").unwrap_or_else(|| cargo_bin().join("cargo-mutants")))
}

/// axe-core's browser bundle, injected into the page by the end-to-end tests.
pub fn ensure_axe_core() -> Result<PathBuf, String> {
    Ok(AXE_CORE.ensure()?.join("axe-core/axe.min.js"))
}

/// The `node_modules` holding har-validator, for the end-to-end tests' node script.
pub fn ensure_har_validator() -> Result<PathBuf, String> {
    HAR_VALIDATOR.ensure()
}

/// Lighthouse's command-line entry point (run with `node`).
pub fn ensure_lighthouse() -> Result<PathBuf, String> {
    Ok(LIGHTHOUSE.ensure()?.join("lighthouse/cli/index.js"))
}

/// A package from the npm registry at an exact version, in its own `target/tools/<name>`.
struct NpmTool {
    name: &'static str,
    version: &'static str,
    /// What it is called in progress lines.
    what: &'static str,
}

impl NpmTool {
    /// Installs the package unless that exact version is there; returns its `node_modules`.
    fn ensure(&self) -> Result<PathBuf, String> {
        let prefix = root().join("target/tools").join(self.name);
        let modules = prefix.join("node_modules");
        if self.installed_version(&modules).as_deref() == Some(self.version) {
            return Ok(modules);
        }
        if which("npm").is_none() {
            return Err(format!(
                "npm is missing (it installs {} from the npm registry): run `apt-get install npm`",
                self.what
            ));
        }
        std::fs::create_dir_all(&prefix)
            .map_err(|err| format!("cannot create {}: {err}", prefix.display()))?;
        let spec = format!("{}@{}", self.name, self.version);
        timed(
            &format!("installing {} ({spec} from npm) into target/tools", self.what),
            || {
                run(Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--save-exact", "--prefix"])
                    .arg(&prefix)
                    .arg(&spec))
            },
        )?;
        Ok(modules)
    }

    /// The `"version"` in the installed package's `package.json`.
    fn installed_version(&self, modules: &Path) -> Option<String> {
        let manifest = std::fs::read_to_string(modules.join(self.name).join("package.json")).ok()?;
        let after_key = &manifest[manifest.find("\"version\"")? + "\"version\"".len()..];
        let value = after_key.split('"').nth(1)?;
        Some(value.to_owned())
    }
}

fn ensure_chromium() -> Result<(), String> {
    let has_browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .any(|p| which(p).is_some());
    if has_browser && which("chromedriver").is_some() {
        return Ok(());
    }
    let is_root = output("id", &["-u"]).as_deref() == Some("0");
    if which("apt-get").is_none() || !is_root {
        return Err(
            "Chromium and chromedriver are needed: run `sudo apt-get install chromium chromium-driver`"
                .into(),
        );
    }
    timed("installing Chromium and chromedriver (apt-get)", || {
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "chromium", "chromium-driver"])
            .env("DEBIAN_FRONTEND", "noninteractive"))
    })
}

/// The engine's browser and WebDriver server, installed when missing (apt-get for the
/// browsers, `cargo install` for geckodriver); returns the environment the end-to-end suite
/// needs to drive it (`FANOUT_BROWSER` and the programs' paths).
pub fn ensure_engine(browser: Browser) -> Result<Vec<(&'static str, PathBuf)>, String> {
    let mut env = vec![("FANOUT_BROWSER", PathBuf::from(browser.name()))];
    match browser {
        Browser::Chromium => {
            ensure_chromium()?;
        }
        Browser::Firefox => {
            if which("firefox-esr").is_none() && which("firefox").is_none() {
                apt_install("Firefox ESR", &["firefox-esr"])?;
            }
            let have = output("geckodriver", &["--version"]).unwrap_or_default();
            if !have.starts_with(&format!("geckodriver {GECKODRIVER_VERSION}")) {
                cargo_install(
                    "geckodriver",
                    &format!("={GECKODRIVER_VERSION}"),
                    Profile::Unoptimised,
                )?;
            }
            let firefox = ["firefox-esr", "firefox"]
                .into_iter()
                .find_map(which)
                .ok_or("Firefox is missing: run `apt-get install firefox-esr`")?;
            let geckodriver = which("geckodriver").unwrap_or_else(|| cargo_bin().join("geckodriver"));
            env.extend([("FIREFOX", firefox), ("GECKODRIVER", geckodriver)]);
        }
        Browser::Webkit => {
            if which("WebKitWebDriver").is_none() || which("xvfb-run").is_none() {
                apt_install("WebKitGTK's WebDriver and Xvfb", &["webkit2gtk-driver", "xvfb"])?;
            }
            let driver = which("WebKitWebDriver")
                .ok_or("WebKitWebDriver is missing: run `apt-get install webkit2gtk-driver xvfb`")?;
            env.extend([
                ("WEBKIT_WEBDRIVER", driver),
                ("WEBKIT_MINIBROWSER", minibrowser()?),
            ]);
        }
    }
    Ok(env)
}

/// Whether the engine's browser is on this machine, so that `cargo xtask test` runs the
/// suite in it (installing only its driver, as `ensure_engine` does).
pub fn engine_found(browser: Browser) -> bool {
    match browser {
        Browser::Chromium => engine_installed(browser),
        Browser::Firefox => which("firefox-esr").is_some() || which("firefox").is_some(),
        Browser::Webkit => which("WebKitWebDriver").is_some() && minibrowser().is_ok(),
    }
}

/// Whether the engine's browser and driver are installed now (nothing is installed).
pub fn engine_installed(browser: Browser) -> bool {
    match browser {
        Browser::Chromium => {
            ["chromium", "chromium-browser", "google-chrome"]
                .into_iter()
                .any(|p| which(p).is_some())
                && which("chromedriver").is_some()
        }
        Browser::Firefox => {
            (which("firefox-esr").is_some() || which("firefox").is_some())
                && (which("geckodriver").is_some() || cargo_bin().join("geckodriver").is_file())
        }
        Browser::Webkit => {
            which("WebKitWebDriver").is_some() && which("xvfb-run").is_some() && minibrowser().is_ok()
        }
    }
}

/// WebKitGTK's MiniBrowser, which libwebkit2gtk-4.1-0 ships outside PATH.
fn minibrowser() -> Result<PathBuf, String> {
    output("dpkg", &["-L", "libwebkit2gtk-4.1-0"])
        .unwrap_or_default()
        .lines()
        .map(PathBuf::from)
        .find(|path| path.ends_with("MiniBrowser") && path.is_file())
        .ok_or_else(|| "MiniBrowser is missing: run `apt-get install libwebkit2gtk-4.1-0`".into())
}

/// `apt-get install` of `packages` when we are root on a machine with apt; otherwise an
/// error that names the command to run.
fn apt_install(what: &str, packages: &[&str]) -> Result<(), String> {
    let is_root = output("id", &["-u"]).as_deref() == Some("0");
    if which("apt-get").is_none() || !is_root {
        return Err(format!(
            "{what} is needed: run `sudo apt-get install {}`",
            packages.join(" ")
        ));
    }
    timed(&format!("installing {what} (apt-get)"), || {
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    })
}

/// wrk and nginx for the load section, python3 with venv for the Flask peer.
pub fn ensure_bench_tools() -> Result<(), String> {
    let mut missing = Vec::new();
    for (program, package) in [("wrk", "wrk"), ("nginx", "nginx")] {
        if which(program).is_none() && !Path::new("/usr/sbin").join(program).is_file() {
            missing.push(package);
        }
    }
    if which("python3").is_none() {
        missing.push("python3-venv");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = output("id", &["-u"]).as_deref() == Some("0");
    if which("apt-get").is_none() || !is_root {
        return Err(format!(
            "the benchmark needs: run `sudo apt-get install {}`",
            missing.join(" ")
        ));
    }
    timed(&format!("installing {} (apt-get)", missing.join(", ")), || {
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    })
}
