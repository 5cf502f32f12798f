//! `loadtest --schedule-csv FILE`: every action of a run, one CSV row each, written as the run dispatches it (or as
//! `--dry-run` walks it), so what a run was asked to do can be checked against what it measured and against its
//! profile.
//!
//! Columns ([`HEADER`]): `at_s` the intended start in seconds since the run's start (nanosecond precision);
//! `lamp` the virtual lamp; `session` the session id (`lamp << 32 | n`, 0 outside sessions); `interface` web, app,
//! lamp_ui or empty; `action` one of login, root, list, detail, set_config, device_changed, reconnect, session_end;
//! `h`, `s`, `brightness`, `on` the fields a message carries (empty when it does not); `offline_s` a reconnect's
//! time offline. A drag's messages are exactly the profile's `drag.interval` apart; any other gap between two
//! actions of a session is a think time (a session's end follows its last action at once).
//!
//! Streamed: memory does not grow with the run, the file does (about 60 bytes an action).

use std::io::{self, Write};

use super::{Action, ActionKind, Page, Patch};

pub const HEADER: &str = "at_s,lamp,session,interface,action,h,s,brightness,on,offline_s";

fn level(x: Option<f64>) -> String {
    x.map_or_else(String::new, |x| format!("{x:.2}"))
}

/// One action as a CSV row (no newline).
pub fn row(a: &Action) -> String {
    let name = match &a.kind {
        ActionKind::Login => "login",
        ActionKind::Page(Page::Root) => "root",
        ActionKind::Page(Page::List) => "list",
        ActionKind::Page(Page::Detail) => "detail",
        ActionKind::SetConfig(_) => "set_config",
        ActionKind::DeviceChanged(_) => "device_changed",
        ActionKind::Reconnect { .. } => "reconnect",
        ActionKind::SessionEnd => "session_end",
    };
    let patch = match &a.kind {
        ActionKind::SetConfig(p) | ActionKind::DeviceChanged(p) => *p,
        _ => Patch::default(),
    };
    let offline = match &a.kind {
        ActionKind::Reconnect { offline } => format!("{:.3}", offline.as_secs_f64()),
        _ => String::new(),
    };
    format!(
        "{}.{:09},{},{},{},{name},{},{},{},{},{offline}",
        a.at.as_secs(),
        a.at.subsec_nanos(),
        a.lamp,
        a.session,
        a.interface.map_or("", |i| i.key()),
        level(patch.h),
        level(patch.s),
        level(patch.brightness),
        patch.on.map_or_else(String::new, |on| on.to_string()),
    )
}

/// An action iterator that writes each action it yields to `out` (the header first). A write error is logged once
/// and ends the log, never the run.
pub struct Logged<I, W: Write> {
    inner: I,
    out: Option<W>,
    what: String,
}

impl<I, W: Write> Logged<I, W> {
    /// `what` names the destination in the warning a write error gives.
    pub fn new(inner: I, mut out: W, what: &str) -> io::Result<Self> {
        writeln!(out, "{HEADER}")?;
        Ok(Logged { inner, out: Some(out), what: what.to_string() })
    }

    fn write(&mut self, line: Option<String>) {
        let Some(out) = self.out.as_mut() else { return };
        let result = match line {
            Some(l) => writeln!(out, "{l}"),
            None => out.flush(),
        };
        if let Err(e) = result {
            tracing::warn!("--schedule-csv {}: {e}; the schedule log stops here", self.what);
            self.out = None;
        }
    }
}

impl<I: Iterator<Item = Action>, W: Write> Iterator for Logged<I, W> {
    type Item = Action;

    fn next(&mut self) -> Option<Action> {
        let a = self.inner.next();
        self.write(a.as_ref().map(row));
        if a.is_none() {
            self.out = None;
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Interface;
    use std::time::Duration;

    #[test]
    fn rows_carry_the_time_to_the_nanosecond_and_only_the_fields_sent() {
        let a = Action {
            at: Duration::new(12, 5),
            lamp: 3,
            session: (3 << 32) | 2,
            interface: Some(Interface::App),
            kind: ActionKind::SetConfig(Patch { h: Some(0.5), on: Some(false), ..Patch::default() }),
        };
        assert_eq!(row(&a), "12.000000005,3,12884901890,app,set_config,0.50,,,false,");
        let r = Action {
            at: Duration::from_millis(1500),
            lamp: 0,
            session: 0,
            interface: None,
            kind: ActionKind::Reconnect { offline: Duration::from_millis(2500) },
        };
        assert_eq!(row(&r), "1.500000000,0,0,,reconnect,,,,,2.500");
    }

    #[test]
    fn the_log_passes_every_action_through() {
        let actions = vec![
            Action {
                at: Duration::ZERO,
                lamp: 0,
                session: 1,
                interface: Some(Interface::Web),
                kind: ActionKind::Login,
            },
            Action {
                at: Duration::from_secs(1),
                lamp: 0,
                session: 1,
                interface: Some(Interface::Web),
                kind: ActionKind::Page(Page::List),
            },
        ];
        let mut out = Vec::new();
        let passed: Vec<Action> = Logged::new(actions.clone().into_iter(), &mut out, "test").unwrap().collect();
        assert_eq!(passed, actions);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, [HEADER, "0.000000000,0,1,web,login,,,,,", "1.000000000,0,1,web,list,,,,,"]);
    }
}
