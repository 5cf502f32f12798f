//! The lamp service check, and how the self-test finds a running `lampi-agent run`.
//!
//! Service: the retained connection topic (`lamp/connection/lamp_service/state`) must say `"1"`, and a `set_config`
//! that changes nothing (`{"client": "lamp_selftest"}`) must come back on `lamp/changed`, timed. The verdict on the
//! connection topic is pure ([`connection_verdict`]).
//!
//! A daemon is found two ways: by its connection topic on the broker (then the LED check drives the lamp through it),
//! or, when the broker cannot tell, by a `lampi-agent run` process on this machine using the same config file (then
//! the LED check leaves the pins alone). [`daemon_config`] reads a command line; [`daemon_pids`] scans /proc.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::broker::{self, Conn};
use super::{ms, Ctx, Verdict, CLIENT_ID};
use crate::lamp::{codec, Command, State};
use crate::mqtt::Topics;

/// The lamp's topics under this config.
pub fn topics(ctx: &Ctx<'_>) -> Topics {
    let s = ctx.settings;
    Topics::new(&s.mqtt.topic_prefix, &ctx.identity.device_id, &s.mqtt.client_id)
}

/// What the broker holds for the lamp service: its connection state and its last `lamp/changed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub connection: Option<String>,
    pub changed: Option<Result<(State, String), String>>,
}

/// Subscribes to the lamp's connection and changed topics and collects what is retained on them.
pub async fn observe(conn: &mut Conn, ctx: &Ctx<'_>, topics: &Topics) -> Result<Seen, String> {
    let private = broker::private_topic(ctx);
    ctx.stage(format!("waiting for SUBACKs on {} and {}", topics.connection, topics.changed));
    conn.subscribe(&[&topics.connection, &topics.changed, &private]).await?;
    ctx.stage(format!("waiting for the retained messages on {}", topics.connection));
    conn.sync(&private, "sync").await?;
    Ok(Seen {
        connection: conn.last_on(&topics.connection).map(|m| String::from_utf8_lossy(&m.payload).into_owned()),
        changed: conn.last_on(&topics.changed).map(|m| {
            codec::parse_state(&m.payload).map_err(|e| format!("retained {} unreadable: {e}", topics.changed))
        }),
    })
}

/// The verdict on the retained connection topic: `Ok` when it says `"1"`.
pub fn connection_verdict(value: Option<&str>, topic: &str) -> Result<(), Verdict> {
    match value {
        Some("1") => Ok(()),
        Some("0") => Err(Verdict::fail(
            format!("the lamp service is offline: {topic} = \"0\""),
            "`systemctl status lampi-agent`; `journalctl -u lampi-agent -n 50`",
        )),
        None => Err(Verdict::fail(
            format!("no lamp service has announced itself: nothing retained on {topic}"),
            "`systemctl enable --now lampi-agent`; its mqtt.client_id and topic_prefix must match this config",
        )),
        Some(other) => Err(Verdict::fail(
            format!("{topic} = {other:?}, expected \"1\""),
            "something else publishes on the lamp service's connection topic: check the clients on this broker",
        )),
    }
}

/// Sends `cmd` on `set_config` and waits for the `lamp/changed` that answers it; returns the round trip.
pub async fn round_trip(conn: &mut Conn, topics: &Topics, cmd: &Command) -> Result<Duration, String> {
    conn.clear();
    let t0 = Instant::now();
    conn.publish(&topics.set_config, codec::encode_command(cmd)).await?;
    conn.wait_for(|m| {
        m.topic == topics.changed
            && codec::parse_state(&m.payload).is_ok_and(|(state, client)| crate::lamp::answers(cmd, &state, &client))
    })
    .await?;
    Ok(t0.elapsed())
}

pub async fn check(ctx: &Ctx<'_>) -> Verdict {
    let cfg = &ctx.settings.mqtt;
    ctx.stage(format!("waiting for CONNACK from {}:{}", cfg.host, cfg.port));
    let mut conn = match Conn::connect(cfg).await {
        Ok((c, _)) => c,
        Err(e) => {
            let v = broker::connect_failure(&e, cfg);
            return Verdict { detail: format!("cannot ask the broker: {}", v.detail), ..v };
        }
    };
    let topics = topics(ctx);
    let verdict = match observe(&mut conn, ctx, &topics).await {
        Err(e) => Verdict::fail(e, "see the broker check"),
        Ok(seen) => match connection_verdict(seen.connection.as_deref(), &topics.connection) {
            Err(v) => v,
            Ok(()) => {
                let noop = Command { client: CLIENT_ID.into(), h: None, s: None, brightness: None, on: None };
                ctx.stage(format!("waiting for {} after a set_config", topics.changed));
                match round_trip(&mut conn, &topics, &noop).await {
                    Ok(rtt) => Verdict::pass(format!(
                        "{} online ({} = \"1\"); set_config round trip {}",
                        cfg.client_id,
                        topics.connection,
                        ms(rtt)
                    )),
                    Err(e) => Verdict::fail(
                        format!("online, but no {} answered a set_config: {e}", topics.changed),
                        "`journalctl -u lampi-agent -n 50`",
                    ),
                }
            }
        },
    };
    conn.close().await;
    verdict
}

/// The config file of a `lampi-agent run` command line (`--config FILE`, else the default path); None for any other
/// command line.
pub fn daemon_config(args: &[String]) -> Option<PathBuf> {
    let prog = Path::new(args.first()?).file_name()?.to_str()?;
    if prog != "lampi-agent" {
        return None;
    }
    let (mut config, mut sub) = (None, None);
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            config = it.next().map(PathBuf::from);
        } else if let Some(v) = a.strip_prefix("--config=") {
            config = Some(PathBuf::from(v));
        } else if !a.starts_with('-') && sub.is_none() {
            sub = Some(a.as_str());
        }
    }
    (sub == Some("run")).then(|| config.unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_PATH)))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Processes running `lampi-agent run` on the same config file as this self-test (other than this process).
pub fn daemon_pids(ours: Option<&Path>) -> Vec<u32> {
    let ours = ours.map_or_else(|| PathBuf::from(crate::config::DEFAULT_PATH), Path::to_path_buf);
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let Some(config) = daemon_config(&args) else { return false };
            let config = match std::fs::read_link(format!("/proc/{pid}/cwd")) {
                Ok(cwd) if config.is_relative() => cwd.join(config),
                _ => config,
            };
            same_file(&config, &ours)
        })
        .collect();
    pids.sort_unstable();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::Status;

    const T: &str = "lamp/connection/lamp_service/state";

    #[test]
    fn the_connection_topic_must_say_1() {
        assert!(connection_verdict(Some("1"), T).is_ok());
        let off = connection_verdict(Some("0"), T).unwrap_err();
        assert_eq!(off.status, Status::Fail);
        assert_eq!(off.detail, "the lamp service is offline: lamp/connection/lamp_service/state = \"0\"");
        assert!(off.hint.unwrap().contains("systemctl status lampi-agent"));
        let none = connection_verdict(None, T).unwrap_err();
        assert!(none.detail.contains("nothing retained"), "{}", none.detail);
        assert!(none.hint.unwrap().contains("systemctl enable --now lampi-agent"));
        assert!(connection_verdict(Some("online"), T).unwrap_err().detail.contains("\"online\""));
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn daemon_command_lines_are_recognised_with_their_config() {
        assert_eq!(
            daemon_config(&args("/usr/local/bin/lampi-agent run --config /etc/lampi-agent/lampi.toml")),
            Some(PathBuf::from("/etc/lampi-agent/lampi.toml"))
        );
        assert_eq!(daemon_config(&args("lampi-agent -v --config=x.toml run")), Some(PathBuf::from("x.toml")));
        assert_eq!(daemon_config(&args("lampi-agent run")), Some(PathBuf::from(crate::config::DEFAULT_PATH)));
        assert_eq!(daemon_config(&args("lampi-agent selftest --config x.toml")), None);
        assert_eq!(daemon_config(&args("lampi-agent --config run selftest")), None, "`run` here is the config file");
        assert_eq!(daemon_config(&args("/usr/bin/vim run")), None);
        assert_eq!(daemon_config(&[]), None);
    }

    #[test]
    fn no_daemon_runs_on_a_config_nobody_uses() {
        let dir = tempfile::tempdir().unwrap();
        assert!(daemon_pids(Some(&dir.path().join("lampi.toml"))).is_empty());
    }
}
