//! `lampi-agent demo`: the whole lamp on a machine with nothing installed.
//!
//! Starts an in-process MQTT broker (rumqttd) on a free loopback port, the real daemon with the simulated LED and a
//! throw-away state directory, and a scripted client that changes the lamp a few times (including one bad command,
//! which must change nothing) and prints what the lamp did: its `lamp/changed` reply, the LED duties, the round trip.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rumqttc::{Event, EventLoop, MqttOptions, Packet, QoS};

use crate::config::Settings;
use crate::identity::Identity;
use crate::lamp::{codec, colour};
use crate::led::{Led, Sim};
use crate::mqtt::Topics;

const BROKER_TOML: &str = r#"
id = 0
[router]
id = 0
max_connections = 64
max_outgoing_packet_count = 200
max_segment_size = 1048576
max_segment_count = 4
[v4.1]
name = "demo"
listen = "127.0.0.1:PORT"
next_connection_delay_ms = 1
[v4.1.connections]
connection_timeout_ms = 5000
max_payload_size = 20480
max_inflight_count = 100
dynamic_filters = true
"#;

const CLIENT: &str = "lamp_demo";

/// The script: what the demo client sends, and what it shows.
const STEPS: &[(&str, &str)] = &[
    (
        "green, full brightness",
        r#"{"color": {"h": 0.33, "s": 1.0}, "brightness": 1.0, "on": true, "client": "lamp_demo"}"#,
    ),
    ("dim to 30% (a partial update)", r#"{"brightness": 0.3, "client": "lamp_demo"}"#),
    ("a bad command: \"on\" as a string", r#"{"on": "true", "brightness": 0.9, "client": "lamp_demo"}"#),
    ("warm white", r#"{"color": {"h": 0.08, "s": 0.35}, "brightness": 0.8, "client": "lamp_demo"}"#),
    ("power off", r#"{"on": false, "client": "lamp_demo"}"#),
    ("power on again", r#"{"on": true, "client": "lamp_demo"}"#),
];

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts the broker on its own thread and returns once it accepts connections (a TCP handshake), with Nagle off.
async fn start_broker(port: u16) -> anyhow::Result<()> {
    let config: rumqttd::Config =
        toml::from_str(&BROKER_TOML.replace("PORT", &port.to_string())).context("embedded broker config")?;
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new().name("demo-broker".into()).spawn(move || {
        if let Err(e) = broker.start() {
            eprintln!("demo broker stopped: {e}");
        }
    })?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            bail!("the embedded broker is not listening on 127.0.0.1:{port} after 5 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await; // poll interval while the broker thread binds
    }
    nodelay_on_listener(port);
    Ok(())
}

/// rumqttd leaves Nagle's algorithm on for the sockets it accepts and has no option for it: a lamp/changed it
/// forwards then waits for the client's delayed ACK, about 40 ms a round trip, where mosquitto with
/// `set_tcp_nodelay true` (and the lamp itself) answers in well under a millisecond. Linux and the BSDs copy
/// TCP_NODELAY from a listening socket to the sockets it accepts, so setting it on rumqttd's listener (found by its
/// port among this process's descriptors) turns Nagle off for every client that connects afterwards.
fn nodelay_on_listener(port: u16) {
    for fd in 3..1024 {
        let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let (mut listening, mut optlen) = (0 as libc::c_int, std::mem::size_of::<libc::c_int>() as libc::socklen_t);
        // SAFETY: plain getsockname/getsockopt/setsockopt on descriptor numbers with correctly sized buffers; a
        // number that is no socket (or not open) just fails.
        let ours = unsafe {
            libc::getsockname(fd, (&raw mut addr).cast(), &mut len) == 0
                && i32::from(addr.sin_family) == libc::AF_INET
                && u16::from_be(addr.sin_port) == port
                && libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN, (&raw mut listening).cast(), &mut optlen)
                    == 0
                && listening == 1
        };
        if ours {
            let on: libc::c_int = 1;
            let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: as above.
            unsafe { libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&raw const on).cast(), size) };
            return;
        }
    }
    tracing::warn!("embedded broker: listener not found; round trips will show Nagle's ~40 ms");
}

/// The demo client's messages, by topic. The broker orders messages per topic, not across topics (the lamp's
/// first lamp/changed may come before or after its "1" on the connection topic): whatever arrives on another topic
/// than the one awaited is kept for later, never dropped.
struct Inbox {
    ev: EventLoop,
    kept: Vec<(String, Vec<u8>)>,
}

impl Inbox {
    /// The next message on `topic` (kept or new), or an error once `deadline` passes.
    async fn next_on(&mut self, topic: &str, deadline: Instant) -> anyhow::Result<Vec<u8>> {
        if let Some(i) = self.kept.iter().position(|(t, _)| t == topic) {
            return Ok(self.kept.remove(i).1);
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.ev.poll()).await {
                Err(_) => bail!("no message on {topic} in time"),
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) if p.topic == topic => return Ok(p.payload.to_vec()),
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => self.kept.push((p.topic, p.payload.to_vec())),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e).context("demo client lost the embedded broker"),
            }
        }
    }
}

/// What the demo shows.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Fade between colours over this long (the lamp's default is no fade).
    pub transition: Option<Duration>,
}

pub async fn run(args: Options) -> anyhow::Result<()> {
    let port = free_port()?;
    start_broker(port).await?;
    let state_dir = std::env::temp_dir().join(format!("lampi-agent-demo-{}", std::process::id()));
    let transition = args.transition.map_or("0s".to_string(), |d| humantime::format_duration(d).to_string());
    let toml = format!(
        "[device]\nid = \"b827eb08451e\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nreconnect_min = \"50ms\"\n\
         reconnect_max = \"500ms\"\n[led]\nbackend = \"sim\"\ntransition = \"{transition}\"\n[state]\ndir = {:?}\n",
        state_dir.display().to_string()
    );
    let settings = Settings::from_toml(&toml, "demo settings", &|_| None)?;
    let id = Identity { device_id: "b827eb08451e".into(), source: "config".into() };
    let topics = Topics::new("", &id.device_id, "lamp_service");
    let sim = Sim::new(settings.led.pins);
    println!("lampi-agent demo: an in-process MQTT broker on 127.0.0.1:{port}, the lamp daemon with a simulated LED,");
    println!("and a scripted client `{CLIENT}` sending lamp/set_config. State kept in {}.\n", state_dir.display());

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon_settings = settings.clone();
    let daemon_led: Box<dyn Led> = Box::new(sim.clone());
    let daemon = tokio::spawn(async move {
        crate::daemon::run(&daemon_settings, &id, daemon_led, || {}, async {
            let _ = stop_rx.await;
        })
        .await
    });

    let mut opts = MqttOptions::new(CLIENT, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(10));
    let (client, ev) = crate::mqtt::client(opts, 16);
    let mut inbox = Inbox { ev, kept: Vec::new() };
    client.subscribe(&topics.connection, QoS::ExactlyOnce).await?;
    client.subscribe(&topics.changed, QoS::AtLeastOnce).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let birth = inbox.next_on(&topics.connection, deadline).await?;
    println!("{:<34} {}", topics.connection, String::from_utf8_lossy(&birth));
    let first = inbox.next_on(&topics.changed, deadline).await?;
    println!("{:<34} {}\n", "lamp/changed (retained at start)", String::from_utf8_lossy(&first));

    println!("{:<36} {:<44} {:<24} {:>10}", "step", "lamp/changed", "LED duties (r g b)", "round trip");
    let gamma = settings.led.gamma;
    for (what, payload) in STEPS {
        let bad = codec::parse_command(payload.as_bytes()).err();
        let sent = Instant::now();
        client.publish(&topics.set_config, QoS::AtLeastOnce, false, *payload).await?;
        if let Some(reason) = bad {
            println!("{what:<36} (ignored by the lamp: {reason})");
            continue;
        }
        // The reply to this command: a lamp/changed from this client (the broker may repeat the start-up one).
        let deadline = Instant::now() + Duration::from_secs(5);
        let (reply, rtt) = loop {
            let reply = inbox.next_on(&topics.changed, deadline).await?;
            let rtt = sent.elapsed();
            let (state, by) = codec::parse_state(&reply).context("lamp/changed from the daemon")?;
            if by == CLIENT {
                break (state, rtt);
            }
        };
        let state = reply;
        // The LED task applies the change beside the MQTT reply (after the fade, if any): wait for it, bounded.
        let expected = colour::duties(&state, gamma);
        let settle = Instant::now() + args.transition.unwrap_or_default() + Duration::from_secs(1);
        while sim.current() != expected && Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(1)).await; // poll interval of the simulated LED
        }
        let duties = sim.current();
        let mark = if duties != expected { " (LED disagrees!)" } else { "" };
        println!(
            "{what:<36} {:<44} {:<24} {:>7.2} ms{mark}",
            state.to_string(),
            format!("{:.3} {:.3} {:.3}", duties.red(), duties.green(), duties.blue()),
            rtt.as_secs_f64() * 1000.0
        );
    }

    let _ = stop_tx.send(());
    let summary = daemon.await.context("daemon task")??;
    let goodbye = inbox.next_on(&topics.connection, Instant::now() + Duration::from_secs(3)).await?;
    println!("\n{:<34} {}", topics.connection, String::from_utf8_lossy(&goodbye));
    println!(
        "daemon stopped: {} commands applied, {} rejected, LED off ({}); final state {}",
        summary.accepted,
        summary.rejected,
        sim.current(),
        summary.final_state
    );
    let _ = std::fs::remove_dir_all(&state_dir);
    if summary.rejected != 1 {
        bail!("expected exactly one rejected command, saw {}", summary.rejected);
    }
    Ok(())
}
