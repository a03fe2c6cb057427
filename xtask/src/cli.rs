//! The command line: `cargo xtask <command> [flags]`, parsed before anything is built, so
//! that `--help` and a mistyped flag answer at once.

use clap::{Parser, Subcommand};

#[derive(Debug, PartialEq, Eq, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Fanout's developer commands. Each installs what it needs (the wasm32 target, trunk, \
             wasm-bindgen, wasm-opt, Chromium) from the package registries, and nothing else.",
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
    /// fmt, clippy (native and wasm32), native tests, browser tests, end-to-end tests
    Test,
    /// Measure the fan-out, the Flask peer, the proxy under load and the shipped bytes into
    /// BENCHMARKS.md
    Bench {
        /// A quick look, under three minutes
        #[arg(long)]
        quick: bool,
    },
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
        assert_eq!(parse(&["test"]), Ok(Task::Test));
        assert_eq!(parse(&["dev"]), Ok(Task::Dev));
        assert_eq!(parse(&["bench"]), Ok(Task::Bench { quick: false }));
        assert_eq!(parse(&["bench", "--quick"]), Ok(Task::Bench { quick: true }));
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
        assert_eq!(parse(&["dev", "extra"]), Err(ErrorKind::UnknownArgument));
        assert_eq!(
            parse(&[]),
            Err(ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand)
        );
    }
}
