//! The load test's schedule: a profile expanded, lazily and reproducibly, into timed actions for every lamp.
//!
//! Open model (DESIGN section 6): the schedule says when each action *should* start, whatever happened to earlier
//! ones; executors measure latency from that intended start. Each lamp's sessions arrive as a non-homogeneous Poisson
//! process (thinning against the profile's hourly rates), each session walks its interface's Markov chain, and each
//! lamp has its own connection churn. Actions come out in nondecreasing time order from a [`BinaryHeap`] holding one
//! entry per lamp process and per open session, so memory is O(lamps + open sessions), never O(run length).
//!
//! Reproducible: the same profile, [`Params`] and seed give the same actions; every lamp draws from its own RNG
//! (rand's `StdRng`, ChaCha12, seeded from the run seed mixed with the lamp index: the same on 32- and 64-bit lamps,
//! unlike `SmallRng`; a rand upgrade may change it, so Cargo.lock pins it), so lamp 7 does the same whether the run
//! has 10 lamps or 4000.
//!
//! Time: `speed` runs the *profile clock* faster (arrivals, churn and the hour of day advance `speed` times faster),
//! but what people and pages do inside a session stays wall-clock: think times, the 100 ms drag throttle and offline
//! times are not compressed, so each simulated session looks to the servers like a real one and only the number
//! of concurrent sessions grows. Nothing here sleeps or reads a clock; this module owns no I/O.

pub mod csv;
mod session;
mod summary;

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::profile::{Interface, Profile};
use session::Session;
pub use summary::{summary, ActionCounts, Summary};

/// How a run expands a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Simulated lamps, numbered `0..lamps`.
    pub lamps: u32,
    /// The schedule holds actions intended to start before this.
    pub duration: Duration,
    pub seed: u64,
    /// Time of day (profile time, hours 0..24) the run starts at; inside the profile's window.
    pub start_hour: f64,
    /// Profile hours per wall hour: 60 = an hour of profile per minute. Only the profile clock is compressed.
    pub speed: f64,
    /// Multiplier on the profile's arrival rates.
    pub rate: f64,
    /// Arrivals (and churn) grow linearly from 0 to full rate over this long from the start.
    pub ramp_up: Duration,
}

impl Params {
    /// Defaults for a profile: start at the window's start, speed 1, rate 1, no ramp-up.
    pub fn for_profile(profile: &Profile, lamps: u32, duration: Duration, seed: u64) -> Params {
        Params {
            lamps,
            duration,
            seed,
            start_hour: f64::from(profile.window.start),
            speed: 1.0,
            rate: 1.0,
            ramp_up: Duration::ZERO,
        }
    }
}

/// A parameter the schedule cannot run with; each names the option and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamsError {
    #[error("--lamps 0: expected at least one lamp")]
    NoLamps,
    #[error("--duration 0s: expected a run longer than zero")]
    NoDuration,
    #[error("--speed {0}: expected a number above 0 (60 = an hour of profile per minute)")]
    Speed(f64),
    #[error("--rate {0}: expected a number from 0 up (1 = the profile's rates)")]
    Rate(f64),
    #[error("--start-hour {hour}: expected a time of day inside the profile's window {window}")]
    StartHour { hour: f64, window: String },
}

/// One thing a lamp (or its owner) does, at its intended start time.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// Intended start, since the run's start.
    pub at: Duration,
    pub lamp: u32,
    /// The session it belongs to: `(lamp << 32) | n` with n counting from 1; [`NO_SESSION`] for churn.
    pub session: u64,
    /// The session's interface (`None` for churn).
    pub interface: Option<Interface>,
    pub kind: ActionKind,
}

/// `Action::session` of actions outside any session (connection churn).
pub const NO_SESSION: u64 = 0;

#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// A web session logs in (`GET` then `POST /login/`).
    Login,
    Page(Page),
    /// A message to `lamp/set_config`: web sessions send the full state, app sessions only the changed field. One
    /// action per message: a drag is several, `drag.interval` apart.
    SetConfig(Patch),
    /// The lamp's touchscreen changed the lamp, which publishes `lamp/changed` itself (full state).
    DeviceChanged(Patch),
    /// Drop the lamp's MQTT connection, stay away `offline`, reconnect.
    Reconnect {
        offline: Duration,
    },
    /// The session is over (right after its last step).
    SessionEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `/`
    Root,
    /// `/lampi/`
    List,
    /// `/lampi/device/<id>`
    Detail,
}

/// Fields of a lamp state message; values rounded to 0.01.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Patch {
    pub h: Option<f64>,
    pub s: Option<f64>,
    pub brightness: Option<f64>,
    pub on: Option<bool>,
}

/// A lamp's state as the schedule believes it (first-boot defaults at the start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LampState {
    pub h: f64,
    pub s: f64,
    pub brightness: f64,
    pub on: bool,
}

impl LampState {
    fn full(&self) -> Patch {
        Patch { h: Some(self.h), s: Some(self.s), brightness: Some(self.brightness), on: Some(self.on) }
    }
}

struct Lamp {
    rng: StdRng,
    state: LampState,
    sessions: u32,
}

enum What {
    Arrival,
    Churn,
    Session(Box<Session>),
}

struct Entry {
    at: u64,
    lamp: u32,
    seq: u64,
    what: What,
}

impl Entry {
    fn key(&self) -> (u64, u32, u64) {
        (self.at, self.lamp, self.seq)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// The lazy schedule: an iterator of [`Action`]s in nondecreasing `at` order, ending before `duration`.
pub struct Schedule {
    profile: Profile,
    lamps: Vec<Lamp>,
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    end: u64,
    /// Window phase (hours) at the start.
    phase0: f64,
    speed: f64,
    /// Highest arrival intensity per lamp per wall second (the thinning bound), and churn's.
    arrival_bound: f64,
    churn_rate: f64,
    peak_rate: f64,
    ramp: u64,
    sessions: [u64; 3],
}

const NS: f64 = 1e9;

fn nanos(secs: f64) -> u64 {
    (secs * NS).round().max(0.0) as u64
}

/// SplitMix64: spreads (seed, lamp) over the RNG seed space so neighbouring lamps get unrelated streams.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Schedule {
    /// Checks `params` against the profile and sets every lamp's first arrival and churn.
    pub fn new(profile: &Profile, params: &Params) -> Result<Schedule, ParamsError> {
        check(profile, params)?;
        let peak_rate = profile.rates.iter().copied().fold(0.0, f64::max);
        let mut s = Schedule {
            profile: profile.clone(),
            lamps: Vec::with_capacity(params.lamps as usize),
            heap: BinaryHeap::with_capacity(params.lamps as usize * 2),
            seq: 0,
            end: params.duration.as_nanos().min(u128::from(u64::MAX)) as u64,
            phase0: profile.window.phase(params.start_hour).unwrap_or(0.0),
            speed: params.speed,
            arrival_bound: peak_rate * params.rate * params.speed / 3600.0,
            churn_rate: profile.churn.per_hour * params.speed / 3600.0,
            peak_rate,
            ramp: params.ramp_up.as_nanos().min(u128::from(u64::MAX)) as u64,
            sessions: [0; 3],
        };
        let defaults = LampState { h: 1.0, s: 1.0, brightness: 1.0, on: true };
        for lamp in 0..params.lamps {
            let rng = StdRng::seed_from_u64(mix(params.seed ^ mix(u64::from(lamp))));
            s.lamps.push(Lamp { rng, state: defaults, sessions: 0 });
            s.schedule_poisson(lamp, 0, What::Arrival);
            s.schedule_poisson(lamp, 0, What::Churn);
        }
        Ok(s)
    }

    /// Sessions started so far, per interface (by [`Interface::index`]).
    pub fn sessions_started(&self) -> [u64; 3] {
        self.sessions
    }

    fn push(&mut self, at: u64, lamp: u32, what: What) {
        if at < self.end {
            self.seq += 1;
            self.heap.push(Reverse(Entry { at, lamp, seq: self.seq, what }));
        }
    }

    /// The next candidate of a lamp's arrival or churn process after `now` (thinning draws candidates at the bound).
    fn schedule_poisson(&mut self, lamp: u32, now: u64, what: What) {
        let rate = match what {
            What::Arrival => self.arrival_bound,
            _ => self.churn_rate,
        };
        if rate <= 0.0 {
            return;
        }
        let u: f64 = self.lamps[lamp as usize].rng.random();
        let gap = -(1.0 - u).ln() / rate;
        self.push(now.saturating_add(nanos(gap)), lamp, what);
    }

    /// Ramp-up factor at `at`.
    fn ramp(&self, at: u64) -> f64 {
        if self.ramp == 0 {
            1.0
        } else {
            (at as f64 / self.ramp as f64).min(1.0)
        }
    }

    /// The profile's rate (sessions per lamp per hour) at run time `at`.
    fn profile_rate(&self, at: u64) -> f64 {
        self.profile.rate_at(self.phase0 + at as f64 / NS / 3600.0 * self.speed)
    }

    fn on_arrival(&mut self, at: u64, lamp: u32) -> Option<Action> {
        self.schedule_poisson(lamp, at, What::Arrival);
        let accept = self.profile_rate(at) / self.peak_rate * self.ramp(at);
        let l = &mut self.lamps[lamp as usize];
        if l.rng.random::<f64>() >= accept {
            return None;
        }
        let interface = pick_interface(&self.profile, &mut l.rng);
        l.sessions += 1;
        self.sessions[interface.index()] += 1;
        let id = (u64::from(lamp) << 32) | u64::from(l.sessions);
        let session = Box::new(Session::start(id, interface, &self.profile, &mut l.rng));
        self.step(at, lamp, session)
    }

    fn on_churn(&mut self, at: u64, lamp: u32) -> Option<Action> {
        self.schedule_poisson(lamp, at, What::Churn);
        let ramp = self.ramp(at);
        let l = &mut self.lamps[lamp as usize];
        if ramp < 1.0 && l.rng.random::<f64>() >= ramp {
            return None;
        }
        let offline = Duration::from_nanos(nanos(self.profile.churn.offline.sample(&mut l.rng)));
        Some(Action {
            at: Duration::from_nanos(at),
            lamp,
            session: NO_SESSION,
            interface: None,
            kind: ActionKind::Reconnect { offline },
        })
    }

    /// Emits the session's due action and puts it back at its next step's time.
    fn step(&mut self, at: u64, lamp: u32, mut session: Box<Session>) -> Option<Action> {
        let l = &mut self.lamps[lamp as usize];
        let (kind, next) = session.advance(&self.profile, &mut l.rng, &mut l.state);
        let action = Action {
            at: Duration::from_nanos(at),
            lamp,
            session: session.id(),
            interface: Some(session.interface()),
            kind,
        };
        if let Some(delay) = next {
            self.push(at.saturating_add(delay), lamp, What::Session(session));
        }
        Some(action)
    }
}

fn pick_interface(p: &Profile, rng: &mut StdRng) -> Interface {
    let mut u = rng.random::<f64>() * p.share.iter().sum::<f64>();
    for i in Interface::ALL {
        if p.share[i.index()] > 0.0 && u < p.share[i.index()] {
            return i;
        }
        u -= p.share[i.index()];
    }
    Interface::ALL.into_iter().rev().find(|i| p.share[i.index()] > 0.0).unwrap_or(Interface::Web)
}

fn check(profile: &Profile, p: &Params) -> Result<(), ParamsError> {
    if p.lamps == 0 {
        return Err(ParamsError::NoLamps);
    }
    if p.duration.is_zero() {
        return Err(ParamsError::NoDuration);
    }
    if !(p.speed.is_finite() && p.speed > 0.0) {
        return Err(ParamsError::Speed(p.speed));
    }
    if !(p.rate.is_finite() && p.rate >= 0.0) {
        return Err(ParamsError::Rate(p.rate));
    }
    if !(0.0..24.0).contains(&p.start_hour) || profile.window.phase(p.start_hour).is_none() {
        return Err(ParamsError::StartHour { hour: p.start_hour, window: profile.window.to_string() });
    }
    Ok(())
}

impl Iterator for Schedule {
    type Item = Action;

    fn next(&mut self) -> Option<Action> {
        while let Some(Reverse(entry)) = self.heap.pop() {
            let out = match entry.what {
                What::Arrival => self.on_arrival(entry.at, entry.lamp),
                What::Churn => self.on_churn(entry.at, entry.lamp),
                What::Session(s) => self.step(entry.at, entry.lamp, s),
            };
            if out.is_some() {
                return out;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
