//! A virtual lamp's MQTT: the owner's side (the lamp page's connection: publishes `set_config`, listens to
//! `lamp/changed`) and, with `--responder internal`, the lamp's side (a responder that behaves as `lampi-agent run`
//! does, with the same codec and state rules, so one host can stand in for a fleet).
//!
//! Timing: `connect` is CONNECT -> CONNACK, `subscribe` SUBSCRIBE -> SUBACK, `publish` the request -> PUBACK (the
//! event loop reports each outgoing packet id in order, which pairs requests with acks), and `roundtrip` is
//! `set_config` sent -> the matching `lamp/changed` received, matched by `client` and content. Anything not
//! answered within the timeout is a failure with its own name. Nothing here blocks on the network: publishes are
//! queued, and each connection's event loop (`super::link`) runs in its own task, reconnecting with backoff when the
//! broker goes away; after every reconnect the owner subscribes again and the responder re-announces itself.
//! While a connection is down, an action on it fails at once as `broker unreachable`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rumqttc::{AsyncClient, QoS};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::fleet::Role;
pub use super::link::Link;
use super::link::{self, fail, Driver, Inbound, Waiting, UNREACHABLE};
use super::sample::{self, Samples};
use super::stop::Stop;
use crate::lamp::{codec, Command, State};
use crate::mqtt::Topics;

/// Requests a connection may queue before `try_publish` reports it full (a failure, never a wait). Replayed traces
/// at high `--speed` burst far above a person's 10 messages a second; the buffer grows only as far as it is used.
const REQUESTS: usize = 256;

/// The owner's connection: the lamp page's MQTT client.
pub struct Owner {
    client: AsyncClient,
    pub client_id: String,
    topics: Topics,
    waiting: Arc<Mutex<Waiting>>,
    task: JoinHandle<()>,
    /// What the page believes the lamp's state is; it sends the full state each time, as the page does.
    pub view: State,
}

impl Owner {
    /// Connects (timed from `intended`) and subscribes to `lamp/changed`.
    pub fn connect(link: &Link, client_id: &str, intended: Instant, out: &Samples) -> Owner {
        let (client, ev) = link::client(link, client_id, false, REQUESTS);
        let waiting = Arc::new(Mutex::new(Waiting::new(intended, None, true)));
        let _ = client.try_subscribe(&link.topics.changed, QoS::AtLeastOnce);
        let driver = Driver {
            client: client.clone(),
            waiting: waiting.clone(),
            out: out.clone(),
            subscription: link.topics.changed.clone(),
            changed_topic: Some(link.topics.changed.clone()),
            inbound: None,
            timeout: link.timeout,
            role: Role::Owner,
        };
        let task = tokio::spawn(driver.run(ev, link.clone()));
        Owner {
            client,
            client_id: client_id.to_string(),
            topics: link.topics.clone(),
            waiting,
            task,
            view: State::default(),
        }
    }

    /// Sends `cmd` (with `full`, the whole state with it applied, as the web page does; otherwise just its fields,
    /// as the app does); times the PUBACK and the round trip.
    pub fn set_config(&mut self, cmd: &Command, full: bool, intended: Instant, out: &Samples) {
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
        let payload = codec::encode_command(&sent);
        let now = Instant::now();
        let mut w = lock(&self.waiting);
        if w.unreachable() {
            out.send_now(fail(sample::PUBLISH, intended, now, UNREACHABLE));
            out.send_now(fail(sample::ROUNDTRIP, intended, now, UNREACHABLE));
            return;
        }
        match self.client.try_publish(&self.topics.set_config, QoS::AtLeastOnce, false, payload) {
            Ok(()) => {
                w.queued.push_back(Some((sample::PUBLISH, intended, now)));
                w.roundtrips.push_back((sent, intended, now));
            }
            Err(_) => out.send_now(fail(sample::PUBLISH, intended, now, "client queue full")),
        }
    }

    /// Disconnects (a connection that is not up is dropped at once: there is nobody to say goodbye to).
    pub async fn close(&mut self) {
        if lock(&self.waiting).state == link::State::Up {
            let _ = self.client.try_disconnect();
            let _ = tokio::time::timeout(Duration::from_millis(500), &mut self.task).await;
        }
        self.task.abort();
    }

    /// Waits (up to `limit`, or until the run must stop at once) until no round trip is waiting.
    pub async fn settle(&self, limit: Duration, mut stop: watch::Receiver<Stop>) {
        let deadline = Instant::now() + limit;
        let settled = async {
            while !lock(&self.waiting).roundtrips.is_empty() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            _ = settled => {}
            _ = super::stop::now(&mut stop) => {}
        }
    }

    /// Round trips still waiting (at the end of a run they are reported as failures by the caller).
    pub fn fail_pending(&self, out: &Samples, why: &str) {
        lock(&self.waiting).fail_roundtrips(out, why);
    }
}

/// The lamp's side, inside the load run: answers `set_config` as `lampi-agent run` would.
pub struct Responder {
    /// `respond`, which hands back the lamp's state and the event loop's task when the touchscreen is gone.
    task: JoinHandle<(State, JoinHandle<()>)>,
    waiting: Arc<Mutex<Waiting>>,
    out: Samples,
    ui: mpsc::UnboundedSender<(Command, Instant)>,
    client: AsyncClient,
    subscribed: watch::Receiver<bool>,
}

impl Responder {
    /// Connects (timed from `intended` as `connect`), announces itself as the lamp does and answers commands.
    pub fn start(link: &Link, client_id: &str, state: State, intended: Instant, out: &Samples) -> Responder {
        let (client, ev) = link::client(link, client_id, true, REQUESTS);
        let (pub_tx, pub_rx) = mpsc::unbounded_channel();
        let (ui_tx, ui_rx) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed) = watch::channel(false);
        let waiting = Arc::new(Mutex::new(Waiting::new(intended, Some(subscribed_tx), false)));
        let topics = link.topics.clone();
        let _ = client.try_subscribe(&topics.set_config, QoS::AtLeastOnce);
        announce(&client, &topics, &state, &mut lock(&waiting));
        let driver = Driver {
            client: client.clone(),
            waiting: waiting.clone(),
            out: out.clone(),
            subscription: topics.set_config.clone(),
            changed_topic: None,
            inbound: Some(pub_tx),
            timeout: link.timeout,
            role: Role::Lamp,
        };
        let loop_task = tokio::spawn(driver.run(ev, link.clone()));
        let lamp = Lamp { client: client.clone(), topics, state, waiting: waiting.clone(), out: out.clone() };
        let task = tokio::spawn(lamp.respond(pub_rx, ui_rx, loop_task));
        Responder { task, waiting, out: out.clone(), ui: ui_tx, client, subscribed }
    }

    /// Waits (up to `limit`) until the lamp listens to `set_config`; false if it did not within the limit.
    pub async fn ready(&self, limit: Duration) -> bool {
        let mut rx = self.subscribed.clone();
        let listening = tokio::time::timeout(limit, rx.wait_for(|s| *s)).await.is_ok_and(|r| r.is_ok());
        listening
    }

    /// A change made on the lamp's own touchscreen: applied and published by the lamp (timed as `publish changed`,
    /// from `intended`).
    pub fn touch(&self, cmd: Command, intended: Instant) {
        let _ = self.ui.send((cmd, intended));
    }

    /// Disconnects once the touchscreen changes already made are published and acknowledged (up to `limit`); any
    /// still unacknowledged then is reported as failed with `why`, never dropped. Returns the lamp's state, which it
    /// keeps across reconnects as the real lamp does.
    pub async fn close(self, limit: Duration, why: &str) -> Option<State> {
        drop(self.ui);
        let deadline = Instant::now() + limit;
        let (state, loop_task) = match tokio::time::timeout(limit, self.task).await {
            Ok(Ok((state, task))) => (Some(state), Some(task)),
            _ => (None, None),
        };
        while lock(&self.waiting).timed_pending() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        lock(&self.waiting).fail_timed(&self.out, why);
        let up = lock(&self.waiting).state == link::State::Up;
        let _ = self.client.try_disconnect();
        if let Some(mut t) = loop_task {
            if !up || tokio::time::timeout(Duration::from_millis(500), &mut t).await.is_err() {
                t.abort();
            }
        }
        state
    }
}

fn lock(w: &Mutex<Waiting>) -> MutexGuard<'_, Waiting> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a lamp publishes on every connect: `"1"` on its connection topic (QoS 2, retained) and its state on
/// `lamp/changed` (retained). Untimed, but their packet ids take their place in the order, or every later timing
/// would be off by two.
fn announce(client: &AsyncClient, topics: &Topics, state: &State, w: &mut Waiting) {
    let birth = codec::encode_changed(state, "lamp_service");
    for sent in [
        client.try_publish(&topics.connection, QoS::ExactlyOnce, true, "1"),
        client.try_publish(&topics.changed, QoS::AtLeastOnce, true, birth),
    ] {
        if sent.is_ok() {
            w.queued.push_back(None);
        }
    }
}

/// The responder's own task: the lamp's state and how it answers.
struct Lamp {
    client: AsyncClient,
    topics: Topics,
    state: State,
    waiting: Arc<Mutex<Waiting>>,
    out: Samples,
}

impl Lamp {
    /// Answers `set_config` and touchscreen changes until the touchscreen is gone; re-announces after reconnects.
    async fn respond(
        mut self,
        mut incoming: mpsc::UnboundedReceiver<Inbound>,
        mut ui: mpsc::UnboundedReceiver<(Command, Instant)>,
        loop_task: JoinHandle<()>,
    ) -> (State, JoinHandle<()>) {
        loop {
            // `timed`: a touchscreen change, with its intended start; answers to set_config are not timed here.
            let (cmd, timed) = tokio::select! {
                m = incoming.recv() => match m {
                    Some(Inbound::Publish(topic, payload)) if topic == self.topics.set_config => {
                        match codec::parse_command(&payload) {
                            Ok(cmd) => (cmd, None),
                            Err(_) => continue, // a bad command changes nothing, as on the real lamp
                        }
                    }
                    Some(Inbound::Reconnected) => {
                        announce(&self.client, &self.topics, &self.state, &mut lock(&self.waiting));
                        continue;
                    }
                    Some(_) => continue,
                    None => break,
                },
                c = ui.recv() => match c { Some((c, intended)) => (c, Some(intended)), None => break },
            };
            self.apply(&cmd, timed);
        }
        (self.state, loop_task)
    }

    /// Applies a change and publishes the new state (timed from `timed` for a touchscreen change).
    fn apply(&mut self, cmd: &Command, timed: Option<Instant>) {
        let now = Instant::now();
        // Queue and record under one lock (as the owner does), so the event loop cannot report this publish's
        // packet id before its entry is there; untimed publishes still take their place in the order.
        let mut w = lock(&self.waiting);
        if w.unreachable() {
            // The touchscreen works without a broker; telling anyone does not.
            self.state = self.state.apply(cmd);
            if let Some(intended) = timed {
                self.out.send_now(fail(sample::CHANGED, intended, now, UNREACHABLE));
            }
            return;
        }
        self.state = self.state.apply(cmd);
        let payload = codec::encode_changed(&self.state, &cmd.client);
        match (self.client.try_publish(&self.topics.changed, QoS::AtLeastOnce, true, payload).is_ok(), timed) {
            (true, Some(intended)) => w.queued.push_back(Some((sample::CHANGED, intended, now))),
            (true, None) => w.queued.push_back(None),
            (false, Some(intended)) => self.out.send_now(fail(sample::CHANGED, intended, now, "client queue full")),
            (false, None) => {}
        }
    }
}
