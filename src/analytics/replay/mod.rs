//! `loadtest --replay`: a recorded trace played back event for event, as the load test's actions.
//!
//! [`Replay`] is an iterator of [`Action`]s in time order, so it drives the runner exactly as a profile's schedule
//! does. It streams the export with the readers the derivation uses (a Mixpanel export line by line; a Keen
//! extraction as that reader allows: read whole, kept as compact events) and rebuilds sessions with the same rule
//! (`sessions::continues`: one lamp, one interface, silences up to the inactivity gap).
//!
//! What becomes what (recorded lamp `k`, the k-th distinct lamp in the order the export first mentions it, plays on
//! virtual lamp `k mod N`):
//!
//! | recorded | action |
//! |---|---|
//! | page view ("LAMPI List", "LAMPI Detail", "Page View") | `Page`, the web session's first event preceded by a `Login` |
//! | slider change, power toggle on `web` / an app | `SetConfig` with the recorded value (web: the full state) |
//! | slider change, power toggle on the lamp (`lampi`) | `DeviceChanged` (the lamp publishes its full state) |
//! | disconnect, then connect | `Reconnect` at the disconnect, offline for the recorded time |
//! | a session's last event | `SessionEnd` right after it (the session is over after a silence of the gap) |
//! | state changes (the lamp's answers) | nothing: the lamps under test answer; they only keep the state current |
//!
//! Time: the first event is t = 0, and an event recorded at `t` is due at `(t - t0) / speed`; everything is
//! compressed, think times and drags included (unlike a profile's `--speed`, which only runs the arrival clock
//! faster). Actions due at or after `duration` are not played.
//!
//! Order and memory: a session's end is only known once its lamp has been silent for the gap, and an export may be
//! a little out of order, so actions wait in a look-ahead heap until the trace read so far is one gap past them.
//! Memory is one gap's worth of actions plus one open session per recorded lamp. An event earlier than what was
//! already played (or than its lamp's previous event) is played at that later time and counted; a reconnect whose
//! lamp is still offline when its disconnect is played is given the offline time known then (at least the gap),
//! and counted. Malformed lines are skipped and counted, as in a derivation.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod stats;

pub use stats::Stats;

use super::mixpanel::Lines;
use super::sessions::{continues, Event, Fields, Kind, Sessions};
use super::{keen, resolve, Counts, Ctx, DeriveError, Format, Identity};
use crate::profile::{Interface, State, Window};
use crate::schedule::{Action, ActionKind, Page, Patch, NO_SESSION};

/// How to play the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Recorded seconds per run second (60: an hour of trace in a minute).
    pub speed: f64,
    /// Virtual lamps: recorded lamp `k` plays on lamp `k mod lamps`.
    pub lamps: u32,
    /// Actions due at or after this (run time) are not played.
    pub duration: Duration,
    /// Silence (recorded time) that ends a session; also the look-ahead.
    pub gap: Duration,
}

/// Why a trace cannot be replayed (found before the run starts). The cause is the error's source: print the chain.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("--replay {}: cannot open the trace", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("--replay {}", path.display())]
    Data {
        path: PathBuf,
        #[source]
        source: Box<DeriveError>,
    },
    #[error("--replay: {0}")]
    Option(String),
}

/// A shared view of a running replay's [`Stats`].
pub type Progress = Arc<Mutex<Stats>>;

enum Source {
    Mixpanel(Lines<BufReader<File>>),
    Keen(std::vec::IntoIter<Event>),
}

/// An action waiting in the look-ahead: due at `at` (recorded ns since t0).
#[derive(Debug)]
struct Pending {
    at: u64,
    seq: u64,
    /// The recorded lamp.
    k: u32,
    /// The first action of its session.
    opens: bool,
    action: Action,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Open {
    interface: Interface,
    last: u64,
    id: u64,
}

/// One recorded lamp.
struct Track {
    last: u64,
    open: Option<Open>,
    /// h, s, brightness, on: first-boot defaults, then as recorded.
    state: [f64; 4],
    /// A disconnect waiting for its connect: the reconnect's seq and time.
    down: Option<(u64, u64)>,
}

impl Default for Track {
    fn default() -> Self {
        Track { last: 0, open: None, state: [1.0, 1.0, 1.0, 1.0], down: None }
    }
}

/// The trace as an iterator of [`Action`]s in nondecreasing time order.
pub struct Replay {
    source: Source,
    /// The event read while opening (it fixed t0), not yet processed.
    first: Option<Event>,
    ctx: Ctx,
    opts: Options,
    gap: u64,
    t0: f64,
    /// Latest event time read (ns since t0), and the time of the last action played.
    read_max: u64,
    played: u64,
    heap: BinaryHeap<Reverse<Pending>>,
    /// Open sessions by the time they are over if nothing comes: (deadline, recorded lamp).
    closing: BinaryHeap<Reverse<(u64, u32)>>,
    tracks: Vec<Track>,
    /// Sessions started so far per virtual lamp (session ids count from 1 per lamp, as in the schedule).
    sessions: Vec<u32>,
    offline: HashMap<u64, u64>,
    /// A session just opened, whose first action is not pushed yet.
    opened: Option<u64>,
    seq: u64,
    eof: bool,
    done: bool,
    stats: Progress,
}

impl Replay {
    /// Opens the trace and reads up to its first event (so an empty, unreadable or wrong-format file fails here,
    /// before any load is sent). A Keen extraction is read whole.
    pub fn open(path: &Path, format: Format, opts: &Options) -> Result<Replay, ReplayError> {
        let data = |e| ReplayError::Data { path: path.to_path_buf(), source: Box::new(e) };
        if !(opts.speed.is_finite() && opts.speed > 0.0) {
            return Err(ReplayError::Option(format!("--speed {}: expected a number above 0", opts.speed)));
        }
        if opts.lamps == 0 || opts.gap.is_zero() {
            return Err(ReplayError::Option("at least one lamp and a gap above zero are needed".into()));
        }
        let file = File::open(path).map_err(|source| ReplayError::Open { path: path.to_path_buf(), source })?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut input = BufReader::with_capacity(1 << 16, file);
        let format = resolve(&mut input, format).map_err(data)?;
        let gap = opts.gap.as_nanos().min(u128::from(u64::MAX)) as u64;
        let mut ctx = Ctx {
            counts: Counts::default(),
            identity: Identity::default(),
            // Unused here: the replay keeps its own sessions (by the same rule).
            sessions: Sessions::new(Window { start: 0, end: 24 }, 0, opts.gap.as_secs_f64()),
        };
        let (source, first) = match format {
            Format::Keen => {
                let mut events = keen::read_events(input, &mut ctx).map_err(data)?.into_iter();
                let first = events.next();
                (Source::Keen(events), first)
            }
            _ => {
                let mut lines = Lines::new(input);
                let first = lines.next_event(&mut ctx).map_err(data)?;
                (Source::Mixpanel(lines), first)
            }
        };
        let Some(first) = first else {
            let c = &ctx.counts;
            let unknown = c.unknown.values().sum();
            return Err(data(DeriveError::NoEvents { records: c.records, bad: c.bad, unknown }));
        };
        let stats = Stats {
            path: path.display().to_string(),
            format: format.to_string(),
            bytes,
            speed: opts.speed,
            lamps: opts.lamps,
            duration: opts.duration,
            first_t: first.t,
            last_t: first.t,
            ..Stats::default()
        };
        Ok(Replay {
            source,
            t0: first.t,
            first: Some(first),
            ctx,
            opts: opts.clone(),
            gap,
            read_max: 0,
            played: 0,
            heap: BinaryHeap::new(),
            closing: BinaryHeap::new(),
            tracks: Vec::new(),
            sessions: vec![0; opts.lamps as usize],
            offline: HashMap::new(),
            opened: None,
            seq: 0,
            eof: false,
            done: false,
            stats: Arc::new(Mutex::new(stats)),
        })
    }

    /// The replay's figures, updated as it plays.
    pub fn progress(&self) -> Progress {
        self.stats.clone()
    }

    /// Reads the next usable event, or marks the end of the trace (a read error ends it too, and is reported).
    fn read(&mut self) -> Option<Event> {
        if let Some(ev) = self.first.take() {
            return Some(ev);
        }
        let next = match &mut self.source {
            Source::Keen(events) => Ok(events.next()),
            Source::Mixpanel(lines) => lines.next_event(&mut self.ctx),
        };
        self.copy_counts();
        match next {
            Ok(ev) => ev,
            Err(e) => {
                self.stats.lock().unwrap().error = Some(e.to_string());
                None
            }
        }
    }

    fn push(&mut self, at: u64, k: u32, session: u64, interface: Option<Interface>, kind: ActionKind) -> u64 {
        self.seq += 1;
        let lamp = k % self.opts.lamps;
        let opens = session != NO_SESSION && self.opened == Some(session);
        if opens {
            self.opened = None;
        }
        let action = Action { at: Duration::ZERO, lamp, session, interface, kind };
        self.heap.push(Reverse(Pending { at, seq: self.seq, k, opens, action }));
        self.seq
    }

    fn take(&mut self, ev: Event) {
        let k = ev.lamp;
        if self.tracks.len() <= k as usize {
            self.tracks.resize_with(k as usize + 1, Track::default);
        }
        let recorded = ((ev.t - self.t0) * 1e9).round().max(0.0) as u64;
        let floor = self.played.max(self.tracks[k as usize].last);
        let t = recorded.max(floor);
        {
            let mut s = self.stats.lock().unwrap();
            s.events += 1;
            s.out_of_order += u64::from(recorded < floor);
            s.recorded_lamps = s.recorded_lamps.max(k + 1);
        }
        self.tracks[k as usize].last = t;
        self.read_max = self.read_max.max(t);
        match ev.kind {
            Kind::Page(state) => {
                let id = self.session(k, Interface::Web, t);
                let page = match state {
                    State::Root => Page::Root,
                    State::List => Page::List,
                    _ => Page::Detail,
                };
                self.push(t, k, id, Some(Interface::Web), ActionKind::Page(page));
            }
            Kind::Control { interface, control, value } => {
                let id = self.session(k, interface, t);
                let kind = self.control(k, interface, control, value);
                self.push(t, k, id, Some(interface), kind);
            }
            Kind::DeviceState(fields) => {
                self.recorded_state(k, fields);
                self.stats.lock().unwrap().state_changes += 1;
            }
            Kind::Disconnected => {
                let seq = self.push(t, k, NO_SESSION, None, ActionKind::Reconnect { offline: Duration::ZERO });
                self.tracks[k as usize].down = Some((seq, t));
            }
            Kind::Connected => {
                if let Some((seq, down)) = self.tracks[k as usize].down.take() {
                    self.offline.insert(seq, t - down);
                }
                self.stats.lock().unwrap().connects += 1;
            }
        }
    }

    /// The lamp's open session, if `interface` at `t` continues it; else closes it and opens the next.
    fn session(&mut self, k: u32, interface: Interface, t: u64) -> u64 {
        let gap = self.opts.gap.as_secs_f64();
        let secs = |ns: u64| ns as f64 / 1e9;
        if let Some(open) = self.tracks[k as usize].open.as_mut() {
            if continues(open.interface, secs(open.last), interface, secs(t), gap) {
                open.last = t;
                return open.id;
            }
        }
        self.close(k);
        let v = (k % self.opts.lamps) as usize;
        self.sessions[v] += 1;
        let id = ((v as u64) << 32) | u64::from(self.sessions[v]);
        self.tracks[k as usize].open = Some(Open { interface, last: t, id });
        self.closing.push(Reverse((t.saturating_add(self.gap), k)));
        self.opened = Some(id);
        if interface == Interface::Web {
            // Analytics do not record logins; the page the web session opens with needs one.
            self.push(t, k, id, Some(interface), ActionKind::Login);
        }
        id
    }

    /// Ends the lamp's open session right after its last event.
    fn close(&mut self, k: u32) {
        if let Some(open) = self.tracks[k as usize].open.take() {
            self.push(open.last, k, open.id, Some(open.interface), ActionKind::SessionEnd);
        }
    }

    /// Closes the sessions silent for more than the gap (all of them at the end of the trace).
    fn sweep(&mut self) {
        while let Some(&Reverse((deadline, k))) = self.closing.peek() {
            if !self.eof && deadline >= self.read_max {
                break;
            }
            self.closing.pop();
            let Some(last) = self.tracks[k as usize].open.as_ref().map(|o| o.last) else { continue };
            let due = last.saturating_add(self.gap);
            if self.eof || due < self.read_max {
                self.close(k);
            } else {
                self.closing.push(Reverse((due, k)));
            }
        }
    }

    /// A recorded control as the message it sends, keeping the lamp's state current.
    fn control(&mut self, k: u32, interface: Interface, control: State, value: f64) -> ActionKind {
        let st = &mut self.tracks[k as usize].state;
        let level = |x: f64| (x.clamp(0.0, 1.0) * 100.0).round() / 100.0;
        let mut change = Patch::default();
        match control {
            State::Hue => (st[0], change.h) = (level(value), Some(level(value))),
            State::Saturation => (st[1], change.s) = (level(value), Some(level(value))),
            State::Brightness => (st[2], change.brightness) = (level(value), Some(level(value))),
            _ => {
                // A toggle's recorded new state; without one, a toggle flips.
                let on = if value.is_nan() { st[3] < 0.5 } else { value >= 0.5 };
                st[3] = f64::from(u8::from(on));
                change.on = Some(on);
            }
        }
        let full = Patch { h: Some(st[0]), s: Some(st[1]), brightness: Some(st[2]), on: Some(st[3] >= 0.5) };
        match interface {
            Interface::Web => ActionKind::SetConfig(full),
            Interface::App => ActionKind::SetConfig(change),
            Interface::LampUi => ActionKind::DeviceChanged(full),
        }
    }

    fn recorded_state(&mut self, k: u32, fields: Fields) {
        let st = &mut self.tracks[k as usize].state;
        for (i, f) in fields.iter().enumerate() {
            if let Some(x) = f.filter(|x| (0.0..=1.0).contains(x)) {
                st[i] = (x * 100.0).round() / 100.0;
            }
        }
    }

    /// The next action in the look-ahead if nothing still to be read can come before it.
    fn ready(&mut self) -> Option<Pending> {
        self.sweep();
        let Reverse(top) = self.heap.peek()?;
        if self.eof || top.at.saturating_add(self.gap) <= self.read_max {
            self.heap.pop().map(|Reverse(p)| p)
        } else {
            None
        }
    }

    fn play(&mut self, p: Pending) -> Option<Action> {
        let scale = |ns: u64| Duration::from_nanos((ns as f64 / self.opts.speed).round() as u64);
        let at = scale(p.at);
        let mut s = self.stats.lock().unwrap();
        if at >= self.opts.duration {
            s.cut_by_duration = true;
            return None;
        }
        self.played = p.at;
        s.last_t = self.t0 + p.at as f64 / 1e9;
        let mut action = p.action;
        action.at = at;
        if let (true, Some(i)) = (p.opens, action.interface) {
            s.sessions[i.index()] += 1;
        }
        s.played.add(&action.kind);
        if let ActionKind::Reconnect { offline } = &mut action.kind {
            let known = match self.offline.remove(&p.seq) {
                Some(ns) => ns,
                None => {
                    // Still offline: play what is known, and forget the disconnect so a later connect does
                    // not match it.
                    s.offline_cut += 1;
                    let track = &mut self.tracks[p.k as usize];
                    if track.down.is_some_and(|(seq, _)| seq == p.seq) {
                        track.down = None;
                    }
                    self.read_max.saturating_sub(p.at)
                }
            };
            *offline = scale(known);
        }
        Some(action)
    }

    /// The readers' counts into the shared figures (kept current: a run may stop pulling at any time).
    fn copy_counts(&mut self) {
        let c = &self.ctx.counts;
        let mut s = self.stats.lock().unwrap();
        s.records = c.records;
        if s.bad != c.bad {
            s.bad = c.bad;
            s.bad_examples.clone_from(&c.bad_examples);
        }
        s.unknown = c.unknown.values().sum();
        s.unattributed = c.unattributed;
    }
}

impl Iterator for Replay {
    type Item = Action;

    fn next(&mut self) -> Option<Action> {
        while !self.done {
            if let Some(p) = self.ready() {
                match self.play(p) {
                    Some(a) => return Some(a),
                    None => break,
                }
            }
            if self.eof {
                if self.heap.is_empty() {
                    break;
                }
                continue;
            }
            match self.read() {
                Some(ev) => self.take(ev),
                None => self.eof = true,
            }
        }
        if !self.done {
            self.done = true;
            self.copy_counts();
        }
        None
    }
}

#[cfg(test)]
mod tests;
