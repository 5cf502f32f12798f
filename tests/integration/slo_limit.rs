//! SLOs and `--find-limit` against the real mosquitto and Django test site: exit codes, verdicts in every output,
//! the stepped search's capacity and reason, and a knee the test site is built to have.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::django::{DjangoSite, SiteOptions};
use crate::support::lamp::run_cli;
use crate::support::loadrun::loadtest;
use crate::support::Mosquitto;

const SMOKE: &str = include_str!("../../config/profiles/smoke.toml");

/// The smoke profile without churn (an away lamp cannot answer) and with `extra` top-level keys.
fn steady(dir: &Path, extra: &str) -> PathBuf {
    let text = SMOKE
        .replace("per_hour = 180", "per_hour = 0")
        .replace("max_actions = 20\n", &format!("max_actions = 20\n{extra}\n"));
    assert!(!text.contains("per_hour = 180"), "smoke.toml's churn line changed; update this test");
    let p = dir.join("steady.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Web sessions only, each a login and one list page (three requests), 600 an hour per lamp: short sessions whose
/// number grows with --rate, so offered load steps cleanly.
fn logins(dir: &Path) -> PathBuf {
    let start = SMOKE.find("[chain.web]").unwrap();
    let end = SMOKE.find("[chain.app]").unwrap();
    let web = "[chain.web]\nstart = { login = 1 }\nlogin = { list = 1 }\nlist = { end = 1 }\n\n";
    let text = format!("{}{web}{}", &SMOKE[..start], &SMOKE[end..])
        .replace("web = 0.5\napp = 0.25\nlamp_ui = 0.25", "web = 1\napp = 0\nlamp_ui = 0")
        .replace(" = 720\n", " = 600\n")
        .replace("per_hour = 180", "per_hour = 0");
    assert!(text.contains("web = 1\n") && text.contains("= 600\n"), "smoke.toml changed; update this test");
    let p = dir.join("logins.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn an_slo_that_holds_exits_0_and_one_that_cannot_exits_99() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: 6, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let profile = steady(dir.path(), "slo = [\"failures < 50%\"]");
    let p = profile.to_str().unwrap();
    let base = ["--profile", p, "--devices", "6", "--duration", "4s", "--seed", "3"];

    let held = loadtest(dir.path(), &broker, &site, &[&base[..], &["--slo", "roundtrip p99 < 60s"]].concat());
    assert_eq!(held.code, 0, "{}", held.stderr);
    assert!(held.stdout.contains("SLOs: 2 of 2 held"), "{}", held.stdout);
    assert!(held.stdout.contains("PASS  failures < 50%  measured"), "the profile's SLO is judged:\n{}", held.stdout);
    assert!(held.file("summary.txt").contains("PASS  roundtrip p99 < 60s  measured"));
    let slos = held.json("summary.json")["slos"].clone();
    assert_eq!(slos.as_array().unwrap().len(), 2, "{slos}");
    assert_eq!(slos[1]["verdict"], "PASS");
    assert!(slos[1]["measured"].as_f64().unwrap() > 0.0 && slos[1]["samples"].as_u64().unwrap() > 0, "{slos}");
    assert_eq!(held.json("run.json")["slos"][1], "roundtrip p99 < 60s");

    let file = dir.path().join("gate.slo");
    std::fs::write(&file, "# cannot hold: a loopback round trip takes more than a microsecond\nroundtrip p99 < 1us\n")
        .unwrap();
    let broke = loadtest(dir.path(), &broker, &site, &[&base[..], &["--slo-file", file.to_str().unwrap()]].concat());
    assert_eq!(broke.code, 99, "a failed SLO exits 99\n{}\n{}", broke.stdout, broke.stderr);
    assert!(broke.stdout.contains("FAIL  roundtrip p99 < 1us  measured"), "{}", broke.stdout);
    let slos = broke.json("summary.json")["slos"].clone();
    assert_eq!((slos[1]["verdict"].as_str(), slos[1]["limit"].as_f64()), (Some("FAIL"), Some(0.001)), "{slos}");
    assert!(slos[1]["measured"].as_f64().unwrap() > 0.001);
    assert_eq!(broke.json("summary.json")["ending"], "completed", "the run itself completed");

    let (code, _, err) = run_cli(&["loadtest", "--slo", "roundtrip p99 > 1s"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("\">\" is not supported"), "{err}");
    std::fs::write(&file, "failures < 1%\nroundtrip p99 < 100\n").unwrap();
    let (code, _, err) = run_cli(&["loadtest", "--slo-file", file.to_str().unwrap(), "--dry-run"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("gate.slo:2:") && err.contains("limit \"100\""), "{err}");
}

fn steps_csv(out: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(out.join("steps.csv")).unwrap();
    text.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

#[test]
fn find_limit_against_mosquitto_stops_with_a_capacity_and_a_reason() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: 8, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let profile = steady(dir.path(), "");
    let args =
        ["--profile", profile.to_str().unwrap(), "--devices", "8", "--seed", "3", "--find-limit", "--step-rate", "4"];
    let more = ["--step-duration", "3s", "--settle", "1s", "--max-steps", "3", "--slo", "roundtrip p99 < 30s"];
    let run = loadtest(dir.path(), &broker, &site, &[&args[..], &more[..]].concat());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let limit = run.json("limit.json");
    let steps = steps_csv(&run.out);
    let n = steps.len();
    assert!((1..=3).contains(&n), "{steps:?}");
    let reason = limit["reason"].as_str().unwrap();
    match reason {
        "max_steps" => assert!(n == 3 && steps.iter().all(|s| s[12] == "PASS"), "{steps:?}"),
        "slo_failed" => assert_eq!(steps[n - 1][12], "FAIL"),
        "generator_saturated" => assert_eq!(steps[n - 1][12], "SATURATED"),
        other => panic!("unexpected reason {other}"),
    }
    let cap = limit["capacity_step"].as_u64().expect("a capacity") as usize;
    assert_eq!(steps[cap - 1][12], "PASS");
    assert!(run.stdout.contains(&format!("capacity: step {cap}: rate ")), "{}", run.stdout);
    assert!(run.stdout.contains("stopped: "), "{}", run.stdout);
    // The rate grew by the factor; each step's folder is a whole run; the merged timeline covers them all.
    let rates: Vec<f64> = steps.iter().map(|s| s[1].parse().unwrap()).collect();
    assert_eq!(rates, [1.0, 4.0, 16.0][..n]);
    for (i, s) in steps.iter().enumerate() {
        let step = run.out.join(format!("step-{:02}", i + 1));
        assert!(step.join("latency.hlog").is_file() && step.join("summary.json").is_file());
        assert!(s[3].parse::<i64>().unwrap() <= s[4].parse::<i64>().unwrap(), "a time span: {s:?}");
        assert!(s[5].parse::<f64>().unwrap() > 0.0, "offered load: {s:?}");
    }
    let merged: u64 = run.json("summary.json")["results"]["aggregated"]["count"].as_u64().unwrap();
    let per_step: u64 = (1..=n)
        .map(|i| {
            json(&run.out.join(format!("step-{i:02}/summary.json")))["results"]["aggregated"]["count"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(merged, per_step, "every step's samples are in the run folder's timeline");
    assert_eq!(run.json("summary.json")["limit"]["capacity_step"].as_u64(), Some(cap as u64));
    assert!(run.file("summary.txt").starts_with("find-limit: "));

    let page = dir.path().join("limit.html");
    let (code, _, err) = run_cli(&["report", "plot", run.out.to_str().unwrap(), "--out", page.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    for chart in ["limit-throughput", "limit-latency", "latency-MQTT-roundtrip", "distribution-MQTT-roundtrip"] {
        assert!(html.contains(&format!("data-chart=\"{chart}\"")), "{chart} missing");
    }
    assert!(html.contains("capacity (every SLO held)"), "the capacity is marked");
    assert!(html.contains("SLO roundtrip p99 &lt; 30s"), "the SLO is drawn as a line");
}

#[test]
fn find_limit_finds_the_knee_of_a_site_that_slows_past_a_rate() {
    // Each request sleeps 50 ms per request in flight: the site serves at most 20 requests/s (Little's law).
    // 10 lamps offer about 5 requests/s at --rate 1 (a quarter of it) and about 40/s at rate 8 (twice it):
    // the known knee is step 1, with no step near the limit, so the machine's own noise cannot move it. (Measured
    // here: step 1 p99 about 160 ms, step 2 about 5 s.)
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: 10, slow_per_concurrent: Some(0.05), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let profile = logins(dir.path());
    let args = ["--profile", profile.to_str().unwrap(), "--devices", "10", "--find-limit", "--step-rate", "8"];
    let more = ["--step-duration", "5s", "--settle", "2s", "--max-steps", "3", "--timeout", "3s"];
    let run =
        loadtest(dir.path(), &broker, &site, &[&args[..], &more[..], &["--slo", "GET /lampi/ p99 < 1s"]].concat());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let limit = run.json("limit.json");
    assert_eq!(limit["reason"], "slo_failed", "the site's limit, not the generator's:\n{}", run.stdout);
    let cap = limit["capacity_step"].as_u64().expect("a capacity") as i64;
    assert!((cap - 1).abs() <= 1, "capacity at step {cap}, the known knee is step 1:\n{}", run.stdout);
    let knee = limit["knee_step"].as_u64().expect("the curve bends") as i64;
    assert!((knee - 1).abs() <= 1, "knee at step {knee}:\n{}", run.stdout);
    let broke = limit["first_broken_step"].as_u64().unwrap() as i64;
    assert!((broke - 2).abs() <= 1 && broke > cap, "first broken step {broke}:\n{}", run.stdout);
    assert!(run.stdout.contains("FAIL  GET /lampi/ p99 < 1s  measured"), "what broke is said:\n{}", run.stdout);
    let offered: Vec<f64> = steps_csv(&run.out).iter().map(|s| s[5].parse().unwrap()).collect();
    assert!(offered[1] > 4.0 * offered[0], "the load grew by the factor: {offered:?}");
}

#[test]
fn find_limit_can_step_devices_and_needs_an_slo() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: 9, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let profile = steady(dir.path(), "");
    let file = dir.path().join("gates.slo");
    std::fs::write(&file, "roundtrip p99 < 30s\n").unwrap();
    let p = profile.to_str().unwrap();
    let args = ["--profile", p, "--devices", "6", "--seed", "3", "--find-limit", "--step-devices", "3"];
    let more = ["--step-duration", "3s", "--settle", "1s", "--max-steps", "2", "--slo-file", file.to_str().unwrap()];
    let run = loadtest(dir.path(), &broker, &site, &[&args[..], &more[..]].concat());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let devices: Vec<u32> = steps_csv(&run.out).iter().map(|s| s[2].parse().unwrap()).collect();
    assert_eq!(devices, [6, 9], "+3 devices a step, two steps:\n{}", run.stdout);
    assert_eq!(run.json("limit.json")["reason"], "max_steps");
    assert!(run.stdout.contains("capacity: step 2: rate 1 x 9 devices"), "{}", run.stdout);
    let (code, _, err) = run_cli(&["loadtest", "--profile", p, "--find-limit", "--dry-run"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--find-limit: needs at least one SLO"), "{err}");
}
