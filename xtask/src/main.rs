//! `cargo xtask serve | dev | test | bench | mutants`: the project's developer commands. They install what
//! is missing (the wasm32 target, trunk, the exact wasm-bindgen, wasm-opt, the browsers) and
//! never download anything from outside the package registries.

mod cli;
mod precompress;
mod steps;
mod tools;

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use clap::Parser;
use cli::{BenchArgs, Browser, Cli, Task, TestArgs};
use steps::{Job, run, timed};
use tools::Tools;

fn main() -> ExitCode {
    // `--help` and usage errors print and exit here (0 and 2), before anything is built.
    let cli = Cli::parse();
    steps::start_clock();
    let result = match cli.task {
        Task::Serve { proxy_args } => serve(&proxy_args),
        Task::Dev => dev().map_err(Failure::from),
        Task::Test(args) => test(&args).map_err(Failure::from),
        Task::Bench(args) => bench(&args).map_err(Failure::from),
        Task::Mutants => mutants().map_err(Failure::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(err)) => {
            eprintln!("xtask: {err}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(err)) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Why a command stopped; a usage error exits 2, as clap's own do.
enum Failure {
    Usage(String),
    Failed(String),
}

impl From<String> for Failure {
    fn from(err: String) -> Self {
        Failure::Failed(err)
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn log_file(name: &str) -> PathBuf {
    root().join("target/xtask-logs").join(name)
}

/// `trunk build --release --offline` into `dist/`.
fn build_page(tools: &Tools) -> Result<(), String> {
    timed("building the page (trunk build --release)", || {
        let mut trunk = tools.trunk();
        trunk.args(["build", "--release", "--offline"]);
        run(&mut trunk)?;
        precompress::precompress(&root().join("dist")).map(|_| ())
    })
}

/// `cargo build --release` of the given packages, in the background: they need none of the
/// page's tools, so they compile while those install.
fn start_release_build(what: &str, packages: &[&str]) -> Result<Job, String> {
    let mut cmd = cargo();
    cmd.args(["build", "--release"]);
    for package in packages {
        cmd.args(["--package", package]);
    }
    Job::start(what, &mut cmd, log_file("release-build.log"))
}

fn serve(proxy_args: &[String]) -> Result<(), Failure> {
    let proxy_build = start_release_build("building fanout-proxy (release)", &["fanout-proxy"])?;
    let tools = std::thread::spawn(|| Tools::ensure(false));
    proxy_build.wait()?;
    let proxy_bin = root().join("target/release/fanout-proxy");
    // A mistyped flag is caught as soon as the proxy is built, before the page is.
    match check_proxy_args(&proxy_bin, proxy_args)? {
        ProxyArgs::Valid => {}
        ProxyArgs::Answered => return Ok(()),
    }
    let tools = tools
        .join()
        .unwrap_or_else(|_| Err("installing the tools panicked".into()))?;
    build_page(&tools)?;
    eprintln!("\n==> starting fanout-proxy (Ctrl-C stops it)");
    let mut proxy = Command::new(proxy_bin);
    proxy
        .current_dir(root())
        .arg("--dist")
        .arg(root().join("dist"))
        .args(proxy_args);
    Ok(run(&mut proxy)?)
}

enum ProxyArgs {
    /// Start the proxy with them.
    Valid,
    /// They asked for the proxy's help or version, which it has printed.
    Answered,
}

/// Asks fanout-proxy whether it accepts these flags, without starting it.
fn check_proxy_args(proxy_bin: &Path, proxy_args: &[String]) -> Result<ProxyArgs, Failure> {
    let checked = Command::new(proxy_bin)
        .args(proxy_args)
        .arg("--check")
        .output()
        .map_err(|err| format!("cannot run {}: {err}", proxy_bin.display()))?;
    let stdout = String::from_utf8_lossy(&checked.stdout);
    if !checked.status.success() {
        return Err(Failure::Usage(format!(
            "fanout-proxy does not accept these flags:\n{}",
            String::from_utf8_lossy(&checked.stderr).trim_end()
        )));
    }
    if stdout.contains(PROXY_FLAGS_VALID) {
        Ok(ProxyArgs::Valid)
    } else {
        print!("{stdout}");
        Ok(ProxyArgs::Answered)
    }
}

/// What `fanout-proxy --check` prints when the flags are valid.
const PROXY_FLAGS_VALID: &str = "fanout-proxy: the flags are valid";

fn dev() -> Result<(), String> {
    let proxy_build = Job::start(
        "building fanout-proxy",
        cargo().args(["build", "--package", "fanout-proxy"]),
        log_file("dev-build.log"),
    )?;
    let tools = Tools::ensure(false)?;
    proxy_build.wait()?;
    eprintln!("\n==> starting fanout-proxy on 127.0.0.1:8080 for /api");
    let mut proxy = Command::new(root().join("target/debug/fanout-proxy"))
        .current_dir(root())
        .args(["--listen", "127.0.0.1:8080", "--dist"])
        .arg(root().join("dist"))
        .spawn()
        .map_err(|err| format!("cannot start fanout-proxy: {err}"))?;
    eprintln!("\n==> starting trunk serve on http://127.0.0.1:8081 (Ctrl-C stops both)");
    let mut trunk = tools.trunk();
    trunk.args(["serve", "--offline"]);
    let result = run(&mut trunk);
    let _ = proxy.kill();
    let _ = proxy.wait();
    result
}

/// The engines `cargo xtask test` runs the end-to-end suite in when no `--browser` is given,
/// each one whose whole suite passes reliably here. Chromium is installed when missing;
/// Firefox and WebKit run where they are installed (`.ci/run` installs both; geckodriver is
/// installed as needed). On 2026-12-05 Firefox passed three full runs in a row, and WebKit
/// three after its Stop fix; see the README's "Engines".
const DEFAULT_ENGINES: &[Browser] = &[Browser::Chromium, Browser::Firefox, Browser::Webkit];

fn test(args: &TestArgs) -> Result<(), String> {
    let engines: Vec<Browser> = match args.browser {
        Some(browser) => vec![browser],
        None => DEFAULT_ENGINES
            .iter()
            .copied()
            .filter(|&engine| engine == Browser::Chromium || tools::engine_found(engine))
            .collect(),
    };
    // fmt, clippy and the native tests need none of the other tools: they run while those
    // install.
    tools::ensure_wasm_target()?;
    let install_engines = engines.clone();
    let tools = std::thread::spawn(move || {
        let tools = Tools::ensure(true)?;
        let axe_core = tools::ensure_axe_core()?;
        let har_validator = tools::ensure_har_validator()?;
        let engines = install_engines
            .into_iter()
            .map(|engine| Ok((engine, tools::ensure_engine(engine)?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok::<_, String>((tools, axe_core, har_validator, engines))
    });
    let leptosfmt = std::thread::spawn(tools::ensure_leptosfmt);
    let native = native_checks();
    let (tools, axe_core, har_validator, engines) = tools
        .join()
        .unwrap_or_else(|_| Err("installing the tools panicked".into()))?;
    native?;
    let leptosfmt = leptosfmt
        .join()
        .unwrap_or_else(|_| Err("installing leptosfmt panicked".into()))?;
    timed(
        "leptosfmt --check (the view! blocks rustfmt leaves alone)",
        || {
            run(Command::new(&leptosfmt)
                .current_dir(root())
                .args(["--check", "src", "tests"]))
        },
    )?;
    let chromedriver = tools.chromedriver()?;
    // Chromium leaves its profile (about 80 MB) in TMPDIR when wasm-bindgen-test-runner ends
    // the session, so it gets a directory of its own that is emptied here.
    let browser_tmp = root().join("target/tmp/browser-tests");
    let _ = std::fs::remove_dir_all(&browser_tmp);
    std::fs::create_dir_all(&browser_tmp)
        .map_err(|err| format!("cannot create {}: {err}", browser_tmp.display()))?;
    let browser_tests = timed("browser tests (wasm-bindgen-test in headless Chromium)", || {
        run(cargo()
            .args([
                "test",
                "--package",
                "fanout",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .env(
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
                "wasm-bindgen-test-runner",
            )
            .env("CHROMEDRIVER", &chromedriver)
            .env("TMPDIR", &browser_tmp)
            .env("WASM_BINDGEN_TEST_TIMEOUT", "120"))
    });
    let _ = std::fs::remove_dir_all(&browser_tmp);
    browser_tests?;
    build_page(&tools)?;
    for (engine, engine_env) in &engines {
        timed(
            &format!(
                "end-to-end tests in {} (fanout-proxy + the release page through WebDriver)",
                engine.name()
            ),
            || {
                run(cargo()
                    .args([
                        "test",
                        "--package",
                        "fanout-e2e",
                        "--tests",
                        "--",
                        "--test-threads=1",
                    ])
                    .env("FANOUT_DIST", root().join("dist"))
                    .env("FANOUT_AXE", &axe_core)
                    .env("FANOUT_HAR_VALIDATOR", &har_validator)
                    .env("CHROMEDRIVER", &chromedriver)
                    .env("CHROMIUM", tools.chromium()?)
                    .envs(engine_env.iter().map(|(key, value)| (key, value))))
            },
        )?;
    }
    let ran: Vec<&str> = engines.iter().map(|(engine, _)| engine.name()).collect();
    eprintln!("\nthe end-to-end suite ran in: {}", ran.join(", "));
    for engine in Browser::ALL {
        if ran.contains(&engine.name()) {
            continue;
        }
        let why = if !DEFAULT_ENGINES.contains(&engine) {
            "opt-in until its suite passes reliably"
        } else {
            "not installed here"
        };
        eprintln!(
            "not run in {} ({why}): `cargo xtask test --browser {}` installs and runs it",
            engine.name(),
            engine.name()
        );
    }
    eprintln!("\nall checks passed");
    Ok(())
}

/// fmt, clippy (native and wasm32) and the native tests.
fn native_checks() -> Result<(), String> {
    timed("cargo fmt --check", || {
        run(cargo().args(["fmt", "--all", "--check"]))
    })?;
    timed("clippy, native", || {
        run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
    })?;
    timed("clippy, wasm32", || {
        run(cargo().args([
            "clippy",
            "--package",
            "fanout",
            "--target",
            "wasm32-unknown-unknown",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    timed("native tests", || {
        run(cargo().args(["test", "--workspace", "--exclude", "fanout-e2e"]))
    })
}

fn bench(args: &BenchArgs) -> Result<(), String> {
    let release_build = start_release_build(
        "building fanout-proxy and the bench (release)",
        &["fanout-proxy", "fanout-bench"],
    )?;
    let tools = Tools::ensure(true)?;
    // The screenshot alone needs only the page, the proxy and Chromium.
    let lighthouse = if args.screenshot_only {
        None
    } else {
        tools::ensure_bench_tools()?;
        (!args.load_only).then(tools::ensure_lighthouse).transpose()?
    };
    // The per-engine table measures every engine found here (or the one --browser names);
    // the rest of the bench runs in Chromium.
    let engines: Vec<Browser> = match args.browser {
        Some(browser) => vec![browser],
        None if args.screenshot_only => Vec::new(),
        None => Browser::ALL
            .into_iter()
            .filter(|&engine| engine == Browser::Chromium || tools::engine_found(engine))
            .collect(),
    };
    let mut engine_env = Vec::new();
    for engine in engines {
        engine_env.extend(
            tools::ensure_engine(engine)?
                .into_iter()
                .filter(|(key, _)| *key != "FANOUT_BROWSER"),
        );
    }
    build_page(&tools)?;
    release_build.wait()?;
    timed("benchmarking", || {
        let mut bench = Command::new(root().join("target/release/fanout-bench"));
        bench
            .current_dir(root())
            .args(args.to_args())
            .env("FANOUT_PROXY_BIN", root().join("target/release/fanout-proxy"))
            .env("FANOUT_DIST", root().join("dist"))
            .env("CHROMEDRIVER", tools.chromedriver()?)
            .env("CHROMIUM", tools.chromium()?)
            .envs(engine_env.iter().map(|(key, value)| (key, value)));
        if let Some(lighthouse) = &lighthouse {
            bench.env("LIGHTHOUSE", lighthouse);
        }
        run(&mut bench)
    })
}

/// What `cargo xtask mutants` mutates: each crate with the files of it that are plain Rust.
const MUTATED: [(&str, &str, &[&str]); 2] = [
    ("api", "fanout-api", &["api/src/**"]),
    (
        "page",
        "fanout",
        &[
            "src/schedule.rs",
            "src/stats.rs",
            "src/run_config.rs",
            "src/ndjson.rs",
            "src/plot.rs",
        ],
    ),
];

/// Mutation testing: every mutant cargo-mutants makes of those files must fail a test of its
/// crate. Survivors are listed in `target/mutants/<name>/mutants.out/missed.txt`.
fn mutants() -> Result<(), String> {
    let tool = tools::ensure_cargo_mutants()?;
    let mut failed = Vec::new();
    for (name, package, files) in MUTATED {
        let output = root().join("target/mutants").join(name);
        let mut cmd = Command::new(&tool);
        // `cargo-mutants mutants`, as cargo runs it. In place: a copy of the tree would build
        // every dependency again from cold (about 20 minutes here); the file is restored
        // after each mutant, and on Ctrl-C.
        cmd.current_dir(root())
            .args(["mutants", "--in-place", "--no-shuffle", "--package", package])
            .arg("--output")
            .arg(&output);
        for file in files {
            cmd.args(["--file", file]);
        }
        if let Err(err) = timed(&format!("mutants of {package} ({})", files.join(" ")), || {
            run(&mut cmd)
        }) {
            failed.push(format!(
                "{package}: {err}; see {}",
                output.join("mutants.out/missed.txt").display()
            ));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}
