//! The worker's side of a Locust session, as a state machine with no socket and no clock of its own: it is fed the
//! master's messages ([`Worker::on_message`]) and the passing of time ([`Worker::on_tick`]), and answers with
//! [`Effect`]s: messages to send and what the load runner must do. The shell (`session`) owns the socket and the run.
//!
//! The rules (LOCUST.md, "A session, worker side"): `client_ready -1` on every (re)connection, resent every 5 s until
//! an `ack`; a heartbeat every second, always; on `spawn` (absolute targets; a spawn not newer than the last one is
//! stale and ignored) `spawning`, the new target, `spawning_complete`; statistics every 3 s; on `stop` the load stops,
//! then `client_stopped` and `client_ready` again; on `quit` the run ends. A link that has carried nothing for
//! [`LINK_TIMEOUT`] (the master answers every heartbeat) is rebuilt; a master silent for the configured silence
//! (60 s by default) gets its load stopped, once, with a warning.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::wire::{FromMaster, Spawn, State, ToMaster};

/// Locust's worker heartbeat interval.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Locust's worker reporting interval (`WORKER_REPORT_INTERVAL`).
pub const REPORT: Duration = Duration::from_secs(3);
/// `client_ready` is resent this often until acknowledged.
pub const READY_RESEND: Duration = Duration::from_secs(5);
/// Nothing from the master for this long (it answers every heartbeat): rebuild the connection.
pub const LINK_TIMEOUT: Duration = Duration::from_secs(5);

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(ToMaster),
    /// Send a heartbeat in this state, with this host's CPU and memory.
    Heartbeat(State),
    /// Send the statistics gathered since the last report.
    Report,
    /// Run this many virtual lamps (0: none).
    Lamps(u32),
    /// The master's `--host` (as the master sent it), on the first spawn that carries it and whenever it changes.
    Host(String),
    /// Drop the connection and make a new one with the same identity.
    Reconnect,
    /// End the run: the last report, then exit.
    Quit,
}

/// Where the master's users go: user classes are filled in their (sorted) order, up to `capacity` lamps in all.
/// Returns the counts actually run per class; their sum is the lamps to run.
pub fn assign(asked: &BTreeMap<String, u32>, capacity: u32) -> BTreeMap<String, u32> {
    let mut left = capacity;
    asked
        .iter()
        .map(|(class, &n)| {
            let take = n.min(left);
            left -= take;
            (class.clone(), take)
        })
        .collect()
}

/// The sum of a class count map.
pub fn total(classes: &BTreeMap<String, u32>) -> u32 {
    classes.values().fold(0u32, |a, &n| a.saturating_add(n))
}

/// The worker's session state.
#[derive(Debug)]
pub struct Worker {
    capacity: u32,
    silence: Duration,
    state: State,
    acked: bool,
    /// Running now, per user class.
    classes: BTreeMap<String, u32>,
    last_spawn: f64,
    /// The last `--host` a spawn carried.
    host: Option<String>,
    last_heard: Instant,
    /// The last message on this connection (or its start).
    link_since: Instant,
    /// The master's silence has stopped the load (said once).
    silent: bool,
    next_ready: Instant,
    next_heartbeat: Instant,
    next_report: Instant,
}

impl Worker {
    /// A worker that can run up to `capacity` lamps and stops them after `silence` without a word from the master;
    /// then call [`Worker::connected`].
    pub fn new(capacity: u32, silence: Duration, now: Instant) -> Worker {
        Worker {
            capacity,
            silence,
            state: State::Ready,
            acked: false,
            classes: BTreeMap::new(),
            last_spawn: f64::NEG_INFINITY,
            host: None,
            last_heard: now,
            link_since: now,
            silent: false,
            next_ready: now,
            next_heartbeat: now + HEARTBEAT,
            next_report: now + REPORT,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The user classes running now (for reports).
    pub fn classes(&self) -> &BTreeMap<String, u32> {
        &self.classes
    }

    /// A new connection is up: register (again), and give the link [`LINK_TIMEOUT`] from now.
    pub fn connected(&mut self, now: Instant) -> Vec<Effect> {
        self.acked = false;
        self.link_since = now;
        self.ready(now)
    }

    fn ready(&mut self, now: Instant) -> Vec<Effect> {
        self.next_ready = now + READY_RESEND;
        vec![Effect::Send(ToMaster::ClientReady)]
    }

    /// The next instant [`Worker::on_tick`] has something to do.
    pub fn next_tick(&self) -> Instant {
        let mut t = self.next_heartbeat.min(self.next_report);
        if !self.acked {
            t = t.min(self.next_ready);
        }
        t
    }

    pub fn on_message(&mut self, msg: FromMaster, now: Instant) -> Vec<Effect> {
        self.last_heard = now;
        self.link_since = now;
        let mut out = Vec::new();
        if self.silent {
            self.silent = false;
            tracing::info!("the Locust master is back");
        }
        match msg {
            FromMaster::Ack { index } => {
                if !self.acked {
                    tracing::info!(index, "registered with the Locust master");
                }
                self.acked = true;
            }
            FromMaster::Heartbeat => {}
            FromMaster::Spawn(s) => out = self.spawn(s),
            FromMaster::Stop => {
                out.push(Effect::Lamps(0));
                self.classes.clear();
                self.state = State::Ready;
                out.push(Effect::Send(ToMaster::ClientStopped));
                self.acked = false;
                out.extend(self.ready(now));
                tracing::info!("the Locust master stopped the load; ready again");
            }
            FromMaster::Quit => out.push(Effect::Quit),
            FromMaster::Reconnect => {
                tracing::info!("the Locust master asks this worker to reconnect");
                out.push(Effect::Reconnect);
            }
            FromMaster::Other(kind) => tracing::debug!(kind, "Locust message ignored"),
        }
        out
    }

    fn spawn(&mut self, s: Spawn) -> Vec<Effect> {
        if s.timestamp <= self.last_spawn {
            tracing::info!(
                timestamp = s.timestamp,
                last = self.last_spawn,
                "stale spawn from the Locust master ignored"
            );
            return Vec::new();
        }
        self.last_spawn = s.timestamp;
        let run = assign(&s.classes, self.capacity);
        let (asked, lamps) = (total(&s.classes), total(&run));
        if lamps < asked {
            tracing::warn!(
                asked,
                lamps,
                "the Locust master asks for more users than this worker's --devices: running {lamps} lamp(s)"
            );
        }
        tracing::info!(asked, lamps, "Locust spawn: running {lamps} lamp(s)");
        self.classes = run.clone();
        self.state = State::Running;
        let mut out = vec![Effect::Send(ToMaster::Spawning)];
        if let Some(host) = s.host.filter(|h| self.host.as_ref() != Some(h)) {
            self.host = Some(host.clone());
            out.push(Effect::Host(host)); // before the lamps: their sessions go there
        }
        out.extend([Effect::Lamps(lamps), Effect::Send(ToMaster::SpawningComplete { classes: run })]);
        out
    }

    /// Heartbeats, reports, `client_ready` resends, a dead link, a silent master: whatever is due at `now`.
    pub fn on_tick(&mut self, now: Instant) -> Vec<Effect> {
        let mut out = Vec::new();
        if now >= self.next_heartbeat {
            out.push(Effect::Heartbeat(self.state));
            self.next_heartbeat = now + HEARTBEAT;
        }
        if now >= self.next_report {
            out.push(Effect::Report);
            self.next_report = now + REPORT;
        }
        if !self.acked && now >= self.next_ready {
            out.extend(self.ready(now));
        }
        if !self.silent && now.saturating_duration_since(self.last_heard) >= self.silence {
            self.silent = true;
            tracing::warn!(
                "no word from the Locust master for {}: load stopped; waiting for it to come back",
                humantime::format_duration(self.silence)
            );
            if !self.classes.is_empty() {
                out.push(Effect::Lamps(0));
                self.classes.clear();
            }
            self.state = State::Ready;
        }
        if now.saturating_duration_since(self.link_since) >= LINK_TIMEOUT {
            self.link_since = now;
            out.push(Effect::Reconnect);
        }
        out
    }
}

#[cfg(test)]
mod tests;
