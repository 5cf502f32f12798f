//! `lampi-agent loadtest --replay`: the first hours of the shared Mixpanel sample, compressed 3600 times, replayed
//! against a real mosquitto and the Django test site; every recorded control and page view must be sent, and late
//! events counted, not dropped.

use std::path::{Path, PathBuf};

use crate::support::django::{DjangoSite, SiteOptions};
use crate::support::loadrun::{loadtest, schedule_rows, Sent};
use crate::support::Mosquitto;

const SPEED: f64 = 3600.0;
const SECONDS: u64 = 8;
const DEVICES: u32 = 16;

/// What the export records in its first `span` seconds: controls on web and apps (each a set_config), controls
/// on lamps (each a lamp/changed), list and detail page views.
fn recorded(path: &Path, span: f64) -> Sent {
    let text = std::fs::read_to_string(path).unwrap();
    let mut r = Sent::default();
    let mut t0 = None;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = v["properties"]["time"].as_f64().unwrap();
        let t0 = *t0.get_or_insert(t);
        if t - t0 >= span {
            break; // the export is in time order
        }
        match (v["event"].as_str().unwrap(), v["properties"]["interface"].as_str()) {
            ("Slider Change" | "Toggle Power", Some("lampi")) => r.changed += 1,
            ("Slider Change" | "Toggle Power", _) => r.set_config += 1,
            ("LAMPI List", _) => r.list += 1,
            ("LAMPI Detail", _) => r.detail += 1,
            _ => {}
        }
    }
    r
}

#[test]
fn a_replayed_trace_sends_every_recorded_event() {
    let export = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/analytics-mixpanel.jsonl");
    if !export.is_file() {
        eprintln!("SKIPPED: the sample export {} is absent", export.display());
        return;
    }
    let want = recorded(&export, SECONDS as f64 * SPEED);
    assert!(want.set_config > 100 && want.changed > 50 && want.list > 5, "too little to check: {want:?}");
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: DEVICES as usize, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("schedule.csv");
    let (speed, devices, duration) = (SPEED.to_string(), DEVICES.to_string(), format!("{SECONDS}s"));
    let run = loadtest(
        dir.path(),
        &broker,
        &site,
        &[
            "--replay",
            export.to_str().unwrap(),
            "--speed",
            &speed,
            "--devices",
            &devices,
            "--duration",
            &duration,
            "--schedule-csv",
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    eprintln!("{}\nthe replay run took {:?}", run.stdout, run.took);

    // Every recorded control was sent, each once: as set_config from web and app owners, as lamp/changed from lamps.
    let got = run.sent();
    assert_eq!(got, want, "sent (left) vs recorded (right) in the first {} s of the trace", SECONDS as f64 * SPEED);
    let stats = run.stats();
    let failures: u64 = stats.iter().filter(|((_, n), _)| n != "Aggregated").map(|(_, (_, f))| f).sum();
    assert_eq!(failures, 0, "{}", run.file("lampi_failures.csv"));

    // The schedule log agrees, and recorded lamps fold onto the virtual ones.
    let rows = schedule_rows(&csv);
    assert_eq!(rows.iter().filter(|r| r.action == "set_config").count() as u64, want.set_config);
    assert!(rows.iter().all(|r| r.lamp < DEVICES && r.at < SECONDS as f64));
    assert!(rows.windows(2).all(|w| w[0].at <= w[1].at));

    // Late events are counted and reported, not dropped.
    let summary = run.json("summary.json");
    let late = summary["late_actions"].as_u64().unwrap();
    let replay = &summary["replay"];
    assert_eq!(replay["played"]["set_config"], want.set_config);
    assert_eq!(summary["actions"]["set_config"], want.set_config, "every played set_config was done");
    assert_eq!(summary["not_started"], 0);
    assert_eq!(summary["dispatched"].as_u64().unwrap(), rows.len() as u64);
    let text = run.file("summary.txt");
    assert!(text.contains(&format!("late: {late} replayed events")), "{text}");
    assert!(text.contains("Replay of") && text.contains("recorded lamp k plays on lamp k mod 16"), "{text}");
    assert_eq!(run.json("run.json")["replay"]["format"], "mixpanel");
}
