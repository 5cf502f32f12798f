//! `lampi-agent loadtest` against the real mosquitto and the Django test site: files, counts, failures, honest
//! timing, interruption, determinism, preflight.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::django::{DjangoSite, SiteOptions};
use crate::support::lamp::{run_cli, BIN};
use crate::support::loadrun::pages_profile;
use crate::support::{poll_until, Mosquitto};

const SMOKE: &str = include_str!("../../config/profiles/smoke.toml");

/// The smoke profile without connection churn (a lamp that is away cannot answer, which is a real failure).
fn steady_profile(dir: &Path) -> PathBuf {
    let text = SMOKE.replace("per_hour = 180", "per_hour = 0");
    assert_ne!(text, SMOKE, "smoke.toml's churn line changed; update this test");
    let p = dir.join("steady.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn config(dir: &Path) -> PathBuf {
    let p = dir.join("lampi.toml");
    std::fs::write(&p, format!("[led]\nbackend = \"sim\"\n[state]\ndir = \"{}\"\n", dir.join("state").display()))
        .unwrap();
    p
}

fn load(dir: &Path, broker: u16, site: &str, out: &str, extra: &[&str]) -> (i32, String, String) {
    let cfg = config(dir);
    let out = dir.join(out);
    let broker = format!("127.0.0.1:{broker}");
    let mut args = vec!["loadtest", "--config", cfg.to_str().unwrap(), "--broker", &broker, "--site", site];
    args.extend(["--out", out.to_str().unwrap(), "--seed", "3"]);
    args.extend(extra);
    run_cli(&args, &[])
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

fn summary(out: &Path) -> Value {
    serde_json::from_str(&read(&out.join("summary.json"))).unwrap()
}

fn op<'a>(s: &'a Value, kind: &str, name: &str) -> &'a Value {
    s["results"]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind && o["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {s}"))
}

/// Per-operation request counts from `latency.csv` (sadf framing: `;`, header starting `# `).
fn sadf_counts(text: &str) -> std::collections::BTreeMap<(String, String), u64> {
    let mut m = std::collections::BTreeMap::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split(';').collect();
        assert_eq!(f.len(), 26, "latency.csv row with {} fields: {l}", f.len());
        *m.entry((f[3].to_string(), f[4].to_string())).or_default() += f[5].parse::<u64>().unwrap();
    }
    m
}

#[test]
fn a_run_writes_every_file_and_the_counts_agree() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: 12, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let profile = steady_profile(dir.path());
    let (code, stdout, stderr) = load(
        dir.path(),
        broker.port(),
        &site.base_url(),
        "run",
        &["--profile", profile.to_str().unwrap(), "--devices", "10", "--duration", "6s", "--broker-sys"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("MQTT  roundtrip"), "summary table printed:\n{stdout}");
    let out = dir.path().join("run");
    for f in [
        "latency.csv",
        "latency.hlog",
        "system.csv",
        "broker.csv",
        "lampi_stats.csv",
        "lampi_stats_history.csv",
        "lampi_failures.csv",
        "summary.txt",
        "summary.json",
        "run.json",
        "profile.toml",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let latency = read(&out.join("latency.csv"));
    assert!(
        latency.starts_with("# hostname;interval;timestamp;type;name;count;failures;rate/s;lat_min_ms;"),
        "{latency}"
    );
    let system = read(&out.join("system.csv"));
    for h in [
        "# hostname;interval;timestamp;CPU;%user;%nice;%system;%iowait;%steal;%idle",
        "# hostname;interval;timestamp;kbmemfree;kbavail;kbmemused;%memused;",
        "# hostname;interval;timestamp;IFACE;rxpck/s;txpck/s;rxkB/s;txkB/s;",
        "# hostname;interval;timestamp;runq-sz;plist-sz;ldavg-1;ldavg-5;ldavg-15;blocked",
    ] {
        assert!(system.contains(h), "{h} missing from system.csv");
    }
    assert!(system.lines().any(|l| l.contains(";-1;")), "the CPU 'all' row is written -1");
    let broker_csv = read(&out.join("broker.csv"));
    assert!(broker_csv.lines().nth(1).is_some_and(|l| l.starts_with("127.0.0.1;1;")), "{broker_csv}");
    assert!(read(&out.join("lampi_stats.csv")).starts_with("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"));
    assert!(read(&out.join("lampi_stats_history.csv"))
        .starts_with("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,"));
    assert_eq!(
        read(&out.join("lampi_failures.csv")),
        "Method,Name,Error,Occurrences,First Seen,Last Seen\n",
        "good credentials: no failures"
    );
    let hlog = read(&out.join("latency.hlog"));
    assert!(
        hlog.contains("#[Histogram log format version 1.3]")
            && hlog.contains("#[StartTime: ")
            && hlog.contains("Tag=MQTT.roundtrip,")
    );

    // Counts agree between latency.csv, the Locust stats, the history and summary.json.
    let by_op = sadf_counts(&latency);
    let stats = csv_rows(&read(&out.join("lampi_stats.csv")));
    let s = summary(&out);
    assert_eq!(s["ending"], "completed");
    for row in stats.iter().filter(|r| r[1] != "Aggregated") {
        let key = (row[0].clone(), row[1].clone());
        let n: u64 = row[2].parse().unwrap();
        assert_eq!(by_op.get(&key).copied(), Some(n), "{key:?}: latency.csv vs stats.csv");
        assert_eq!(op(&s, &key.0, &key.1)["count"].as_u64(), Some(n), "{key:?}: summary.json vs stats.csv");
    }
    let history = csv_rows(&read(&out.join("lampi_stats_history.csv")));
    let hist_total: f64 = history.iter().filter(|r| r[3] == "Aggregated").map(|r| r[4].parse::<f64>().unwrap()).sum();
    let total: u64 = by_op.values().sum();
    assert!(
        hist_total > 0.0 && (hist_total - total as f64).abs() / total as f64 <= 0.05,
        "per-interval rates sum to the total: {hist_total} vs {total}"
    );
    // Every set_config came back as a lamp/changed.
    let published = op(&s, "MQTT", "publish set_config")["count"].as_u64().unwrap();
    assert!(published > 20, "enough traffic to mean something: {published}");
    assert_eq!(op(&s, "MQTT", "roundtrip")["count"].as_u64(), Some(published));
    assert_eq!(s["results"]["aggregated"]["failures"], 0);
    assert_eq!(s["not_started"], 0);
}

#[test]
fn wrong_passwords_and_a_stopped_site_are_named_failures_not_fatal() {
    let broker = Mosquitto::start();
    let mut site = DjangoSite::start(SiteOptions { users: 6, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let profile = pages_profile(dir.path());
    let p = profile.to_str().unwrap();
    let (code, _, err) = load(
        dir.path(),
        broker.port(),
        &site.base_url(),
        "wrong",
        &["--profile", p, "--devices", "3", "--duration", "3s", "--user-pattern", "nobody_{i}"],
    );
    assert_eq!(code, 0, "{err}");
    let failures = read(&dir.path().join("wrong/lampi_failures.csv"));
    let logins = op(&summary(&dir.path().join("wrong")), "POST", "/login/")["count"].as_u64().unwrap();
    assert!(logins > 0);
    assert!(failures.contains(&format!("POST,/login/,login: wrong password,{logins},")), "{failures}");
    assert!(failures.contains("GET,/lampi/,not logged in,"), "{failures}");

    let url = site.base_url();
    site.stop();
    let (code, _, err) = load(
        dir.path(),
        broker.port(),
        &url,
        "down",
        &["--profile", p, "--devices", "2", "--duration", "2s", "--no-preflight"],
    );
    assert_eq!(code, 0, "{err}");
    let failures = read(&dir.path().join("down/lampi_failures.csv"));
    assert!(failures.contains("GET,/login/,connection refused,"), "{failures}");
}

#[test]
fn a_site_that_keeps_csrf_in_the_session_still_logs_in() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: 4, csrf_use_sessions: true, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let profile = pages_profile(dir.path());
    let (code, _, err) = load(
        dir.path(),
        broker.port(),
        &site.base_url(),
        "run",
        &["--profile", profile.to_str().unwrap(), "--devices", "3", "--duration", "3s"],
    );
    assert_eq!(code, 0, "{err}");
    let s = summary(&dir.path().join("run"));
    assert!(op(&s, "POST", "/login/")["count"].as_u64().unwrap() > 0);
    assert_eq!(s["results"]["aggregated"]["failures"], 0, "{}", read(&dir.path().join("run/lampi_failures.csv")));
}

#[test]
fn a_stalled_site_shows_in_corrected_latency_but_not_in_service_time() {
    let broker = Mosquitto::start();
    // Request 15 (a page view a second or so into the run) takes one extra second.
    let site = DjangoSite::start(SiteOptions { users: 2, stall: Some((15, 1.0)), ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let profile = pages_profile(dir.path());
    let (code, _, err) = load(
        dir.path(),
        broker.port(),
        &site.base_url(),
        "run",
        &["--profile", profile.to_str().unwrap(), "--devices", "1", "--first-lamp", "1", "--duration", "8s"],
    );
    assert_eq!(code, 0, "{err}");
    let s = summary(&dir.path().join("run"));
    let agg = &s["results"]["aggregated"];
    let n = agg["count"].as_u64().unwrap();
    assert!(n >= 40, "a steady stream of requests: {n}");
    let lat95 = agg["latency_ms"]["p95"].as_f64().unwrap();
    let svc95 = agg["service_ms"]["p95"].as_f64().unwrap();
    let svc_max = agg["service_ms"]["max"].as_f64().unwrap();
    // The one stalled request is in the raw figures only as their maximum ...
    assert!(svc_max >= 900.0, "the stalled request itself: {svc_max} ms");
    // ... but every request the stall held back is late by up to a second from its intended start, so the corrected
    // p95 stands well above the raw one. Both are this run's own figures: a loaded machine raises both, not the gap.
    assert!(
        lat95 - svc95 >= 300.0,
        "corrected latency p95 ({lat95} ms) shows the stall that raw service time p95 ({svc95} ms) hides"
    );
    assert!(s["results"]["aggregated"]["lateness_ms"]["max"].as_f64().unwrap() >= 500.0);
}

#[test]
fn sigint_mid_run_keeps_every_completed_interval_and_writes_the_summary() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: 6, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let profile = steady_profile(dir.path());
    let cfg = config(dir.path());
    let out = dir.path().join("run");
    let mut child = Command::new(BIN)
        .args(["loadtest", "--config", cfg.to_str().unwrap(), "--profile", profile.to_str().unwrap(), "--devices", "5"])
        .args(["--duration", "60s", "--broker", &format!("127.0.0.1:{}", broker.port()), "--site", &site.base_url()])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    poll_until(Duration::from_secs(20), "a few intervals written", || {
        std::fs::read_to_string(out.join("latency.csv"))
            .map_or(0, |t| t.lines().filter(|l| l.contains(";3;") || l.contains("MQTT")).count())
            >= 6
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t0 = Instant::now();
    let status = child.wait().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10), "stopped in {:?}", t0.elapsed());
    assert_eq!(status.code(), Some(130), "interrupted runs exit non-zero");
    let s = summary(&out);
    assert_eq!(s["ending"], "interrupted");
    let stats = read(&out.join("lampi_stats.csv"));
    assert!(stats.lines().last().unwrap().starts_with(",Aggregated,"), "{stats}");
    // Every file is whole: complete lines, the header's field count.
    let latency = read(&out.join("latency.csv"));
    assert!(latency.ends_with('\n'));
    sadf_counts(&latency);
    let recorded: u64 = sadf_counts(&latency).values().sum();
    assert_eq!(
        s["results"]["aggregated"]["count"].as_u64(),
        Some(recorded),
        "the summary covers every recorded sample"
    );
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(stdout.contains("interrupted"), "{stdout}");
}

#[test]
fn the_same_seed_gives_the_same_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let dry = |seed: &str| {
        let (code, out, err) = run_cli(
            &[
                "loadtest",
                "--config",
                cfg.to_str().unwrap(),
                "--profile",
                "evening",
                "--devices",
                "200",
                "--duration",
                "10m",
                "--seed",
                seed,
                "--dry-run",
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        out
    };
    assert_eq!(dry("11"), dry("11"));
    assert_ne!(dry("11"), dry("12"));
}

#[test]
fn preflight_stops_with_a_clear_message_when_the_broker_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let port = Mosquitto::free_port();
    let (code, _, err) = load(
        dir.path(),
        port,
        "http://127.0.0.1:9/",
        "run",
        &["--profile", "smoke", "--devices", "2", "--duration", "2s"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")) && err.contains("not reachable"), "{err}");
    assert!(!dir.path().join("run").exists(), "nothing started, nothing written");
}

#[test]
fn bad_profiles_and_flags_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, SMOKE.replace("web = 0.5", "web = \"half\"")).unwrap();
    let (code, _, err) =
        run_cli(&["loadtest", "--config", cfg.to_str().unwrap(), "--profile", bad.to_str().unwrap(), "--dry-run"], &[]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("share.web = \"half\""), "{err}");
    let (code, _, err) =
        run_cli(&["loadtest", "--config", cfg.to_str().unwrap(), "--profile", "no-such-profile", "--dry-run"], &[]);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("no-such-profile"), "{err}");
    let (code, _, err) = run_cli(&["loadtest", "--config", cfg.to_str().unwrap(), "--speed", "0", "--dry-run"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--speed"), "{err}");
    let (code, _, err) =
        run_cli(&["loadtest", "--config", cfg.to_str().unwrap(), "--broker", "nohost", "--dry-run"], &[]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn this_lamp_is_answered_by_its_own_daemon() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: 2, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    // One config for the lamp: its daemon talks to the broker as the cloud sees it, and owns user_000000's lamp.
    let cfg = dir.path().join("lamp.toml");
    let text = crate::support::lamp::config_text(
        broker.port(),
        &dir.path().join("state"),
        &format!("[web]\nurl = \"{}\"\nusername = \"user_000000\"\npassword = \"000000_resu\"\n", site.base_url()),
    )
    .replace("id = \"b827eb08451e\"", "id = \"1e0000000000\"")
    .replace("reconnect_max = \"300ms\"", "reconnect_max = \"300ms\"\ntopic_prefix = \"devices/{device_id}/\"");
    let daemon = crate::support::Lamp::start_with(dir.path(), &text, &[]);
    daemon.wait_log("connected to the broker", Duration::from_secs(10));
    std::fs::write(&cfg, &text).unwrap();
    let profile = steady_profile(dir.path());
    let out = dir.path().join("run");
    let (code, stdout, err) = run_cli(
        &[
            "loadtest",
            "--config",
            cfg.to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
            "--duration",
            "6s",
            "--rate",
            "10",
            "--seed",
            "5",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let run: Value = serde_json::from_str(&read(&out.join("run.json"))).unwrap();
    assert_eq!(run["responder"], "external", "--devices 1 means this lamp, answered by its own daemon");
    assert_eq!(run["lamps_first_device"], "1e0000000000");
    let s = summary(&out);
    let published = op(&s, "MQTT", "publish set_config")["count"].as_u64().unwrap();
    assert!(published > 0, "{stdout}");
    let rt = op(&s, "MQTT", "roundtrip");
    assert_eq!(rt["count"].as_u64(), Some(published));
    assert_eq!(rt["failures"], 0, "every set_config answered by the daemon: {}", read(&out.join("lampi_failures.csv")));
    assert!(daemon.log().contains("set_config applied"), "the daemon did the answering");
}
