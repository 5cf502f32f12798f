//! Replay tests: small traces written to temp files, each rule on its own; the shared sample exports played whole.

use super::*;
use std::io::Write;

use crate::analytics::tests::sample;

const MIN: Duration = Duration::from_secs(120);

fn opts(speed: f64, lamps: u32) -> Options {
    Options { speed, lamps, duration: Duration::from_secs(86_400 * 30), gap: MIN }
}

fn trace(lines: &[String]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f
}

fn ev(t: f64, name: &str, props: &str) -> String {
    let sep = if props.is_empty() { "" } else { "," };
    format!(r#"{{"event":"{name}","properties":{{"time":{t}{sep}{props}}}}}"#)
}

fn slider(t: f64, user: u32, interface: &str, slider: &str, value: f64) -> String {
    let props =
        format!(r#""distinct_id":"user_{user:06}","interface":"{interface}","slider":"{slider}","value":{value}"#);
    ev(t, "Slider Change", &props)
}

fn page(t: f64, user: u32, name: &str) -> String {
    let device = format!("{:x}", 0x1e00_0000_0000u64 + u64::from(user));
    ev(t, name, &format!(r#""distinct_id":"user_{user:06}","device_id":"{device}""#))
}

fn play(lines: &[String], o: &Options) -> (Vec<Action>, Stats) {
    let f = trace(lines);
    let r = Replay::open(f.path(), Format::Auto, o).unwrap();
    let progress = r.progress();
    let actions: Vec<Action> = r.collect();
    let stats = progress.lock().unwrap().clone();
    (actions, stats)
}

fn kinds(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match &a.kind {
            ActionKind::Login => "login".to_string(),
            ActionKind::Page(p) => format!("{p:?}"),
            ActionKind::SetConfig(_) => "set".into(),
            ActionKind::DeviceChanged(_) => "changed".into(),
            ActionKind::Reconnect { .. } => "reconnect".into(),
            ActionKind::SessionEnd => "end".into(),
        })
        .collect()
}

#[test]
fn a_web_session_logs_in_before_its_first_page_and_ends_after_its_last_event() {
    let lines = [
        page(1000.0, 3, "LAMPI List"),
        page(1002.0, 3, "LAMPI Detail"),
        slider(1005.0, 3, "web", "hue", 0.5),
        slider(1005.1, 3, "web", "hue", 0.4),
        ev(
            1005.2,
            "LAMPI State Change",
            r#""device_id":"1e0000000003","color":{"h":0.4,"s":0.7},"brightness":0.3,"on":true"#,
        ),
        ev(1009.0, "Toggle Power", r#""distinct_id":"user_000003","interface":"web","isOn":false"#),
    ];
    let (actions, stats) = play(&lines, &opts(2.0, 4));
    assert_eq!(kinds(&actions), ["login", "List", "Detail", "set", "set", "set", "end"]);
    let at: Vec<f64> = actions.iter().map(|a| a.at.as_secs_f64()).collect();
    assert_eq!(at, [0.0, 0.0, 1.0, 2.5, 2.55, 4.5, 4.5], "recorded time since the first event, halved by speed 2");
    assert!(actions.iter().all(|a| a.lamp == 0 && a.session == 1 && a.interface == Some(Interface::Web)));
    // The web page sends the full state: the recorded state change (s, brightness) is carried on.
    let ActionKind::SetConfig(p) = &actions[5].kind else { panic!() };
    assert_eq!((p.h, p.s, p.brightness, p.on), (Some(0.4), Some(0.7), Some(0.3), Some(false)));
    assert_eq!(stats.sessions, [1, 0, 0]);
    assert_eq!((stats.events, stats.state_changes, stats.recorded_lamps), (6, 1, 1));
    assert_eq!(stats.played.set_config, 3);
    assert_eq!(stats.actions(), 7);
}

#[test]
fn apps_send_the_change_and_touchscreens_make_the_lamp_publish() {
    let lines = [
        slider(0.0, 1, "iOS", "brightness", 0.25),
        ev(1.0, "Toggle Power", r#""distinct_id":"user_000001","interface":"iOS","isOn":false"#),
        slider(2.0, 2, "lampi", "saturation", 0.6),
    ];
    let (actions, stats) = play(&lines, &opts(1.0, 8));
    assert_eq!(kinds(&actions), ["set", "set", "end", "changed", "end"], "the app session ends after its toggle");
    let ActionKind::SetConfig(p) = &actions[0].kind else { panic!() };
    assert_eq!(*p, Patch { brightness: Some(0.25), ..Patch::default() });
    let ActionKind::SetConfig(p) = &actions[1].kind else { panic!() };
    assert_eq!(*p, Patch { on: Some(false), ..Patch::default() });
    let ActionKind::DeviceChanged(p) = &actions[3].kind else { panic!() };
    assert_eq!((p.s, p.h, p.on), (Some(0.6), Some(1.0), Some(true)), "the full state, first-boot defaults else");
    assert_eq!(actions[3].interface, Some(Interface::LampUi));
    // Recorded lamps in order of first mention: user_000001 is k = 0, user_000002 is k = 1.
    assert_eq!((actions[0].lamp, actions[3].lamp), (0, 1));
    assert_eq!(stats.sessions, [0, 1, 1]);
}

#[test]
fn recorded_lamp_k_plays_on_lamp_k_mod_n_with_its_own_session_ids() {
    let lines: Vec<String> = (0..5).map(|u| slider(f64::from(u), u, "iOS", "hue", 0.1)).collect();
    let (actions, _) = play(&lines, &opts(1.0, 2));
    let sets: Vec<(u32, u64)> =
        actions.iter().filter(|a| matches!(a.kind, ActionKind::SetConfig(_))).map(|a| (a.lamp, a.session)).collect();
    let s = |lamp: u64, n: u64| (lamp << 32) | n;
    assert_eq!(sets, [(0, s(0, 1)), (1, s(1, 1)), (0, s(0, 2)), (1, s(1, 2)), (0, s(0, 3))]);
}

#[test]
fn a_silence_longer_than_the_gap_or_another_interface_starts_a_new_session() {
    let lines = [
        slider(0.0, 0, "iOS", "hue", 0.1),
        slider(100.0, 0, "iOS", "hue", 0.2), // within 2 min: same session
        slider(300.0, 0, "iOS", "hue", 0.3), // 200 s later: a new one
        slider(301.0, 0, "web", "hue", 0.4), // another interface: a new one, with a login
    ];
    let (actions, stats) = play(&lines, &opts(1.0, 1));
    assert_eq!(kinds(&actions), ["set", "set", "end", "set", "end", "login", "set", "end"]);
    let at: Vec<u64> = actions.iter().map(|a| a.at.as_secs()).collect();
    assert_eq!(at, [0, 100, 100, 300, 300, 301, 301, 301], "each end right after its session's last event");
    assert_eq!(stats.sessions, [1, 2, 0]);
}

#[test]
fn the_duration_bounds_the_replay() {
    let lines: Vec<String> = (0..10).map(|i| slider(f64::from(i) * 10.0, 0, "iOS", "hue", 0.1)).collect();
    let o = Options { duration: Duration::from_secs(5), ..opts(10.0, 1) };
    let (actions, stats) = play(&lines, &o);
    assert_eq!(actions.len(), 5, "events at 0..40 s recorded are due before 5 s at speed 10");
    assert!(stats.cut_by_duration);
    assert!(actions.iter().all(|a| a.at < o.duration));
}

#[test]
fn a_reconnect_is_offline_for_the_recorded_time_or_what_is_known() {
    let dev = r#""device_id":"1e0000000000""#;
    let lines = [
        ev(0.0, "LAMPI Disconnected", dev),
        ev(30.0, "LAMPI Connected", dev),
        ev(1000.0, "LAMPI Disconnected", dev),
        ev(1200.0, "LAMPI Disconnected", r#""device_id":"1e0000000001""#),
        ev(1500.0, "LAMPI Connected", dev), // read after 1200, past the look-ahead: the reconnect was played by then
    ];
    let (actions, stats) = play(&lines, &opts(10.0, 1));
    let offline: Vec<Duration> = actions
        .iter()
        .map(|a| match a.kind {
            ActionKind::Reconnect { offline } => offline,
            _ => panic!("{a:?}"),
        })
        .collect();
    assert_eq!(offline[0], Duration::from_secs(3), "30 s recorded at speed 10");
    assert_eq!(offline[1], Duration::from_secs(20), "200 s known offline when it was played");
    assert_eq!((stats.played.reconnects, stats.offline_cut, stats.connects), (3, 2, 2));
    assert!(actions.iter().all(|a| a.session == NO_SESSION && a.interface.is_none()));
}

#[test]
fn events_out_of_order_are_sorted_within_the_look_ahead_and_counted_beyond_it() {
    let lines = [
        slider(0.0, 0, "iOS", "hue", 0.1),
        slider(50.0, 1, "iOS", "hue", 0.2),
        slider(40.0, 2, "iOS", "hue", 0.3), // 10 s early: sorted in place
        slider(500.0, 3, "iOS", "hue", 0.4),
        slider(45.0, 4, "iOS", "hue", 0.5), // read after 0..50 were played: played late, at 50
    ];
    let (actions, stats) = play(&lines, &opts(1.0, 8));
    let sets: Vec<(u32, u64)> = actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::SetConfig(_)))
        .map(|a| (a.lamp, a.at.as_secs()))
        .collect();
    assert_eq!(sets, [(0, 0), (2, 40), (1, 50), (4, 50), (3, 500)]);
    assert_eq!(stats.out_of_order, 1);
    assert!(actions.windows(2).all(|w| w[0].at <= w[1].at), "nondecreasing");
}

#[test]
fn bad_traces_fail_before_the_run_and_say_why() {
    let missing = Replay::open(Path::new("/nonexistent/trace.jsonl"), Format::Auto, &opts(1.0, 1));
    assert!(matches!(missing, Err(ReplayError::Open { .. })));
    let empty = trace(&["  ".into()]);
    let err = Replay::open(empty.path(), Format::Auto, &opts(1.0, 1)).err().unwrap();
    assert!(matches!(&err, ReplayError::Data { source, .. } if matches!(**source, DeriveError::Empty(_))), "{err:?}");
    let chain = format!("{:#}", anyhow::Error::from(err));
    assert!(chain.contains("--replay") && chain.contains("empty"), "{chain}");
    let keen = trace(&[r#"{"ui": [{"keen": {"timestamp": "2026-09-22T00:05:09.747Z"}, "lampi""#.into()]);
    let err = Replay::open(keen.path(), Format::Auto, &opts(1.0, 1)).err().unwrap();
    assert!(
        matches!(&err, ReplayError::Data { source, .. } if matches!(**source, DeriveError::Truncated { .. })),
        "{err}"
    );
    let not_events = trace(&[ev(0.0, "Something Else", "")]);
    let err = Replay::open(not_events.path(), Format::Mixpanel, &opts(1.0, 1)).err().unwrap();
    assert!(
        matches!(&err, ReplayError::Data { source, .. } if matches!(**source, DeriveError::NoEvents { .. })),
        "{err}"
    );
}

#[test]
fn malformed_lines_are_skipped_and_counted() {
    let lines = [slider(0.0, 0, "iOS", "hue", 0.1), "{not json".into(), slider(1.0, 0, "iOS", "hue", 0.2)];
    let (actions, stats) = play(&lines, &opts(1.0, 1));
    assert_eq!(stats.played.set_config, 2);
    assert_eq!((stats.records, stats.bad), (3, 1));
    assert!(stats.to_string().contains("line 2"), "{stats}");
    assert_eq!(actions.len(), 3);
}

/// Recorded controls by interface (web + app, touchscreen) and page views, counted straight from the export.
fn mixpanel_counts(path: &Path) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let (mut set, mut changed, mut pages) = (0, 0, 0);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match (v["event"].as_str().unwrap(), v["properties"]["interface"].as_str()) {
            ("Slider Change" | "Toggle Power", Some("lampi")) => changed += 1,
            ("Slider Change" | "Toggle Power", _) => set += 1,
            ("LAMPI List" | "LAMPI Detail" | "Page View", _) => pages += 1,
            _ => {}
        }
    }
    (set, changed, pages)
}

#[test]
fn the_mixpanel_sample_plays_every_recorded_control_in_order() {
    let Some(path) = sample("analytics-mixpanel.jsonl") else { return };
    let t = std::time::Instant::now();
    let r = Replay::open(&path, Format::Auto, &opts(3600.0, 16)).unwrap();
    let progress = r.progress();
    let mut last = Duration::ZERO;
    let mut n = 0u64;
    for a in r {
        assert!(a.at >= last, "{a:?} before {last:?}");
        assert!(a.lamp < 16);
        last = a.at;
        n += 1;
    }
    let took = t.elapsed();
    let s = progress.lock().unwrap().clone();
    eprintln!(
        "{s}\n{n} actions from {} records in {took:?} ({:.0} records/s)",
        s.records,
        s.records as f64 / took.as_secs_f64()
    );
    let (set, changed, pages) = mixpanel_counts(&path);
    assert_eq!((s.played.set_config, s.played.device_changed), (set, changed));
    assert_eq!(s.played.pages.iter().sum::<u64>(), pages);
    assert_eq!(s.played.logins, s.sessions[Interface::Web.index()]);
    assert_eq!(s.played.session_ends, s.sessions.iter().sum::<u64>());
    assert_eq!((s.bad, s.out_of_order, s.recorded_lamps), (0, 0, 30));
    assert_eq!(s.played.reconnects, 8);
    assert_eq!(n, s.actions());
    assert!(!s.cut_by_duration && s.error.is_none());
}

#[test]
fn the_keen_sample_plays_its_attributed_controls() {
    let Some(path) = sample("analytics-keen.json") else { return };
    let r = Replay::open(&path, Format::Auto, &opts(3600.0, 20)).unwrap();
    let progress = r.progress();
    let actions: Vec<Action> = r.collect();
    let s = progress.lock().unwrap().clone();
    assert_eq!(s.format, "keen");
    assert_eq!(s.unattributed, 0);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let ui = v["ui"].as_array().unwrap();
    let lamp_ui = ui.iter().filter(|e| e["lampi"]["ui"] == "lampi").count() as u64;
    assert_eq!(s.played.set_config + s.played.device_changed, ui.len() as u64);
    assert_eq!(s.played.device_changed, lamp_ui);
    assert_eq!(s.played.pages.iter().sum::<u64>(), v["pageviews"].as_array().unwrap().len() as u64);
    assert!(actions.windows(2).all(|w| w[0].at <= w[1].at));
}
