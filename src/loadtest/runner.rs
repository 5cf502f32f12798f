//! The executor: an open-model dispatcher and one task per virtual lamp.
//!
//! The dispatcher walks the schedule in time order and hands each action to its lamp at the action's intended start
//! (the schedule, not the responses, sets the pace: wrk2's model). A lamp does its owner's actions one after another,
//! as a person does; if one runs long, the next starts late and the lateness is measured, not hidden, because every
//! sample carries its intended start. MQTT publishes never wait for their answers (a slider drag keeps sending at
//! its pace), so round trips overlap as in the browser.
//!
//! Per lamp: with `--responder internal` a responder connection that behaves as the lamp (always connected, except
//! during connection churn), a web session (cookie jar) during web sessions, and an owner MQTT connection during web
//! and app sessions. On stop, undispatched actions are counted, not silently dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::fleet::Fleet;
use super::sample::{self, Samples};
use super::stop::{self, Stop};
use super::vlamp::{Link, Owner, Responder};
use crate::lamp::{Command, Level, State};
use crate::profile::Interface;
use crate::schedule::{Action, ActionKind, Page, Patch};
use crate::web::Session;

/// One virtual lamp and its owner.
#[derive(Debug, Clone)]
pub struct LampId {
    pub index: u32,
    pub device_id: String,
    pub username: String,
    pub password: String,
}

/// Where the lamps go and how.
#[derive(Clone)]
pub struct Targets {
    /// Where every MQTT connection goes (built once: TLS included), and the topic prefix with `{device_id}`.
    pub mqtt: Arc<super::conn::Endpoint>,
    pub prefix: String,
    /// The web site a session goes to when it begins: fixed, or under a Locust master its `--host`.
    pub web: watch::Receiver<reqwest::Url>,
    pub internal_responder: bool,
    pub timeout: Duration,
    /// Responder connections are spread over this long from the start.
    pub ramp_up: Duration,
    /// The run's end (`--duration` from the start): the lamps stay connected until then, whatever the schedule holds.
    pub end: Instant,
    /// After this, a lamp starts nothing more from its backlog (an overloaded target must not stretch a run
    /// without bound): the schedule's end plus one timeout of grace.
    pub hard_stop: Instant,
    /// On an interrupt, how long operations in flight get to complete (`--stop-grace`, at most the timeout).
    pub grace: Duration,
    /// Reconnect backoff of every connection: first delay, cap.
    pub reconnect: (Duration, Duration),
    /// The fleet's connection counts.
    pub fleet: Arc<Fleet>,
}

/// Counts the console and the summary report alongside the samples.
#[derive(Debug, Default)]
pub struct Counters {
    pub dispatched: AtomicU64,
    pub completed: AtomicU64,
    /// Actions scheduled but never started because the run was interrupted.
    pub not_started: AtomicU64,
    /// Owners in a session right now (Locust's "User Count").
    pub active: AtomicU64,
    /// Churn actions that cannot apply (an external lamp's connection is not ours to drop).
    pub skipped_churn: AtomicU64,
    /// Actions cut short in flight by a second interrupt (their outcome is unknown, so they have no sample).
    pub abandoned: AtomicU64,
    /// Actions of lamps not running (beyond a Locust master's target, or of a session that began before the lamp
    /// joined): not dispatched, and not part of the load.
    pub inactive: AtomicU64,
    /// Actions that started more than [`LATE`] after their intended start (still done: never dropped).
    pub late: AtomicU64,
    /// The most an action started late, in microseconds.
    pub max_late_us: AtomicU64,
    /// Sessions started, per interface (by [`Interface::index`]).
    pub sessions: [AtomicU64; 3],
    /// Actions done, by kind (in the order of [`ACTION_NAMES`]).
    pub actions: [AtomicU64; 6],
}

/// The failure name of a web request whose session could not build its HTTP client.
pub const NO_HTTP_CLIENT: &str = "HTTP client unavailable";

/// The failure name of an operation still unanswered when an interrupted run's grace ran out.
pub const NO_ANSWER_AT_STOP: &str = super::link::ABANDONED;

/// Actions a lamp may have waiting (dispatched, not yet started). A person's lamp never has more than a few; a lamp
/// this far behind holds the dispatcher (see [`run`]) instead of letting its queue grow without bound.
pub const ACTIONS: usize = 1024;

/// An action in a lamp's queue, with the instant it is intended for. Boxed: tokio's channel allocates its slots 32
/// at a time and each lamp's queue keeps one or two such blocks for the whole run, so a block of 32 pointers
/// (0.3 KiB) rather than of 32 actions (3.6 KiB) is what every lamp holds, for one small allocation per action.
type Queued = Box<(Action, Instant)>;

/// A lamp's action that found its queue full, and the queue.
type Backlog = (mpsc::Sender<Queued>, Queued);

/// The visits a lamp's map keeps room for once it is empty again (a phone, a laptop and one more). A lamp's task
/// lives the whole run; without this, every overlap of sessions it ever met stayed in its map's capacity
/// (heaptrack, 2000 lamps: the maps grew by 0.9 MB between 70 s and 250 s into a calm run).
const KEEP_VISITS: usize = 3;

/// An action that starts later than this after its intended start is counted as late.
pub const LATE: Duration = Duration::from_millis(100);

/// The kinds of action [`Counters::actions`] counts.
pub const ACTION_NAMES: [&str; 6] = ["login", "page", "set_config", "device_changed", "reconnect", "session_end"];

fn kind_index(k: &ActionKind) -> usize {
    match k {
        ActionKind::Login => 0,
        ActionKind::Page(_) => 1,
        ActionKind::SetConfig(_) => 2,
        ActionKind::DeviceChanged(_) => 3,
        ActionKind::Reconnect { .. } => 4,
        ActionKind::SessionEnd => 5,
    }
}

impl Counters {
    /// Counts an action starting now, `late` after its intended start.
    fn start(&self, kind: &ActionKind, late: Duration) {
        self.actions[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
        if late > LATE {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
        self.max_late_us.fetch_max(late.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
    }
}

fn level(x: Option<f64>) -> Option<Level> {
    x.and_then(Level::from_f64)
}

fn command(p: &Patch, client: &str) -> Command {
    Command { client: client.to_string(), h: level(p.h), s: level(p.s), brightness: level(p.brightness), on: p.on }
}

/// One owner session's own browser and MQTT connection (a lamp may have several at once: a phone and a laptop).
#[derive(Default)]
struct Visit {
    /// Boxed: most sessions are the app's or the touchscreen's and never open a browser, and a lamp's map keeps
    /// room for every visit it ever had at once (a visit of 280 bytes with the browser inline, 64 boxed).
    web: Option<Box<Session>>,
    owner: Option<Owner>,
}

struct LampTask {
    id: LampId,
    link: Link,
    targets: Targets,
    out: Samples,
    counters: Arc<Counters>,
    visits: HashMap<u64, Visit>,
    /// The session the current action belongs to.
    session: u64,
    responder: Option<Responder>,
    /// During connection churn: the responder that comes back after its time offline.
    revival: Option<JoinHandle<Responder>>,
    /// Pages closing (waiting for their last answers).
    closing: Vec<JoinHandle<()>>,
    /// How long after the start this lamp connects (its place in the ramp-up).
    ramp_delay: Duration,
    stop: watch::Receiver<Stop>,
}

impl LampTask {
    fn visit(&mut self) -> &mut Visit {
        self.visits.entry(self.session).or_default()
    }

    /// The session's browser, made on first use. Building one fails only with a broken TLS backend (a build
    /// problem): then the request fails with a name of its own, and the run goes on.
    fn web(&mut self) -> Result<&Session, String> {
        let (base, timeout) = (self.targets.web.borrow().clone(), self.targets.timeout);
        let v = self.visit();
        if v.web.is_none() {
            match Session::new(&base, timeout) {
                Ok(s) => v.web = Some(Box::new(s)),
                Err(e) => {
                    tracing::error!("cannot build an HTTP client: {e}");
                    return Err(NO_HTTP_CLIENT.into());
                }
            }
        }
        Ok(v.web.as_deref().expect("just made"))
    }

    async fn login(&mut self, intended: Instant) {
        let (user, pass) = (self.id.username.clone(), self.id.password.clone());
        let out = self.out.clone();
        let t = Instant::now();
        let web = match self.web() {
            Ok(w) => w,
            Err(why) => return out.send(sample::LOGIN_FORM, intended, t, Err(why)).await,
        };
        match web.login_form().await {
            Ok((token, page)) => {
                out.send(sample::LOGIN_FORM, intended, t, Ok(page.bytes as u64)).await;
                let t2 = Instant::now();
                let r = web.login_post(&token, &user, &pass).await;
                out.send(sample::LOGIN_POST, intended + (t2 - t), t2, r.map(|p| p.bytes as u64).map_err(|e| e.name()))
                    .await;
            }
            Err(e) => out.send(sample::LOGIN_FORM, intended, t, Err(e.name())).await,
        }
    }

    async fn page(&mut self, page: Page, intended: Instant) {
        let (op, path) = match page {
            Page::Root => (sample::PAGE_ROOT, "/".to_string()),
            Page::List => (sample::PAGE_LIST, "/lampi/".to_string()),
            Page::Detail => (sample::PAGE_DETAIL, format!("/lampi/device/{}", self.id.device_id)),
        };
        let out = self.out.clone();
        let t = Instant::now();
        let web = match self.web() {
            Ok(w) => w,
            Err(why) => return out.send(op, intended, t, Err(why)).await,
        };
        let r = web.page(&path).await;
        out.send(op, intended, t, r.map(|p| p.bytes as u64).map_err(|e| e.name())).await;
    }

    fn owner(&mut self, intended: Instant) -> &mut Owner {
        let id = format!("lt-{}-{}", self.id.device_id, self.session & 0xffff_ffff);
        let (link, out) = (self.link.clone(), self.out.clone());
        self.visit().owner.get_or_insert_with(|| Owner::connect(&link, &id, intended, &out))
    }

    /// The lamp's responder; while the lamp is reconnecting, once it is back: a touchscreen change made meanwhile is
    /// published when the lamp is connected again (late, and measured from its intended start), never lost.
    async fn responder(&mut self) -> Option<&Responder> {
        if let Some(handle) = self.revival.take() {
            self.responder = handle.await.ok();
        }
        self.responder.as_ref()
    }

    async fn act(&mut self, a: Action, intended: Instant) {
        self.counters.start(&a.kind, Instant::now().saturating_duration_since(intended));
        self.session = a.session;
        if a.session != crate::schedule::NO_SESSION && !self.visits.contains_key(&a.session) {
            self.visits.insert(a.session, Visit::default());
            self.counters.active.fetch_add(1, Ordering::Relaxed);
            if let Some(i) = a.interface {
                self.counters.sessions[i.index()].fetch_add(1, Ordering::Relaxed);
            }
        }
        match a.kind {
            // The web's futures (reqwest's) are boxed, and so is the wind-down at the end: inline, every lamp's task
            // would keep their room for the whole run, also in a run with no web sessions (4.1 KiB a lamp, 2.1 boxed).
            ActionKind::Login => Box::pin(self.login(intended)).await,
            ActionKind::Page(p) => Box::pin(self.page(p, intended)).await,
            ActionKind::SetConfig(p) => {
                let full = a.interface == Some(Interface::Web);
                let out = self.out.clone();
                let owner = self.owner(intended);
                let cmd = command(&p, &owner.client_id);
                owner.set_config(&cmd, full, intended, &out).await;
            }
            ActionKind::DeviceChanged(p) => {
                if self.targets.internal_responder {
                    match self.responder().await {
                        Some(r) => r.touch(command(&p, "lamp_ui"), intended).await,
                        None => {
                            self.out.send(sample::CHANGED, intended, Instant::now(), Err("lamp not up".into())).await
                        }
                    }
                } else {
                    // A real lamp's touchscreen is not ours to press: send what its UI would, as a command.
                    let out = self.out.clone();
                    let owner = self.owner(intended);
                    let cmd = command(&p, &owner.client_id);
                    owner.set_config(&cmd, false, intended, &out).await;
                }
            }
            ActionKind::Reconnect { offline } => {
                if !self.targets.internal_responder {
                    self.counters.skipped_churn.fetch_add(1, Ordering::Relaxed);
                } else if let Some(r) = self.responder.take() {
                    let state =
                        r.close(self.targets.timeout, "the lamp disconnected before the broker acknowledged").await;
                    let state = state.unwrap_or_default();
                    let (link, id, out) = (self.link.clone(), self.client_id(), self.out.clone());
                    self.revival = Some(tokio::spawn(async move {
                        tokio::time::sleep(offline).await;
                        Responder::start(&link, &id, state, Instant::now(), &out)
                    }));
                }
            }
            ActionKind::SessionEnd => {
                if let Some(v) = self.visits.remove(&a.session) {
                    if let Some(o) = v.owner {
                        // The page stays open until the lamp has answered the last drag (or the timeout), without
                        // holding up the lamp's other sessions.
                        let (timeout, stop) = (self.targets.timeout, self.stop.clone());
                        self.closing.push(tokio::spawn(async move {
                            o.settle(timeout, stop).await;
                            o.close("no answer before the page closed", Duration::from_millis(500)).await;
                        }));
                        self.closing.retain(|t| !t.is_finished());
                    }
                    self.counters.active.fetch_sub(1, Ordering::Relaxed);
                    if self.visits.is_empty() && self.visits.capacity() > KEEP_VISITS {
                        self.visits.shrink_to(KEEP_VISITS); // the room sessions overlapping once made it take
                    }
                }
            }
        }
        self.counters.completed.fetch_add(1, Ordering::Relaxed);
    }

    fn client_id(&self) -> String {
        format!("lt-lamp-{}", self.id.device_id)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Queued>) {
        let mut stop = self.stop.clone();
        if self.targets.internal_responder {
            let at = Instant::now() + self.ramp_delay;
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                // Stopped in the ramp-up.
                _ = stop::requested(&mut stop) => return Box::pin(self.wind_down(rx, stop)).await,
            }
            let responder = Responder::start(&self.link, &self.client_id(), State::default(), at, &self.out);
            // A lamp is on the broker before its owners act: the first actions wait (and count as late) until it
            // listens, rather than publish to nobody. A responder that cannot connect shows as failed connects.
            responder.ready(self.targets.timeout).await;
            self.responder = Some(responder);
        }
        loop {
            let next = tokio::select! {
                biased;
                _ = stop::requested(&mut stop) => None,
                a = rx.recv() => a,
            };
            let Some((action, intended)) = next.map(|q| *q) else { break };
            if Instant::now() > self.targets.hard_stop {
                self.counters.not_started.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // A second interrupt cuts an action short (an HTTP request can take up to the timeout).
            tokio::select! {
                _ = self.act(action, intended) => {}
                _ = stop::now(&mut stop) => {
                    self.counters.abandoned.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        Box::pin(self.wind_down(rx, stop)).await;
    }

    /// After the last action: round trips in flight get their time to come back (the timeout at the run's end, the
    /// grace when interrupted, nothing on a second interrupt); what is still unanswered then fails under its name.
    async fn wind_down(&mut self, mut rx: mpsc::Receiver<Queued>, stop: watch::Receiver<Stop>) {
        let state = *stop.borrow();
        let (limit, why) = match state {
            Stop::Running => (self.targets.timeout, "no answer before the run ended"),
            Stop::Graceful => (self.targets.grace, NO_ANSWER_AT_STOP),
            Stop::Now => (Duration::ZERO, NO_ANSWER_AT_STOP),
        };
        // One deadline for all of this lamp's pages.
        let deadline = Instant::now() + limit;
        for v in self.visits.values() {
            if let Some(o) = v.owner.as_ref() {
                o.settle(deadline.saturating_duration_since(Instant::now()), stop.clone()).await;
            }
        }
        // Interrupted: whatever is still queued never started.
        let mut left = 0;
        while rx.try_recv().is_ok() {
            left += 1;
        }
        self.counters.not_started.fetch_add(left, Ordering::Relaxed);
        for t in self.closing.drain(..) {
            let _ = t.await;
        }
        for (_, v) in self.visits.drain() {
            if let Some(o) = v.owner {
                o.close(why, Duration::ZERO).await;
            }
            self.counters.active.fetch_sub(1, Ordering::Relaxed);
        }
        let limit = if *stop.borrow() == Stop::Now { Duration::ZERO } else { limit };
        if let Some(handle) = self.revival.take() {
            if handle.is_finished() {
                if let Ok(r) = handle.await {
                    r.close(limit, "no acknowledgement before the run ended").await;
                }
            } else {
                handle.abort();
            }
        }
        if let Some(r) = self.responder.take() {
            r.close(limit, "no acknowledgement before the run ended").await;
        }
    }
}

/// The lamps that run now: lamp k has a task while k is below the target ([`run`]'s `active`), made when it joins
/// and ended (as at the end of a run: round trips settle, connections close) when it leaves. A lamp takes only the
/// sessions that start while it runs, never the middle of one.
struct Pool {
    ids: Vec<LampId>,
    targets: Targets,
    out: Samples,
    counters: Arc<Counters>,
    stop: watch::Receiver<Stop>,
    running: Vec<Option<mpsc::Sender<Queued>>>,
    /// Per lamp: the highest session seen, and the first session it may take (sessions count up per lamp).
    last_session: Vec<u64>,
    admit_from: Vec<u64>,
    tasks: Vec<JoinHandle<()>>,
    /// The lamps of the first target spread their connects over `--ramp-up`; one that joins later (a Locust
    /// master ramping) connects at once: the master paces those.
    started: bool,
}

impl Pool {
    fn new(
        ids: Vec<LampId>,
        targets: Targets,
        out: Samples,
        counters: Arc<Counters>,
        stop: watch::Receiver<Stop>,
    ) -> Pool {
        let n = ids.len();
        Pool {
            ids,
            targets,
            out,
            counters,
            stop,
            running: vec![None; n],
            last_session: vec![0; n],
            admit_from: vec![0; n],
            tasks: Vec::new(),
            started: false,
        }
    }

    /// Lamps `[0, target)` run, the others stop.
    fn resize(&mut self, target: u32) {
        self.tasks.retain(|t| !t.is_finished());
        let n = self.ids.len().max(1) as f64;
        for k in 0..self.ids.len() {
            let want = (k as u64) < u64::from(target);
            match (&self.running[k], want) {
                (None, true) => {
                    self.admit_from[k] = self.last_session[k] + 1;
                    // Lamp k of n connects at k/n of the ramp-up.
                    let ramp = if self.started { Duration::ZERO } else { self.targets.ramp_up.mul_f64(k as f64 / n) };
                    self.running[k] = Some(self.spawn(k, ramp));
                }
                (Some(_), false) => self.running[k] = None, // its task winds down when its queue closes
                _ => {}
            }
        }
        self.started = true;
    }

    fn spawn(&mut self, k: usize, ramp_delay: Duration) -> mpsc::Sender<Queued> {
        let (tx, rx) = mpsc::channel(ACTIONS);
        let task = self.task(k, ramp_delay);
        self.tasks.push(tokio::spawn(task.run(rx)));
        tx
    }

    /// Lamp k's task, to run from `ramp_delay` after the start.
    fn task(&self, k: usize, ramp_delay: Duration) -> LampTask {
        let (id, targets) = (self.ids[k].clone(), &self.targets);
        let topics = Arc::new(crate::mqtt::Topics::new(&targets.prefix, &id.device_id, "lamp_service"));
        let link = Link {
            endpoint: targets.mqtt.clone(),
            topics,
            timeout: targets.timeout,
            reconnect: targets.reconnect,
            fleet: targets.fleet.clone(),
        };
        LampTask {
            id,
            link,
            ramp_delay,
            targets: targets.clone(),
            out: self.out.clone(),
            counters: self.counters.clone(),
            visits: HashMap::new(),
            session: crate::schedule::NO_SESSION,
            responder: None,
            revival: None,
            closing: Vec::new(),
            stop: self.stop.clone(),
        }
    }

    /// Hands the action to its lamp if that lamp runs and the action's session started while it ran. A lamp
    /// [`ACTIONS`] behind has no room: the action comes back with the lamp's queue, for the dispatcher to wait on.
    fn dispatch(&mut self, action: Action, intended: Instant) -> Option<Backlog> {
        let k = action.lamp as usize;
        let slot = self.running.get(k)?;
        if action.session != crate::schedule::NO_SESSION {
            self.last_session[k] = self.last_session[k].max(action.session);
        }
        match slot {
            Some(tx) if action.session == crate::schedule::NO_SESSION || action.session >= self.admit_from[k] => {
                match tx.try_send(Box::new((action, intended))) {
                    Ok(()) => self.counters.dispatched.fetch_add(1, Ordering::Relaxed),
                    Err(mpsc::error::TrySendError::Full(item)) => return Some((tx.clone(), item)),
                    Err(mpsc::error::TrySendError::Closed(_)) => 0, // the lamp already ended (a run cut short)
                };
            }
            _ => {
                self.counters.inactive.fetch_add(1, Ordering::Relaxed);
            }
        }
        None
    }

    /// No more actions: every lamp's queue closes; the tasks to wait for.
    fn close(mut self) -> Vec<JoinHandle<()>> {
        self.running.clear();
        self.tasks
    }
}

/// Follows a change of the target of running lamps; `false` once its sender is gone (the last target holds).
fn follow(pool: &mut Pool, changed: Result<(), watch::error::RecvError>, active: &mut watch::Receiver<u32>) -> bool {
    match changed {
        Ok(()) => {
            pool.resize(*active.borrow_and_update());
            true
        }
        Err(_) => false,
    }
}

/// Runs the schedule from `start` to the run's end (`targets.end`: the lamps stay connected until then even when
/// the schedule ends earlier) or until `stop`; returns once every lamp has finished. `active` is how many lamps run
/// (lamps `0..n`; a closed channel's last value holds): a standalone run keeps it at every lamp, a Locust worker
/// follows the master's target with it.
#[allow(clippy::too_many_arguments)] // each is a separate input of the run; bundling them would only rename them
pub async fn run(
    schedule: impl Iterator<Item = Action>,
    lamps: Vec<LampId>,
    targets: Targets,
    start: Instant,
    out: Samples,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<Stop>,
    mut active: watch::Receiver<u32>,
) {
    let (end, wind_down) = (targets.end, targets.grace + targets.timeout + Duration::from_secs(2));
    let mut pool = Pool::new(lamps, targets, out, counters, stop.clone());
    pool.resize(*active.borrow_and_update());
    let mut following = true;
    let mut interrupted = false;
    'actions: for action in schedule {
        let intended = start + action.at;
        loop {
            tokio::select! {
                biased;
                _ = stop::requested(&mut stop) => { interrupted = true; }
                r = active.changed(), if following => { following = follow(&mut pool, r, &mut active); continue; }
                _ = tokio::time::sleep_until(intended) => {}
            }
            break;
        }
        if interrupted {
            break 'actions;
        }
        if let Some((lamp, item)) = pool.dispatch(action, intended) {
            // This lamp is far behind (its actions take long): the schedule waits for it rather than queue without
            // bound; every later action then starts late, and its lateness is measured.
            tokio::select! {
                biased;
                _ = stop::requested(&mut stop) => {
                    pool.counters.not_started.fetch_add(1, Ordering::Relaxed);
                    break 'actions;
                }
                sent = lamp.send(item) => if sent.is_ok() { pool.counters.dispatched.fetch_add(1, Ordering::Relaxed); },
            }
        }
    }
    if !interrupted {
        // The schedule is done (or held nothing): the lamps stay connected to the end of the run.
        loop {
            tokio::select! {
                _ = stop::requested(&mut stop) => break,
                r = active.changed(), if following => following = follow(&mut pool, r, &mut active),
                _ = tokio::time::sleep_until(end) => break,
            }
        }
    }
    // Lamps finish what they were given (round trips get their time to come back), or stop on `stop`.
    let deadline = Instant::now() + wind_down;
    for mut t in pool.close() {
        if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(lamps: u32) -> (Pool, Arc<Counters>) {
        let targets = Targets {
            mqtt: Arc::new(
                super::super::conn::Endpoint::new(
                    &rumqttc::MqttOptions::new("t", "127.0.0.1", 1),
                    Duration::from_secs(1),
                )
                .unwrap(),
            ),
            prefix: "devices/{device_id}/".into(),
            web: watch::channel("http://127.0.0.1:1/".parse().unwrap()).1,
            internal_responder: false,
            timeout: Duration::from_secs(1),
            ramp_up: Duration::ZERO,
            end: Instant::now() + Duration::from_secs(60),
            hard_stop: Instant::now() + Duration::from_secs(60),
            grace: Duration::from_secs(1),
            reconnect: (Duration::from_millis(100), Duration::from_secs(1)),
            fleet: Arc::new(Fleet::default()),
        };
        let ids = (0..lamps).map(|i| super::super::course_lamp(i, "user_{i:06}")).collect();
        let (samples, _rx) = Samples::channel(16);
        let counters = Arc::new(Counters::default());
        (Pool::new(ids, targets, samples, counters.clone(), watch::channel(Stop::Running).1), counters)
    }

    /// What every lamp's task holds for the whole run, measured on the future itself: the web's futures and the
    /// wind-down are boxed while they last: 2.1 KiB a lamp, 4.1 inline.
    #[tokio::test]
    async fn a_lamps_task_does_not_keep_room_for_its_web_sessions() {
        let (p, _) = pool(1);
        let (_tx, rx) = mpsc::channel(ACTIONS);
        let size = std::mem::size_of_val(&p.task(0, Duration::ZERO).run(rx));
        assert!(size <= 2560, "a lamp's task of {size} bytes");
    }

    #[tokio::test]
    async fn a_lamp_gives_back_the_room_overlapping_sessions_took_once_they_have_ended() {
        let (p, _) = pool(1);
        let mut task = p.task(0, Duration::ZERO);
        let churn = |n: u64| Action {
            at: Duration::ZERO,
            lamp: 0,
            session: n,
            interface: None,
            kind: ActionKind::Reconnect { offline: Duration::ZERO }, // needs no broker without an internal responder
        };
        for n in 1..=40 {
            task.act(churn(n), Instant::now()).await;
        }
        assert_eq!(task.visits.len(), 40, "forty sessions at once");
        for n in 1..40 {
            task.act(end(0, n), Instant::now()).await;
        }
        task.act(end(0, 40), Instant::now()).await;
        assert!(task.visits.is_empty());
        assert!(task.visits.capacity() <= 2 * KEEP_VISITS, "room for {} visits kept", task.visits.capacity());
        assert!(std::mem::size_of::<Visit>() <= 96, "a visit of {} bytes", std::mem::size_of::<Visit>());
    }

    fn end(lamp: u32, n: u64) -> Action {
        let session = (u64::from(lamp) << 32) | n;
        Action { at: Duration::ZERO, lamp, session, interface: None, kind: ActionKind::SessionEnd }
    }

    fn counts(c: &Counters) -> (u64, u64) {
        (c.dispatched.load(Ordering::Relaxed), c.inactive.load(Ordering::Relaxed))
    }

    #[tokio::test(start_paused = true)]
    async fn lamps_below_the_target_run_and_take_only_sessions_that_start_while_they_run() {
        let (mut p, c) = pool(3);
        p.resize(1);
        assert_eq!(p.running.iter().filter(|r| r.is_some()).count(), 1);
        p.dispatch(end(0, 1), Instant::now());
        p.dispatch(end(1, 1), Instant::now()); // lamp 1 is not running: its session 1 is not ours
        assert_eq!(counts(&c), (1, 1));
        p.resize(2);
        p.dispatch(end(1, 1), Instant::now()); // began before lamp 1 joined: still not dispatched
        p.dispatch(end(1, 2), Instant::now()); // began after: dispatched
        p.dispatch(end(2, 1), Instant::now());
        assert_eq!(counts(&c), (2, 3));
        // Down to none: every queue closes, the tasks end on their own.
        p.resize(0);
        p.dispatch(end(0, 2), Instant::now());
        assert_eq!(counts(&c), (2, 4));
        assert!(p.running.iter().all(Option::is_none));
        for t in p.close() {
            tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .expect("a lamp leaves when its queue closes")
                .unwrap();
        }
        // Beyond the lamps there are: nothing happens (as before).
        let (mut p, c) = pool(1);
        p.resize(u32::MAX);
        p.dispatch(end(5, 1), Instant::now());
        assert_eq!(counts(&c), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lamp_far_behind_hands_the_action_back_instead_of_queueing_without_bound() {
        let (mut p, c) = pool(1);
        p.resize(1);
        // The lamp's task cannot run until this test yields: its queue fills.
        for n in 0..ACTIONS as u64 {
            assert!(p.dispatch(end(0, n + 1), Instant::now()).is_none(), "action {n} fits");
        }
        let (lamp, item) = p.dispatch(end(0, ACTIONS as u64 + 1), Instant::now()).expect("no room: handed back");
        assert_eq!(counts(&c), (ACTIONS as u64, 0), "not counted as dispatched until it is");
        tokio::time::timeout(Duration::from_secs(5), lamp.send(item)).await.expect("room once the lamp runs").unwrap();
    }
}
