//! A virtual lamp's MQTT: the owner's side (the lamp page's connection: publishes `set_config`, listens to
//! `lamp/changed`) and, with `--responder internal`, the lamp's side (a responder that behaves as `lampi-agent run`
//! does, with the same codec and state rules, so one host can stand in for a fleet).
//!
//! Timing: `connect` is CONNECT -> CONNACK, `subscribe` SUBSCRIBE -> SUBACK, `publish` the request -> PUBACK (the
//! event loop reports each outgoing packet id in order, which pairs requests with acks), and `roundtrip` is
//! `set_config` sent -> the matching `lamp/changed` received, matched by `client` and content. Anything not
//! answered within the timeout is a failure with its own name. Nothing here blocks on the network: publishes are
//! queued, and each connection's event loop runs in its own task.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::sample::{self, Op, Sample, Samples};
use crate::lamp::{codec, Command, State};
use crate::mqtt::Topics;

/// Requests a connection may queue before `try_publish` reports it full (a failure, never a wait). Replayed traces
/// at high `--speed` burst far above a person's 10 messages a second; the buffer grows only as far as it is used.
const REQUESTS: usize = 256;

/// Timings waiting for their answer on one connection.
#[derive(Default)]
struct Waiting {
    /// Publishes queued but not yet written (their packet id is not known yet), oldest first; `None` for publishes
    /// that are not timed (their packet ids must still be consumed in order).
    queued: VecDeque<Option<(Op, Instant, Instant)>>,
    /// Written publishes by packet id.
    inflight: HashMap<u16, (Op, Instant, Instant)>,
    /// set_config sent, waiting for the matching lamp/changed: (command, intended, sent).
    roundtrips: VecDeque<(Command, Instant, Instant)>,
    /// CONNECT or SUBSCRIBE timings waiting for their ack.
    connect: Option<(Instant, Instant)>,
    subscribe: Option<(Instant, Instant)>,
    /// Told when a SUBACK arrives (the responder is listening from then on).
    subscribed: Option<watch::Sender<bool>>,
}

fn failure_name(e: &ConnectionError) -> String {
    let s = e.to_string().to_lowercase();
    if s.contains("refused") {
        "connection refused".into()
    } else if s.contains("timeout") || s.contains("timed out") || s.contains("elapsed") {
        "timeout".into()
    } else if s.contains("reset") || s.contains("closed") || s.contains("eof") {
        "connection lost".into()
    } else {
        "connection error".into()
    }
}

impl Waiting {
    /// Fails everything older than `timeout`.
    fn expire(&mut self, now: Instant, timeout: Duration, out: &Samples) {
        let old = |t: &Instant| now.duration_since(*t) > timeout;
        while self.roundtrips.front().is_some_and(|r| old(&r.2)) {
            let (_, intended, sent) = self.roundtrips.pop_front().unwrap();
            out.send_now(fail(sample::ROUNDTRIP, intended, sent, "roundtrip timeout"));
        }
        let stale: Vec<u16> = self.inflight.iter().filter(|(_, v)| old(&v.2)).map(|(k, _)| *k).collect();
        for pkid in stale {
            let (op, i, s) = self.inflight.remove(&pkid).unwrap();
            out.send_now(fail(op, i, s, "puback timeout"));
        }
    }

    /// Timed publishes not yet acknowledged.
    fn timed_pending(&self) -> bool {
        !self.inflight.is_empty() || self.queued.iter().any(Option::is_some)
    }

    /// Fails every timed publish still waiting (the connection is closing).
    fn fail_timed(&mut self, out: &Samples, why: &str) {
        let queued = self.queued.drain(..).flatten();
        for (op, i, s) in queued.chain(self.inflight.drain().map(|(_, v)| v)) {
            out.send_now(fail(op, i, s, why));
        }
    }

    /// The connection dropped: answers for what was written will never come.
    fn lost(&mut self, out: &Samples, why: &str) {
        for (_, (op, i, s)) in self.inflight.drain() {
            out.send_now(fail(op, i, s, why));
        }
        if let Some((i, s)) = self.connect.take() {
            out.send_now(fail(sample::CONNECT, i, s, why));
        }
        if let Some((i, s)) = self.subscribe.take() {
            out.send_now(fail(sample::SUBSCRIBE, i, s, why));
        }
    }
}

/// Whether a `lamp/changed` (state, client) is the lamp's answer to `cmd`: same client, and every field the command
/// set has the value it set.
pub fn answers(cmd: &Command, state: &State, client: &str) -> bool {
    cmd.client == client
        && cmd.h.is_none_or(|v| v == state.h)
        && cmd.s.is_none_or(|v| v == state.s)
        && cmd.brightness.is_none_or(|v| v == state.brightness)
        && cmd.on.is_none_or(|v| v == state.on)
}

fn fail(op: Op, intended: Instant, started: Instant, why: &str) -> Sample {
    Sample { op, intended, started, finished: Instant::now(), outcome: Err(why.to_string()) }
}

fn ok(op: Op, intended: Instant, started: Instant, bytes: u64) -> Sample {
    Sample { op, intended, started, finished: Instant::now(), outcome: Ok(bytes) }
}

/// Polls one connection's event loop until `stop`, feeding timings back as samples.
async fn drive(
    mut ev: EventLoop,
    waiting: Arc<Mutex<Waiting>>,
    out: Samples,
    changed_topic: Option<String>,
    on_publish: Option<mpsc::UnboundedSender<(String, bytes::Bytes)>>,
    timeout: Duration,
) {
    let mut sweep = tokio::time::interval(Duration::from_millis(250));
    loop {
        // The sweep must not cancel `poll`: rumqttc's poll is not cancel-safe while it connects (a dropped connect
        // leaves a half-open CONNECT behind, the next poll connects again under the same client id, and the broker
        // drops one of the two), so one poll future lives until it completes.
        let event = {
            let poll = ev.poll();
            tokio::pin!(poll);
            loop {
                tokio::select! {
                    e = &mut poll => break e,
                    _ = sweep.tick() => waiting.lock().unwrap().expire(Instant::now(), timeout, &out),
                }
            }
        };
        let pause = {
            let mut w = waiting.lock().unwrap();
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some((i, s)) = w.connect.take() {
                        out.send_now(ok(sample::CONNECT, i, s, 0));
                    }
                    false
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some((i, s)) = w.subscribe.take() {
                        out.send_now(ok(sample::SUBSCRIBE, i, s, 0));
                    }
                    if let Some(tx) = &w.subscribed {
                        let _ = tx.send(true);
                    }
                    false
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    if let Some(Some(t)) = w.queued.pop_front() {
                        w.inflight.insert(pkid, t);
                    }
                    false
                }
                Ok(Event::Incoming(Packet::PubAck(a))) => {
                    if let Some((op, i, s)) = w.inflight.remove(&a.pkid) {
                        out.send_now(ok(op, i, s, 0));
                    }
                    false
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if changed_topic.as_deref() == Some(p.topic.as_str()) {
                        if let Ok((state, client)) = codec::parse_state(&p.payload) {
                            if let Some(k) = w.roundtrips.iter().position(|r| answers(&r.0, &state, &client)) {
                                let (_, i, s) = w.roundtrips.remove(k).unwrap();
                                out.send_now(ok(sample::ROUNDTRIP, i, s, p.payload.len() as u64));
                            }
                        }
                    } else if let Some(tx) = &on_publish {
                        let _ = tx.send((p.topic, p.payload));
                    }
                    false
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(_) => false,
                Err(e) => {
                    let why = failure_name(&e);
                    w.lost(&out, &why);
                    true
                }
            }
        };
        if pause {
            tokio::time::sleep(Duration::from_millis(200)).await; // rumqttc retries on the next poll
        }
    }
}

/// How a virtual lamp reaches the broker.
#[derive(Debug, Clone)]
pub struct Link {
    pub options: MqttOptions,
    pub topics: Topics,
    pub timeout: Duration,
}

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
        let mut o = link.options.clone();
        o.set_client_id(client_id.to_string());
        let (client, ev) = crate::mqtt::client(o, REQUESTS);
        let now = Instant::now();
        let waiting = Arc::new(Mutex::new(Waiting {
            connect: Some((intended, now)),
            subscribe: Some((intended, now)),
            ..Default::default()
        }));
        let _ = client.try_subscribe(&link.topics.changed, QoS::AtLeastOnce);
        let task = tokio::spawn(drive(
            ev,
            waiting.clone(),
            out.clone(),
            Some(link.topics.changed.clone()),
            None,
            link.timeout,
        ));
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
        let mut w = self.waiting.lock().unwrap();
        match self.client.try_publish(&self.topics.set_config, QoS::AtLeastOnce, false, payload) {
            Ok(()) => {
                w.queued.push_back(Some((sample::PUBLISH, intended, now)));
                w.roundtrips.push_back((sent, intended, now));
            }
            Err(_) => out.send_now(fail(sample::PUBLISH, intended, now, "client queue full")),
        }
    }

    /// Connection churn: drop the connection and connect again (timed as `connect`).
    pub async fn reconnect(&mut self, link: &Link, intended: Instant, out: &Samples) {
        self.close().await;
        let view = self.view;
        *self = Owner::connect(link, &self.client_id.clone(), intended, out);
        self.view = view;
    }

    pub async fn close(&mut self) {
        let _ = self.client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_millis(500), &mut self.task).await;
        self.task.abort();
    }

    /// Waits (up to `limit`) until no round trip is waiting.
    pub async fn settle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.waiting.lock().unwrap().roundtrips.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Round trips still waiting (at the end of a run they are reported as failures by the caller).
    pub fn fail_pending(&self, out: &Samples, why: &str) {
        let mut w = self.waiting.lock().unwrap();
        for (_, i, s) in w.roundtrips.drain(..) {
            out.send_now(fail(sample::ROUNDTRIP, i, s, why));
        }
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
        let mut o = link.options.clone();
        o.set_client_id(client_id.to_string());
        o.set_last_will(crate::mqtt::will(&link.topics));
        let (client, ev) = crate::mqtt::client(o, REQUESTS);
        let (pub_tx, pub_rx) = mpsc::unbounded_channel();
        let (ui_tx, ui_rx) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed) = watch::channel(false);
        let waiting = Arc::new(Mutex::new(Waiting {
            connect: Some((intended, Instant::now())),
            subscribed: Some(subscribed_tx),
            ..Default::default()
        }));
        let topics = link.topics.clone();
        let _ = client.try_subscribe(&topics.set_config, QoS::AtLeastOnce);
        {
            // Untimed, but their packet ids come first: pair them, or every later timing is off by two.
            let mut w = waiting.lock().unwrap();
            let birth = codec::encode_changed(&state, "lamp_service");
            for sent in [
                client.try_publish(&topics.connection, QoS::ExactlyOnce, true, "1"),
                client.try_publish(&topics.changed, QoS::AtLeastOnce, true, birth),
            ] {
                if sent.is_ok() {
                    w.queued.push_back(None);
                }
            }
        }
        let loop_task = tokio::spawn(drive(ev, waiting.clone(), out.clone(), None, Some(pub_tx), link.timeout));
        let task = tokio::spawn(respond(
            client.clone(),
            topics,
            state,
            waiting.clone(),
            out.clone(),
            pub_rx,
            ui_rx,
            loop_task,
        ));
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
        while self.waiting.lock().unwrap().timed_pending() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.waiting.lock().unwrap().fail_timed(&self.out, why);
        let _ = self.client.try_disconnect();
        if let Some(mut t) = loop_task {
            if tokio::time::timeout(Duration::from_millis(500), &mut t).await.is_err() {
                t.abort();
            }
        }
        state
    }
}

#[allow(clippy::too_many_arguments)]
async fn respond(
    client: AsyncClient,
    topics: Topics,
    mut state: State,
    waiting: Arc<Mutex<Waiting>>,
    out: Samples,
    mut incoming: mpsc::UnboundedReceiver<(String, bytes::Bytes)>,
    mut ui: mpsc::UnboundedReceiver<(Command, Instant)>,
    loop_task: JoinHandle<()>,
) -> (State, JoinHandle<()>) {
    loop {
        // `timed`: a touchscreen change, with its intended start; answers to set_config are not timed here.
        let (cmd, timed) = tokio::select! {
            m = incoming.recv() => match m {
                Some((topic, payload)) if topic == topics.set_config => match codec::parse_command(&payload) {
                    Ok(cmd) => (cmd, None),
                    Err(_) => continue, // a bad command changes nothing, as on the real lamp
                },
                Some(_) => continue,
                None => break,
            },
            c = ui.recv() => match c { Some((c, intended)) => (c, Some(intended)), None => break },
        };
        state = state.apply(&cmd);
        let now = Instant::now();
        let payload = codec::encode_changed(&state, &cmd.client);
        // Queue and record under one lock (as the owner does), so the event loop cannot report this publish's
        // packet id before its entry is there; untimed publishes still take their place in the order.
        let mut w = waiting.lock().unwrap();
        match (client.try_publish(&topics.changed, QoS::AtLeastOnce, true, payload).is_ok(), timed) {
            (true, Some(intended)) => w.queued.push_back(Some((sample::CHANGED, intended, now))),
            (true, None) => w.queued.push_back(None),
            (false, Some(intended)) => out.send_now(fail(sample::CHANGED, intended, now, "client queue full")),
            (false, None) => {}
        }
        drop(w);
    }
    (state, loop_task)
}
