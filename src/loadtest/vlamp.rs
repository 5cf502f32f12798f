//! A virtual lamp's MQTT: the owner's side (the lamp page's connection: publishes `set_config`, listens to
//! `lamp/changed`) and, with `--responder internal`, the lamp's side (a responder that behaves as `lampi-agent run`
//! does, with the same codec and state rules, so one host can stand in for a fleet).
//!
//! Timing: `connect` is CONNECT -> CONNACK, `subscribe` SUBSCRIBE -> SUBACK, `publish` the request -> PUBACK (paired
//! by packet id), and `roundtrip` is `set_config` sent -> the matching `lamp/changed` received, matched by `client`
//! and content. Anything not answered within the timeout is a failure with its own name. Each connection is one
//! task ([`super::link::Driver`]); the handles here only send it commands, so nothing here waits on the network.
//! The responder answers a `set_config` inside its connection's task: the PUBACK of the command and the
//! `lamp/changed` it causes leave in one write. While a connection is down, an action on it fails at once as
//! `broker unreachable`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::mqttbytes::v4::Publish;
use rumqttc::{LastWill, QoS};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::conn::Conn;
use super::fleet::Role;
pub use super::link::Link;
use super::link::{Driver, Flow, Side, Waiting, QUEUE_FULL, UNREACHABLE};
use super::sample::{self, Outbox, Samples, Timed};
use super::stop::Stop;
use crate::lamp::{codec, Command, State};
use crate::mqtt::Topics;

/// What the lamp page asks of its connection.
enum OwnerCommand {
    /// Publish `sent` (intended at `intended`, handed over at `at`) and time its PUBACK and round trip.
    SetConfig {
        sent: Command,
        intended: Instant,
        at: Instant,
    },
    Close {
        why: String,
        linger: Duration,
    },
}

/// The owner's connection: the lamp page's MQTT client.
pub struct Owner {
    commands: mpsc::Sender<Box<OwnerCommand>>,
    pub client_id: String,
    roundtrips: Arc<AtomicUsize>,
    task: JoinHandle<()>,
    /// What the page believes the lamp's state is; it sends the full state each time, as the page does.
    pub view: State,
}

impl Owner {
    /// Connects (timed from `intended`) and subscribes to `lamp/changed`.
    pub fn connect(link: &Link, client_id: &str, intended: Instant, out: &Samples) -> Owner {
        let side = OwnerSide { topics: link.topics.clone() };
        let (driver, commands, roundtrips) = Driver::new(side, client_id.to_string(), link.clone(), intended, out);
        let task = tokio::spawn(driver.run());
        Owner { commands, client_id: client_id.to_string(), roundtrips, task, view: State::default() }
    }

    /// Sends `cmd` (with `full`, the whole state with it applied, as the web page does; otherwise just its fields,
    /// as the app does); times the PUBACK and the round trip.
    pub async fn set_config(&mut self, cmd: &Command, full: bool, intended: Instant, out: &Samples) {
        self.view = self.view.apply(cmd);
        let sent = if full {
            Command {
                client: self.client_id.clone(),
                h: Some(self.view.h),
                s: Some(self.view.s),
                brightness: Some(self.view.brightness),
                on: Some(self.view.on),
            }
        } else {
            // LAMPI's colour is one object: an app moving hue alone still sends {"h", "s"} (s as the app shows it).
            let (h, s) = match (cmd.h, cmd.s) {
                (None, None) => (None, None),
                (h, s) => (h.or(Some(self.view.h)), s.or(Some(self.view.s))),
            };
            Command { client: self.client_id.clone(), h, s, ..cmd.clone() }
        };
        let at = Instant::now();
        self.roundtrips.fetch_add(1, Ordering::Relaxed);
        if self.commands.try_send(Box::new(OwnerCommand::SetConfig { sent, intended, at })).is_err() {
            self.roundtrips.fetch_sub(1, Ordering::Relaxed);
            out.send(sample::PUBLISH, intended, at, Err(QUEUE_FULL.into())).await;
        }
    }

    /// Closes the connection: publishes still unacknowledged get up to `linger`, then they and the round trips
    /// still waiting fail as `why`.
    pub async fn close(mut self, why: &str, linger: Duration) {
        let bye = Box::new(OwnerCommand::Close { why: why.to_string(), linger });
        let limit = linger + Duration::from_millis(500);
        if tokio::time::timeout(limit, self.commands.send(bye)).await.is_err()
            || tokio::time::timeout(limit, &mut self.task).await.is_err()
        {
            self.task.abort();
        }
    }

    /// Waits (up to `limit`, or until the run must stop at once) until no round trip is waiting.
    pub async fn settle(&self, limit: Duration, mut stop: watch::Receiver<Stop>) {
        let deadline = Instant::now() + limit;
        let settled = async {
            while self.roundtrips.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            _ = settled => {}
            _ = super::stop::now(&mut stop) => {}
        }
    }
}

struct OwnerSide {
    topics: Arc<Topics>,
}

impl Side for OwnerSide {
    type Command = OwnerCommand;

    fn role(&self) -> Role {
        Role::Owner
    }

    fn subscription(&self) -> &str {
        &self.topics.changed
    }

    fn publish(&mut self, p: Publish, _conn: &mut Conn, w: &mut Waiting, out: &mut Outbox) {
        if p.topic != self.topics.changed {
            return;
        }
        if let Ok((state, client)) = codec::parse_state(&p.payload) {
            if let Some(t) = w.answered(&state, &client) {
                out.push(t, Ok(p.payload.len() as u64));
            }
        }
    }

    fn command(&mut self, c: OwnerCommand, conn: Option<&mut Conn>, w: &mut Waiting, out: &mut Outbox) -> Flow {
        let (sent, intended, at) = match c {
            OwnerCommand::SetConfig { sent, intended, at } => (sent, intended, at),
            OwnerCommand::Close { why, linger } => return Flow::Close { why, linger },
        };
        let publish = Timed { op: sample::PUBLISH, intended, sent: at };
        let roundtrip = Timed { op: sample::ROUNDTRIP, intended, sent: at };
        match conn {
            None => {
                w.ended_roundtrips(1);
                out.push(publish, Err(UNREACHABLE));
                out.push(roundtrip, Err(UNREACHABLE));
            }
            Some(_) if !w.has_room() => {
                w.ended_roundtrips(1);
                out.push(publish, Err(QUEUE_FULL));
            }
            Some(conn) => {
                let pkid = conn.publish(&self.topics.set_config, QoS::AtLeastOnce, false, codec::encode_command(&sent));
                w.sent(pkid, Some(publish));
                w.expect_roundtrip(sent, roundtrip);
            }
        }
        Flow::Go
    }
}

/// What the lamp's own task is asked.
enum LampCommand {
    /// A change on the touchscreen, intended at `intended`, handed over at `at`.
    Touch {
        cmd: Command,
        intended: Instant,
        at: Instant,
    },
    Close {
        why: String,
        linger: Duration,
        state: oneshot::Sender<State>,
    },
}

/// The lamp's side, inside the load run: answers `set_config` as `lampi-agent run` would.
pub struct Responder {
    commands: mpsc::Sender<Box<LampCommand>>,
    task: JoinHandle<()>,
    subscribed: watch::Receiver<bool>,
    out: Samples,
}

impl Responder {
    /// Connects (timed from `intended` as `connect`), announces itself as the lamp does and answers commands.
    pub fn start(link: &Link, client_id: &str, state: State, intended: Instant, out: &Samples) -> Responder {
        let (subscribed_tx, subscribed) = watch::channel(false);
        let side = LampSide { topics: link.topics.clone(), state, subscribed: subscribed_tx, reply: None };
        let (driver, commands, _) = Driver::new(side, client_id.to_string(), link.clone(), intended, out);
        let task = tokio::spawn(driver.run());
        Responder { commands, task, subscribed, out: out.clone() }
    }

    /// Waits (up to `limit`) until the lamp listens to `set_config`; false if it did not within the limit.
    pub async fn ready(&self, limit: Duration) -> bool {
        let mut rx = self.subscribed.clone();
        let listening = tokio::time::timeout(limit, rx.wait_for(|s| *s)).await.is_ok_and(|r| r.is_ok());
        listening
    }

    /// A change made on the lamp's own touchscreen: applied and published by the lamp (timed as `publish changed`,
    /// from `intended`).
    pub async fn touch(&self, cmd: Command, intended: Instant) {
        let at = Instant::now();
        if self.commands.try_send(Box::new(LampCommand::Touch { cmd, intended, at })).is_err() {
            self.out.send(sample::CHANGED, intended, at, Err(QUEUE_FULL.into())).await;
        }
    }

    /// Disconnects once the touchscreen changes already made are published and acknowledged (up to `limit`); any
    /// still unacknowledged then is reported as failed with `why`, never dropped. Returns the lamp's state, which it
    /// keeps across reconnects as the real lamp does.
    pub async fn close(mut self, limit: Duration, why: &str) -> Option<State> {
        let (tx, rx) = oneshot::channel();
        let bye = Box::new(LampCommand::Close { why: why.to_string(), linger: limit, state: tx });
        let wait = limit + Duration::from_millis(500);
        if tokio::time::timeout(wait, self.commands.send(bye)).await.is_err() {
            self.task.abort();
            return None;
        }
        let state = tokio::time::timeout(wait, rx).await.ok().and_then(Result::ok);
        if tokio::time::timeout(Duration::from_millis(500), &mut self.task).await.is_err() {
            self.task.abort();
        }
        state
    }
}

struct LampSide {
    topics: Arc<Topics>,
    state: State,
    subscribed: watch::Sender<bool>,
    /// Where the state goes when the lamp is closed.
    reply: Option<oneshot::Sender<State>>,
}

impl LampSide {
    /// Applies a change and publishes the new state (timed from `timed` for a touchscreen change).
    fn apply(
        &mut self,
        cmd: &Command,
        timed: Option<Timed>,
        conn: Option<&mut Conn>,
        w: &mut Waiting,
        out: &mut Outbox,
    ) {
        // The touchscreen works without a broker; telling anyone does not.
        self.state = self.state.apply(cmd);
        match conn {
            None => {
                if let Some(t) = timed {
                    out.push(t, Err(UNREACHABLE));
                }
            }
            Some(_) if !w.has_room() => {
                if let Some(t) = timed {
                    out.push(t, Err(QUEUE_FULL));
                }
            }
            Some(conn) => {
                let payload = codec::encode_changed(&self.state, &cmd.client);
                w.sent(conn.publish(&self.topics.changed, QoS::AtLeastOnce, true, payload), timed);
            }
        }
    }
}

impl Side for LampSide {
    type Command = LampCommand;

    fn role(&self) -> Role {
        Role::Lamp
    }

    fn subscription(&self) -> &str {
        &self.topics.set_config
    }

    fn will(&self) -> Option<LastWill> {
        Some(crate::mqtt::will(&self.topics))
    }

    /// What a lamp publishes on every connect: `"1"` on its connection topic (QoS 2, retained) and its state on
    /// `lamp/changed` (retained), untimed.
    fn connected(&mut self, conn: &mut Conn, w: &mut Waiting) {
        w.sent(conn.publish(&self.topics.connection, QoS::ExactlyOnce, true, "1"), None);
        let birth = codec::encode_changed(&self.state, "lamp_service");
        w.sent(conn.publish(&self.topics.changed, QoS::AtLeastOnce, true, birth), None);
    }

    fn subscribed(&mut self) {
        let _ = self.subscribed.send(true);
    }

    fn publish(&mut self, p: Publish, conn: &mut Conn, w: &mut Waiting, out: &mut Outbox) {
        if p.topic != self.topics.set_config {
            return;
        }
        // A bad command changes nothing, as on the real lamp.
        if let Ok(cmd) = codec::parse_command(&p.payload) {
            self.apply(&cmd, None, Some(conn), w, out);
        }
    }

    fn command(&mut self, c: LampCommand, conn: Option<&mut Conn>, w: &mut Waiting, out: &mut Outbox) -> Flow {
        match c {
            LampCommand::Touch { cmd, intended, at } => {
                self.apply(&cmd, Some(Timed { op: sample::CHANGED, intended, sent: at }), conn, w, out);
                Flow::Go
            }
            LampCommand::Close { why, linger, state } => {
                self.reply = Some(state);
                Flow::Close { why, linger }
            }
        }
    }

    fn finish(self) {
        if let Some(tx) = self.reply {
            let _ = tx.send(self.state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every connection's task holds for its whole life, measured on the futures themselves: the connect
    /// handshake (1.8 KiB with TLS) is boxed while it lasts: 2.0 KiB a task, 2.9 inline.
    #[tokio::test]
    async fn a_connections_task_does_not_keep_room_for_its_handshake() {
        let endpoint =
            super::super::conn::Endpoint::new(&rumqttc::MqttOptions::new("t", "127.0.0.1", 1), Duration::from_secs(1));
        let link = Link {
            endpoint: Arc::new(endpoint.unwrap()),
            topics: Arc::new(Topics::new("devices/{device_id}/", "b827eb000001", "lamp_service")),
            timeout: Duration::from_secs(1),
            reconnect: (Duration::from_millis(100), Duration::from_secs(1)),
            fleet: Arc::new(Default::default()),
        };
        let (samples, _rx) = Samples::channel(16);
        let owner = OwnerSide { topics: link.topics.clone() };
        let (driver, _commands, _) = Driver::new(owner, "o".into(), link.clone(), Instant::now(), &samples);
        let owner_task = std::mem::size_of_val(&driver.run());
        let (subscribed, _) = watch::channel(false);
        let lamp = LampSide { topics: link.topics.clone(), state: State::default(), subscribed, reply: None };
        let (driver, _commands, _) = Driver::new(lamp, "l".into(), link, Instant::now(), &samples);
        let lamp_task = std::mem::size_of_val(&driver.run());
        assert!(owner_task <= 2560 && lamp_task <= 2560, "tasks of {owner_task} and {lamp_task} bytes");
    }
}
