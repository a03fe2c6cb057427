//! The command line: `cargo xtask <command> [flags]`, parsed before anything is built, so
//! that `--help` and a mistyped flag answer at once.

use clap::{Parser, Subcommand};

#[derive(Debug, PartialEq, Eq, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Fanout's developer commands. Each installs what it needs (the wasm32 target, trunk, \
             wasm-bindgen, wasm-opt, Chromium, Firefox) from the package registries, and nothing else.",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub task: Task,
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
pub enum Task {
    /// Build the page (release) and serve it with fanout-proxy on http://127.0.0.1:8080
    #[command(
        after_help = "Flags after `serve`, with or without a leading `--`, go to fanout-proxy: \
                            `cargo xtask serve --tls-self-signed` serves HTTPS with HTTP/2.\n\
                            `cargo run -p fanout-proxy -- --help` lists them all."
    )]
    Serve {
        /// Flags for fanout-proxy, checked before the page is built
        #[arg(
            value_name = "PROXY_FLAGS",
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        proxy_args: Vec<String>,
    },
    /// fanout-proxy on :8080 for /api plus `trunk serve` with live reload on http://127.0.0.1:8081
    Dev,
    /// fmt, clippy (native and wasm32), native tests, browser tests, end-to-end tests (in
    /// every engine that passes them, or the one --browser names)
    Test(TestArgs),
    /// Measure the fan-out, the Flask peer, the proxy under load and the shipped bytes into
    /// BENCHMARKS.md
    Bench(BenchArgs),
    /// Mutation testing (cargo-mutants) of api/ and the page's plain-Rust modules: slow (tens
    /// of minutes on two cores), so not part of `test`
    Mutants,
}

/// A browser engine the end-to-end suite can run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Browser {
    /// Chromium with chromedriver
    Chromium,
    /// Firefox ESR with geckodriver
    Firefox,
    /// WebKitGTK's MiniBrowser with WebKitWebDriver, under Xvfb
    Webkit,
}

impl Browser {
    pub const ALL: [Browser; 3] = [Browser::Chromium, Browser::Firefox, Browser::Webkit];

    /// The name `FANOUT_BROWSER` takes.
    pub fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
            Browser::Webkit => "webkit",
        }
    }
}

/// What `cargo xtask test` runs the end-to-end suite in.
#[derive(Debug, Default, PartialEq, Eq, clap::Args)]
pub struct TestArgs {
    /// Run the end-to-end suite in this engine only (installing it when missing)
    #[arg(long, value_enum)]
    pub browser: Option<Browser>,
}

/// What `cargo xtask bench` measures; passed on to the bench binary as they are.
#[derive(Debug, Default, PartialEq, Eq, clap::Args)]
pub struct BenchArgs {
    /// A quick look, under three minutes
    #[arg(long)]
    pub quick: bool,
    /// Only the all-at-once rows at these sizes, printed rather than written to BENCHMARKS.md
    #[arg(long, value_name = "N,N", value_delimiter = ',', num_args = 1,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub concurrent_only: Vec<u32>,
    /// Only the server-gather rows (gather, gather-all) at these sizes, printed; with
    /// --concurrent-only, both sets
    #[arg(long, value_name = "N,N", value_delimiter = ',', num_args = 1,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub gather_only: Vec<u32>,
    /// Only the rows on the xkcd path (a stand-in xkcd on loopback) beside the demo origin
    /// and the tutorial's own page, at these sizes, printed
    #[arg(long, value_name = "N,N", value_delimiter = ',', num_args = 1,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub xkcd_only: Vec<u32>,
    /// Only the domain-sharding rows (HTTP/1.1 over 1, 4, 8 and 16 hosts beside h2) at these
    /// sizes, printed
    #[arg(long, value_name = "N,N", value_delimiter = ',', num_args = 1,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub shards_only: Vec<u32>,
    /// How many runs each of those rows is the median of
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=50))]
    pub repeats: Option<u32>,
    /// Only the README's screenshot (docs/screenshot.png), which every full or quick run
    /// also takes
    #[arg(long, conflicts_with_all = ["quick", "concurrent_only", "gather_only", "repeats"])]
    pub screenshot_only: bool,
    /// Only the proxy under load (section 3), printed rather than written to BENCHMARKS.md
    #[arg(long, conflicts_with_all = ["concurrent_only", "gather_only", "xkcd_only", "screenshot_only"])]
    pub load_only: bool,
    /// Another build of fanout-proxy (say, an older commit's) measured beside this one in
    /// the load rounds: cached JSON and a static file
    #[arg(long, value_name = "PATH")]
    pub baseline_proxy: Option<std::path::PathBuf>,
    /// Only the per-engine table (all at once, gather and the bare script at N = 20 and 100,
    /// both protocols, in every engine installed), printed
    #[arg(long, conflicts_with_all = ["concurrent_only", "gather_only", "xkcd_only", "screenshot_only"])]
    pub engines_only: bool,
    /// Measure the per-engine table in this engine only (installing it when missing)
    #[arg(long, value_enum)]
    pub browser: Option<Browser>,
}

impl BenchArgs {
    /// The same flags, for the bench binary.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.quick {
            args.push("--quick".to_owned());
        }
        for (flag, sizes) in [
            ("--concurrent-only", &self.concurrent_only),
            ("--gather-only", &self.gather_only),
            ("--xkcd-only", &self.xkcd_only),
            ("--shards-only", &self.shards_only),
        ] {
            if !sizes.is_empty() {
                let sizes: Vec<String> = sizes.iter().map(u32::to_string).collect();
                args.extend([flag.to_owned(), sizes.join(",")]);
            }
        }
        if let Some(k) = self.repeats {
            args.extend(["--repeats".to_owned(), k.to_string()]);
        }
        if self.screenshot_only {
            args.push("--screenshot-only".to_owned());
        }
        if self.load_only {
            args.push("--load-only".to_owned());
        }
        if let Some(path) = &self.baseline_proxy {
            // The bench runs from the workspace root: a relative path means from here.
            let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            args.extend(["--baseline-proxy".to_owned(), path.display().to_string()]);
        }
        if self.engines_only {
            args.push("--engines-only".to_owned());
        }
        if let Some(browser) = self.browser {
            args.extend(["--browser".to_owned(), browser.name().to_owned()]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use clap::{Parser, error::ErrorKind};

    use super::*;

    fn parse(args: &[&str]) -> Result<Task, ErrorKind> {
        Cli::try_parse_from(std::iter::once("xtask").chain(args.iter().copied()))
            .map(|cli| cli.task)
            .map_err(|err| err.kind())
    }

    fn proxy_flags(args: &[&str]) -> Task {
        Task::Serve {
            proxy_args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse(&["test"]), Ok(Task::Test(TestArgs::default())));
        assert_eq!(
            parse(&["test", "--browser", "firefox"]),
            Ok(Task::Test(TestArgs {
                browser: Some(Browser::Firefox)
            }))
        );
        assert_eq!(
            parse(&["test", "--browser", "webkit"]),
            Ok(Task::Test(TestArgs {
                browser: Some(Browser::Webkit)
            }))
        );
        assert_eq!(parse(&["dev"]), Ok(Task::Dev));
        assert_eq!(parse(&["mutants"]), Ok(Task::Mutants));
        assert_eq!(parse(&["bench"]), Ok(Task::Bench(BenchArgs::default())));
        let quick = BenchArgs {
            quick: true,
            ..BenchArgs::default()
        };
        assert_eq!(parse(&["bench", "--quick"]), Ok(Task::Bench(quick)));
        assert_eq!(parse(&["serve"]), Ok(proxy_flags(&[])));
    }

    #[test]
    fn serve_passes_proxy_flags_through_with_or_without_a_separator() {
        let flags = ["--tls-self-signed", "--listen", "127.0.0.1:9000"];
        assert_eq!(
            parse(&["serve", flags[0], flags[1], flags[2]]),
            Ok(proxy_flags(&flags))
        );
        assert_eq!(
            parse(&["serve", "--", flags[0], flags[1], flags[2]]),
            Ok(proxy_flags(&flags))
        );
    }

    #[test]
    fn bench_flags_are_checked_and_passed_on() {
        let Ok(Task::Bench(args)) = parse(&["bench", "--concurrent-only", "20,100", "--repeats", "3"]) else {
            panic!("bench flags parse");
        };
        assert_eq!(args.concurrent_only, [20, 100]);
        assert_eq!(args.to_args(), ["--concurrent-only", "20,100", "--repeats", "3"]);
        let Ok(Task::Bench(args)) = parse(&["bench", "--gather-only", "100", "--concurrent-only", "5"])
        else {
            panic!("bench flags parse");
        };
        assert_eq!(args.to_args(), ["--concurrent-only", "5", "--gather-only", "100"]);
        let Ok(Task::Bench(args)) = parse(&["bench", "--xkcd-only", "20,100"]) else {
            panic!("bench flags parse");
        };
        assert_eq!(args.to_args(), ["--xkcd-only", "20,100"]);
        assert_eq!(
            parse(&["bench", "--gather-only", "101"]),
            Err(ErrorKind::ValueValidation)
        );
        assert_eq!(
            parse(&["bench", "--concurrent-only", "20,x"]),
            Err(ErrorKind::ValueValidation)
        );
        assert_eq!(
            parse(&["bench", "--concurrent-only", "0"]),
            Err(ErrorKind::ValueValidation)
        );
        assert_eq!(
            parse(&["bench", "--repeats", "0"]),
            Err(ErrorKind::ValueValidation)
        );
        let Ok(Task::Bench(args)) = parse(&["bench", "--screenshot-only"]) else {
            panic!("bench flags parse");
        };
        assert_eq!(args.to_args(), ["--screenshot-only"]);
        assert_eq!(
            parse(&["bench", "--screenshot-only", "--quick"]),
            Err(ErrorKind::ArgumentConflict)
        );
        let Ok(Task::Bench(args)) = parse(&["bench", "--engines-only", "--browser", "webkit"]) else {
            panic!("bench flags parse");
        };
        assert_eq!(args.to_args(), ["--engines-only", "--browser", "webkit"]);
        assert_eq!(
            parse(&["bench", "--engines-only", "--gather-only", "20"]),
            Err(ErrorKind::ArgumentConflict)
        );
        assert_eq!(
            parse(&["bench", "--browser", "safari"]),
            Err(ErrorKind::InvalidValue)
        );
    }

    #[test]
    fn help_is_help_everywhere() {
        for args in [
            &["--help"][..],
            &["-h"],
            &["serve", "--help"],
            &["bench", "--help"],
            &["test", "--help"],
            &["dev", "-h"],
            &["help", "bench"],
        ] {
            assert_eq!(parse(args), Err(ErrorKind::DisplayHelp), "{args:?}");
        }
    }

    #[test]
    fn unknown_commands_and_flags_are_usage_errors() {
        assert_eq!(parse(&["deploy"]), Err(ErrorKind::InvalidSubcommand));
        assert_eq!(parse(&["bench", "--quik"]), Err(ErrorKind::UnknownArgument));
        assert_eq!(parse(&["test", "--release"]), Err(ErrorKind::UnknownArgument));
        assert_eq!(
            parse(&["test", "--browser", "safari"]),
            Err(ErrorKind::InvalidValue)
        );
        assert_eq!(parse(&["dev", "extra"]), Err(ErrorKind::UnknownArgument));
        assert_eq!(
            parse(&[]),
            Err(ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand)
        );
    }
}
