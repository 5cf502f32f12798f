//! `lampi-agent run` against a real mosquitto: the LAMPI protocol, bad payloads, outages, restarts, power loss,
//! SIGTERM, and systemd readiness.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::lamp::config_text;
use crate::support::{poll_until, Lamp, Mosquitto, Probe};

const CHANGED: &str = "lamp/changed";
const SET: &str = "lamp/set_config";
const CONN: &str = "lamp/connection/lamp_service/state";
const T: Duration = Duration::from_secs(10);

fn state_of(v: &serde_json::Value) -> serde_json::Value {
    json!({"color": v["color"], "brightness": v["brightness"], "on": v["on"]})
}

async fn started(broker: &Mosquitto, dir: &std::path::Path) -> (Lamp, Probe) {
    let mut probe = Probe::connect(broker.port(), "test_probe", &[CHANGED, CONN]).await;
    let lamp = Lamp::start(dir, broker.port());
    probe.expect(CONN, T, |m| m.text() == "1").await;
    probe.expect(CHANGED, T, |m| m.json()["client"] == "lamp_service").await;
    (lamp, probe)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn birth_and_retained_state_at_start() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (_lamp, _probe) = started(&broker, dir.path()).await;
    // A client that connects after both were published gets both, retained.
    let mut late = Probe::connect(broker.port(), "late", &[CONN, CHANGED]).await;
    let birth = late.next(CONN, T).await;
    assert_eq!(birth.text(), "1");
    assert!(birth.retain, "the birth message must be retained");
    let mut late2 = Probe::connect(broker.port(), "late2", &[CHANGED]).await;
    let st = late2.next(CHANGED, T).await;
    assert!(st.retain, "lamp/changed must be retained");
    assert_eq!(
        st.json(),
        json!({"color": {"h": 1.0, "s": 1.0}, "brightness": 1.0, "on": true, "client": "lamp_service"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_config_drives_the_led_and_comes_back_on_changed_with_partial_updates() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (lamp, mut probe) = started(&broker, dir.path()).await;
    probe.publish(SET, r#"{"color": {"h": 0.33, "s": 1.0}, "brightness": 0.5, "on": true, "client": "lamp_ui"}"#).await;
    let m = probe.expect(CHANGED, T, |m| m.json()["client"] == "lamp_ui").await;
    assert_eq!(state_of(&m.json()), json!({"color": {"h": 0.33, "s": 1.0}, "brightness": 0.5, "on": true}));
    // hsv(0.33, 1, 1) = (0.02, 1, 0) scaled by 0.5
    lamp.wait_log("duties=r=0.0100 g=0.5000 b=0.0000", T);
    probe.publish(SET, r#"{"on": false, "client": "lamp_cmd"}"#).await;
    let m = probe.expect(CHANGED, T, |m| m.json()["client"] == "lamp_cmd").await;
    assert_eq!(state_of(&m.json()), json!({"color": {"h": 0.33, "s": 1.0}, "brightness": 0.5, "on": false}));
    lamp.wait_log("duties=r=0.0000 g=0.0000 b=0.0000", T);
    probe.publish(SET, r#"{"brightness": 0.257, "on": true, "client": "lamp_cmd"}"#).await;
    let m = probe.expect(CHANGED, T, |m| m.json()["brightness"] == 0.26).await;
    assert_eq!(state_of(&m.json()), json!({"color": {"h": 0.33, "s": 1.0}, "brightness": 0.26, "on": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_change_nothing_publish_nothing_and_the_daemon_lives() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (lamp, mut probe) = started(&broker, dir.path()).await;
    probe.publish(SET, r#"{"color": {"h": 0.5, "s": 0.5}, "brightness": 0.4, "client": "good"}"#).await;
    probe.expect(CHANGED, T, |m| m.json()["client"] == "good").await;
    let state_file = dir.path().join("state/lamp-state.json");
    poll_until(T, "the state file holds the good change", || {
        std::fs::read_to_string(&state_file).unwrap_or_default().contains("good")
    });
    let file_before = std::fs::read(&state_file).unwrap();
    let bad: &[&str] = &[
        "{not json",
        "[]",
        r#"{"on": false}"#,
        r#"{"client": "bad", "on": "true"}"#,
        r#"{"client": "bad", "brightness": 1.5}"#,
        r#"{"client": "bad", "brightness": -0.1}"#,
        r#"{"client": "bad", "color": {"s": 0.1}}"#,
        r#"{"client": "bad", "color": {"h": "red", "s": 0.1}}"#,
        r#"{"client": "bad", "color": {"h": 0.1, "s": 0.1}, "on": 1}"#,
        "\u{0}\u{1}binary",
    ];
    for b in bad {
        probe.publish(SET, *b).await;
    }
    // Ordering on one subscription: the first change after the bad ones must be this one, and must show
    // that none of the bad ones applied.
    probe.publish(SET, r#"{"client": "after", "on": true}"#).await;
    let m = probe.expect(CHANGED, T, |_| true).await;
    assert_eq!(m.json()["client"], "after", "a bad payload was published: {}", m.text());
    assert_eq!(state_of(&m.json()), json!({"color": {"h": 0.5, "s": 0.5}, "brightness": 0.4, "on": true}));
    let log = lamp.log();
    let ignored = log.lines().filter(|l| l.contains("ignored set_config")).count();
    assert_eq!(ignored, bad.len(), "one log line per bad payload:\n{log}");
    assert!(log.contains("\"on\" is \"true\": expected true or false"), "{log}");
    assert!(log.contains("\"client\" is missing"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    // The state file was not touched by the bad payloads (the only write after them is for "after").
    let after = std::fs::read_to_string(&state_file).unwrap();
    assert!(after.contains("good") || after.contains("after"), "{after}");
    assert_eq!(String::from_utf8_lossy(&file_before).replace("good", "after"), after.replace("good", "after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_reconnects_resubscribes_and_reannounces() {
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (lamp, mut probe) = started(&broker, dir.path()).await;
    probe.publish(SET, r#"{"client": "before", "brightness": 0.2}"#).await;
    probe.expect(CHANGED, T, |m| m.json()["client"] == "before").await;
    drop(probe);
    broker.restart(); // no persistence: retained messages and subscriptions are gone
    let mut probe = Probe::connect(broker.port(), "test_probe2", &[CHANGED, CONN]).await;
    probe.expect(CONN, T, |m| m.text() == "1").await;
    let st = probe.expect(CHANGED, T, |_| true).await;
    assert_eq!(st.json()["brightness"], 0.2, "state re-published after reconnect: {}", st.text());
    probe.publish(SET, r#"{"client": "after_restart", "brightness": 0.9}"#).await;
    let m = probe.expect(CHANGED, T, |m| m.json()["client"] == "after_restart").await;
    assert_eq!(m.json()["brightness"], 0.9);
    assert!(lamp.log().contains("connects=2"), "{}", lamp.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_at_boot_then_up() {
    let port = Mosquitto::free_port();
    let dir = tempfile::tempdir().unwrap();
    let lamp = Lamp::start(dir.path(), port);
    lamp.wait_log("lamp ready", T);
    lamp.wait_log("broker connection", T); // at least one failed attempt, logged with backoff
    let broker = Mosquitto::start_on(port);
    let mut probe = Probe::connect(broker.port(), "p", &[CONN]).await;
    probe.expect(CONN, T, |m| m.text() == "1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_restart_restores_the_state() {
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut lamp, mut probe) = started(&broker, dir.path()).await;
    probe.publish(SET, r#"{"client": "owner", "color": {"h": 0.6, "s": 0.3}, "brightness": 0.7, "on": false}"#).await;
    probe.expect(CHANGED, T, |m| m.json()["client"] == "owner").await;
    lamp.signal(libc::SIGTERM);
    assert!(lamp.wait_exit(T).is_some());
    broker.restart(); // forget the retained state: only the lamp's own file can restore it
    let mut probe = Probe::connect(broker.port(), "p2", &[CHANGED]).await;
    let _lamp2 = Lamp::start(dir.path(), broker.port());
    let m = probe.expect(CHANGED, T, |_| true).await;
    assert_eq!(state_of(&m.json()), json!({"color": {"h": 0.6, "s": 0.3}, "brightness": 0.7, "on": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_state_writes_never_leaves_an_unreadable_file() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state/lamp-state.json");
    for round in 0..4u32 {
        let (mut lamp, mut probe) = started(&broker, dir.path()).await;
        for i in 0..300u32 {
            let b = f64::from((i * 7 + round) % 101) / 100.0;
            probe.publish(SET, format!(r#"{{"client": "k{round}", "brightness": {b}}}"#)).await;
        }
        // Kill while writes are under way: once a write from this round has landed and more commands are queued.
        probe.expect(CHANGED, T, |m| m.json()["client"] == format!("k{round}")).await;
        poll_until(T, &format!("a state write in round {round}"), || {
            std::fs::read_to_string(&state_file).unwrap_or_default().contains(&format!("k{round}"))
        });
        lamp.signal(libc::SIGKILL);
        lamp.wait_exit(T).expect("killed");
        let text = std::fs::read_to_string(&state_file).expect("state file exists");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("torn file {text:?}: {e}"));
        assert!(v["brightness"].is_number() && v["color"]["h"].is_number(), "{text}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".bad-"))
            .collect();
        assert!(leftovers.is_empty(), "a restart found a corrupt file: {leftovers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_says_goodbye_turns_the_led_off_and_exits_0_within_2s() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut lamp, mut probe) = started(&broker, dir.path()).await;
    lamp.signal(libc::SIGTERM);
    let t0 = Instant::now();
    let status = lamp.wait_exit(Duration::from_secs(5)).expect("exited");
    let took = t0.elapsed();
    assert_eq!(status.code(), Some(0), "{}", lamp.log());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let m = probe.expect(CONN, T, |m| m.text() == "0").await;
    assert!(m.retain || m.text() == "0");
    let log = lamp.log();
    assert!(log.contains("published \"0\""), "{log}");
    let last_led = log.lines().rfind(|l| l.contains("sim LED")).unwrap_or_default();
    assert!(last_led.contains("r=0.0000 g=0.0000 b=0.0000"), "LED not turned off last: {last_led}\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_broker_down_still_exits_0_quickly() {
    let port = Mosquitto::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut lamp = Lamp::start(dir.path(), port);
    lamp.wait_log("lamp ready", T);
    lamp.signal(libc::SIGTERM);
    let t0 = Instant::now();
    let status = lamp.wait_exit(Duration::from_secs(5)).expect("exited");
    assert_eq!(status.code(), Some(0));
    assert!(t0.elapsed() < Duration::from_secs(2), "took {:?}", t0.elapsed());
}

#[test]
fn systemd_ready_comes_before_the_broker_is_reachable() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    let port = Mosquitto::free_port(); // nothing listens there
    let cfg = config_text(port, &dir.path().join("state"), "");
    let mut lamp = Lamp::start_with(
        dir.path(),
        &cfg,
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap()), ("WATCHDOG_USEC", "200000")],
    );
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !seen.iter().any(|m: &String| m.contains("READY=1")) {
        let n = sock.recv(&mut buf).expect("no READY=1 from the daemon");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    // Watchdog pings keep coming while the main loop runs (the broker is still down).
    let n = sock.recv(&mut buf).expect("no watchdog ping");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1"));
    lamp.signal(libc::SIGTERM);
    assert_eq!(lamp.wait_exit(T).and_then(|s| s.code()), Some(0));
}

/// A bad `set_config` of size `size` (kind chosen by `i`): under the codec's limit, broken JSON or a wrong type;
/// over it, also a perfectly valid command padded out (only its size is wrong), random bytes or a JSON array.
fn bad_payload(i: u64, size: usize) -> Vec<u8> {
    let fill = |head: &str, tail: &str| -> Vec<u8> {
        let mut v = head.as_bytes().to_vec();
        v.resize(size.saturating_sub(tail.len()).max(head.len()), b'a');
        v.extend_from_slice(tail.as_bytes());
        v.truncate(size);
        v
    };
    let noise = || (0..size as u64).map(|k| ((k + i).wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    match (size > lampi_agent::lamp::codec::MAX_COMMAND_BYTES, i % 3) {
        (true, 0) => fill(r#"{"client": "fuzz", "on": false, "pad": ""#, r#""}"#),
        (true, 1) => noise(),
        (true, _) => fill("[", "]"),
        (false, 0) => noise(),
        // A truncated prefix is broken JSON; a whole one has "on" as a string: bad either way.
        (false, _) => fill(r#"{"client": "fuzz", "on": "true", "pad": ""#, r#""}"#),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_of_any_size_change_nothing_and_never_drop_the_connection() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (lamp, mut probe) = started(&broker, dir.path()).await;
    let n: u64 = 2000;
    // Log-spaced sizes from 1 byte to 1 MiB, sent alternately at QoS 0 and QoS 1 from a task while the probe's
    // event loop runs (below), then one good command.
    let sizes: Vec<usize> = (0..n).map(|i| 2f64.powf(20.0 * i as f64 / (n - 1) as f64).round() as usize).collect();
    assert_eq!((sizes[0], sizes[sizes.len() - 1]), (1, 1 << 20));
    let client = probe.client.clone();
    let sender = tokio::spawn(async move {
        for (i, size) in sizes.into_iter().enumerate() {
            let qos = if i % 2 == 0 { rumqttc::QoS::AtMostOnce } else { rumqttc::QoS::AtLeastOnce };
            client.publish(SET, qos, false, bad_payload(i as u64, size)).await.unwrap();
        }
        let good = r#"{"client": "after", "brightness": 0.25}"#;
        client.publish(SET, rumqttc::QoS::AtLeastOnce, false, good).await.unwrap();
    });
    // The first lamp/changed since start-up must answer the good command: no bad payload published anything,
    // and no reconnect re-announced the state.
    let m = probe.expect(CHANGED, Duration::from_secs(120), |_| true).await;
    sender.await.unwrap();
    assert_eq!(m.json()["client"], "after", "a bad payload or a reconnect published: {}", m.text());
    assert_eq!(state_of(&m.json()), json!({"color": {"h": 1.0, "s": 1.0}, "brightness": 0.25, "on": true}));
    let log = lamp.log();
    assert_eq!(log.matches("connected to the broker; subscribing").count(), 1, "the lamp reconnected:\n{log}");
    let connects = broker.log().matches("as lamp_service").count();
    assert_eq!(connects, 1, "mosquitto saw the lamp connect {connects} times:\n{}", broker.log());
    let ignored = log.lines().filter(|l| l.contains("ignored set_config")).count() as u64;
    assert_eq!(ignored, n, "one warning per bad payload");
    assert!(
        log.contains("ignored set_config: payload of 1,048,576 bytes: expected a set_config of at most 4,096 bytes; nothing changed"),
        "{}",
        log.lines().filter(|l| l.contains("1,048,576")).collect::<Vec<_>>().join("\n")
    );
    assert!(!log.contains("payload size limit exceeded"), "{log}");
}
