//! `lampi-agent selftest` as a technician or Ansible runs it: the real binary against a real mosquitto, the Django
//! test site and a real `lampi-agent run`. Healthy lamp, each kind of failure with its hint, the exit codes, the LED
//! sequence on the simulated backend, and the lamp left as it was when the test goes through the lamp service.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::django::{DjangoSite, SiteOptions};
use crate::support::lamp::{config_text, run_cli};
use crate::support::{poll_until, Lamp, Mosquitto, Probe};

const CHANGED: &str = "lamp/changed";
const SET: &str = "lamp/set_config";
const CONN: &str = "lamp/connection/lamp_service/state";
const T: Duration = Duration::from_secs(10);
/// user_000001 owns this lamp on the test site.
const DEVICE: &str = "1e0000000001";
const DEBUG: (&str, &str) = ("RUST_LOG", "lampi_agent=debug");

fn web_section(url: &str, password: Option<&str>) -> String {
    match password {
        Some(p) => format!("[web]\nurl = \"{url}\"\nusername = \"user_000001\"\npassword = \"{p}\"\n"),
        None => format!("[web]\nurl = \"{url}\"\n"),
    }
}

/// A lamp config for the broker on `port`, state in `dir/state`, with `extra` sections; written to `dir/lampi.toml`.
fn config(dir: &Path, port: u16, extra: &str) -> (PathBuf, String) {
    let text = config_text(port, &dir.join("state"), extra).replace("b827eb08451e", DEVICE);
    let path = dir.join("lampi.toml");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    /// The JSON entry of one check.
    fn check(&self, name: &str) -> Value {
        let doc = self.json();
        let found = doc["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned();
        found.unwrap_or_else(|| panic!("no {name} check in {doc:#}"))
    }

    /// The LED duties the simulated backend of this process showed, in order.
    fn sim_leds(&self) -> Vec<String> {
        led_lines(&self.stderr)
    }
}

fn led_lines(log: &str) -> Vec<String> {
    log.lines().filter_map(|l| l.split_once("sim LED ").map(|(_, d)| d.trim().to_string())).collect()
}

/// Runs `lampi-agent selftest --config <config> <args>` off the async threads.
async fn selftest(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut argv: Vec<String> = vec!["selftest".into(), "--config".into(), config.display().to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let t0 = Instant::now();
        let (code, stdout, stderr) = run_cli(&argv, &env);
        Run { code, stdout, stderr, took: t0.elapsed() }
    })
    .await
    .unwrap()
}

fn state_of(v: &Value) -> Value {
    json!({"color": v["color"], "brightness": v["brightness"], "on": v["on"]})
}

/// Starts the daemon on `config_text` and waits until it is on the broker; sets a distinctive state first.
async fn lamp_with_state(broker: &Mosquitto, dir: &Path, text: &str) -> (Lamp, Probe, Value) {
    let mut probe = Probe::connect(broker.port(), "test_probe", &[CHANGED, CONN]).await;
    let lamp = Lamp::start_with(dir, text, &[]);
    probe.expect(CONN, T, |m| m.text() == "1").await;
    probe.expect(CHANGED, T, |m| m.json()["client"] == "lamp_service").await;
    probe.publish(SET, r#"{"client": "owner", "color": {"h": 0.6, "s": 0.3}, "brightness": 0.7, "on": false}"#).await;
    let prior = probe.expect(CHANGED, T, |m| m.json()["client"] == "owner").await;
    (lamp, probe, state_of(&prior.json()))
}

/// The retained `lamp/changed` as a new client sees it now.
async fn retained_state(port: u16) -> Value {
    let mut late = Probe::connect(port, "late_probe", &[CHANGED]).await;
    state_of(&late.next(CHANGED, T).await.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_lamp_passes_every_check_and_is_left_as_it_was() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: 3, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = config(dir.path(), broker.port(), &web_section(&site.base_url(), Some("100000_resu")));
    let (_lamp, _probe, prior) = lamp_with_state(&broker, dir.path(), &text).await;

    let run = selftest(&path, &["--json"], &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let doc = run.json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["device_id"], DEVICE);
    let names: Vec<&str> = doc["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["config", "identity", "led", "service", "broker", "web", "clock", "disk"]);
    for c in doc["checks"].as_array().unwrap() {
        // The clock can only PASS where NTP status is known (a container has no timedated and an unsynced kernel).
        let allowed: &[&str] = if c["name"] == "clock" { &["PASS", "WARN"] } else { &["PASS"] };
        assert!(allowed.contains(&c["status"].as_str().unwrap()), "{c:#}");
        assert!(c["duration_ms"].as_f64().unwrap() >= 0.0);
    }
    assert!(run.check("led")["detail"].as_str().unwrap().contains("through the lamp service (MQTT)"));
    assert!(run.check("service")["detail"].as_str().unwrap().contains("set_config round trip"));
    assert!(run.check("web")["detail"].as_str().unwrap().contains("logged in as user_000001"));
    assert_eq!(retained_state(broker.port()).await, prior, "the lamp was not left as it was");

    // The table a technician sees.
    let table = selftest(&path, &["--only", "config,broker,service"], &[]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("CHECK") && lines[0].ends_with("DETAIL"), "{}", table.stdout);
    assert!(lines[1].starts_with("config    PASS"), "{}", table.stdout);
    assert!(lines.last().unwrap().starts_with(&format!("lamp {DEVICE}: READY: 3 passed")), "{}", table.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_daemon_running_the_led_test_goes_through_it_and_restores_the_state() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = config(dir.path(), broker.port(), "");
    let (lamp, _probe, prior) = lamp_with_state(&broker, dir.path(), &text).await;

    let run = selftest(&path, &["--json", "--only", "led"], &[DEBUG]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.sim_leds().is_empty(), "the self-test opened the LED itself:\n{}", run.stderr);
    // The daemon showed red, green, blue, white at 50% (hue steps of 0.01 leak 1% red), then the prior state (off).
    let shown: Vec<String> = lamp
        .log()
        .lines()
        .filter(|l| l.contains("set_config applied") && l.contains("lamp_selftest"))
        .map(|l| l.split_once("duties=").unwrap().1.trim().to_string())
        .collect();
    assert_eq!(
        shown,
        [
            "r=0.5000 g=0.0000 b=0.0000",
            "r=0.0100 g=0.5000 b=0.0000",
            "r=0.0100 g=0.0000 b=0.5000",
            "r=0.5000 g=0.5000 b=0.5000",
            "r=0.0000 g=0.0000 b=0.0000"
        ],
        "{}",
        lamp.log()
    );
    assert_eq!(retained_state(broker.port()).await, prior);
    // The LED task applies the last change beside its lamp/changed, so its log line may trail the retained state.
    let off = |log: &str| led_lines(log).last().is_some_and(|l| l == "r=0.0000 g=0.0000 b=0.0000");
    poll_until(Duration::from_secs(10), "the LED is off again", || off(&lamp.log()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_daemon_the_sim_led_shows_each_channel_then_what_it_showed_before() {
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = config(dir.path(), broker.port(), "");
    for broker_up in [true, false] {
        if !broker_up {
            broker.stop();
        }
        let run = selftest(&path, &["--json", "--only", "led"], &[DEBUG]).await;
        assert_eq!(run.code, 0, "broker up: {broker_up}\n{}\n{}", run.stdout, run.stderr);
        assert_eq!(
            run.sim_leds(),
            [
                "r=0.5000 g=0.0000 b=0.0000",
                "r=0.0000 g=0.5000 b=0.0000",
                "r=0.0000 g=0.0000 b=0.5000",
                "r=0.5000 g=0.5000 b=0.5000",
                "r=0.0000 g=0.0000 b=0.0000"
            ],
            "{}",
            run.stderr
        );
        let led = run.check("led");
        assert_eq!(led["status"], "PASS");
        let detail = led["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("sim: red GPIO19 simulated, green GPIO26 simulated, blue GPIO13 simulated"),
            "{detail}"
        );
        assert!(detail.contains("no lamp service running"), "{detail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_holds_the_pins_but_is_off_the_broker_is_left_alone() {
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = config(dir.path(), broker.port(), "");
    let (lamp, _probe, _) = lamp_with_state(&broker, dir.path(), &text).await;
    broker.stop();
    let run = selftest(&path, &["--json", "--only", "led"], &[DEBUG]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.sim_leds().is_empty(), "{}", run.stderr);
    let led = run.check("led");
    assert_eq!(led["status"], "FAIL");
    let detail = led["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("lampi-agent run (pid {}) holds the pins", lamp.pid())), "{detail}");
    assert!(detail.contains("connection refused"), "{detail}");
    assert!(led["hint"].as_str().unwrap().contains("systemctl stop lampi-agent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_broker_fails_the_broker_and_service_checks_with_hints() {
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = config(dir.path(), broker.port(), "");
    std::fs::create_dir(dir.path().join("state")).unwrap(); // as on a lamp whose service has run
    broker.stop();
    let run = selftest(&path, &["--json", "--skip", "web"], &[]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json()["ok"], false);
    let b = run.check("broker");
    assert_eq!(b["status"], "FAIL");
    assert_eq!(b["detail"], format!("connection refused by 127.0.0.1:{}: no broker listening", broker.port()).as_str());
    assert!(b["hint"].as_str().unwrap().contains("systemctl status mosquitto"), "{b}");
    let s = run.check("service");
    assert_eq!(s["status"], "FAIL");
    assert!(s["detail"].as_str().unwrap().starts_with("cannot ask the broker: connection refused"), "{s}");
    for ok in ["config", "identity", "led", "disk"] {
        assert_eq!(run.check(ok)["status"], "PASS", "{}", run.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_login_failures_and_a_site_that_is_down() {
    let mut site = DjangoSite::start(SiteOptions { users: 2, ..Default::default() });
    let dir = tempfile::tempdir().unwrap();
    let port = Mosquitto::free_port();

    let (path, _) = config(dir.path(), port, &web_section(&site.base_url(), Some("wrong")));
    let run = selftest(&path, &["--json", "--only", "web"], &[]).await;
    assert_eq!(run.code, 1);
    let w = run.check("web");
    assert_eq!(w["status"], "FAIL");
    assert!(w["detail"].as_str().unwrap().ends_with("login as user_000001 refused: wrong username or password"), "{w}");
    assert!(w["hint"].as_str().unwrap().contains("web.password"), "{w}");

    // The password may come from the environment instead of the file.
    let (path, _) =
        config(dir.path(), port, &format!("[web]\nurl = \"{}\"\nusername = \"user_000001\"\n", site.base_url()));
    let run = selftest(&path, &["--json", "--only", "web"], &[("LAMPI_WEB_PASSWORD", "100000_resu")]).await;
    assert_eq!((run.code, run.check("web")["status"].as_str()), (0, Some("PASS")), "{}", run.stdout);

    let (path, _) = config(dir.path(), port, &web_section(&site.base_url(), None));
    let run = selftest(&path, &["--json", "--only", "web"], &[]).await;
    assert_eq!(run.code, 0, "a SKIP is not a failure");
    let w = run.check("web");
    assert_eq!(w["status"], "SKIP");
    assert!(w["detail"].as_str().unwrap().contains("reachable"), "{w}");
    assert!(w["hint"].as_str().unwrap().contains("set web.username"), "{w}");

    site.stop();
    let run = selftest(&path, &["--json", "--only", "web"], &[]).await;
    assert_eq!(run.code, 1);
    let w = run.check("web");
    assert_eq!(w["status"], "FAIL");
    assert!(w["detail"].as_str().unwrap().starts_with("connection refused by 127.0.0.1:"), "{w}");
    assert!(w["hint"].as_str().unwrap().contains("web.url"), "{w}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_is_bounded_by_the_timeout() {
    // A site that stalls its first request, and a "broker" that accepts TCP but never answers the CONNECT.
    let site = DjangoSite::start(SiteOptions { users: 2, stall: Some((1, 30.0)), ..Default::default() });
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = config(dir.path(), silent.local_addr().unwrap().port(), &web_section(&site.base_url(), None));
    let run = selftest(&path, &["--json", "--only", "broker,web", "--timeout", "400ms"], &[]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.took < Duration::from_secs(4), "took {:?}", run.took);
    let b = run.check("broker");
    assert_eq!(b["status"], "FAIL");
    assert!(
        b["detail"].as_str().unwrap().starts_with("timed out after 400ms waiting for CONNACK from 127.0.0.1:"),
        "{b}"
    );
    assert!(b["duration_ms"].as_f64().unwrap() < 1000.0, "{b}");
    let w = run.check("web");
    assert_eq!(w["status"], "FAIL");
    assert!(w["detail"].as_str().unwrap().contains("did not answer in time"), "{w}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_state_directory_fails_the_disk_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    // Under a regular file nothing can be created, whoever runs the test (root included).
    for (state, needle, hint) in
        [(file.join("state"), "is not writable", "chown"), (file.clone(), "is not a directory", "state.dir")]
    {
        let text = config_text(Mosquitto::free_port(), &state, "");
        let path = dir.path().join("lampi.toml");
        std::fs::write(&path, text).unwrap();
        let run = selftest(&path, &["--json", "--only", "disk"], &[]).await;
        assert_eq!(run.code, 1, "{}", run.stdout);
        let d = run.check("disk");
        assert_eq!(d["status"], "FAIL");
        assert!(d["detail"].as_str().unwrap().contains(needle), "{d}");
        assert!(d["hint"].as_str().unwrap().contains(hint), "{d}");
    }
    let fine = config_text(Mosquitto::free_port(), &dir.path().join("state-ok"), "");
    std::fs::create_dir(dir.path().join("state-ok")).unwrap();
    std::fs::write(dir.path().join("lampi.toml"), fine).unwrap();
    let run = selftest(&dir.path().join("lampi.toml"), &["--json", "--only", "disk"], &[]).await;
    assert_eq!(run.check("disk")["status"], "PASS", "{}", run.stdout);
    assert_eq!(std::fs::read_dir(dir.path().join("state-ok")).unwrap().count(), 0, "the probe file was left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_exits_78_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[mqtt]\nport = 0\n[led]\nbackend = \"pigpio\"\n[selftest]\ntimeout = \"soon\"\n").unwrap();
    let run = selftest(&path, &["--json"], &[]).await;
    assert_eq!(run.code, 78, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["ok"], false);
    let c = run.check("config");
    assert_eq!(c["status"], "FAIL");
    let detail = c["detail"].as_str().unwrap();
    for key in ["3 problem(s)", "mqtt.port = 0", "led.backend = \"pigpio\"", "selftest.timeout = \"soon\""] {
        assert!(detail.contains(key), "{key} missing from {detail}");
        assert!(run.stderr.contains(key.trim_start_matches("3 ")), "{key} missing from stderr:\n{}", run.stderr);
    }
    assert!(c["hint"].as_str().unwrap().contains("lampi-agent config check"));

    let table = selftest(&path, &[], &[]).await;
    assert_eq!(table.code, 78);
    assert!(table.stdout.contains("config    FAIL"), "{}", table.stdout);
    let missing = selftest(&dir.path().join("nope.toml"), &[], &[]).await;
    assert_eq!(missing.code, 78);
    assert!(missing.stdout.contains("nope.toml"), "{}", missing.stdout);
}

#[test]
fn unknown_check_names_are_usage_errors_that_list_the_valid_ones() {
    let (code, _, err) = run_cli(&["selftest", "--only", "broker,ntp"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown check \"ntp\": expected one of config, identity, led, service, broker, web, clock, disk"),
        "{err}"
    );
    let (code, _, err) = run_cli(&["selftest", "--skip", "gpio"], &[]);
    assert_eq!(code, 2, "{err}");
}
