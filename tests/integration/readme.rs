//! The README, as a new user types it: the demo many times in a row (its start-up has races: the embedded broker,
//! retained messages, the daemon's exit), every command that needs no servers run exactly as written, and every
//! other command the README shows mapped to the test or script line that runs it, so a command added to the README
//! without a test fails here.

use std::path::Path;

use crate::support::lamp::run_cli;

const README: &str = include_str!("../../README.md");

fn is_command(cmd: &str) -> bool {
    cmd.starts_with("lampi-agent ") || cmd.starts_with("cargo run -- ")
}

/// Every command the README tells a user to type: lines of its `sh` blocks (comments off) and inline code spans
/// that start with `lampi-agent` or `cargo run --`.
fn readme_commands() -> Vec<String> {
    let mut out = Vec::new();
    let mut block: Option<bool> = None; // Some(is_sh) inside a fenced block
    for line in README.lines() {
        let t = line.trim();
        if let Some(lang) = t.strip_prefix("```") {
            block = if block.is_some() { None } else { Some(lang == "sh") };
            continue;
        }
        match block {
            Some(true) => {
                let cmd = t.split(" #").next().unwrap_or("").trim().trim_end_matches('\\').trim();
                if is_command(cmd) {
                    out.push(cmd.to_string());
                }
            }
            Some(false) => {}
            None => {
                // Inline spans (the odd-numbered pieces between backticks) that are commands, not a mode's name
                // (`lampi-agent loadtest`) or a quoted message (`lampi-agent profile derive: ...`).
                let typed = |c: &&str| is_command(c) && args_of(c).len() >= 2 && !c.contains(": ");
                out.extend(t.split('`').skip(1).step_by(2).filter(typed).map(str::to_string));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The arguments after `lampi-agent` or `cargo run --`.
fn args_of(cmd: &str) -> Vec<&str> {
    let rest = cmd.strip_prefix("cargo run -- ").or_else(|| cmd.strip_prefix("lampi-agent ")).unwrap_or(cmd);
    rest.split_whitespace().collect()
}

#[test]
fn the_demo_works_25_times_in_a_row() {
    for run in 1..=25 {
        let (code, out, err) = run_cli(&["demo"], &[("RUST_LOG", "warn")]);
        let last = out.lines().last().unwrap_or("");
        assert!(
            code == 0 && last.starts_with("daemon stopped: 5 commands applied, 1 rejected"),
            "demo run {run}: exit {code}, last line {last:?}\nstdout:\n{out}\nstderr:\n{err}"
        );
        assert!(!out.contains("LED disagrees"), "demo run {run}:\n{out}");
    }
}

#[test]
fn the_demo_with_a_transition_fades_and_ends_cleanly() {
    let (code, out, err) = run_cli(&["demo", "--transition", "300ms"], &[("RUST_LOG", "warn")]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.lines().last().unwrap_or("").starts_with("daemon stopped: 5 commands applied, 1 rejected"), "{out}");
    assert!(!out.contains("LED disagrees"), "{out}");
}

/// How each README command is run when it is not run here.
enum Covered {
    /// Run here, exactly as written; stdout must contain this.
    Here(&'static str),
    /// Run by this integration test (file under tests/integration, function name).
    Test(&'static str, &'static str),
}

const SLO_TEST: &str = "an_slo_that_holds_exits_0_and_one_that_cannot_exits_99";

/// README commands by their start (the longest matching prefix wins; a `$` at the end: that command exactly).
const COVERAGE: &[(&str, Covered)] = &[
    ("cargo run -- demo", Covered::Here("daemon stopped: 5 commands applied, 1 rejected")),
    ("lampi-agent config default", Covered::Here("[mqtt]")),
    ("lampi-agent config check", Covered::Here(": OK")),
    (
        "lampi-agent config check ",
        Covered::Test("cli_config.rs", "config_check_accepts_the_shipped_default_and_hides_secrets"),
    ),
    (
        "lampi-agent -v run",
        Covered::Test("run_mode.rs", "set_config_drives_the_led_and_comes_back_on_changed_with_partial_updates"),
    ),
    ("lampi-agent profile show evening", Covered::Here("evening")),
    ("lampi-agent loadtest --profile evening --devices 50 --dry-run", Covered::Here("50 lamp(s)")),
    ("lampi-agent run", Covered::Test("run_mode.rs", "sigterm_says_goodbye_turns_the_led_off_and_exits_0_within_2s")),
    (
        "lampi-agent loadtest --profile evening$",
        Covered::Test("loadtest.rs", "this_lamp_is_answered_by_its_own_daemon"),
    ),
    ("lampi-agent loadtest --profile evening --devices 500 --slo", Covered::Test("slo_limit.rs", SLO_TEST)),
    ("lampi-agent loadtest --profile evening --slo-file", Covered::Test("slo_limit.rs", SLO_TEST)),
    (
        "lampi-agent loadtest --profile evening --devices 200 --find-limit",
        Covered::Test("slo_limit.rs", "find_limit_against_mosquitto_stops_with_a_capacity_and_a_reason"),
    ),
    (
        "lampi-agent loadtest --profile evening --devices 100 --find-limit --step-devices",
        Covered::Test("slo_limit.rs", "find_limit_can_step_devices_and_needs_an_slo"),
    ),
    (
        "lampi-agent report compare",
        Covered::Test("report_compare.rs", "compare_finds_no_change_against_itself_and_the_50ms_a_slower_site_adds"),
    ),
    (
        "lampi-agent loadtest --profile evening --devices 500",
        Covered::Test("loadtest.rs", "a_run_writes_every_file_and_the_counts_agree"),
    ),
    (
        "lampi-agent loadtest --profile evening --devices 200 --first-lamp 200 --start-at",
        Covered::Test("fleet.rs", "merge_and_plot_real_runs_of_two_lamps_started_together"),
    ),
    (
        "lampi-agent loadtest --replay",
        Covered::Test("loadtest_replay.rs", "a_replayed_trace_sends_every_recorded_event"),
    ),
    (
        "lampi-agent loadtest --locust-master",
        Covered::Test(
            "locust.rs",
            "two_workers_ramp_under_a_headless_master_whose_csv_counts_what_their_folders_record",
        ),
    ),
    ("lampi-agent selftest", Covered::Test("selftest.rs", "a_healthy_lamp_passes_every_check_and_is_left_as_it_was")),
    (
        "lampi-agent selftest --only",
        Covered::Test("selftest.rs", "a_stopped_broker_fails_the_broker_and_service_checks_with_hints"),
    ),
    ("lampi-agent selftest --timeout", Covered::Test("selftest.rs", "every_check_is_bounded_by_the_timeout")),
    (
        "lampi-agent profile derive",
        Covered::Test("profile_cli.rs", "the_command_recorded_in_the_shipped_profiles_derives_them_again"),
    ),
    (
        "lampi-agent profile derive EXPORT",
        Covered::Test("profile_cli.rs", "derive_writes_a_profile_that_show_reads_back"),
    ),
    (
        "lampi-agent profile show PROFILE",
        Covered::Test("profile_cli.rs", "derive_writes_a_profile_that_show_reads_back"),
    ),
    ("lampi-agent report merge", Covered::Test("fleet.rs", "merge_and_plot_real_runs_of_two_lamps_started_together")),
    ("lampi-agent report plot", Covered::Test("fleet.rs", "merge_and_plot_real_runs_of_two_lamps_started_together")),
];

fn coverage(cmd: &str) -> Option<&'static Covered> {
    let matches = |p: &str| p.strip_suffix('$').map_or_else(|| cmd.starts_with(p), |exact| cmd == exact);
    COVERAGE.iter().filter(|(p, _)| matches(p)).max_by_key(|(p, _)| p.len()).map(|(_, c)| c)
}

#[test]
fn every_readme_command_is_run_here_or_by_a_named_test() {
    let commands = readme_commands();
    assert!(commands.len() >= 15, "the README's sh blocks hold too few commands: {commands:#?}");
    assert!(commands.iter().any(|c| c == "cargo run -- demo"), "the README's first command is the demo");
    let mut ran = 0;
    for cmd in &commands {
        match coverage(cmd) {
            None if std::env::var_os("LAMPI_README_LIST").is_some() => println!("UNCOVERED {cmd}"),
            None => panic!("README command {cmd:?} is run by no test: run it here or map it to the test that does"),
            Some(Covered::Here(expected)) => {
                let (code, out, err) = run_cli(&args_of(cmd), &[("RUST_LOG", "warn")]);
                assert_eq!(code, 0, "{cmd}:\n{out}\n{err}");
                assert!(out.contains(expected), "{cmd}: {expected:?} not in its output:\n{out}");
                ran += 1;
            }
            Some(Covered::Test(file, name)) => {
                let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration").join(file);
                let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(source.contains(&format!("fn {name}(")), "{cmd}: mapped to {file}::{name}, which is gone");
            }
        }
    }
    assert!(ran >= 4, "only {ran} README commands ran here");
}
