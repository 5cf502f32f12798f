//! One session's walk through its interface's chain: which action comes next and how long until it is due.
//!
//! This module owns the session state machine and how a step becomes messages (a drag is `length` messages stepping
//! evenly from the lamp's value to the target); it knows nothing about the heap or other lamps.

use rand::Rng;

use super::{ActionKind, LampState, Page, Patch};
use crate::profile::{Interface, Profile, State};

pub(super) struct Session {
    id: u64,
    interface: Interface,
    /// The chain state of the last step taken.
    state: State,
    steps: u32,
    next: Next,
}

enum Next {
    Step(State),
    Drag { slider: State, from: f64, to: f64, n: u32, i: u32 },
    End,
}

/// Values on the wire have two decimals.
pub(crate) fn round2(x: f64) -> f64 {
    (x.clamp(0.0, 1.0) * 100.0).round() / 100.0
}

fn nanos(secs: f64) -> u64 {
    super::nanos(secs)
}

impl Session {
    /// A new session whose first step is due at its arrival.
    pub fn start(id: u64, interface: Interface, p: &Profile, rng: &mut impl Rng) -> Session {
        let first = p.chain(interface).map_or(State::End, |c| c.next(State::Start, rng));
        let next = if first == State::End { Next::End } else { Next::Step(first) };
        Session { id, interface, state: State::Start, steps: 0, next }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn interface(&self) -> Interface {
        self.interface
    }

    /// The action due now, and the delay (ns) until the session's next one (`None`: the session is over).
    pub fn advance(&mut self, p: &Profile, rng: &mut impl Rng, lamp: &mut LampState) -> (ActionKind, Option<u64>) {
        match self.next {
            Next::End => (ActionKind::SessionEnd, None),
            Next::Drag { .. } => self.drag_message(p, rng, lamp),
            Next::Step(s) => {
                self.state = s;
                self.steps += 1;
                let kind = match s {
                    State::Login => ActionKind::Login,
                    State::Root => ActionKind::Page(Page::Root),
                    State::List => ActionKind::Page(Page::List),
                    State::Detail => ActionKind::Page(Page::Detail),
                    State::Power => {
                        lamp.on = !lamp.on;
                        self.message(lamp, Patch { on: Some(lamp.on), ..Patch::default() })
                    }
                    State::Hue | State::Saturation | State::Brightness => {
                        let to = p.values_for(s).map_or(0.5, |q| round2(q.sample(rng)));
                        let n = p.drag.length.sample(rng).round().max(1.0) as u32;
                        self.next = Next::Drag { slider: s, from: field(lamp, s), to, n, i: 0 };
                        return self.drag_message(p, rng, lamp);
                    }
                    State::Start | State::End => return (ActionKind::SessionEnd, None),
                };
                (kind, Some(self.plan_next(p, rng)))
            }
        }
    }

    fn drag_message(&mut self, p: &Profile, rng: &mut impl Rng, lamp: &mut LampState) -> (ActionKind, Option<u64>) {
        let Next::Drag { slider, from, to, n, i } = self.next else { return (ActionKind::SessionEnd, None) };
        let i = i + 1;
        let v = round2(from + (to - from) * f64::from(i) / f64::from(n));
        let mut patch = Patch::default();
        match slider {
            State::Hue => (lamp.h, patch.h) = (v, Some(v)),
            State::Saturation => (lamp.s, patch.s) = (v, Some(v)),
            _ => (lamp.brightness, patch.brightness) = (v, Some(v)),
        }
        let kind = self.message(lamp, patch);
        if i < n {
            self.next = Next::Drag { slider, from, to, n, i };
            (kind, Some(p.drag.interval.as_nanos() as u64))
        } else {
            (kind, Some(self.plan_next(p, rng)))
        }
    }

    /// Web pages send the full state, apps only the change, the touchscreen makes the lamp publish its full state.
    fn message(&self, lamp: &LampState, change: Patch) -> ActionKind {
        match self.interface {
            Interface::Web => ActionKind::SetConfig(lamp.full()),
            Interface::App => ActionKind::SetConfig(change),
            Interface::LampUi => ActionKind::DeviceChanged(lamp.full()),
        }
    }

    /// Draws the next step; returns the think time before it (0 before the session's end).
    fn plan_next(&mut self, p: &Profile, rng: &mut impl Rng) -> u64 {
        let next = match p.chain(self.interface) {
            Some(c) if self.steps < p.max_actions => c.next(self.state, rng),
            _ => State::End,
        };
        if next == State::End {
            self.next = Next::End;
            return 0;
        }
        self.next = Next::Step(next);
        let think = if next.is_http() { &p.think.page } else { &p.think.control };
        nanos(think.sample(rng))
    }
}

fn field(lamp: &LampState, slider: State) -> f64 {
    match slider {
        State::Hue => lamp.h,
        State::Saturation => lamp.s,
        _ => lamp.brightness,
    }
}
