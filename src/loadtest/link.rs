//! One virtual connection's task: it connects ([`super::conn`]), times what it sends until the broker answers, feeds
//! the timings to the recorder as samples, and keeps the connection up the way `lampi-agent run` does. What the
//! connection *is* (the lamp, or an owner's page) is its [`Side`]; this module is what every connection shares.
//!
//! The path of a sample: the side sends a packet and notes it in [`Waiting`] with its packet id and [`Timed`]
//! (intended start, send time); the broker's answer comes in on the same task ([`Driver::packet`]), which takes the
//! entry out and pushes a sample into the task's [`Outbox`]; after the wake-up the outbox goes to the recorder.
//! One task per connection, one `select!` over the socket, the side's commands and one timer, no lock.
//!
//! A connection is *connecting* (no CONNACK yet: commands wait in the channel behind the CONNECT), *up*, or *down*
//! (its last attempt failed or it dropped). Down, it reconnects after a capped exponential backoff with full jitter
//! ([`crate::backoff`], the daemon's); every CONNACK after a failure subscribes again and tells the side (the lamp
//! announces itself again). While down, a command fails at once as [`UNREACHABLE`]; whatever was waiting when the
//! connection dropped fails with the drop's name (the sessions are clean: nothing is resent).
//!
//! Every connect attempt is a `connect` sample (the first timed from the action that opened the connection, later
//! ones from the attempt's start) and is counted in the [`Fleet`]; so are drops and the time to CONNACK.
//!
//! Queues, all bounded: commands wait in a channel of [`COMMANDS`] (full: the action fails as `client queue full`),
//! each boxed (see [`COMMANDS`]);
//! at most [`MAX_INFLIGHT`] publishes wait for their acknowledgement (more: `client queue full`); the outbox holds
//! one wake-up's samples and waits for the recorder when its channel is full.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::mqttbytes::v4::{Packet, Publish};
use rumqttc::LastWill;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::conn::{Conn, Endpoint, Failure};
use super::fleet::{Fleet, Presence, Role};
use super::sample::{self, Outbox, Samples, Timed};
use crate::backoff::Backoff;
use crate::lamp::Command;
use crate::mqtt::Topics;

/// How a virtual lamp reaches the broker.
#[derive(Clone)]
pub struct Link {
    pub endpoint: Arc<Endpoint>,
    pub topics: Arc<Topics>,
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
/// The failure name of an action refused because its connection already has [`MAX_INFLIGHT`] unacknowledged.
pub const QUEUE_FULL: &str = "client queue full";
/// The failure name of what was still waiting when the connection's owner went away without closing it.
pub const ABANDONED: &str = "no answer before the run stopped";

/// Commands a connection's channel holds (a replayed trace at high `--speed` bursts far above a person's 10
/// messages a second). They cross it boxed: tokio's channel allocates its slots 32 at a time and a connection's
/// channel keeps one or two such blocks all its life, so a block of 32 pointers (0.3 KiB) rather than of 32
/// commands (2 KiB) is what every lamp and every open page holds, for one small allocation per command.
pub const COMMANDS: usize = 256;
/// Publishes waiting for their acknowledgement on one connection.
pub const MAX_INFLIGHT: usize = 256;

/// What a queue of [`Waiting`] keeps when it is empty again after a burst: a lamp's connection lives the whole run,
/// and every burst it ever met would otherwise stay in its capacity (heaptrack: the lamps' `inflight` grew all
/// through a 2-minute run).
const KEEP_QUEUED: usize = 16;

fn give_back_burst<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > KEEP_QUEUED {
        q.shrink_to(KEEP_QUEUED);
    }
}

/// What one connection waits for, and where it stands.
pub struct Waiting {
    pub state: State,
    /// Every publish written (QoS 1 and 2) and not yet acknowledged, oldest first: packet id, when written, and
    /// its timing if it is timed.
    inflight: VecDeque<(u16, Instant, Option<Timed>)>,
    /// `set_config` sent, waiting for the matching `lamp/changed`.
    roundtrips: VecDeque<(Command, Timed)>,
    /// The SUBSCRIBE waiting for its SUBACK, and its timing if it is timed.
    subscribe: Option<(u16, Option<Timed>)>,
    /// A PINGREQ waiting for its PINGRESP.
    ping: Option<Instant>,
    /// Round trips handed over and not yet ended, for the connection's owner to see (it waits for them to settle):
    /// the owner counts one up when it hands a `set_config` over, this connection counts it down when it ends.
    pub roundtrips_waiting: Arc<AtomicUsize>,
}

impl Waiting {
    fn new() -> Waiting {
        Waiting {
            state: State::Connecting,
            inflight: VecDeque::new(),
            roundtrips: VecDeque::new(),
            subscribe: None,
            ping: None,
            roundtrips_waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Notes a publish written as `pkid` (0, a QoS 0 publish, is not waited for).
    pub fn sent(&mut self, pkid: u16, timed: Option<Timed>) {
        if pkid != 0 {
            self.inflight.push_back((pkid, Instant::now(), timed));
        }
    }

    /// Whether another publish may be sent now.
    pub fn has_room(&self) -> bool {
        self.inflight.len() < MAX_INFLIGHT
    }

    pub fn expect_roundtrip(&mut self, cmd: Command, t: Timed) {
        self.roundtrips.push_back((cmd, t));
    }

    /// The round trip that `state` from `client` answers, if one waits (usually the oldest).
    pub fn answered(&mut self, state: &crate::lamp::State, client: &str) -> Option<Timed> {
        let k = self.roundtrips.iter().position(|r| crate::lamp::answers(&r.0, state, client))?;
        self.ended_roundtrips(1);
        let t = self.roundtrips.remove(k).map(|(_, t)| t);
        give_back_burst(&mut self.roundtrips);
        t
    }

    /// `n` round trips the owner handed over have ended (answered, failed, or never sent).
    pub fn ended_roundtrips(&self, n: usize) {
        let _ =
            self.roundtrips_waiting.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| Some(k.saturating_sub(n)));
    }

    fn acked(&mut self, pkid: u16, out: &mut Outbox) {
        if let Some(k) = self.inflight.iter().position(|e| e.0 == pkid) {
            if let Some((_, _, Some(t))) = self.inflight.remove(k) {
                out.push(t, Ok(0));
            }
            give_back_burst(&mut self.inflight);
        }
    }

    /// Timed publishes not yet acknowledged.
    fn timed_pending(&self) -> bool {
        self.inflight.iter().any(|e| e.2.is_some())
    }

    /// When something waiting runs out of time.
    fn deadline(&self, timeout: Duration) -> Option<Instant> {
        let inflight = self.inflight.front().map(|e| e.1);
        let roundtrip = self.roundtrips.front().map(|r| r.1.sent);
        [inflight, roundtrip, self.ping].into_iter().flatten().min().map(|t| t + timeout)
    }

    /// Fails everything older than `timeout`.
    fn expire(&mut self, now: Instant, timeout: Duration, out: &mut Outbox) {
        let old = |t: Instant| now.saturating_duration_since(t) >= timeout;
        while self.roundtrips.front().is_some_and(|r| old(r.1.sent)) {
            let (_, t) = self.roundtrips.pop_front().expect("front");
            self.ended_roundtrips(1);
            out.push(t, Err("roundtrip timeout"));
        }
        while self.inflight.front().is_some_and(|e| old(e.1)) {
            if let Some((_, _, Some(t))) = self.inflight.pop_front() {
                out.push(t, Err("puback timeout"));
            }
        }
    }

    /// Fails every publish and round trip still waiting with `why`.
    fn fail_all(&mut self, out: &mut Outbox, why: &str) {
        for (_, _, t) in self.inflight.drain(..) {
            if let Some(t) = t {
                out.push(t, Err(why));
            }
        }
        self.ended_roundtrips(self.roundtrips.len());
        for (_, t) in self.roundtrips.drain(..) {
            out.push(t, Err(why));
        }
    }

    /// The connection dropped (or its attempt failed): what was sent will not be answered on it.
    fn lost(&mut self, out: &mut Outbox, why: &str) {
        self.fail_all(out, why);
        if let Some((_, Some(t))) = self.subscribe.take() {
            out.push(t, Err(why));
        }
        self.ping = None;
        self.state = State::Down;
    }
}

/// What a connection's owner asks of it, besides what its side defines.
pub enum Flow {
    Go,
    /// Close: wait up to `linger` for timed publishes to be acknowledged, fail the rest with `why`, disconnect.
    Close {
        why: String,
        linger: Duration,
    },
}

/// What a connection is: the lamp or an owner's page. The driver calls it; it sends through `Conn` and notes what
/// it waits for in `Waiting`. `conn` is `None` while the connection is down.
pub trait Side: Sized + Send + 'static {
    type Command: Send + 'static;
    fn role(&self) -> Role;
    /// The topic subscribed to (QoS 1) after every CONNACK.
    fn subscription(&self) -> &str;
    /// The last will, if the connection has one.
    fn will(&self) -> Option<LastWill> {
        None
    }
    /// After every CONNACK, once subscribed.
    fn connected(&mut self, _conn: &mut Conn, _w: &mut Waiting) {}
    /// The SUBACK came: the connection listens.
    fn subscribed(&mut self) {}
    /// A publish on the subscription (its acknowledgement is already queued).
    fn publish(&mut self, p: Publish, conn: &mut Conn, w: &mut Waiting, out: &mut Outbox);
    fn command(&mut self, c: Self::Command, conn: Option<&mut Conn>, w: &mut Waiting, out: &mut Outbox) -> Flow;
    /// The task ends.
    fn finish(self) {}
}

/// A connection's task. See the module docs.
pub struct Driver<S: Side> {
    pub side: S,
    pub client_id: String,
    pub link: Link,
    pub commands: mpsc::Receiver<Box<S::Command>>,
    pub out: Outbox,
    pub waiting: Waiting,
    /// The first attempt's timing: from the action that opened the connection.
    pub opened: Timed,
    /// Asked to close: why, and until when timed publishes may still be acknowledged.
    closing: Option<(String, Instant)>,
}

enum Ended {
    Closed,
    Lost(Failure),
}

impl<S: Side> Driver<S> {
    /// A driver for `side`, opened by an action intended at `intended`; its command sender.
    pub fn new(
        side: S,
        client_id: String,
        link: Link,
        intended: Instant,
        out: &Samples,
    ) -> (Driver<S>, mpsc::Sender<Box<S::Command>>, Arc<AtomicUsize>) {
        let (tx, commands) = mpsc::channel(COMMANDS);
        let waiting = Waiting::new();
        let watched = waiting.roundtrips_waiting.clone();
        let opened = Timed { op: sample::CONNECT, intended, sent: Instant::now() };
        let out = Outbox::new(out);
        (Driver { side, client_id, link, commands, out, waiting, opened, closing: None }, tx, watched)
    }

    /// Connects, serves, reconnects with backoff when the connection fails, until closed.
    pub async fn run(mut self) {
        let mut presence = Presence::new(self.link.fleet.clone(), self.side.role());
        let mut backoff = Backoff::new(self.link.reconnect.0, self.link.reconnect.1);
        let mut first = true;
        loop {
            presence.fleet().attempt();
            let start = Instant::now();
            let (intended, sent) = if first { (self.opened.intended, self.opened.sent) } else { (start, start) };
            let timing = Timed { op: sample::CONNECT, intended, sent };
            // Boxed: the handshake's future (TLS included) is the largest this task awaits, and only for a moment;
            // inline, every connection's task would keep its room for the connection's whole life.
            match Box::pin(self.link.endpoint.connect(&self.client_id, self.side.will())).await {
                Ok(mut conn) => {
                    presence.connected(start.elapsed());
                    backoff.reset();
                    self.out.push(timing, Ok(0));
                    // The owner's first SUBSCRIBE is timed from the action that opened the connection (it was
                    // asked for with the CONNECT), a later one from the CONNACK that it follows.
                    let (intended, sent) = if first { (intended, sent) } else { (Instant::now(), Instant::now()) };
                    let subscribe =
                        (self.side.role() == Role::Owner).then_some(Timed { op: sample::SUBSCRIBE, intended, sent });
                    first = false;
                    self.waiting.subscribe = Some((conn.subscribe(self.side.subscription()), subscribe));
                    self.waiting.state = State::Up;
                    self.side.connected(&mut conn, &mut self.waiting);
                    match self.serve(&mut conn).await {
                        Ended::Closed => break,
                        Ended::Lost(why) => {
                            presence.dropped();
                            self.waiting.lost(&mut self.out, why.name());
                            if self.closing.is_some() {
                                break; // it dropped while closing: nothing to come back for
                            }
                        }
                    }
                }
                Err(why) => {
                    first = false;
                    presence.fleet().refused();
                    self.out.push(timing, Err(why.name()));
                    self.waiting.lost(&mut self.out, why.name());
                }
            }
            self.out.flush().await;
            if !self.pause(backoff.next_delay(rand::random::<f64>())).await {
                break;
            }
        }
        self.out.flush().await;
        self.side.finish();
    }

    /// Down for `delay`: commands fail at once. False if the connection was closed meanwhile.
    async fn pause(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            let flow = tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                c = self.commands.recv() => match c {
                    Some(c) => self.side.command(*c, None, &mut self.waiting, &mut self.out),
                    None => return false,
                },
            };
            self.out.flush().await;
            if let Flow::Close { why, .. } = flow {
                self.waiting.fail_all(&mut self.out, &why);
                return false;
            }
        }
    }

    /// Serves a connection that is up until it drops or is closed.
    async fn serve(&mut self, conn: &mut Conn) -> Ended {
        let timeout = self.link.timeout;
        let keep_alive = self.link.endpoint.keep_alive();
        let far = || Instant::now() + Duration::from_secs(3600);
        let timer = tokio::time::sleep_until(far());
        tokio::pin!(timer);
        let mut armed = timer.deadline();
        if let Err(why) = conn.flush().await {
            return Ended::Lost(why); // what the CONNACK was followed by: the subscription, the lamp's announcement
        }
        loop {
            // One timer: the oldest thing waiting, the keep-alive, the end of a close. It moves earlier when needed
            // and otherwise fires late at most once per timeout (then it is set again).
            let mut due = conn.last_write + keep_alive;
            if let Some(d) = self.waiting.deadline(timeout) {
                due = due.min(d);
            }
            if let Some((_, until)) = &self.closing {
                due = due.min(*until);
            }
            if due < armed {
                timer.as_mut().reset(due);
                armed = due;
            }
            let flow = tokio::select! {
                r = conn.read() => {
                    if let Err(why) = r {
                        return Ended::Lost(why);
                    }
                    loop {
                        match conn.next_packet() {
                            Ok(Some(p)) => self.packet(p, conn),
                            Ok(None) => break,
                            Err(why) => return Ended::Lost(why),
                        }
                    }
                    Flow::Go
                }
                c = self.commands.recv(), if self.closing.is_none() => {
                    let mut flow = match c {
                        Some(c) => self.side.command(*c, Some(conn), &mut self.waiting, &mut self.out),
                        None => Flow::Close { why: ABANDONED.into(), linger: Duration::ZERO },
                    };
                    // Whatever else is queued goes out in the same write.
                    while matches!(flow, Flow::Go) {
                        match self.commands.try_recv() {
                            Ok(c) => flow = self.side.command(*c, Some(conn), &mut self.waiting, &mut self.out),
                            Err(_) => break,
                        }
                    }
                    flow
                }
                _ = &mut timer => {
                    let now = Instant::now();
                    self.waiting.expire(now, timeout, &mut self.out);
                    if self.waiting.ping.is_some_and(|t| now.saturating_duration_since(t) >= timeout) {
                        return Ended::Lost(Failure::Timeout);
                    }
                    if self.waiting.ping.is_none() && now >= conn.last_write + keep_alive {
                        conn.ping();
                        self.waiting.ping = Some(now);
                    }
                    armed = far();
                    timer.as_mut().reset(armed);
                    Flow::Go
                }
            };
            if let Flow::Close { why, linger } = flow {
                self.closing = Some((why, Instant::now() + linger));
            }
            if let Some((why, until)) = &self.closing {
                if !self.waiting.timed_pending() || Instant::now() >= *until {
                    self.waiting.fail_all(&mut self.out, why);
                    conn.disconnect();
                    let _ = conn.flush().await;
                    self.waiting.state = State::Down;
                    return Ended::Closed;
                }
            }
            if let Err(why) = conn.flush().await {
                return Ended::Lost(why);
            }
            self.out.flush().await;
        }
    }

    /// One packet from the broker.
    fn packet(&mut self, p: Packet, conn: &mut Conn) {
        conn.acknowledge(&p);
        match p {
            Packet::PubAck(a) => self.waiting.acked(a.pkid, &mut self.out),
            // QoS 2 (the lamp's birth): PUBREC completes it for us; the PUBCOMP that follows needs nothing.
            Packet::PubRec(r) => self.waiting.acked(r.pkid, &mut self.out),
            Packet::SubAck(a) if self.waiting.subscribe.as_ref().is_some_and(|s| s.0 == a.pkid) => {
                if let Some((_, Some(t))) = self.waiting.subscribe.take() {
                    self.out.push(t, Ok(0));
                }
                self.side.subscribed();
            }
            Packet::PingResp => self.waiting.ping = None,
            Packet::Publish(p) => self.side.publish(p, conn, &mut self.waiting, &mut self.out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn a_burst_of_publishes_leaves_no_capacity_behind_once_acknowledged() {
        let (samples, _rx) = Samples::channel(1024);
        let mut out = Outbox::new(&samples);
        let mut w = Waiting::new();
        let t = Timed { op: sample::PUBLISH, intended: Instant::now(), sent: Instant::now() };
        for pkid in 1..=200 {
            w.sent(pkid, Some(t));
        }
        assert!(w.inflight.capacity() >= 200);
        for pkid in 1..=199 {
            w.acked(pkid, &mut out);
        }
        assert!(w.inflight.capacity() >= 200, "kept while one is still waiting");
        w.acked(200, &mut out);
        assert!(w.inflight.is_empty());
        assert!(w.inflight.capacity() <= KEEP_QUEUED, "capacity {} after the burst", w.inflight.capacity());
    }

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
                        tokio::time::sleep(b.next_delay(rng.random())).await; // this attempt was refused
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

    fn timed(op: sample::Op, t: Instant) -> Timed {
        Timed { op, intended: t, sent: t }
    }

    fn drain(rx: &mut mpsc::Receiver<sample::Sample>) -> Vec<(&'static str, Result<u64, String>)> {
        let mut got = Vec::new();
        while let Ok(s) = rx.try_recv() {
            got.push((s.op.name, s.outcome));
        }
        got.sort();
        got
    }

    #[tokio::test]
    async fn a_dropped_connection_fails_what_it_was_waiting_for_and_then_fails_at_once() {
        let (samples, mut rx) = Samples::channel(16);
        let mut out = Outbox::new(&samples);
        let t = Instant::now();
        let mut w = Waiting::new();
        w.state = State::Up;
        w.sent(1, Some(timed(sample::PUBLISH, t)));
        w.sent(2, None); // untimed (an answer): nothing to report
        let cmd = Command { client: "c".into(), h: None, s: None, brightness: None, on: Some(false) };
        w.expect_roundtrip(cmd, timed(sample::ROUNDTRIP, t));
        w.subscribe = Some((3, Some(timed(sample::SUBSCRIBE, t))));
        w.lost(&mut out, "connection lost");
        assert_eq!(w.state, State::Down);
        assert!(w.inflight.is_empty() && w.roundtrips.is_empty() && w.subscribe.is_none());
        let lost = Err("connection lost".to_string());
        assert_eq!(
            drain(&mut rx),
            [("publish set_config", lost.clone()), ("roundtrip", lost.clone()), ("subscribe", lost)],
            "every waiting operation fails under the drop's name, none is left to time out"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn acks_pair_by_packet_id_in_any_order_and_the_old_ones_time_out() {
        let (samples, mut rx) = Samples::channel(16);
        let mut out = Outbox::new(&samples);
        let timeout = Duration::from_secs(5);
        let mut w = Waiting::new();
        let t0 = Instant::now();
        for pkid in 1..=3 {
            w.sent(pkid, Some(timed(sample::PUBLISH, t0)));
        }
        assert_eq!(w.deadline(timeout), Some(t0 + timeout), "the oldest publish sets the deadline");
        w.acked(2, &mut out);
        w.acked(2, &mut out); // a duplicate ack times nothing twice
        w.acked(9, &mut out); // an ack of nothing we wait for
        assert_eq!(drain(&mut rx), [("publish set_config", Ok(0))]);
        tokio::time::advance(Duration::from_secs(3)).await;
        w.sent(4, Some(timed(sample::CHANGED, Instant::now())));
        w.acked(1, &mut out);
        tokio::time::advance(Duration::from_secs(2)).await;
        w.expire(Instant::now(), timeout, &mut out);
        assert_eq!(
            drain(&mut rx),
            [("publish set_config", Ok(0)), ("publish set_config", Err("puback timeout".into()))]
        );
        assert!(w.timed_pending(), "the younger one still waits");
        assert_eq!(w.deadline(timeout), Some(t0 + Duration::from_secs(3) + timeout));
    }

    #[tokio::test]
    async fn a_full_channel_holds_samples_in_order_and_hands_them_over_when_there_is_room() {
        let (samples, mut rx) = Samples::channel(1);
        let mut out = Outbox::new(&samples);
        let t = Instant::now();
        for op in [sample::PUBLISH, sample::ROUNDTRIP, sample::CHANGED] {
            out.push(timed(op, t), Ok(0));
        }
        assert_eq!(rx.try_recv().unwrap().op, sample::PUBLISH, "the first fit");
        let flush = tokio::spawn(async move {
            out.flush().await;
            out
        });
        assert_eq!(rx.recv().await.unwrap().op, sample::ROUNDTRIP, "then the held ones, in order");
        assert_eq!(rx.recv().await.unwrap().op, sample::CHANGED);
        flush.await.unwrap();
    }
}
