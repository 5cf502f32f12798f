//! The lamp itself, as pure data: its state, the commands that change it, and how state becomes LED duties.
//!
//! Everything here is plain values and functions: no broker, no GPIO, no clock. `codec` turns MQTT payloads into
//! validated [`Command`]s (or says exactly why not) and states into `lamp/changed` payloads; `colour` is the LAMPI
//! formula plus gamma; `transition` interpolates duties for fades. The daemon (`crate::daemon`) is the I/O shell.

pub mod codec;
pub mod colour;
pub mod transition;

use std::fmt;

/// Whether a `lamp/changed` (state, client) is the lamp's answer to `cmd`: same client, and every field the command
/// set has the value it set.
pub fn answers(cmd: &Command, state: &State, client: &str) -> bool {
    cmd.client == client
        && cmd.h.is_none_or(|v| v == state.h)
        && cmd.s.is_none_or(|v| v == state.s)
        && cmd.brightness.is_none_or(|v| v == state.brightness)
        && cmd.on.is_none_or(|v| v == state.on)
}

/// A value in [0, 1] held as whole hundredths, since LAMPI rounds every value to 0.01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(u8);

impl Level {
    pub const ZERO: Level = Level(0);
    pub const FULL: Level = Level(100);

    /// Rounds a number in [0, 1] to the nearest 0.01; `None` outside the range or not finite.
    pub fn from_f64(x: f64) -> Option<Level> {
        // Tolerate float noise at the ends (1.0000000001 is 1.0), nothing more.
        if !x.is_finite() || !(-1e-9..=1.0 + 1e-9).contains(&x) {
            return None;
        }
        Some(Level((x * 100.0).round().clamp(0.0, 100.0) as u8))
    }

    pub fn from_hundredths(n: u8) -> Option<Level> {
        (n <= 100).then_some(Level(n))
    }

    pub fn hundredths(self) -> u8 {
        self.0
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.as_f64())
    }
}

/// The whole lamp state, as on `lamp/changed` (less the `client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct State {
    pub h: Level,
    pub s: Level,
    pub brightness: Level,
    pub on: bool,
}

impl Default for State {
    /// LAMPI's first-boot state: hue 1.0, saturation 1.0, brightness 1.0, on (full red).
    fn default() -> Self {
        State { h: Level::FULL, s: Level::FULL, brightness: Level::FULL, on: true }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h={} s={} brightness={} {}", self.h, self.s, self.brightness, if self.on { "on" } else { "off" })
    }
}

/// A validated `lamp/set_config`: who sent it and the fields it changes (absent fields stay as they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub client: String,
    pub h: Option<Level>,
    pub s: Option<Level>,
    pub brightness: Option<Level>,
    pub on: Option<bool>,
}

impl State {
    /// The state after a command: a partial update, applied as a whole.
    pub fn apply(self, cmd: &Command) -> State {
        State {
            h: cmd.h.unwrap_or(self.h),
            s: cmd.s.unwrap_or(self.s),
            brightness: cmd.brightness.unwrap_or(self.brightness),
            on: cmd.on.unwrap_or(self.on),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_to_hundredths_and_reject_out_of_range() {
        assert_eq!(Level::from_f64(0.444).unwrap().hundredths(), 44);
        assert_eq!(Level::from_f64(0.445000001).unwrap().hundredths(), 45);
        assert_eq!(Level::from_f64(1.0).unwrap(), Level::FULL);
        assert_eq!(Level::from_f64(0.0).unwrap(), Level::ZERO);
        assert_eq!(Level::from_f64(1.0 + 1e-12).unwrap(), Level::FULL);
        assert_eq!(Level::from_f64(1.01), None);
        assert_eq!(Level::from_f64(-0.01), None);
        assert_eq!(Level::from_f64(f64::NAN), None);
        assert_eq!(Level::from_f64(0.47).unwrap().to_string(), "0.47");
    }

    #[test]
    fn partial_update_keeps_the_other_fields() {
        let s = State::default();
        let cmd = Command { client: "x".into(), h: None, s: None, brightness: None, on: Some(false) };
        let t = s.apply(&cmd);
        assert!(!t.on);
        assert_eq!((t.h, t.s, t.brightness), (s.h, s.s, s.brightness));
    }
}
