//! Sessions rebuilt from a stream of per-lamp events, folded at once into the counts a profile is made of.
//!
//! Events arrive in time order per lamp (the Mixpanel export as it streams, the Keen extraction after sorting). A
//! lamp's session goes on while events of the same interface come within the inactivity gap; a new interface or a
//! longer silence starts the next one. A session's steps are page views, power toggles and slider drags; a drag is
//! the run of same-slider events closed by the lamp's state change (or a silence over [`BURST_GAP`]). Think time is
//! from the previous step's last user event to the next step's first.
//!
//! Only sessions that *start* inside the window count for the profile. Memory: one open session per lamp and the
//! histograms; nothing grows with the number of events. This module owns the reconstruction rules; it knows nothing
//! of file formats.

use super::hist::Hist;
use crate::profile::{Interface, State, Window};

/// Within a drag, events come 100 ms apart; whole-second timestamps stretch that to 1 s. Longer is a new drag.
pub const BURST_GAP: f64 = 1.5;

/// A recorded lamp state: h, s, brightness, on (1 or 0); `None` where the event did not say.
pub(super) type Fields = [Option<f64>; 4];

/// One event, attributed to a lamp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Event {
    /// Seconds since the Unix epoch (UTC).
    pub t: f64,
    pub lamp: u32,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    /// `Root`, `List` or `Detail`.
    Page(State),
    /// `Power` (value 1 on, 0 off) or a slider with its value.
    Control {
        interface: Interface,
        control: State,
        value: f64,
    },
    /// The lamp published its state (closes a drag): h, s, brightness and on (1/0), each if recorded.
    DeviceState(Fields),
    Connected,
    Disconnected,
}

/// The session rule, shared with the replay: a lamp's open session of `open` interface, last active at
/// `last_activity`, goes on with an event of `interface` at `t` when the interface is the same and the silence is
/// no longer than the inactivity gap.
pub(super) fn continues(open: Interface, last_activity: f64, interface: Interface, t: f64, gap: f64) -> bool {
    open == interface && t - last_activity <= gap
}

struct Burst {
    control: State,
    n: u32,
    last_t: f64,
    value: f64,
    closed: bool,
}

struct Open {
    interface: Interface,
    in_window: bool,
    hour: u8,
    state: State,
    last_activity: f64,
    last_step_end: f64,
    first_step: bool,
    burst: Option<Burst>,
}

#[derive(Default)]
struct Track {
    last_t: Option<f64>,
    open: Option<Open>,
    down_since: Option<f64>,
}

/// Everything counted, for the window.
pub(super) struct Acc {
    pub sessions_total: u64,
    pub sessions_by_hour: [u64; 24],
    pub by_interface: [u64; 3],
    /// `trans[interface][from][to]`.
    pub trans: [[[u64; 10]; 10]; 3],
    pub think_page: Hist,
    pub think_control: Hist,
    pub bursts: Hist,
    /// Drag end values by slider: hue, saturation, brightness.
    pub values: [Hist; 3],
    pub steps: u64,
    pub disconnects: u64,
    pub offline: Hist,
}

pub(super) struct Sessions {
    window: Window,
    tz_seconds: f64,
    gap: f64,
    tracks: Vec<Track>,
    pub acc: Acc,
    pub first_t: f64,
    pub last_t: f64,
    pub whole_seconds: bool,
    pub out_of_order: u64,
}

impl Sessions {
    pub fn new(window: Window, tz_offset_minutes: i32, gap_secs: f64) -> Sessions {
        Sessions {
            window,
            tz_seconds: f64::from(tz_offset_minutes) * 60.0,
            gap: gap_secs,
            tracks: Vec::new(),
            acc: Acc {
                sessions_total: 0,
                sessions_by_hour: [0; 24],
                by_interface: [0; 3],
                trans: [[[0; 10]; 10]; 3],
                think_page: Hist::new(0.01),
                think_control: Hist::new(0.01),
                bursts: Hist::new(1.0),
                values: [Hist::new(0.01), Hist::new(0.01), Hist::new(0.01)],
                steps: 0,
                disconnects: 0,
                offline: Hist::new(0.01),
            },
            first_t: f64::INFINITY,
            last_t: f64::NEG_INFINITY,
            whole_seconds: true,
            out_of_order: 0,
        }
    }

    /// Hour of the day (profile time) of a UTC epoch time.
    pub fn local_hour(&self, t: f64) -> u8 {
        (((t + self.tz_seconds) / 3600.0).floor().rem_euclid(24.0)) as u8
    }

    pub fn in_window(&self, t: f64) -> bool {
        self.window.phase(f64::from(self.local_hour(t))).is_some()
    }

    /// Lamps that had at least one event.
    pub fn lamps_seen(&self) -> u32 {
        self.tracks.iter().filter(|t| t.last_t.is_some()).count() as u32
    }

    pub fn add(&mut self, ev: Event) {
        if ev.t.fract() != 0.0 {
            self.whole_seconds = false;
        }
        self.first_t = self.first_t.min(ev.t);
        self.last_t = self.last_t.max(ev.t);
        let i = ev.lamp as usize;
        if self.tracks.len() <= i {
            self.tracks.resize_with(i + 1, Track::default);
        }
        let mut t = ev.t;
        match self.tracks[i].last_t {
            Some(last) if t < last => {
                self.out_of_order += 1;
                t = last;
            }
            _ => self.tracks[i].last_t = Some(t),
        }
        match ev.kind {
            Kind::Connected => {
                if let Some(down) = self.tracks[i].down_since.take() {
                    self.acc.offline.add(t - down);
                }
            }
            Kind::Disconnected => {
                self.tracks[i].down_since = Some(t);
                if self.in_window(t) {
                    self.acc.disconnects += 1;
                }
            }
            Kind::DeviceState(_) => {
                if let Some(b) = self.tracks[i].open.as_mut().and_then(|o| o.burst.as_mut()) {
                    b.closed = true;
                }
            }
            Kind::Page(page) => {
                self.ensure_session(i, Interface::Web, t);
                self.step(i, page, t);
            }
            Kind::Control { interface, control, value } => {
                self.ensure_session(i, interface, t);
                self.control(i, control, value, t);
            }
        }
    }

    fn control(&mut self, i: usize, control: State, value: f64, t: f64) {
        let open = self.tracks[i].open.as_mut().expect("ensure_session opened one");
        open.last_activity = t;
        if let Some(b) = open.burst.as_mut() {
            if control.is_slider() && b.control == control && !b.closed && t - b.last_t <= BURST_GAP {
                b.n += 1;
                b.last_t = t;
                b.value = value;
                open.last_step_end = t;
                return;
            }
        }
        self.step(i, control, t);
        if control.is_slider() {
            let open = self.tracks[i].open.as_mut().expect("still open");
            open.burst = Some(Burst { control, n: 1, last_t: t, value, closed: false });
        }
    }

    /// Continues the lamp's open session if it fits, else closes it and opens a new one.
    fn ensure_session(&mut self, i: usize, interface: Interface, t: f64) {
        if let Some(open) = &self.tracks[i].open {
            if continues(open.interface, open.last_activity, interface, t, self.gap) {
                return;
            }
        }
        self.close(i);
        let hour = self.local_hour(t);
        let in_window = self.in_window(t);
        let mut open = Open {
            interface,
            in_window,
            hour,
            state: State::Start,
            last_activity: t,
            last_step_end: t,
            first_step: true,
            burst: None,
        };
        if interface == Interface::Web {
            // Analytics do not record logins; a load-test web session must begin with one.
            self.count_transition(&open, State::Login);
            open.state = State::Login;
        }
        self.tracks[i].open = Some(open);
    }

    fn count_transition(&mut self, open: &Open, to: State) {
        if open.in_window {
            self.acc.trans[open.interface.index()][open.state.index()][to.index()] += 1;
        }
    }

    fn step(&mut self, i: usize, to: State, t: f64) {
        self.finish_burst(i);
        let Some(open) = self.tracks[i].open.take() else { return };
        self.count_transition(&open, to);
        let mut open = open;
        if open.in_window {
            self.acc.steps += 1;
            if !open.first_step {
                let think = (t - open.last_step_end).max(0.0);
                if to.is_http() {
                    self.acc.think_page.add(think);
                } else {
                    self.acc.think_control.add(think);
                }
            }
        }
        open.state = to;
        open.first_step = false;
        open.last_step_end = t;
        open.last_activity = t;
        self.tracks[i].open = Some(open);
    }

    fn finish_burst(&mut self, i: usize) {
        let Some(open) = self.tracks[i].open.as_mut() else { return };
        let Some(b) = open.burst.take() else { return };
        if open.in_window {
            self.acc.bursts.add(f64::from(b.n));
            let k = match b.control {
                State::Hue => 0,
                State::Saturation => 1,
                _ => 2,
            };
            self.acc.values[k].add(b.value);
        }
    }

    fn close(&mut self, i: usize) {
        self.finish_burst(i);
        let Some(open) = self.tracks[i].open.take() else { return };
        self.acc.sessions_total += 1;
        if open.in_window {
            self.count_transition(&open, State::End);
            self.acc.sessions_by_hour[open.hour as usize] += 1;
            self.acc.by_interface[open.interface.index()] += 1;
        }
    }

    /// Closes every open session (the end of the input).
    pub fn finish(&mut self) {
        for i in 0..self.tracks.len() {
            self.close(i);
        }
    }

    /// Sessions that started in the window.
    pub fn in_window_sessions(&self) -> u64 {
        self.acc.by_interface.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: f64, kind: Kind) -> Event {
        Event { t, lamp: 0, kind }
    }

    fn slider(t: f64, v: f64) -> Event {
        ev(t, Kind::Control { interface: Interface::Web, control: State::Hue, value: v })
    }

    #[test]
    fn a_web_session_with_a_drag_and_a_toggle() {
        let mut s = Sessions::new(Window { start: 0, end: 24 }, 0, 120.0);
        s.add(ev(0.0, Kind::Page(State::List)));
        s.add(ev(1.0, Kind::Page(State::Detail)));
        for (k, v) in [0.9, 0.8, 0.7].iter().enumerate() {
            s.add(slider(4.0 + k as f64 * 0.1, *v));
        }
        s.add(ev(4.25, Kind::DeviceState([None; 4])));
        s.add(slider(6.2, 0.75)); // a new drag of the same slider: the state change closed the last one
        s.add(ev(6.3, Kind::DeviceState([None; 4])));
        s.add(ev(9.3, Kind::Control { interface: Interface::Web, control: State::Power, value: 0.0 }));
        s.add(ev(500.0, Kind::Control { interface: Interface::Web, control: State::Power, value: 1.0 }));
        s.finish();
        let a = &s.acc;
        assert_eq!(a.by_interface[Interface::Web.index()], 2, "the 500 s silence starts a new session");
        let web = &a.trans[0];
        assert_eq!(web[State::Start.index()][State::Login.index()], 2);
        assert_eq!(web[State::Login.index()][State::List.index()], 1);
        assert_eq!(web[State::Detail.index()][State::Hue.index()], 1);
        assert_eq!(web[State::Hue.index()][State::Hue.index()], 1);
        assert_eq!(web[State::Hue.index()][State::Power.index()], 1);
        assert_eq!(web[State::Power.index()][State::End.index()], 2);
        assert_eq!(a.bursts.len(), 2);
        assert!((a.bursts.mean() - 2.0).abs() < 1e-9);
        assert_eq!(a.think_page.len(), 1);
        assert_eq!(a.think_control.len(), 3); // detail->hue 3 s, hue->hue 2 s, hue->power 3.1 s
        assert!((a.think_control.mean() - (3.0 + 2.0 + 3.1) / 3.0).abs() < 1e-9);
        assert!(!s.whole_seconds);
    }

    #[test]
    fn interface_change_splits_and_window_filters() {
        let mut s = Sessions::new(Window { start: 18, end: 23 }, 0, 120.0);
        let at = |h: f64| h * 3600.0;
        let c = |i| Kind::Control { interface: i, control: State::Power, value: 1.0 };
        s.add(ev(at(17.99), c(Interface::App)));
        s.add(ev(at(18.0) + 10.0, c(Interface::LampUi)));
        s.add(ev(at(18.0) + 20.0, c(Interface::LampUi)));
        s.add(ev(at(20.5), Kind::Disconnected));
        s.add(ev(at(20.5) + 42.0, Kind::Connected));
        s.finish();
        assert_eq!(s.acc.sessions_total, 2);
        assert_eq!(s.in_window_sessions(), 1);
        assert_eq!(s.acc.sessions_by_hour[18], 1);
        assert_eq!(s.acc.disconnects, 1);
        assert_eq!(s.acc.offline.mean(), 42.0);
    }
}
