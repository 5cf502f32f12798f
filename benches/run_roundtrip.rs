//! Benchmark for `lampi-agent run` (not a test: it prints figures).
//!
//!     cargo bench --bench run_roundtrip [-- COMMANDS]
//!
//! Starts a private mosquitto on a free loopback port and the release daemon (sim LED, default log level), then
//! sends COMMANDS (default 10,000) set_config messages one at a time, each waiting for its lamp/changed, and prints
//! the round-trip distribution (HdrHistogram, µs), the daemon's resident memory (VmRSS and peak VmHWM) and its CPU
//! use while idle and while serving.

#[path = "../tests/support/mosquitto.rs"]
#[allow(dead_code)]
mod mosquitto;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

fn proc_status(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = &s[s.rfind(')').map_or(0, |i| i + 2)..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn ticks_per_sec() -> f64 {
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let broker = mosquitto::Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lampi.toml");
    std::fs::write(
        &cfg,
        format!(
            "[device]\nid = \"b827eb08451e\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n[led]\nbackend = \"sim\"\n[state]\ndir = \"{}\"\n",
            broker.port(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_lampi-agent"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = daemon.id();

    let mut o = MqttOptions::new("bench", "127.0.0.1", broker.port());
    o.set_keep_alive(Duration::from_secs(30));
    let (client, mut ev) = AsyncClient::new(o, 100);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    ev.set_network_options(net);
    client.subscribe("lamp/changed", QoS::AtLeastOnce).await.unwrap();
    // Wait for the daemon's start-up state so we know it is connected.
    loop {
        if let Event::Incoming(Packet::Publish(p)) = ev.poll().await.unwrap() {
            if p.payload.windows(12).any(|w| w == b"lamp_service") {
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // let start-up settle before measuring idle
    let idle_secs = 5.0;
    let t0 = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs_f64(idle_secs)).await;
    let idle_cpu = (cpu_ticks(pid) - t0) as f64 / ticks_per_sec() / idle_secs * 100.0;
    let rss_idle = proc_status(pid, "VmRSS:");

    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let busy_t0 = cpu_ticks(pid);
    let wall = Instant::now();
    for i in 0..n {
        let b = (i % 101) as f64 / 100.0;
        let id = format!("bench{}", i % 2); // alternate so consecutive commands differ
        let payload = format!(r#"{{"client": "{id}", "brightness": {b}, "color": {{"h": {b}, "s": 1.0}}}}"#);
        let want = format!("\"brightness\":{}", serde_json::json!(b));
        let sent = Instant::now();
        client.publish("lamp/set_config", QoS::AtLeastOnce, false, payload).await.unwrap();
        loop {
            if let Event::Incoming(Packet::Publish(p)) = ev.poll().await.unwrap() {
                let s = String::from_utf8_lossy(&p.payload);
                if s.contains(&id) && s.contains(&want) {
                    break;
                }
            }
        }
        hist.record(sent.elapsed().as_micros().max(1) as u64).unwrap();
    }
    let elapsed = wall.elapsed().as_secs_f64();
    let busy_cpu = (cpu_ticks(pid) - busy_t0) as f64 / ticks_per_sec() / elapsed * 100.0;
    let rss = proc_status(pid, "VmRSS:");
    let hwm = proc_status(pid, "VmHWM:");
    let _ = daemon.kill();
    let _ = daemon.wait();

    let ms = |us: u64| us as f64 / 1000.0;
    println!("lampi-agent run: set_config -> lamp/changed round trip, {n} commands, one at a time, local mosquitto");
    println!(
        "  round trip ms: min {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  ({:.0} commands/s)",
        ms(hist.min()),
        ms(hist.value_at_quantile(0.50)),
        ms(hist.value_at_quantile(0.90)),
        ms(hist.value_at_quantile(0.99)),
        ms(hist.value_at_quantile(0.999)),
        ms(hist.max()),
        n as f64 / elapsed
    );
    println!(
        "  daemon RSS: idle {:.1} MB, after the run {:.1} MB, peak {:.1} MB",
        rss_idle as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!("  daemon CPU: idle {idle_cpu:.2}% of one core over {idle_secs:.0} s; {busy_cpu:.1}% while serving the commands");
}
