//! The command line parsed as a user types it: `try_parse_from`, no process.
use std::path::Path;

use super::*;
use crate::exit::USAGE;

#[test]
fn broker_and_site_are_checked_by_clap() {
    let argv = ["lampi-agent", "loadtest", "--broker", "10.0.0.5:1884", "--site", "https://lampi.example.com/"];
    let Command::Loadtest(a) = Cli::try_parse_from(argv).unwrap().command else { panic!() };
    let r = a.into_request();
    assert_eq!(r.broker, Some(Broker { host: "10.0.0.5".into(), port: 1884 }));
    assert_eq!(r.site.unwrap().as_str(), "https://lampi.example.com/");
    for (flag, bad) in [("--broker", "10.0.0.5"), ("--broker", "x:y"), ("--site", "lampi.example.com")] {
        let e = Cli::try_parse_from(["lampi-agent", "loadtest", flag, bad]).unwrap_err();
        assert_eq!(e.exit_code(), i32::from(USAGE), "{flag} {bad}");
        let text = e.to_string();
        assert!(text.contains(flag) && text.contains(bad), "{text}");
    }
}

#[test]
fn loadtest_flags_become_the_modes_request() {
    let argv = ["lampi-agent", "loadtest", "--devices", "20", "--no-preflight", "--responder", "external"];
    let Command::Loadtest(a) = Cli::try_parse_from(argv).unwrap().command else { panic!() };
    let r = a.into_request();
    assert_eq!((r.devices, r.preflight, r.responder), (20, false, Some(Responder::External)));
    assert_eq!((r.broker, r.site, r.replay.is_none()), (None, None, true));
}

#[test]
fn locust_master_flags_become_the_worker_options() {
    let request = |extra: &[&str]| {
        let argv = [&["lampi-agent", "loadtest", "--devices", "8"][..], extra].concat();
        let Command::Loadtest(a) = Cli::try_parse_from(argv).unwrap().command else { panic!() };
        a.into_request()
    };
    let r = request(&["--locust-master", "10.0.0.2"]);
    let m = r.locust_master.clone().unwrap();
    assert_eq!((m.host.as_str(), m.port, r.locust_silence.as_secs()), ("10.0.0.2", 5557, 60));
    assert_eq!(r.duration, crate::loadtest::LOCUST_DURATION, "the master ends the run");
    let r = request(&["--locust-master", "m:6000", "--locust-silence", "5s", "--duration", "10m"]);
    assert_eq!((r.locust_master.unwrap().port, r.locust_silence.as_secs(), r.duration.as_secs()), (6000, 5, 600));
    assert_eq!(request(&[]).duration.as_secs(), 60);
    for bad in [
        &["--locust-master", "m:0"][..],
        &["--locust-silence", "5s"],
        &["--locust-master", "m", "--start-at", "2026-11-27T19:00:00Z"],
        &["--locust-master", "m", "--locust-silence", "0s"],
    ] {
        let argv = [&["lampi-agent", "loadtest"][..], bad].concat();
        assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
    }
}

#[test]
fn config_is_accepted_after_the_subcommand() {
    let cli = Cli::try_parse_from(["lampi-agent", "run", "--config", "/x.toml", "-vv"]).unwrap();
    assert!(matches!(cli.command, Command::Run));
    assert_eq!(cli.config.as_deref(), Some(Path::new("/x.toml")));
    assert_eq!(cli.verbose, 2);
}

#[test]
fn config_check_takes_an_optional_file() {
    let cli = Cli::try_parse_from(["lampi-agent", "config", "check", "a.toml"]).unwrap();
    assert!(matches!(cli.command, Command::Config(ConfigCommand::Check { file: Some(_) })));
    assert!(Cli::try_parse_from(["lampi-agent", "bogus"]).is_err());
}

#[test]
fn loadtest_flags_parse_with_defaults() {
    let cli = Cli::try_parse_from([
        "lampi-agent",
        "loadtest",
        "--profile",
        "smoke",
        "--devices",
        "50",
        "--duration",
        "2m",
        "--start-at",
        "2026-11-27T19:00:00Z",
        "--responder",
        "external",
        "--seed",
        "7",
    ])
    .unwrap();
    let Command::Loadtest(a) = cli.command else { panic!() };
    assert_eq!((a.profile.as_str(), a.devices, a.seed), ("smoke", 50, Some(7)));
    assert_eq!(a.duration, Some(std::time::Duration::from_secs(120)));
    assert!(a.start_at.is_some());
    assert_eq!(a.responder, Some(ResponderArg::External));
    assert_eq!(a.interval, std::time::Duration::from_secs(1));
    assert!(Cli::try_parse_from(["lampi-agent", "loadtest", "--start-at", "tonight"]).is_err());
    assert!(Cli::try_parse_from(["lampi-agent", "loadtest", "--devices", "-3"]).is_err());
}

#[test]
fn selftest_checks_are_named_comma_separated_or_repeated() {
    use crate::selftest::Check;
    let cli =
        Cli::try_parse_from(["lampi-agent", "selftest", "--only", "broker,web", "--only", "disk", "--json"]).unwrap();
    let Command::Selftest(a) = &cli.command else { panic!() };
    assert_eq!(a.only, vec![Check::Broker, Check::Web, Check::Disk]);
    assert!(a.json && a.skip.is_empty() && a.timeout.is_none());
    assert!(cli.quiet_logs());
    let cli = Cli::try_parse_from(["lampi-agent", "-v", "selftest", "--skip", "led", "--timeout", "2s"]).unwrap();
    let Command::Selftest(a) = &cli.command else { panic!() };
    assert_eq!((a.skip.as_slice(), a.timeout), (&[Check::Led][..], Some(std::time::Duration::from_secs(2))));
    assert!(!cli.quiet_logs());
    let err = Cli::try_parse_from(["lampi-agent", "selftest", "--only", "broker,leds"]).unwrap_err();
    assert_eq!(err.exit_code(), i32::from(USAGE));
    assert!(err.to_string().contains("expected one of config, identity, led, service, broker, web, clock, disk"));
    assert!(Cli::try_parse_from(["lampi-agent", "selftest", "--timeout", "0s"]).is_err());
}

fn derive_args(args: &[&str]) -> Result<DeriveArgs, clap::Error> {
    let argv = ["lampi-agent", "profile", "derive"].iter().chain(args).copied();
    match Cli::try_parse_from(argv)?.command {
        Command::Profile(ProfileCommand::Derive(a)) => Ok(a),
        other => panic!("{other:?}"),
    }
}

#[test]
fn profile_derive_takes_the_command_recorded_in_the_shipped_profiles() {
    for (name, text) in crate::profile::SHIPPED.iter().filter(|(n, _)| *n != "smoke") {
        let line = text.lines().nth(1).unwrap().trim_start_matches('#').trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&words[..3], ["lampi-agent", "profile", "derive"], "{line}");
        let a = derive_args(&words[3..]).unwrap_or_else(|e| panic!("{name}: {line}: {e}"));
        assert_eq!(a.name, *name);
        assert_eq!(a.format, FormatArg::Mixpanel);
        assert_eq!(a.input.as_deref(), Some(Path::new("../shared/data/analytics-mixpanel.jsonl")));
        assert_eq!(a.output.as_deref(), Some(Path::new(&format!("config/profiles/{name}.toml"))));
        assert_eq!((a.tz, a.gap), (0, std::time::Duration::from_secs(120)));
    }
}

#[test]
fn profile_derive_flags_in_either_spelling() {
    let a = derive_args(&["--from", "x.jsonl", "--window", "18:00-23:00", "--tz", "-05:30", "--lamps", "30"]).unwrap();
    assert_eq!((a.input, a.from.as_deref()), (None, Some(Path::new("x.jsonl"))));
    assert_eq!((a.window, a.tz, a.lamps, a.name.as_str()), ((18, 23), -330, Some(30), "derived"));
    assert_eq!(derive_args(&["x", "--window", "22-2"]).unwrap().window, (22, 2));
    assert_eq!(derive_args(&["x", "--window", "0:00-24:00"]).unwrap().window, (0, 24));
    for bad in [
        &["x", "--from", "y"][..],
        &[],
        &["x", "--format", "csv"],
        &["x", "--window", "18:30-23:00"],
        &["x", "--window", "5-5"],
        &["x", "--tz", "5"],
        &["x", "--gap", "10ms"],
        &["x", "--name", "a b"],
        &["x", "--lamps", "0"],
    ] {
        let e = derive_args(bad).unwrap_err();
        assert_eq!(e.exit_code(), i32::from(USAGE), "{bad:?}");
    }
    let e = derive_args(&["x", "--format", "csv"]).unwrap_err().to_string();
    assert!(e.contains("--format") && e.contains("mixpanel, keen, auto"), "{e}");
}

#[test]
fn replay_replaces_the_profile_flags() {
    let cli = Cli::try_parse_from(["lampi-agent", "loadtest", "--replay", "t.jsonl", "--speed", "60"]).unwrap();
    let Command::Loadtest(a) = cli.command else { panic!() };
    assert_eq!((a.replay.as_deref(), a.replay_format, a.speed), (Some(Path::new("t.jsonl")), FormatArg::Auto, 60.0));
    for clash in ["--profile", "--rate", "--seed", "--start-hour", "--ramp-up"] {
        let argv = ["lampi-agent", "loadtest", "--replay", "t", clash, "1"];
        assert!(Cli::try_parse_from(argv).is_err(), "{clash}");
    }
    assert!(Cli::try_parse_from(["lampi-agent", "loadtest", "--replay-format", "keen"]).is_err());
}

#[test]
fn report_merge_takes_run_dirs_and_an_out_dir() {
    let cli = Cli::try_parse_from(["lampi-agent", "report", "merge", "a", "b", "--out", "fleet"]).unwrap();
    let Command::Report(ReportCommand::Merge { runs, out }) = cli.command else { panic!() };
    assert_eq!((runs.len(), out), (2, PathBuf::from("fleet")));
    assert!(Cli::try_parse_from(["lampi-agent", "report", "merge", "--out", "fleet"]).is_err(), "no runs");
    assert!(Cli::try_parse_from(["lampi-agent", "report", "merge", "a"]).is_err(), "no --out");
    let cli = Cli::try_parse_from(["lampi-agent", "report", "plot", "run", "--out", "x.html"]).unwrap();
    let Command::Report(ReportCommand::Plot { run, out }) = cli.command else { panic!() };
    assert_eq!((run, out), (PathBuf::from("run"), Some(PathBuf::from("x.html"))));
}

#[test]
fn slos_and_the_limit_search_parse_and_a_bad_slo_is_a_usage_error() {
    let argv = ["lampi-agent", "loadtest", "--slo", "roundtrip p99 < 100ms", "--slo", "failures < 1%"];
    let Command::Loadtest(a) = Cli::try_parse_from(argv).unwrap().command else { panic!() };
    assert_eq!(a.slo.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(), ["roundtrip p99 < 100ms", "failures < 1%"]);
    assert!(!a.find_limit);
    let e = Cli::try_parse_from(["lampi-agent", "loadtest", "--slo", "roundtrip p99 > 1s"]).unwrap_err();
    assert_eq!(e.exit_code(), i32::from(USAGE));
    assert!(e.to_string().contains("\">\" is not supported"), "{e}");
    let argv = ["lampi-agent", "loadtest", "--find-limit", "--step-devices", "5", "--max-steps", "3"];
    let Command::Loadtest(a) = Cli::try_parse_from(argv).unwrap().command else { panic!() };
    assert_eq!((a.find_limit, a.step_devices, a.step_rate, a.max_steps), (true, Some(5), None, 3));
    assert!(Cli::try_parse_from(["lampi-agent", "loadtest", "--step-rate", "2"]).is_err(), "needs --find-limit");
    let both = ["lampi-agent", "loadtest", "--find-limit", "--step-rate", "2", "--step-devices", "1"];
    assert!(Cli::try_parse_from(both).is_err());
    let cli = Cli::try_parse_from(["lampi-agent", "report", "compare", "a", "b"]).unwrap();
    assert!(matches!(cli.command, Command::Report(ReportCommand::Compare { out: None, .. })));
}

#[test]
fn demo_transition_is_a_human_duration() {
    let cli = Cli::try_parse_from(["lampi-agent", "demo", "--transition", "300ms"]).unwrap();
    let Command::Demo(a) = cli.command else { panic!() };
    assert_eq!(a.transition, Some(std::time::Duration::from_millis(300)));
    assert!(Cli::try_parse_from(["lampi-agent", "demo", "--transition", "soon"]).is_err());
}
