//! `loadtest --dry-run`: what a schedule would do, counted by walking it (it is lazy and cheap to walk).
//!
//! This module owns the counts and their text; it sends nothing.

use std::fmt;
use std::time::Duration;

use super::{ActionKind, Page, Params, ParamsError, Schedule};
use crate::profile::{Interface, Profile};

/// Actions by kind: what a schedule holds (`--dry-run`) or a replay played.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionCounts {
    pub logins: u64,
    /// `/`, `/lampi/`, `/lampi/device/<id>`, by [`Page`] as an index.
    pub pages: [u64; 3],
    pub set_config: u64,
    pub device_changed: u64,
    pub reconnects: u64,
    pub session_ends: u64,
}

impl ActionCounts {
    pub fn add(&mut self, kind: &ActionKind) {
        match kind {
            ActionKind::Login => self.logins += 1,
            ActionKind::Page(page) => self.pages[*page as usize] += 1,
            ActionKind::SetConfig(_) => self.set_config += 1,
            ActionKind::DeviceChanged(_) => self.device_changed += 1,
            ActionKind::Reconnect { .. } => self.reconnects += 1,
            ActionKind::SessionEnd => self.session_ends += 1,
        }
    }

    /// MQTT messages: set_config and touchscreen lamp/changed.
    pub fn messages(&self) -> u64 {
        self.set_config + self.device_changed
    }
}

/// Counts of one schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub profile: String,
    pub params: Params,
    /// Sessions started, per interface (by [`Interface::index`]).
    pub sessions: [u64; 3],
    /// The profile's expected number of sessions for these parameters (the Poisson mean).
    pub expected_sessions: f64,
    pub actions: ActionCounts,
    /// The busiest one-second bucket of MQTT messages (set_config + lamp/changed), and its start.
    pub peak_messages: u64,
    pub peak_at: Duration,
    /// The same for HTTP actions (logins and pages).
    pub peak_http: u64,
}

/// Walks the schedule `profile` and `params` give and counts it.
pub fn summary(profile: &Profile, params: &Params) -> Result<Summary, ParamsError> {
    let mut schedule = Schedule::new(profile, params)?;
    let mut s = Summary {
        profile: profile.name.clone(),
        params: params.clone(),
        sessions: [0; 3],
        expected_sessions: expected_sessions(profile, params),
        actions: ActionCounts::default(),
        peak_messages: 0,
        peak_at: Duration::ZERO,
        peak_http: 0,
    };
    let (mut second, mut messages, mut http) = (0u64, 0u64, 0u64);
    for a in schedule.by_ref() {
        let sec = a.at.as_secs();
        if sec != second {
            s.note_second(second, messages, http);
            (second, messages, http) = (sec, 0, 0);
        }
        s.actions.add(&a.kind);
        match a.kind {
            ActionKind::Login | ActionKind::Page(_) => http += 1,
            ActionKind::SetConfig(_) | ActionKind::DeviceChanged(_) => messages += 1,
            ActionKind::Reconnect { .. } | ActionKind::SessionEnd => {}
        }
    }
    s.note_second(second, messages, http);
    s.sessions = schedule.sessions_started();
    Ok(s)
}

impl Summary {
    fn note_second(&mut self, second: u64, messages: u64, http: u64) {
        if messages > self.peak_messages {
            self.peak_messages = messages;
            self.peak_at = Duration::from_secs(second);
        }
        self.peak_http = self.peak_http.max(http);
    }

    pub fn total_sessions(&self) -> u64 {
        self.sessions.iter().sum()
    }

    pub fn messages(&self) -> u64 {
        self.actions.messages()
    }

    /// Mean MQTT messages per second over the run.
    pub fn messages_per_sec(&self) -> f64 {
        self.messages() as f64 / self.params.duration.as_secs_f64()
    }
}

/// The Poisson mean of sessions: lamps x rate x the profile's rate integrated over the run (with ramp-up).
pub fn expected_sessions(profile: &Profile, params: &Params) -> f64 {
    let total = params.duration.as_secs_f64();
    let steps = (total.ceil() as usize).clamp(1, 1_000_000);
    let dt = total / steps as f64;
    let phase0 = profile.window.phase(params.start_hour).unwrap_or(0.0);
    let ramp = params.ramp_up.as_secs_f64();
    let mut sum = 0.0;
    for i in 0..steps {
        let t = (i as f64 + 0.5) * dt;
        let r = if ramp > 0.0 { (t / ramp).min(1.0) } else { 1.0 };
        sum += profile.rate_at(phase0 + t / 3600.0 * params.speed) * r * dt;
    }
    sum / 3600.0 * params.speed * params.rate * f64::from(params.lamps)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.params;
        let profile_hours = p.duration.as_secs_f64() / 3600.0 * p.speed;
        writeln!(
            f,
            "Dry run of profile {:?}: {} lamps for {} (seed {}), from {:05.2}h profile time at speed {} ({:.2} profile \
             hours), rate x{}, ramp-up {}",
            self.profile,
            p.lamps,
            humantime::format_duration(p.duration),
            p.seed,
            p.start_hour,
            p.speed,
            profile_hours,
            p.rate,
            humantime::format_duration(p.ramp_up)
        )?;
        let by: Vec<String> =
            Interface::ALL.iter().map(|i| format!("{} {}", i.key(), self.sessions[i.index()])).collect();
        writeln!(
            f,
            "  sessions      {} (expected {:.1}): {}",
            self.total_sessions(),
            self.expected_sessions,
            by.join(", ")
        )?;
        let a = &self.actions;
        writeln!(
            f,
            "  http          {} logins, {} pages (/ {}, /lampi/ {}, /lampi/device/<id> {}); peak {}/s",
            a.logins,
            a.pages.iter().sum::<u64>(),
            a.pages[Page::Root as usize],
            a.pages[Page::List as usize],
            a.pages[Page::Detail as usize],
            self.peak_http
        )?;
        writeln!(
            f,
            "  mqtt          {} messages: {} set_config, {} lamp/changed from touchscreens; {:.2}/s on average, \
             peak {}/s at {}",
            self.messages(),
            a.set_config,
            a.device_changed,
            self.messages_per_sec(),
            self.peak_messages,
            humantime::format_duration(self.peak_at)
        )?;
        write!(f, "  other         {} reconnects, {} sessions ended within the run", a.reconnects, a.session_ends)
    }
}
