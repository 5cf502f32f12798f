//! `lampi-agent loadtest` when the services break and the run is disturbed: a broker restarted mid-run, a web site
//! stopped and started again, an idle schedule, SIGINT with round trips in flight, SIGHUP, closed stdout/stderr.
//! Real mosquitto and Django; every threshold comes from what the run itself recorded or from the test's own
//! events (when it killed and restarted a server), never from how fast an idle machine would be.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::support::django::{DjangoSite, SiteOptions};
use crate::support::loadrun::{connections, finish, latency_of, pages_profile, rfc3339_secs, spawn, SMOKE};
use crate::support::{poll_until, Mosquitto, Probe};

/// Generous bound for a run to exit after its duration (the machine is shared).
const EXIT: Duration = Duration::from_secs(60);

/// App sessions only (MQTT, no web site), no churn: steady round trips from every lamp.
fn app_profile(dir: &Path) -> PathBuf {
    let text = SMOKE
        .replace("web = 0.5\napp = 0.25\nlamp_ui = 0.25", "web = 0\napp = 1\nlamp_ui = 0")
        .replace("per_hour = 180", "per_hour = 0");
    assert!(text.contains("app = 1") && text.contains("per_hour = 0"), "smoke.toml changed; update this test");
    let p = dir.join("app.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn json(out: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The files a finished run must have, each complete (the end-of-run ones written, the streamed ones ending in a
/// whole line).
fn assert_complete(out: &Path) {
    for f in ["latency.csv", "connections.csv", "system.csv", "lampi_stats.csv", "lampi_stats_history.csv"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(text.ends_with('\n'), "{f} ends in a whole line");
    }
    for f in ["lampi_failures.csv", "summary.txt", "console.log"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let stats = std::fs::read_to_string(out.join("lampi_stats.csv")).unwrap();
    assert!(stats.lines().last().unwrap().starts_with(",Aggregated,"), "{stats}");
    json(out, "summary.json");
}

#[test]
fn a_broker_restart_mid_run_is_one_outage_and_the_fleet_recovers() {
    const LAMPS: u64 = 200;
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let profile = app_profile(dir.path());
    let (child, out) = spawn(
        dir.path(),
        broker.port(),
        "http://127.0.0.1:9/",
        &["--profile", profile.to_str().unwrap(), "--devices", "200", "--duration", "36s", "--rate", "0.5"]
            .into_iter()
            .chain(["--seed", "7", "--no-preflight", "--responder", "internal", "--broker-sys"])
            .collect::<Vec<_>>(),
    );
    // Every lamp up for a couple of intervals, then the broker goes.
    poll_until(Duration::from_secs(60), "all 200 lamps connected", || {
        connections(&out).iter().rev().take(2).filter(|r| r.lamps_up == LAMPS).count() == 2
    });
    let killed_at = now();
    broker.stop(); // returns once its port refuses
    let stopped_at = now();
    // The run sees it: lamps down and reconnects refused, for at least two intervals.
    poll_until(Duration::from_secs(30), "the outage in connections.csv", || {
        connections(&out).iter().filter(|r| r.lamps_up == 0 && r.refused > 0).count() >= 2
    });
    let restarted_at = now();
    broker.restart(); // the same port
    let (code, _, stderr) = finish(child, EXIT);
    assert_eq!(code, 0, "{stderr}");

    let start = rfc3339_secs(json(&out, "run.json")["start"].as_str().unwrap());
    assert!(restarted_at - start < 24.0, "the broker was back before the last third ({:.1} s)", restarted_at - start);
    // The last third of the run: at least 99 % of round trips succeed (all of them failed before the fix).
    let (n, failed) = latency_of(&out, "MQTT", "roundtrip")
        .iter()
        .filter(|r| r.0 as f64 > start + 24.0)
        .fold((0, 0), |(n, f), r| (n + r.1, f + r.2));
    assert!(n > 100, "round trips in the last third: {n}");
    assert!(failed * 100 <= n, "{failed} of {n} round trips failed in the last third");

    let s = json(&out, "summary.json");
    let outages = s["outages"].as_array().unwrap();
    assert_eq!(outages.len(), 1, "one outage: {outages:?}");
    let o = &outages[0];
    assert_eq!(o["kind"], "broker");
    let at = |k: &str| rfc3339_secs(o[k].as_str().unwrap_or_else(|| panic!("{k} in {o}")));
    let (o_start, answered, recovered) = (at("start"), at("answered"), at("recovered"));
    // Interval resolution (1 s): the window opens in the interval of the kill, not before it.
    assert!(o_start >= killed_at - 1.5 && o_start <= stopped_at + 1.0, "start {o_start} vs kill at {killed_at}");
    assert!(answered >= restarted_at, "answered {answered}, restart at {restarted_at}");
    assert!(recovered >= answered && recovered <= start + 37.0, "recovered {recovered}");
    let ttr = o["time_to_recover_s"].as_f64().unwrap();
    assert!((ttr - (recovered - o_start)).abs() < 0.01, "time to recover {ttr}: from start to recovery");

    // The connected-lamps figure dips and comes back.
    let rows = connections(&out);
    let dip = rows.iter().position(|r| r.lamps_up == 0).expect("a dip to 0");
    assert!(rows[..dip].iter().any(|r| r.lamps_up == LAMPS) && rows[dip..].iter().any(|r| r.lamps_up == LAMPS));
    assert_eq!(s["lamps_connected"], serde_json::json!({"min": 0, "max": LAMPS}));
    // The $SYS watcher subscribed again too: the new broker's client count is in broker.csv.
    let broker_csv = std::fs::read_to_string(out.join("broker.csv")).unwrap();
    let header: Vec<&str> = broker_csv.lines().next().unwrap().trim_start_matches("# ").split(';').collect();
    let col = header.iter().position(|c| *c == "clients_connected").unwrap();
    let seen_after = broker_csv.lines().skip(1).map(|l| l.split(';').collect::<Vec<_>>()).any(|f| {
        crate::support::loadrun::sadf_secs(f[2]) as f64 > recovered + 2.0
            && f[col].parse::<u64>().is_ok_and(|n| n >= LAMPS)
    });
    assert!(seen_after, "clients_connected after the restart:\n{broker_csv}");
    assert_complete(&out);
    // The lamps announced themselves again on the new broker (the old one's retained messages died with it).
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let topic = "devices/1e00000000c7/lamp/connection/lamp_service/state";
        let mut probe = Probe::connect(broker.port(), "after", &[topic]).await;
        let m = probe.next(topic, Duration::from_secs(10)).await;
        assert!(m.retain && m.text() == "1", "{m:?}");
    });
}

#[test]
fn a_site_outage_mid_run_gives_named_failures_then_successes() {
    let broker = Mosquitto::start();
    let mut site = DjangoSite::start(SiteOptions { users: 4, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let profile = pages_profile(dir.path());
    let (child, out) = spawn(
        dir.path(),
        broker.port(),
        &site.base_url(),
        &["--profile", profile.to_str().unwrap(), "--devices", "3", "--duration", "16s", "--timeout", "2s"]
            .into_iter()
            .chain(["--seed", "4", "--responder", "internal"])
            .collect::<Vec<_>>(),
    );
    let page_ok = |out: &Path| {
        std::fs::read_to_string(out.join("latency.csv"))
            .map_or(0, |t| t.lines().filter(|l| l.contains(";GET;/lampi/") && !l.contains(";GET;/lampi/;0;")).count())
    };
    poll_until(Duration::from_secs(30), "pages served", || page_ok(&out) >= 2);
    site.stop(); // returns once the port refuses
    let rows_at_stop = connections(&out).len();
    poll_until(Duration::from_secs(30), "two intervals without the site", || {
        connections(&out).len() >= rows_at_stop + 2
    });
    let restarted_at = now();
    site.restart();
    let (code, _, stderr) = finish(child, EXIT);
    assert_eq!(code, 0, "{stderr}");

    let failures = std::fs::read_to_string(out.join("lampi_failures.csv")).unwrap();
    assert!(failures.contains(",connection refused,"), "named failures while it was down:\n{failures}");
    let after: u64 =
        latency_of(&out, "GET", "/lampi/").iter().filter(|r| r.0 as f64 > restarted_at + 1.0).map(|r| r.1 - r.2).sum();
    assert!(after > 5, "pages succeed again after the restart: {after}");
    let s = json(&out, "summary.json");
    let outages = s["outages"].as_array().unwrap();
    let site_outages: Vec<&Value> = outages.iter().filter(|o| o["kind"] == "site").collect();
    assert_eq!(site_outages.len(), 1, "{outages:?}");
    assert!(site_outages[0]["recovered"].is_string() && site_outages[0]["answered"].is_string(), "{outages:?}");
    assert!(rfc3339_secs(site_outages[0]["answered"].as_str().unwrap()) >= restarted_at);
    // No session hung: no request took longer than the timeout (plus scheduling slack).
    for op in s["results"]["ops"].as_array().unwrap().iter().filter(|o| o["kind"] != "MQTT") {
        let max = op["service_ms"]["max"].as_f64().unwrap_or(0.0);
        assert!(max < 2000.0 + 1000.0, "{} {} took {max} ms with --timeout 2s", op["kind"], op["name"]);
    }
    assert_complete(&out);
}

#[test]
fn an_idle_schedule_runs_its_full_duration_with_every_lamp_connected() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let (child, out) = spawn(
        dir.path(),
        broker.port(),
        "http://127.0.0.1:9/",
        &["--profile", "evening", "--devices", "4", "--duration", "10s", "--seed", "1", "--no-preflight"],
    );
    poll_until(Duration::from_secs(30), "4 lamps connected", || {
        connections(&out).last().is_some_and(|r| r.lamps_up == 4)
    });
    // The broker's own view: four clients connected ($SYS, published every second by the harness's mosquitto).
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let topic = "$SYS/broker/clients/connected";
        let mut probe = Probe::connect(broker.port(), "sys", &[topic]).await;
        // 4 lamps and this probe.
        probe.expect(topic, Duration::from_secs(10), |m| m.text().trim() == "5").await;
    });
    let (code, _, stderr) = finish(child, EXIT);
    assert_eq!(code, 0, "{stderr}");
    assert!(t0.elapsed() >= Duration::from_secs(10), "ran its duration: {:?}", t0.elapsed());
    let s = json(&out, "summary.json");
    assert_eq!(s["dispatched"], 0, "the point of the test: a schedule with nothing in it");
    assert!(s["results"]["elapsed_s"].as_f64().unwrap() >= 10.0, "{}", s["results"]);
    let rows = connections(&out);
    assert!(rows.len() >= 10, "an interval row per second: {}", rows.len());
    // Connected from the first interval to the end (the row at the end itself may be taken as they leave).
    let end = &rows.last().unwrap().timestamp;
    assert!(rows[1..].iter().filter(|r| &r.timestamp != end).all(|r| r.lamps_up == 4), "{rows:?}");
    let system = std::fs::read_to_string(out.join("system.csv")).unwrap();
    assert!(system.lines().filter(|l| l.contains(";-1;")).count() >= 10, "a CPU row per interval:\n{system}");
    assert_eq!(s["lamps_connected"], serde_json::json!({"min": 4, "max": 4}));
    assert!(s["outages"].as_array().unwrap().is_empty());
    assert_complete(&out);
}

/// The lamp's answer to a `set_config` payload: `state` with the command applied, as `lamp/changed` JSON.
fn answer(state: &mut [f64; 3], on: &mut bool, cmd: &Value) -> String {
    for (i, v) in [&cmd["color"]["h"], &cmd["color"]["s"], &cmd["brightness"]].into_iter().enumerate() {
        if let Some(x) = v.as_f64() {
            state[i] = x;
        }
    }
    if let Some(b) = cmd["on"].as_bool() {
        *on = b;
    }
    serde_json::json!({"color": {"h": state[0], "s": state[1]}, "brightness": state[2], "on": *on,
        "client": cmd["client"]})
    .to_string()
}

#[test]
fn sigint_gives_round_trips_in_flight_their_grace_and_counts_them_as_successes() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let profile = app_profile(dir.path());
    let (mut child, out) = spawn(
        dir.path(),
        broker.port(),
        "http://127.0.0.1:9/",
        &["--profile", profile.to_str().unwrap(), "--devices", "1", "--first-lamp", "0", "--responder", "external"]
            .into_iter()
            .chain(["--duration", "60s", "--rate", "20", "--seed", "2", "--no-preflight", "--stop-grace", "4s"])
            .collect::<Vec<_>>(),
    );
    // The test is the lamp, and a slow one: it holds the commands it gets, so they are in flight at the SIGINT.
    let (set, changed) = ("devices/1e0000000000/lamp/set_config", "devices/1e0000000000/lamp/changed");
    let held_at_signal = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut lamp = Probe::connect(broker.port(), "slow-lamp", &[set]).await;
        let mut held = Vec::new();
        while held.is_empty() {
            held.extend(lamp.drain(Duration::from_millis(300)).await.into_iter().filter(|m| m.topic == set));
        }
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let n = held.len();
        let (mut state, mut on) = ([1.0; 3], true);
        // Answer a moment after the signal (well inside the grace), then whatever else comes, until the run exits.
        held.extend(lamp.drain(Duration::from_millis(500)).await.into_iter().filter(|m| m.topic == set));
        while child.try_wait().unwrap().is_none() {
            for m in held.drain(..) {
                lamp.publish(changed, answer(&mut state, &mut on, &m.json())).await;
            }
            held.extend(lamp.drain(Duration::from_millis(100)).await.into_iter().filter(|m| m.topic == set));
        }
        n
    });
    let (code, _, stderr) = finish(child, EXIT);
    assert_eq!(code, 130, "{stderr}");
    let s = json(&out, "summary.json");
    assert_eq!(s["ending"], "interrupted");
    let op = |name: &str| {
        s["results"]["ops"].as_array().unwrap().iter().find(|o| o["kind"] == "MQTT" && o["name"] == name).cloned()
    };
    let rt = op("roundtrip").expect("round trips");
    let published = op("publish set_config").unwrap()["count"].as_u64().unwrap();
    assert!(held_at_signal >= 1 && rt["count"].as_u64().unwrap() >= held_at_signal as u64);
    assert_eq!(rt["count"].as_u64(), Some(published), "every set_config has its round trip");
    let failures = std::fs::read_to_string(out.join("lampi_failures.csv")).unwrap();
    assert_eq!(rt["failures"], 0, "answered within the grace: successes\n{failures}");
    assert_complete(&out);
}

/// A steady run of a few lamps, for the hang-up and closed-pipe tests.
fn steady_run(dir: &Path, broker: &Mosquitto) -> (std::process::Child, PathBuf) {
    let profile = app_profile(dir);
    spawn(
        dir,
        broker.port(),
        "http://127.0.0.1:9/",
        &["--profile", profile.to_str().unwrap(), "--devices", "4", "--duration", "8s", "--seed", "3"]
            .into_iter()
            .chain(["--no-preflight", "--responder", "internal"])
            .collect::<Vec<_>>(),
    )
}

#[test]
fn sighup_mid_run_keeps_it_going_to_its_duration_with_the_console_in_the_run_folder() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let (child, out) = steady_run(dir.path(), &broker);
    poll_until(Duration::from_secs(30), "two intervals", || connections(&out).len() >= 2);
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let (code, stdout, stderr) = finish(child, EXIT);
    assert_eq!(code, 0, "not killed by the hang-up: {stderr}");
    assert!(t0.elapsed() >= Duration::from_secs(8), "ran its duration");
    assert!(!stdout.contains("results in"), "nothing on the terminal after the hang-up: {stdout}");
    let console = std::fs::read_to_string(out.join("console.log")).unwrap();
    assert!(console.contains("SIGHUP") && console.contains("results in"), "{console}");
    assert!(console.contains("MQTT  roundtrip"), "the summary table is in console.log:\n{console}");
    assert_eq!(json(&out, "summary.json")["ending"], "completed");
    assert_complete(&out);
}

#[test]
fn closed_stdout_and_stderr_do_not_stop_a_run() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, out) = steady_run(dir.path(), &broker);
    poll_until(Duration::from_secs(30), "two intervals", || connections(&out).len() >= 2);
    drop(child.stdout.take());
    drop(child.stderr.take());
    let (code, _, _) = finish(child, EXIT);
    assert_eq!(code, 0, "EPIPE on both streams");
    let console = std::fs::read_to_string(out.join("console.log")).unwrap();
    assert!(console.contains("results in"), "{console}");
    assert_eq!(json(&out, "summary.json")["ending"], "completed");
    assert_complete(&out);
}

#[test]
fn the_daemon_keeps_serving_when_its_stderr_is_closed() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lampi.toml");
    std::fs::write(&config, crate::support::lamp::config_text(broker.port(), &dir.path().join("state"), "")).unwrap();
    let mut daemon = std::process::Command::new(crate::support::lamp::BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "lampi_agent=debug")
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(daemon.stdout.take());
    drop(daemon.stderr.take()); // every log line from now on meets EPIPE
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let conn = "lamp/connection/lamp_service/state";
        let mut probe = Probe::connect(broker.port(), "probe", &["lamp/changed", conn]).await;
        // "1" comes after its SUBSCRIBE on the same connection: from then on the daemon hears set_config.
        probe.expect(conn, Duration::from_secs(20), |m| m.text() == "1").await;
        for (i, on) in [false, true, false].into_iter().enumerate() {
            let cmd = serde_json::json!({"client": format!("t{i}"), "on": on}).to_string();
            probe.publish("lamp/set_config", cmd).await;
            let want = format!("t{i}");
            probe.expect("lamp/changed", Duration::from_secs(10), |m| m.json()["client"] == want.as_str()).await;
        }
    });
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon is still running");
    let _ = daemon.kill();
    let _ = daemon.wait();
}

#[test]
fn a_second_sigint_stops_at_once_and_still_writes_every_file() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let profile = app_profile(dir.path());
    // A lamp that never answers, and a grace far longer than the test will wait.
    let (mut child, out) = spawn(
        dir.path(),
        broker.port(),
        "http://127.0.0.1:9/",
        &["--profile", profile.to_str().unwrap(), "--devices", "1", "--first-lamp", "0", "--responder", "external"]
            .into_iter()
            .chain(["--duration", "60s", "--rate", "20", "--seed", "2", "--no-preflight"])
            .chain(["--stop-grace", "40s", "--timeout", "50s"])
            .collect::<Vec<_>>(),
    );
    let set = "devices/1e0000000000/lamp/set_config";
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut lamp = Probe::connect(broker.port(), "mute-lamp", &[set]).await;
        lamp.expect(set, Duration::from_secs(30), |_| true).await; // a command is in flight, and stays so
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    poll_until(Duration::from_secs(10), "the first stop logged", || {
        std::fs::read_to_string(out.join("console.log")).is_ok_and(|t| t.contains("SIGINT: stopping"))
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = crate::support::exit_within(&mut child, Duration::from_secs(20))
        .expect("still running 20 s after the second SIGINT (grace 40 s)");
    assert_eq!(status.code(), Some(130));
    let failures = std::fs::read_to_string(out.join("lampi_failures.csv")).unwrap();
    assert!(failures.contains("MQTT,roundtrip,no answer before the run stopped,"), "{failures}");
    assert_eq!(json(&out, "summary.json")["ending"], "interrupted");
    assert_complete(&out);
}
