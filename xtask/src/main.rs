//! `cargo xtask serve | dev | test`: the project's developer commands. They install what
//! is missing (the wasm32 target, trunk, the exact wasm-bindgen, wasm-opt, Chromium) and
//! never download anything from outside the package registries.

mod precompress;
mod tools;

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use tools::{Tools, run};

const USAGE: &str = "usage: cargo xtask <command> [args]

commands:
  serve [proxy args]   build the page (release) and serve it with fanout-proxy on http://127.0.0.1:8080
  dev                  fanout-proxy on :8080 plus `trunk serve` on http://127.0.0.1:8081 (live reload)
  test                 fmt, clippy (native and wasm32), native tests, browser tests, end-to-end tests
  bench [--quick]      measure the fan-out, the Flask peer, the proxy under load and the shipped bytes
                       into BENCHMARKS.md (--quick: under three minutes)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("dev") => dev(),
        Some("test") => test(),
        Some("bench") => bench(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing command\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn step(what: &str) {
    eprintln!("\n==> {what}");
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// `trunk build --release --offline` into `dist/`.
fn build_page(tools: &Tools) -> Result<(), String> {
    step("building the page (trunk build --release)");
    let mut trunk = tools.trunk();
    trunk.args(["build", "--release", "--offline"]);
    run(&mut trunk)?;
    precompress::precompress(&root().join("dist")).map(|_| ())
}

fn serve(proxy_args: &[String]) -> Result<(), String> {
    // `cargo xtask serve -- --flag` and `cargo xtask serve --flag` both mean the proxy's flag.
    let proxy_args = match proxy_args {
        [first, rest @ ..] if first == "--" => rest,
        all => all,
    };
    let tools = Tools::ensure(false)?;
    build_page(&tools)?;
    step("building fanout-proxy (release)");
    run(cargo().args(["build", "--release", "--package", "fanout-proxy"]))?;
    step("starting fanout-proxy (Ctrl-C stops it)");
    let mut proxy = Command::new(root().join("target/release/fanout-proxy"));
    proxy
        .current_dir(root())
        .arg("--dist")
        .arg(root().join("dist"))
        .args(proxy_args);
    run(&mut proxy)
}

fn dev() -> Result<(), String> {
    let tools = Tools::ensure(false)?;
    step("starting fanout-proxy on 127.0.0.1:8080 for /api");
    run(cargo().args(["build", "--package", "fanout-proxy"]))?;
    let mut proxy = Command::new(root().join("target/debug/fanout-proxy"))
        .current_dir(root())
        .args(["--listen", "127.0.0.1:8080", "--dist"])
        .arg(root().join("dist"))
        .spawn()
        .map_err(|err| format!("cannot start fanout-proxy: {err}"))?;
    step("starting trunk serve on http://127.0.0.1:8081 (Ctrl-C stops both)");
    let mut trunk = tools.trunk();
    trunk.args(["serve", "--offline"]);
    let result = run(&mut trunk);
    let _ = proxy.kill();
    let _ = proxy.wait();
    result
}

fn test() -> Result<(), String> {
    let tools = Tools::ensure(true)?;
    step("cargo fmt --check");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    step("clippy, native");
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    step("clippy, wasm32");
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
    ]))?;
    step("native tests");
    run(cargo().args(["test", "--workspace", "--exclude", "fanout-e2e"]))?;
    step("browser tests (wasm-bindgen-test in headless Chromium)");
    let chromedriver = tools.chromedriver()?;
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
        .env("WASM_BINDGEN_TEST_TIMEOUT", "120"))?;
    build_page(&tools)?;
    step("end-to-end tests (fanout-proxy + the release page in headless Chromium)");
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
        .env("CHROMEDRIVER", &chromedriver)
        .env("CHROMIUM", tools.chromium()?))?;
    eprintln!("\nall checks passed");
    Ok(())
}

fn bench(args: &[String]) -> Result<(), String> {
    let tools = Tools::ensure(true)?;
    tools::ensure_bench_tools()?;
    build_page(&tools)?;
    step("building fanout-proxy and the bench (release)");
    run(cargo().args([
        "build",
        "--release",
        "--package",
        "fanout-proxy",
        "--package",
        "fanout-bench",
    ]))?;
    step("benchmarking");
    run(Command::new(root().join("target/release/fanout-bench"))
        .current_dir(root())
        .args(args)
        .env("FANOUT_PROXY_BIN", root().join("target/release/fanout-proxy"))
        .env("FANOUT_DIST", root().join("dist"))
        .env("CHROMEDRIVER", tools.chromedriver()?)
        .env("CHROMIUM", tools.chromium()?))
}
