//! One virtual connection's event loop: it polls rumqttc, pairs outgoing packets with their acknowledgements, feeds the
//! timings back as samples, and keeps the connection up the way `lampi-agent run` does.
//!
//! A connection is *connecting* (created, no CONNACK yet: requests queue behind the CONNECT), *up*, or *down* (its
//! last attempt failed or it dropped). Down, it reconnects after a capped exponential backoff with full jitter
//! ([`crate::backoff`], the daemon's), and every CONNACK after a failure re-subscribes and tells the owner of the
//! connection (the responder re-announces itself, as the lamp does). While down, nothing is queued: the callers see
//! [`Waiting::unreachable`] and fail their action at once as `broker unreachable`; whatever was queued or in flight when
//! the connection dropped fails with the drop's name (rumqttc discards it: the sessions are clean).
//!
//! Every connect attempt is a `connect` sample (the first timed from the action that opened the connection, later
//! ones from the attempt's start) and is counted in the [`Fleet`]; so are drops and the time to CONNACK.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::fleet::{Fleet, Presence, Role};
use super::sample::{self, Op, Sample, Samples};
use crate::backoff::Backoff;
use crate::lamp::{codec, Command};
use crate::mqtt::Topics;

/// How a virtual lamp reaches the broker.
#[derive(Debug, Clone)]
pub struct Link {
    pub options: MqttOptions,
    pub topics: Topics,
    pub timeout: Duration,
    /// Reconnect backoff: the first delay, and the cap.
    pub reconnect: (Duration, Duration),
    pub fleet: Arc<Fleet>,
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Up,
    Down,
}

/// The failure name of an action attempted while its connection is down.
pub const UNREACHABLE: &str = "broker unreachable";

/// Timings waiting for their answer on one connection, and the connection's state.
pub struct Waiting {
    pub state: State,
    /// Publishes queued but not yet written (their packet id is not known yet), oldest first; `None` for publishes
    /// that are not timed (their packet ids must still be consumed in order).
    pub queued: VecDeque<Option<(Op, Instant, Instant)>>,
    /// Written publishes by packet id.
    inflight: HashMap<u16, (Op, Instant, Instant)>,
    /// set_config sent, waiting for the matching lamp/changed: (command, intended, sent).
    pub roundtrips: VecDeque<(Command, Instant, Instant)>,
    /// The first CONNECT's timing (from the action that opened the connection), until its outcome is known.
    connect: Option<(Instant, Instant)>,
    /// SUBSCRIBE timing waiting for its ack.
    subscribe: Option<(Instant, Instant)>,
    /// Told when a SUBACK arrives (the connection is listening from then on).
    subscribed: Option<watch::Sender<bool>>,
    /// Whether SUBSCRIBEs are timed as samples (the owner's are; the responder's are part of its start).
    time_subscribe: bool,
}

impl Waiting {
    /// A connection opened by an action intended at `intended` (its subscription is queued with the CONNECT), told
    /// on `subscribed` when it listens; `time_subscribe`: whether SUBSCRIBE -> SUBACK is a sample.
    pub fn new(intended: Instant, subscribed: Option<watch::Sender<bool>>, time_subscribe: bool) -> Waiting {
        let now = Instant::now();
        Waiting {
            time_subscribe,
            state: State::Connecting,
            queued: VecDeque::new(),
            inflight: HashMap::new(),
            roundtrips: VecDeque::new(),
            connect: Some((intended, now)),
            subscribe: time_subscribe.then_some((intended, now)),
            subscribed,
        }
    }

    /// The connection is down: an action now fails at once rather than queue behind a reconnect.
    pub fn unreachable(&self) -> bool {
        self.state == State::Down
    }

    /// Fails everything older than `timeout`.
    fn expire(&mut self, now: Instant, timeout: Duration, out: &Samples) {
        let old = |t: &Instant| now.duration_since(*t) > timeout;
        while self.roundtrips.front().is_some_and(|r| old(&r.2)) {
            let (_, intended, sent) = self.roundtrips.pop_front().expect("front");
            out.send_now(fail(sample::ROUNDTRIP, intended, sent, "roundtrip timeout"));
        }
        let stale: Vec<u16> = self.inflight.iter().filter(|(_, v)| old(&v.2)).map(|(k, _)| *k).collect();
        for pkid in stale {
            let (op, i, s) = self.inflight.remove(&pkid).expect("stale key");
            out.send_now(fail(op, i, s, "puback timeout"));
        }
    }

    /// Timed publishes not yet acknowledged.
    pub fn timed_pending(&self) -> bool {
        !self.inflight.is_empty() || self.queued.iter().any(Option::is_some)
    }

    /// Fails every timed publish still waiting (the connection is closing).
    pub fn fail_timed(&mut self, out: &Samples, why: &str) {
        let queued = self.queued.drain(..).flatten();
        for (op, i, s) in queued.chain(self.inflight.drain().map(|(_, v)| v)) {
            out.send_now(fail(op, i, s, why));
        }
    }

    /// Round trips still waiting, failed as `why`.
    pub fn fail_roundtrips(&mut self, out: &Samples, why: &str) {
        for (_, i, s) in self.roundtrips.drain(..) {
            out.send_now(fail(sample::ROUNDTRIP, i, s, why));
        }
    }

    /// The connection dropped (or its attempt failed): rumqttc discards what was queued or written, and the answers
    /// to what was sent will not reach this connection.
    fn lost(&mut self, out: &Samples, why: &str) {
        self.fail_timed(out, why);
        self.fail_roundtrips(out, why);
        if let Some((i, s)) = self.subscribe.take() {
            out.send_now(fail(sample::SUBSCRIBE, i, s, why));
        }
        self.state = State::Down;
    }
}

pub fn failure_name(e: &ConnectionError) -> String {
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

pub fn fail(op: Op, intended: Instant, started: Instant, why: &str) -> Sample {
    Sample { op, intended, started, finished: Instant::now(), outcome: Err(why.to_string()) }
}

pub fn ok(op: Op, intended: Instant, started: Instant, bytes: u64) -> Sample {
    Sample { op, intended, started, finished: Instant::now(), outcome: Ok(bytes) }
}

/// The pause after a failed attempt: the backoff's next delay (`unit` in [0, 1) picks it between the first delay and
/// the current ceiling: full jitter), slept on tokio's clock.
pub async fn pause(backoff: &mut Backoff, unit: f64) {
    tokio::time::sleep(backoff.next_delay(unit)).await;
}

/// What the event loop hands the connection's owner (the responder): publishes on its subscriptions, and each
/// CONNACK after a failure (time to announce itself again).
#[derive(Debug)]
pub enum Inbound {
    Publish(String, bytes::Bytes),
    Reconnected,
}

/// One connection's event loop and what it needs besides rumqttc's.
pub struct Driver {
    pub client: AsyncClient,
    pub waiting: Arc<Mutex<Waiting>>,
    pub out: Samples,
    /// The topic subscribed to (QoS 1), again after every reconnect.
    pub subscription: String,
    /// The owner's `lamp/changed`: publishes on it answer round trips.
    pub changed_topic: Option<String>,
    /// The responder: every other publish, and reconnects.
    pub inbound: Option<mpsc::UnboundedSender<Inbound>>,
    pub timeout: Duration,
    pub role: Role,
}

/// A client and its event loop for `link`, as `client_id`.
pub fn client(link: &Link, client_id: &str, will: bool, capacity: usize) -> (AsyncClient, EventLoop) {
    let mut o = link.options.clone();
    o.set_client_id(client_id.to_string());
    if will {
        o.set_last_will(crate::mqtt::will(&link.topics));
    }
    crate::mqtt::client(o, capacity)
}

impl Driver {
    /// Polls the event loop until it sends a DISCONNECT; reconnects with backoff when the connection fails.
    pub async fn run(self, mut ev: EventLoop, link: Link) {
        let mut presence = Presence::new(link.fleet.clone(), self.role);
        let mut backoff = Backoff::new(link.reconnect.0, link.reconnect.1);
        let mut sweep = tokio::time::interval(Duration::from_millis(250));
        loop {
            let attempt = (!presence.is_up()).then(|| {
                presence.fleet().attempt();
                Instant::now()
            });
            // The sweep must not cancel `poll`: rumqttc's poll is not cancel-safe while it connects (a dropped
            // connect leaves a half-open CONNECT behind, the next poll connects again under the same client id, and
            // the broker drops one of the two), so one poll future lives until it completes.
            let event = {
                let poll = ev.poll();
                tokio::pin!(poll);
                loop {
                    tokio::select! {
                        e = &mut poll => break e,
                        _ = sweep.tick() => self.lock().expire(Instant::now(), self.timeout, &self.out),
                    }
                }
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let started = attempt.unwrap_or_else(Instant::now);
                    presence.connected(started.elapsed());
                    backoff.reset();
                    self.connected(started);
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(event) => self.handle(event),
                Err(e) => {
                    let why = failure_name(&e);
                    if !presence.is_up() {
                        presence.fleet().refused();
                    }
                    presence.dropped();
                    self.failed(attempt, &why);
                    // Whatever rumqttc kept (written but unacknowledged, or still in the request channel) is
                    // discarded: the next session is clean, and every one of those has been failed above.
                    ev.clean();
                    ev.pending.clear();
                    pause(&mut backoff, rand::random::<f64>()).await;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A CONNACK: the connect sample, and after a failure the subscription again and the owner told.
    fn connected(&self, started: Instant) {
        let mut w = self.lock();
        let (intended, sent) = w.connect.take().unwrap_or((started, started));
        self.out.send_now(ok(sample::CONNECT, intended, sent, 0));
        let again = w.state == State::Down;
        if again {
            let now = Instant::now();
            if self.client.try_subscribe(&self.subscription, QoS::AtLeastOnce).is_ok() && w.time_subscribe {
                w.subscribe = Some((now, now));
            }
            if let Some(tx) = &self.inbound {
                let _ = tx.send(Inbound::Reconnected);
            }
        }
        w.state = State::Up;
    }

    /// An attempt failed or the connection dropped.
    fn failed(&self, attempt: Option<Instant>, why: &str) {
        let mut w = self.lock();
        if let Some(started) = attempt {
            let (intended, sent) = w.connect.take().unwrap_or((started, started));
            self.out.send_now(fail(sample::CONNECT, intended, sent, why));
        }
        w.lost(&self.out, why);
    }

    fn handle(&self, event: Event) {
        let mut w = self.lock();
        match event {
            Event::Incoming(Packet::SubAck(_)) => {
                if let Some((i, s)) = w.subscribe.take() {
                    self.out.send_now(ok(sample::SUBSCRIBE, i, s, 0));
                }
                if let Some(tx) = &w.subscribed {
                    let _ = tx.send(true);
                }
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(Some(t)) = w.queued.pop_front() {
                    w.inflight.insert(pkid, t);
                }
            }
            Event::Incoming(Packet::PubAck(a)) => {
                if let Some((op, i, s)) = w.inflight.remove(&a.pkid) {
                    self.out.send_now(ok(op, i, s, 0));
                }
            }
            Event::Incoming(Packet::Publish(p)) => {
                if self.changed_topic.as_deref() == Some(p.topic.as_str()) {
                    if let Ok((state, client)) = codec::parse_state(&p.payload) {
                        if let Some(k) = w.roundtrips.iter().position(|r| crate::lamp::answers(&r.0, &state, &client)) {
                            let (_, i, s) = w.roundtrips.remove(k).expect("position");
                            self.out.send_now(ok(sample::ROUNDTRIP, i, s, p.payload.len() as u64));
                        }
                    }
                } else if let Some(tx) = &self.inbound {
                    let _ = tx.send(Inbound::Publish(p.topic, p.payload));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[tokio::test(start_paused = true)]
    async fn a_fleet_that_lost_the_broker_comes_back_spread_out_and_within_the_cap() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(3));
        let lost = Instant::now();
        let back = lost + Duration::from_secs(10); // the broker answers again
        let lamps: Vec<_> = (0..200u64)
            .map(|i| {
                tokio::spawn(async move {
                    let (mut b, mut rng) = (Backoff::new(min, max), rand::rngs::SmallRng::seed_from_u64(i));
                    let mut attempts = vec![Instant::now()];
                    while Instant::now() < back {
                        pause(&mut b, rng.random()).await; // this attempt was refused
                        attempts.push(Instant::now());
                    }
                    attempts
                })
            })
            .collect();
        let mut late = Vec::new();
        for lamp in lamps {
            let attempts = lamp.await.unwrap();
            let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
            assert_eq!(gaps[0], min, "the first retry waits the first delay");
            for (k, g) in gaps.iter().enumerate() {
                let ceiling = min.saturating_mul(1 << k.min(20)).min(max);
                assert!(*g >= min && *g <= ceiling, "retry {k}: {g:?} outside [{min:?}, {ceiling:?}]");
            }
            late.push(*attempts.last().unwrap() - back);
        }
        late.sort();
        assert!(*late.last().unwrap() <= max, "every lamp is back within the cap: {:?}", late.last());
        // Full jitter: the comebacks spread over the cap rather than arriving in lock-step.
        let distinct = late.windows(2).filter(|w| w[1] - w[0] > Duration::from_millis(1)).count();
        assert!(distinct > 150, "{distinct} distinct comeback times of 200");
        assert!(late[20] < Duration::from_millis(600) && late[180] > Duration::from_millis(1500), "{late:?}");
    }

    #[tokio::test]
    async fn a_dropped_connection_fails_what_it_was_waiting_for_and_then_fails_at_once() {
        let (out, mut rx) = Samples::channel(16);
        let t = Instant::now();
        let mut w = Waiting::new(t, None, true);
        assert!(!w.unreachable(), "connecting: requests queue behind the CONNECT");
        w.queued.push_back(Some((sample::PUBLISH, t, t)));
        w.queued.push_back(None);
        let cmd = Command { client: "c".into(), h: None, s: None, brightness: None, on: Some(false) };
        w.roundtrips.push_back((cmd, t, t));
        w.lost(&out, "connection lost");
        assert!(w.unreachable() && w.queued.is_empty() && w.roundtrips.is_empty());
        let mut got = Vec::new();
        while let Ok(s) = rx.try_recv() {
            got.push((s.op.name, s.outcome.unwrap_err()));
        }
        got.sort();
        let lost = "connection lost".to_string();
        assert_eq!(
            got,
            [("publish set_config", lost.clone()), ("roundtrip", lost.clone()), ("subscribe", lost.clone())],
            "every waiting operation fails under the drop's name, none is left to time out"
        );
    }
}
