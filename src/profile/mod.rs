//! Usage profiles: what LAMPI owners do in a time-of-day window, as a TOML file a machine writes and a person tweaks.
//!
//! A [`Profile`] holds, for one window of hours: session arrival rates per lamp by hour, the share of web / app /
//! lamp-UI sessions, a Markov chain per interface over the session's steps, think times and drag lengths as
//! empirical quantiles, drag target values, and connection churn. It is read with the config [`Reader`], so a bad
//! file is reported as every key, value and expectation at once ([`ConfigError::Invalid`], exit 78).
//!
//! This module owns the schema, its validation, finding a profile by name or path, writing it back as documented
//! TOML and describing it (`profile show`). It does not expand a profile into actions (`schedule` does) nor derive
//! one from analytics (`analytics` does). Parsing has no side effects; only [`Profile::find`] and
//! [`Profile::load`] read files.

pub mod chain;
pub mod quantiles;
mod read;
mod show;
mod write;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use chain::{Chain, Interface, State};
pub use quantiles::Quantiles;
pub use read::{format_offset, parse_offset};
pub use show::profile_show_cmd;

use crate::config::reader::{parse_toml, Reader};
use crate::config::{ConfigError, Problem};

/// Where installed profiles live (`<name>.toml`).
pub const SYSTEM_DIR: &str = "/etc/lampi-agent/profiles";

/// The shipped profiles, embedded so `--profile evening` works from an installed binary anywhere.
pub const SHIPPED: [(&str, &str); 3] = [
    ("evening", include_str!("../../config/profiles/evening.toml")),
    ("morning", include_str!("../../config/profiles/morning.toml")),
    ("smoke", include_str!("../../config/profiles/smoke.toml")),
];

/// Where a profile name or path was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    File(PathBuf),
    /// A shipped profile: its name and text.
    BuiltIn(&'static str, &'static str),
}

/// A validated usage profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// Where it came from (a path, or "built-in profile NAME").
    pub origin: String,
    pub window: Window,
    /// Profile time = UTC + this many minutes; the window's hours are profile time.
    pub tz_offset_minutes: i32,
    /// Sessions per lamp per hour, one per hour of the window, starting at `window.start`.
    pub rates: Vec<f64>,
    /// Share of sessions per interface as written, indexed by [`Interface::index`]; adds up to 1 within 0.01
    /// (use [`Profile::share_of`] for the normalised share).
    pub share: [f64; 3],
    /// The session chain per interface (present for every interface with a share above 0).
    pub chains: [Option<Chain>; 3],
    pub think: Think,
    pub drag: Drag,
    pub values: Values,
    pub churn: Churn,
    /// A session ends after this many steps whatever the chain says.
    pub max_actions: u32,
    /// Objectives a run of this profile is judged by (`slo = ["roundtrip p99 < 100ms"]`), so a fleet run carries
    /// them; `--slo` adds more.
    pub slos: Vec<crate::slo::Slo>,
}

/// Hours of the day `[start, end)` in profile time; `end` may be past midnight (`[22, 2]`); `[0, 24]` is all day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u8,
    pub end: u8,
}

/// Seconds a person waits before a step (wall-clock).
#[derive(Debug, Clone, PartialEq)]
pub struct Think {
    /// Before a page view.
    pub page: Quantiles,
    /// Before a power toggle or a slider drag.
    pub control: Quantiles,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Drag {
    /// Between two messages of a drag (the web page's throttle): wall-clock, never sped up.
    pub interval: Duration,
    /// Messages per drag (a draw is rounded, at least 1).
    pub length: Quantiles,
}

/// Where a drag of each slider ends, in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    pub hue: Quantiles,
    pub saturation: Quantiles,
    pub brightness: Quantiles,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Churn {
    /// MQTT disconnect + reconnect per lamp per hour of profile time.
    pub per_hour: f64,
    /// Seconds offline each time (wall-clock).
    pub offline: Quantiles,
}

impl Window {
    /// Hours in the window (1 to 24).
    pub fn len(&self) -> u8 {
        match (self.end + 24 - self.start) % 24 {
            0 => 24,
            n => n,
        }
    }

    /// Never true: a window has at least one hour (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The hours of the day in the window, in order.
    pub fn hours(&self) -> Vec<u8> {
        (0..self.len()).map(|i| (self.start + i) % 24).collect()
    }

    /// Hours since the window's start for a time of day (0..24), or `None` outside the window.
    pub fn phase(&self, hour_of_day: f64) -> Option<f64> {
        let ph = (hour_of_day - f64::from(self.start)).rem_euclid(24.0);
        (ph < f64::from(self.len())).then_some(ph)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:00-{:02}:00", self.start, self.end)
    }
}

impl Profile {
    /// Parses and validates profile text; `origin` names it in messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Profile, ConfigError> {
        let invalid = |problems| ConfigError::Invalid { origin: origin.to_string(), problems };
        let table = parse_toml(text).map_err(|p| invalid(vec![p]))?;
        let mut r = Reader::new(&table);
        let profile = read::read(&mut r, origin);
        let problems = r.finish();
        match profile {
            Some(p) if problems.is_empty() => Ok(p),
            _ => Err(invalid(problems)),
        }
    }

    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Profile, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Profile::from_toml(&text, &path.display().to_string())
    }

    /// A path if it exists; else `<name>.toml` in [`SYSTEM_DIR`], then in the checkout's `config/profiles/`; else
    /// the built-in profile of that name.
    pub fn find(name_or_path: &str) -> Result<Profile, ConfigError> {
        Profile::find_in(name_or_path, &Profile::search_dirs())
    }

    /// The directories [`Profile::find`] searches, in order.
    pub fn search_dirs() -> Vec<PathBuf> {
        vec![PathBuf::from(SYSTEM_DIR), Path::new(env!("CARGO_MANIFEST_DIR")).join("config/profiles")]
    }

    /// [`Profile::find`] over the given directories (then the built-in profiles).
    pub fn find_in(name_or_path: &str, dirs: &[PathBuf]) -> Result<Profile, ConfigError> {
        match Profile::locate(name_or_path, dirs) {
            Some(Found::File(path)) => return Profile::load(&path),
            Some(Found::BuiltIn(name, text)) => return Profile::from_toml(text, &format!("built-in profile {name}")),
            None => {}
        }
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        let names: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
        Err(ConfigError::Invalid {
            origin: name_or_path.to_string(),
            problems: vec![Problem {
                key: "profile".into(),
                value: format!("{name_or_path:?}"),
                expected: format!(
                    "an existing profile file, or a name found as NAME.toml in {} or built in ({})",
                    searched.join(", "),
                    names.join(", ")
                ),
            }],
        })
    }

    /// Where [`Profile::find_in`] would load `name_or_path` from, without reading it; `None` when nothing matches.
    pub fn locate(name_or_path: &str, dirs: &[PathBuf]) -> Option<Found> {
        let path = Path::new(name_or_path);
        if path.is_file() {
            return Some(Found::File(path.to_path_buf()));
        }
        if name_or_path.contains(['/', '\\']) || name_or_path.ends_with(".toml") {
            return None;
        }
        let file = dirs.iter().map(|d| d.join(format!("{name_or_path}.toml"))).find(|c| c.is_file());
        file.map(Found::File)
            .or_else(|| SHIPPED.iter().find(|(n, _)| *n == name_or_path).map(|(n, t)| Found::BuiltIn(n, t)))
    }

    /// Sessions per lamp per hour at `phase` hours after the window's start (wrapping round the window).
    pub fn rate_at(&self, phase: f64) -> f64 {
        let i = (phase.rem_euclid(f64::from(self.window.len())) as usize).min(self.rates.len() - 1);
        self.rates[i]
    }

    /// The normalised share of sessions that use `interface`.
    pub fn share_of(&self, interface: Interface) -> f64 {
        self.share[interface.index()] / self.share.iter().sum::<f64>()
    }

    /// The chain of an interface (`None` when its share is 0 and no chain was written).
    pub fn chain(&self, interface: Interface) -> Option<&Chain> {
        self.chains[interface.index()].as_ref()
    }

    /// Drag targets for a slider state (`None` for other states).
    pub fn values_for(&self, slider: State) -> Option<&Quantiles> {
        match slider {
            State::Hue => Some(&self.values.hue),
            State::Saturation => Some(&self.values.saturation),
            State::Brightness => Some(&self.values.brightness),
            _ => None,
        }
    }

    /// Expected power toggles, hue, saturation and brightness drags per session, over all interfaces by share.
    pub fn controls_per_session(&self) -> [f64; 4] {
        let mut mix = [0.0; 4];
        for i in Interface::ALL {
            let Some(c) = self.chain(i) else { continue };
            let v = c.expected_visits();
            for (k, s) in [State::Power, State::Hue, State::Saturation, State::Brightness].iter().enumerate() {
                mix[k] += self.share_of(i) * v[s.index()];
            }
        }
        mix
    }

    /// The documented TOML form; `header` lines are written first as `#` comments.
    pub fn to_toml(&self, header: &[String]) -> String {
        write::to_toml(self, header)
    }

    /// The readable multi-line description `profile show` prints.
    pub fn show(&self) -> String {
        show::show(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_profile_loads_and_round_trips() {
        for (name, text) in SHIPPED {
            let p = Profile::from_toml(text, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.name, name);
            let again = Profile::from_toml(&p.to_toml(&[]), name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(again, p, "{name} does not survive to_toml");
            assert!(!p.show().is_empty());
        }
    }

    #[test]
    fn shipped_files_on_disk_match_the_embedded_copies() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/profiles");
        for (name, text) in SHIPPED {
            assert_eq!(std::fs::read_to_string(dir.join(format!("{name}.toml"))).unwrap(), text);
        }
    }

    #[test]
    fn find_takes_a_path_then_a_directory_then_a_built_in() {
        let dir = tempfile::tempdir().unwrap();
        let text = SHIPPED[2].1.replace("name = \"smoke\"", "name = \"mine\"");
        std::fs::write(dir.path().join("mine.toml"), &text).unwrap();
        let by_path = Profile::find_in(dir.path().join("mine.toml").to_str().unwrap(), &[]).unwrap();
        assert_eq!(by_path.name, "mine");
        let by_name = Profile::find_in("mine", &[dir.path().to_path_buf()]).unwrap();
        assert!(by_name.origin.ends_with("mine.toml"), "{}", by_name.origin);
        let built_in = Profile::find_in("evening", &[dir.path().to_path_buf()]).unwrap();
        assert_eq!(built_in.origin, "built-in profile evening");
        let err = Profile::find_in("nosuch", &[dir.path().to_path_buf()]).unwrap_err().to_string();
        assert!(err.contains("evening, morning, smoke"), "{err}");
        assert!(matches!(Profile::find_in("/nonexistent/x.toml", &[]), Err(ConfigError::Invalid { .. })));
    }

    #[test]
    fn every_problem_is_reported_with_key_value_and_expectation() {
        let text = SHIPPED[2]
            .1
            .replace("window = [0, 24]", "window = [0, 24]\nbogus = 1")
            .replace("web = 0.5", "web = 1.5")
            .replace("interval = \"100ms\"", "interval = \"fast\"")
            .replace("per_hour = 180", "per_hour = -1")
            .replace("start = { login = 1 }", "start = { login = 1, tea = 0 }");
        let err = Profile::from_toml(&text, "t.toml").unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else { panic!("{err}") };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for k in ["bogus", "share.web", "drag.interval", "churn.per_hour", "chain.web.start.tea"] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        let msg = err.to_string();
        assert!(msg.contains("share.web = 1.5: expected a number from 0 to 1"), "{msg}");
    }

    #[test]
    fn a_profile_carries_its_slos_and_a_bad_one_is_named() {
        let text = SHIPPED[2]
            .1
            .replace("max_actions = 20\n", "max_actions = 20\nslo = [\"roundtrip p99 < 100ms\", \"failures < 1%\"]\n");
        let p = Profile::from_toml(&text, "t.toml").unwrap();
        assert_eq!(
            p.slos.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
            ["roundtrip p99 < 100ms", "failures < 1%"]
        );
        assert_eq!(Profile::from_toml(&p.to_toml(&[]), "again").unwrap().slos, p.slos, "slo survives to_toml");
        let bad = SHIPPED[2].1.replace("max_actions = 20\n", "max_actions = 20\nslo = [\"roundtrip p99 > 1s\", 3]\n");
        let msg = Profile::from_toml(&bad, "t.toml").unwrap_err().to_string();
        assert!(msg.contains("slo.0 = \"roundtrip p99 > 1s\"") && msg.contains("\">\" is not supported"), "{msg}");
        assert!(msg.contains("slo.1 = 3"), "{msg}");
    }

    #[test]
    fn cross_checks_name_the_key() {
        let base = SHIPPED[2].1;
        let cases = [
            ("window = [0, 24]", "window = [5, 5]", "window"),
            ("[arrivals]\n", "[arrivals]\n24 = 1.0\n", "arrivals.24"),
            ("web = 0.5", "web = 0.9", "share"),
            ("length = { p0 = 0.5, p50 = 3, p100 = 8 }", "length = { p0 = 0.5, p50 = 3 }", "drag.length"),
        ];
        for (from, to, key) in cases {
            assert!(base.contains(from), "{from}");
            let err = Profile::from_toml(&base.replacen(from, to, 1), "t").unwrap_err();
            let ConfigError::Invalid { problems, .. } = &err else { panic!() };
            assert!(problems.iter().any(|p| p.key == key), "{key}: {err}");
        }
        let no_hours = base.replace("\n20 = ", "\n#20 = ");
        let err = Profile::from_toml(&no_hours, "t").unwrap_err().to_string();
        assert!(err.contains("arrivals.20 = (missing)"), "{err}");
        let bad_q = base.replace("page = { p0 = 0.05, p50 = ", "page = { p0 = 0.05, p50 = -");
        let err = Profile::from_toml(&bad_q, "t").unwrap_err().to_string();
        assert!(err.contains(".p50 = -"), "{err}");
    }

    #[test]
    fn windows_wrap_round_midnight() {
        let w = Window { start: 22, end: 2 };
        assert_eq!(w.len(), 4);
        assert_eq!(w.hours(), [22, 23, 0, 1]);
        assert_eq!(w.phase(23.5), Some(1.5));
        assert_eq!(w.phase(1.0), Some(3.0));
        assert_eq!(w.phase(2.0), None);
        assert_eq!(Window { start: 0, end: 24 }.len(), 24);
        assert_eq!(format_offset(parse_offset("-05:30").unwrap()), "-05:30");
        assert_eq!(parse_offset("5:00"), None);
    }
}
