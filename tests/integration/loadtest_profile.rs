//! A load run matches its profile: `lampi-agent loadtest --profile evening` (the shipped profile derived from the
//! Mixpanel sample) against a real mosquitto and the Django test site, checked from its own output files.
//!
//! What can be measured honestly, and how:
//!
//! - The run did what its schedule said: its `--schedule-csv` log and its `lampi_stats.csv` agree operation by
//!   operation (set_config and lamp/changed publishes, logins, list and detail views), `summary.json` counts the same
//!   sessions and actions, nothing failed, and at most 2% of actions started more than 100 ms late, so what the
//!   servers saw is the schedule's timing.
//! - The schedule matches the profile. Think times are wall-clock (`--speed` only runs the arrival clock faster) and
//!   a session lasts tens of seconds, so a 15 s run completes few sessions and would under-count long ones. So the
//!   figures come from the same command walked 40 times longer (`--dry-run --duration 10m`, same seed): the test
//!   checks that the run's actions are exactly that schedule's first 15 s, then measures on its complete sessions
//!   (started in the first 8 minutes, ended in the log): sessions per lamp-hour, web share, set_config messages per
//!   web or app session, page views per web session, and think-time quantiles, each against the profile with the
//!   tolerance stated at the check.

use std::collections::HashMap;

use lampi_agent::profile::{Interface, Profile, State};

use crate::support::django::{DjangoSite, SiteOptions};
use crate::support::loadrun::{loadtest, schedule_rows, Row};
use crate::support::Mosquitto;

const DEVICES: u32 = 20;
const RATE: f64 = 10.0;
const SPEED: f64 = 60.0;
const RUN_S: f64 = 15.0;
const LONG_S: f64 = 600.0;
const SEED: &str = "7";

fn flags(duration: &str, csv: &str) -> Vec<String> {
    let mut f = vec!["--profile", "evening", "--seed", SEED, "--duration", duration, "--schedule-csv", csv];
    f.extend(["--devices", "20", "--rate", "10", "--speed", "60"]);
    f.into_iter().map(String::from).collect()
}

/// `|got - want| <= tolerance * want`, with the figures in the message.
fn near(what: &str, got: f64, want: f64, tolerance: f64) {
    let rel = (got - want) / want;
    eprintln!("{what}: {got:.3} (profile {want:.3}, {:+.1}%, allowed ±{:.0}%)", rel * 100.0, tolerance * 100.0);
    assert!(rel.abs() <= tolerance, "{what}: {got} vs the profile's {want} ({:+.1}%)", rel * 100.0);
}

fn quantile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p / 100.0).round() as usize]
}

/// Sessions of a schedule log, each its rows in order.
fn sessions(rows: &[Row]) -> HashMap<u64, Vec<&Row>> {
    let mut s: HashMap<u64, Vec<&Row>> = HashMap::new();
    for r in rows.iter().filter(|r| r.session != 0) {
        s.entry(r.session).or_default().push(r);
    }
    s
}

fn is_page(action: &str) -> bool {
    matches!(action, "root" | "list" | "detail")
}

fn is_message(action: &str) -> bool {
    matches!(action, "set_config" | "device_changed")
}

#[test]
fn a_load_run_matches_its_profile() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: DEVICES as usize, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let run_csv = dir.path().join("run-schedule.csv");
    let args = flags("15s", run_csv.to_str().unwrap());
    let run = loadtest(dir.path(), &broker, &site, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    eprintln!("{}\nthe load run took {:?}", run.stdout, run.took);
    let rows = schedule_rows(&run_csv);

    // 1. The run did what its schedule said.
    let n = |action: &str| rows.iter().filter(|r| r.action == action).count() as u64;
    let sent = run.sent();
    assert_eq!((sent.set_config, sent.changed), (n("set_config"), n("device_changed")));
    assert_eq!((sent.list, sent.detail), (n("list"), n("detail")));
    assert_eq!(run.count("POST", "/login/"), n("login"));
    let failures: u64 = run.stats().iter().filter(|((_, name), _)| name != "Aggregated").map(|(_, r)| r.1).sum();
    assert_eq!(failures, 0, "{}", run.file("lampi_failures.csv"));
    let summary = run.json("summary.json");
    assert_eq!(summary["dispatched"].as_u64().unwrap(), rows.len() as u64);
    assert_eq!(summary["actions"]["set_config"], n("set_config"));
    let run_sessions = sessions(&rows);
    for i in Interface::ALL {
        let logged = run_sessions.values().filter(|s| s[0].interface == i.key()).count() as u64;
        assert_eq!(summary["sessions"][i.key()], logged, "{i} sessions");
    }
    let late = summary["late_actions"].as_u64().unwrap() as f64 / rows.len() as f64;
    eprintln!("late actions: {:.2}% (max {} ms)", late * 100.0, summary["max_action_lateness_ms"]);
    assert!(
        late <= 0.02,
        "{:.1}% of actions started over 100 ms late: the run did not keep its schedule",
        late * 100.0
    );
    let web_share =
        run_sessions.values().filter(|s| s[0].interface == "web").count() as f64 / run_sessions.len() as f64;
    assert!(run_sessions.len() >= 30, "too few sessions to say anything: {}", run_sessions.len());

    // 2. The run's schedule is the first 15 s of the long one.
    let long_csv = dir.path().join("long-schedule.csv");
    let mut args = flags("10m", long_csv.to_str().unwrap());
    args.push("--dry-run".into());
    let dry = loadtest(dir.path(), &broker, &site, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let long = schedule_rows(&long_csv);
    let mut head: Vec<&Row> = long.iter().filter(|r| r.at < RUN_S).collect();
    let mut ran: Vec<&Row> = rows.iter().collect();
    let key = |r: &&Row| (r.at.to_bits(), r.lamp, r.session, r.action.clone());
    head.sort_by_key(key);
    ran.sort_by_key(key);
    assert_eq!(ran, head, "the run's actions are not the schedule's first {RUN_S} s");

    // 3. The schedule matches the profile.
    let profile = Profile::from_toml(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/profiles/evening.toml")).unwrap(),
        "evening",
    )
    .unwrap();
    let all = sessions(&long);
    let started = all.len() as f64;
    // Arrivals: the window's mean rate (10 profile hours wrap the 5-hour window twice), times --rate.
    let mean_rate = profile.rates.iter().sum::<f64>() / profile.rates.len() as f64;
    let lamp_hours = f64::from(DEVICES) * LONG_S / 3600.0 * SPEED;
    near("sessions per lamp per profile hour", started / lamp_hours, mean_rate * RATE, 0.05);
    let share = all.values().filter(|s| s[0].interface == "web").count() as f64 / started;
    near("web share of sessions", share, profile.share_of(Interface::Web), 0.06);
    near("web share of sessions in the 15 s run", web_share, profile.share_of(Interface::Web), 0.35);

    let complete: Vec<&Vec<&Row>> =
        all.values().filter(|s| s[0].at < LONG_S - 120.0 && s.last().unwrap().action == "session_end").collect();
    let in_window = all.values().filter(|s| s[0].at < LONG_S - 120.0).count();
    assert!(complete.len() as f64 >= 0.99 * in_window as f64, "sessions still open 2 minutes before the end");
    let per = |interfaces: &[Interface], what: fn(&str) -> bool| {
        let chosen: Vec<_> = complete.iter().filter(|s| interfaces.iter().any(|i| i.key() == s[0].interface)).collect();
        let count: usize = chosen.iter().map(|s| s.iter().filter(|r| what(&r.action)).count()).sum();
        count as f64 / chosen.len() as f64
    };
    // Expected from the profile's chains: toggles plus drags times messages per drag (rounded draws, at least 1).
    let steps = 100_000;
    let drag = |k: usize| profile.drag.length.at((k as f64 + 0.5) * 100.0 / steps as f64).round().max(1.0);
    let drag_mean = (0..steps).map(drag).sum::<f64>() / steps as f64;
    let expect = |i: Interface, states: &[State], weight: f64| {
        let v = profile.chain(i).unwrap().expected_visits();
        states.iter().map(|s| v[s.index()] * if s.is_slider() { weight } else { 1.0 }).sum::<f64>()
    };
    let controls = [State::Power, State::Hue, State::Saturation, State::Brightness];
    let (w, a) = (profile.share_of(Interface::Web), profile.share_of(Interface::App));
    let want =
        (w * expect(Interface::Web, &controls, drag_mean) + a * expect(Interface::App, &controls, drag_mean)) / (w + a);
    near(
        "set_config messages per web or app session",
        per(&[Interface::Web, Interface::App], |a| a == "set_config"),
        want,
        0.10,
    );
    let pages = [State::Root, State::List, State::Detail];
    near("page views per web session", per(&[Interface::Web], is_page), expect(Interface::Web, &pages, 1.0), 0.05);

    // Think times: every gap between two actions of a session but a drag's next message (exactly drag.interval).
    let interval = profile.drag.interval.as_secs_f64();
    let (mut page, mut control) = (Vec::new(), Vec::new());
    for s in &complete {
        for pair in s.windows(2) {
            let (prev, next) = (pair[0], pair[1]);
            let gap = next.at - prev.at;
            let drag = is_message(&prev.action) && is_message(&next.action) && (gap - interval).abs() < 1e-6;
            match next.action.as_str() {
                "session_end" => {}
                a if is_page(a) => page.push(gap),
                a if is_message(a) && !drag => control.push(gap),
                _ => {}
            }
        }
    }
    for (what, mut gaps, q) in [("page", page, &profile.think.page), ("control", control, &profile.think.control)] {
        gaps.sort_by(f64::total_cmp);
        assert!(gaps.len() > 500, "{what}: only {} think times", gaps.len());
        for p in [25.0, 50.0, 75.0, 90.0] {
            near(&format!("think time before a {what}, p{p}"), quantile(&gaps, p), q.at(p), 0.10);
        }
    }
}
