//! The real `xtask` binary: help and usage errors answer at once, with the right exit code,
//! and start no step (every step prints a `==>` line).

use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("the xtask binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn help_prints_usage_exits_0_and_starts_nothing() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["bench", "--help"],
        &["test", "-h"],
    ] {
        let out = xtask(args);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {said}");
        assert!(said.contains("Usage: cargo xtask"), "{args:?}: {said}");
        assert!(!said.contains("==>"), "{args:?} started a step: {said}");
    }
}

#[test]
fn unknown_commands_and_flags_exit_2_with_a_one_line_error_and_the_usage() {
    for (args, culprit) in [
        (&["deploy"][..], "deploy"),
        (&["bench", "--quik"], "--quik"),
        (&["test", "--release"], "--release"),
    ] {
        let out = xtask(args);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        let first = said.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error:") && first.contains(culprit),
            "{args:?}: {said}"
        );
        assert!(said.contains("Usage: cargo xtask"), "{args:?}: {said}");
        assert!(!said.contains("==>"), "{args:?} started a step: {said}");
    }
}
