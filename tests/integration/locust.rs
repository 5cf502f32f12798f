//! `lampi-agent loadtest --locust-master` workers under a real Locust 2.47 master (tests/support/locust.rs), against
//! the real mosquitto and Django site: joining, ramping, the master's CSV against the workers' own run folders, a
//! stop from the web UI, a master killed and restarted on the same port.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::django::{DjangoSite, SiteOptions};
use crate::support::locust::{csv_counts, split_csv, LocustMaster, Mode, Worker};
use crate::support::Mosquitto;

const SMOKE: &str = include_str!("../../config/profiles/smoke.toml");
const MINUTE: Duration = Duration::from_secs(60);

/// The smoke profile without connection churn (a lamp that is away cannot answer: a real failure, not wanted here).
fn steady(dir: &Path) -> PathBuf {
    let text = SMOKE.replace("per_hour = 180", "per_hour = 0");
    assert_ne!(text, SMOKE, "smoke.toml's churn line changed; update this test");
    let p = dir.join("steady.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Per (Type, Name): requests a worker's run folder recorded in all, and in its last `tail` seconds.
fn folder_counts(w: &Worker, tail: f64) -> HashMap<(String, String), (u64, u64)> {
    let all = csv_counts(&w.file("lampi_stats.csv"));
    // `_stats_history.csv`: Timestamp, User Count, Type, Name, ..., Total Request Count (column 17).
    let history = w.file("lampi_stats_history.csv");
    let rows: Vec<Vec<String>> = history.lines().skip(1).map(split_csv).collect();
    let end: f64 = rows.iter().map(|r| r[0].parse::<f64>().unwrap()).fold(0.0, f64::max);
    let mut before = HashMap::new();
    for r in rows.iter().filter(|r| r[0].parse::<f64>().unwrap() <= end - tail) {
        before.insert((r[2].clone(), r[3].clone()), r[17].parse::<u64>().unwrap());
    }
    all.into_iter().map(|(k, (n, _))| (k.clone(), (n, n - before.get(&k).copied().unwrap_or(0)))).collect()
}

#[test]
fn two_workers_ramp_under_a_headless_master_whose_csv_counts_what_their_folders_record() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let profile = steady(dir.path());
    let headless = Mode::Headless { workers: 2, users: 4, rate: 1.0, run_time: "12s".into() };
    let mut master = LocustMaster::start(headless);
    let args = |first: &'static str| {
        vec!["--profile", profile.to_str().unwrap(), "--devices", "3", "--first-lamp", first, "--rate", "2"]
    };
    let mut workers: Vec<Worker> = [("a", "0"), ("b", "3")]
        .iter()
        .map(|(name, first)| {
            Worker::start(&dir.path().join(name), &master, broker.port(), &site.base_url(), &args(first))
        })
        .collect();
    master.wait_log("All users spawned", MINUTE);
    let st = master.wait_exit(2 * MINUTE);
    for w in &mut workers {
        let st = w.wait_exit(MINUTE);
        assert!(st.success(), "the master's quit ends a worker's run with 0: {st}\n{}", w.log());
        assert!(w.stdout().contains("results in"), "the run's summary:\n{}", w.stdout());
        assert!(w.file("summary.json").contains("\"ending\": \"completed\""));
    }
    assert!(st.success(), "the master saw no failure: {st}\n{}", master.log());
    // Both joined and ramped (-r 1 below -u 4): targets grew one by one, to 2 lamps each.
    assert!(master.log().contains(r#"All users spawned: {"LampiUser": 4} (4 total users)"#), "{}", master.log());
    for w in &workers {
        let spawns = w.spawns();
        assert_eq!(spawns.last(), Some(&2), "{spawns:?}\n{}", w.log());
        assert!(spawns.windows(2).all(|p| p[0] <= p[1]) && spawns[0] < 2, "a ramp: {spawns:?}");
    }
    // The master's counts are the sum of the workers' own, less at most what they did in the last interval the
    // master had no time to write (its CSV is rewritten every second, not at shutdown; reports come every 3 s).
    let theirs = master.stats();
    let folders: Vec<_> = workers.iter().map(|w| folder_counts(w, 5.0)).collect();
    let mut ours: HashMap<(String, String), (u64, u64)> = HashMap::new();
    for f in &folders {
        for (k, (n, tail)) in f {
            let e = ours.entry(k.clone()).or_default();
            e.0 += n;
            e.1 += tail;
        }
    }
    for name in ["/login/", "roundtrip", "publish set_config", "connect"] {
        assert!(ours.keys().any(|(_, n)| n == name), "{name} in the workers' folders: {ours:?}");
    }
    for (key, (n, tail)) in &ours {
        let (got, failures) = theirs.get(key).copied().unwrap_or_else(|| panic!("{key:?} not in the master's CSV"));
        eprintln!("{key:?}: master {got}, workers {n} ({tail} in their last 5 s)");
        assert!(got <= *n && got + tail >= *n, "{key:?}: master {got}, workers {n} ({tail} in the last 5 s)");
        assert_eq!(failures, 0, "{key:?}");
    }
    let agg = theirs[&(String::new(), "Aggregated".to_string())];
    let total: u64 = ours.iter().filter(|(k, _)| k.1 != "Aggregated").map(|(_, v)| v.0).sum();
    assert!(agg.0 > 0 && agg.0 <= total && agg.1 == 0, "Aggregated {agg:?} of {total}");
}

#[test]
fn a_worker_without_site_sends_its_web_sessions_to_the_masters_host() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let profile = steady(dir.path());
    let headless = Mode::Headless { workers: 1, users: 2, rate: 2.0, run_time: "10s".into() };
    let base = site.base_url();
    let mut master = LocustMaster::start_with(headless, &["--host", &base]);
    // Its own config names a site where nothing listens: every request would fail there.
    let args = ["--profile", profile.to_str().unwrap(), "--devices", "2", "--rate", "4", "--seed", "3"];
    let mut w = Worker::without_site(&dir.path().join("w"), &master, broker.port(), "http://127.0.0.1:1/", &args);
    let st = w.wait_exit(2 * MINUTE);
    assert!(st.success(), "{st}\n{}", w.log());
    master.wait_exit(MINUTE);
    let log = w.log();
    let followed = format!("web sessions go to the Locust master's --host {}", base.trim_end_matches('/'));
    assert!(log.contains(&followed), "{log}");
    assert!(log.contains("preflight: the web site is not checked"), "{log}");
    let counts = csv_counts(&w.file("lampi_stats.csv"));
    let web: Vec<_> = counts.iter().filter(|((kind, _), _)| kind == "GET" || kind == "POST").collect();
    assert!(
        web.iter().any(|((_, name), (n, _))| name == "/login/" && *n > 0),
        "logins at the master's host: {counts:?}"
    );
    for ((kind, name), (n, failures)) in web {
        assert_eq!(*failures, 0, "{kind} {name}: {failures} of {n} failed\n{log}");
    }
}

#[test]
fn a_stop_leaves_workers_ready_and_a_killed_master_stops_them_until_its_successor_takes_them_back() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let profile = steady(dir.path());
    let mut master = LocustMaster::start(Mode::Web);
    let args =
        ["--profile", profile.to_str().unwrap(), "--devices", "2", "--first-lamp", "0", "--locust-silence", "4s"];
    let mut w = Worker::start(&dir.path().join("w"), &master, broker.port(), &site.base_url(), &args);
    let worker_state = |m: &LocustMaster| {
        let r = m.requests();
        let ws = r["workers"].as_array().cloned().unwrap_or_default();
        ws.first().map(|w| (w["state"].as_str().unwrap_or("").to_string(), w["user_count"].as_u64().unwrap_or(0)))
    };
    let wait_state = |m: &LocustMaster, want: (&str, u64)| {
        crate::support::poll_until(MINUTE, &format!("the worker {want:?} in the web UI"), || {
            worker_state(m).is_some_and(|(s, n)| s == want.0 && n == want.1)
        });
    };
    wait_state(&master, ("ready", 0));
    master.swarm(2, 2.0);
    wait_state(&master, ("running", 2));
    let r = master.requests();
    assert!(r["workers"][0]["memory_usage"].as_u64().unwrap() > 0, "heartbeats carry our memory: {r}");
    crate::support::poll_until(MINUTE, "our requests in the web UI", || {
        master.requests()["stats"].as_array().is_some_and(|s| s.iter().any(|e| e["name"] == "/login/"))
    });
    // Stop from the UI: the lamps stop, the worker is ready for the next swarm.
    master.stop_swarm();
    w.wait_log("the Locust master stopped the load; ready again", MINUTE);
    wait_state(&master, ("ready", 0));
    // The master dies without a word: after --locust-silence the worker stops its load, and says so.
    master.kill();
    w.wait_log("no word from the Locust master for 4s: load stopped", MINUTE);
    // A new master on the same port takes the worker back, and can run it.
    master.restart();
    wait_state(&master, ("ready", 0));
    master.swarm(2, 2.0);
    wait_state(&master, ("running", 2));
    let spawns = w.spawns();
    assert!(spawns.len() >= 2 && spawns.last() == Some(&2), "both masters' targets: {spawns:?}");
    assert!(w.file("run.json").contains(&format!("\"locust_master\": \"127.0.0.1:{}\"", master.port)));
    // Ended by a signal, the run's files are complete.
    w.signal(libc::SIGINT);
    let st = w.wait_exit(MINUTE);
    assert_eq!(st.code(), Some(130), "{}", w.log());
    let summary = w.file("summary.json");
    assert!(summary.contains("\"ending\": \"interrupted\""), "{summary}");
    let stats = csv_counts(&w.file("lampi_stats.csv"));
    assert!(stats.keys().any(|k| k.1 == "/login/"), "{stats:?}");
}

/// `ansible-playbook` from the test venv, run in deploy/ansible with its own ANSIBLE_HOME; (success, output).
fn playbook(tmp: &Path, args: &[&str]) -> (bool, String) {
    let venv = std::env::var_os("LAMPI_TEST_VENV").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is not set")).join(".cache/lampi-agent/venv")
    });
    let out = std::process::Command::new(venv.join("bin/ansible-playbook"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ansible"))
        .env("ANSIBLE_HOME", tmp.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", tmp.join("ansible-tmp"))
        .env("ANSIBLE_REMOTE_TEMP", tmp.join("ansible-tmp"))
        .env("ANSIBLE_ASYNC_DIR", tmp.join("ansible-async"))
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .expect("run ansible-playbook");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_loadtest_playbook_joins_every_lamp_to_the_master_and_merges_their_runs() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let profile = steady(tmp.path());
    let headless = Mode::Headless { workers: 2, users: 2, rate: 2.0, run_time: "6s".into() };
    let mut master = LocustMaster::start(headless);
    let config = tmp.path().join("lampi.toml");
    let text = format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n[web]\nurl = \"{}\"\n[led]\nbackend = \"sim\"\n",
        broker.port(),
        site.base_url()
    );
    std::fs::write(&config, text).unwrap();
    let (runs, inv) = (tmp.path().join("runs"), tmp.path().join("inventory.yml"));
    let vars = [
        "ansible_connection: local".to_string(),
        "ansible_python_interpreter: \"{{ ansible_playbook_python }}\"".into(),
        format!("lampi_loadtest_bin: {}", crate::support::lamp::BIN),
        format!("lampi_loadtest_config: {}", config.display()),
        format!("lampi_loadtest_dir: {}", tmp.path().join("on-lamps").display()),
        format!("lampi_controller_bin: {}", crate::support::lamp::BIN),
        format!("lampi_runs_dir: {}", runs.display()),
        format!("lampi_profile: {}", profile.display()),
        "lampi_loadtest_args: [--responder, internal]".into(),
        format!("lampi_locust_master: 127.0.0.1:{}", master.port),
        "lampi_duration_s: 300".into(),
    ];
    let hosts = "lamps:\n  hosts:\n    lamp-a: {lampi_first_lamp: 0}\n    lamp-b: {lampi_first_lamp: 1}\n  vars:\n";
    let vars: String = vars.iter().map(|v| format!("    {v}\n")).collect();
    std::fs::write(&inv, format!("{hosts}{vars}")).unwrap();
    let (ok, out) = playbook(tmp.path(), &["-i", inv.to_str().unwrap(), "loadtest.yml", "-e", "lampi_run_id=t"]);
    assert!(ok, "{out}\n{}", master.log());
    assert!(out.contains("fleet: 2 run(s), 2 lamp(s) simulated"), "{out}");
    assert!(master.wait_exit(MINUTE).success(), "{}", master.log());
    assert!(master.log().contains("2 workers connected"), "{}", master.log());
    for lamp in ["lamp-a", "lamp-b"] {
        let run = std::fs::read_to_string(runs.join("t").join(lamp).join("run.json")).unwrap();
        assert!(run.contains(&format!("\"locust_master\": \"127.0.0.1:{}\"", master.port)), "{run}");
        let summary = std::fs::read_to_string(runs.join("t").join(lamp).join("summary.json")).unwrap();
        assert!(summary.contains("\"ending\": \"completed\""), "ended by the master's quit: {summary}");
    }
    assert!(runs.join("t/fleet/report.html").is_file());
}
