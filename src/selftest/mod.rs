//! `lampi-agent selftest`: is this lamp ready? A verdict per check, each with a reason and a hint, and an exit code.
//!
//! This module owns the verdict types ([`Status`], [`Verdict`]), the check names ([`Check`], stable: scripts pass
//! them to `--only` / `--skip`) and the runner ([`run`]), which runs the chosen checks one after another, each bounded
//! by its own time budget and all of them by one deadline. Each group of checks lives in its own file as small async
//! functions around pure verdict functions (unit-tested without I/O); `report` renders the table and the JSON.
//!
//! Nothing here parses the command line or prints: `app::selftest` is the process edge. A check never panics on what
//! it finds; whatever goes wrong becomes a FAIL with a hint. The LED check is the only one that changes anything
//! (it lights each channel), and it always restores what the lamp showed before.

mod broker;
mod disk;
mod host;
mod led;
pub mod report;
mod service;
mod web;

use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{ConfigError, Settings};
use crate::identity::{self, Identity};

/// The MQTT client id (and `client` field) of the self-test, distinct from every LAMPI client.
pub const CLIENT_ID: &str = "lamp_selftest";

/// A check's outcome, ordered by severity (the worst of several parts is the maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Pass,
    Skip,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Skip => "SKIP",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one check found: a status, what was seen (`detail`), what to do about it (`hint`), and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    pub detail: String,
    pub hint: Option<String>,
    pub duration: Duration,
}

impl Verdict {
    fn new(status: Status, detail: impl Into<String>, hint: Option<String>) -> Verdict {
        Verdict { status, detail: detail.into(), hint, duration: Duration::ZERO }
    }
    pub fn pass(detail: impl Into<String>) -> Verdict {
        Verdict::new(Status::Pass, detail, None)
    }
    pub fn warn(detail: impl Into<String>, hint: impl Into<String>) -> Verdict {
        Verdict::new(Status::Warn, detail, Some(hint.into()))
    }
    pub fn fail(detail: impl Into<String>, hint: impl Into<String>) -> Verdict {
        Verdict::new(Status::Fail, detail, Some(hint.into()))
    }
    pub fn skip(detail: impl Into<String>, hint: impl Into<String>) -> Verdict {
        Verdict::new(Status::Skip, detail, Some(hint.into()))
    }

    /// One verdict from several parts of a check: the worst status, every detail, the hints of the parts that need
    /// one. Empty parts give a PASS with no detail.
    pub fn combine(parts: Vec<Verdict>) -> Verdict {
        let status = parts.iter().map(|v| v.status).max().unwrap_or(Status::Pass);
        let detail = parts.iter().map(|v| v.detail.as_str()).filter(|d| !d.is_empty()).collect::<Vec<_>>().join("; ");
        let hints: Vec<&str> = parts.iter().filter_map(|v| v.hint.as_deref()).collect();
        Verdict::new(status, detail, (!hints.is_empty()).then(|| hints.join("; ")))
    }
}

/// The checks, in the order they run and are shown. Their names are stable (scripts use them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    Config,
    Identity,
    Led,
    Service,
    Broker,
    Web,
    Clock,
    Disk,
}

impl Check {
    pub const ALL: [Check; 8] = [
        Check::Config,
        Check::Identity,
        Check::Led,
        Check::Service,
        Check::Broker,
        Check::Web,
        Check::Clock,
        Check::Disk,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Check::Config => "config",
            Check::Identity => "identity",
            Check::Led => "led",
            Check::Service => "service",
            Check::Broker => "broker",
            Check::Web => "web",
            Check::Clock => "clock",
            Check::Disk => "disk",
        }
    }

    /// Parses a check name (for `--only` / `--skip`); the error lists the valid names.
    pub fn parse(s: &str) -> Result<Check, String> {
        let s = s.trim();
        Check::ALL.into_iter().find(|c| c.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Check::ALL.iter().map(|c| c.name()).collect();
            format!("unknown check {s:?}: expected one of {}", names.join(", "))
        })
    }

    /// How long this check may take with a per-step timeout `t`. The LED check has three steps under their own
    /// timeouts (find the lamp service, light four colours for `dwell` each, restore the prior state), so it gets
    /// more: a failed step must still leave time to restore.
    fn budget(self, t: Duration, dwell: Duration) -> Duration {
        match self {
            Check::Led => 3 * t + 5 * dwell,
            _ => t,
        }
    }

    /// What to do when this check ran out of time.
    fn timeout_hint(self, s: &Settings) -> String {
        let broker = format!("{}:{}", s.mqtt.host, s.mqtt.port);
        match self {
            Check::Broker => {
                format!("is the broker at {broker} reachable (firewall, mqtt.host, mqtt.port)? `systemctl status mosquitto`")
            }
            Check::Service => format!(
                "is the broker at {broker} reachable, and the lamp service alive? `systemctl status mosquitto \
                 lampi-agent`"
            ),
            Check::Led => "the lamp service did not answer in time: `journalctl -u lampi-agent`".into(),
            Check::Web => format!("is {} up and reachable from this lamp? check web.url", s.web.url),
            Check::Clock => "`timedatectl` hangs: `systemctl status systemd-timedated`".into(),
            Check::Disk => format!("the disk under {} is very slow or hung: check `dmesg`", s.state.dir.display()),
            Check::Config | Check::Identity => "raise selftest.timeout (or --timeout)".into(),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The checks to run: all, or `only` if given, less `skip`; always in [`Check::ALL`] order.
pub fn select(only: &[Check], skip: &[Check]) -> Vec<Check> {
    Check::ALL.into_iter().filter(|c| (only.is_empty() || only.contains(c)) && !skip.contains(c)).collect()
}

/// A self-test as asked for, before the config is read: which checks (see [`select`]), an optional per-check
/// timeout (else `selftest.timeout`), and whether to print JSON instead of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub checks: Vec<Check>,
    pub timeout: Option<Duration>,
    pub json: bool,
}

/// How a run is set up (from the command line and config).
#[derive(Debug, Clone)]
pub struct Options {
    pub checks: Vec<Check>,
    /// Per-check timeout (`--timeout`, else `selftest.timeout`).
    pub timeout: Duration,
    /// The config file in use (`--config`), to recognise a daemon running on the same one.
    pub config_path: Option<PathBuf>,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub check: Check,
    pub verdict: Verdict,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    pub device_id: Option<String>,
    pub outcomes: Vec<Outcome>,
    pub duration: Duration,
}

impl Report {
    /// Nothing failed (warnings and skips allowed).
    pub fn ok(&self) -> bool {
        self.outcomes.iter().all(|o| o.verdict.status != Status::Fail)
    }

    pub fn count(&self, status: Status) -> usize {
        self.outcomes.iter().filter(|o| o.verdict.status == status).count()
    }

    pub fn get(&self, check: Check) -> Option<&Verdict> {
        self.outcomes.iter().find(|o| o.check == check).map(|o| &o.verdict)
    }
}

/// What the checks share: the settings, the lamp's identity, the per-step timeout, and what the running check is
/// waiting for (so a timeout can say so).
pub(crate) struct Ctx<'a> {
    pub settings: &'a Settings,
    pub identity: Identity,
    pub timeout: Duration,
    pub config_path: Option<PathBuf>,
    stage: Mutex<String>,
}

impl Ctx<'_> {
    /// Notes what the check is waiting for now ("waiting for CONNACK from ...").
    pub fn stage(&self, what: impl Into<String>) {
        *self.stage.lock().expect("stage lock") = what.into();
    }

    /// How long the LED shows each test colour: long enough to see, plus the configured fade.
    pub fn dwell(&self) -> Duration {
        led::DWELL + self.settings.led.transition
    }
}

/// The upper bound of a run with these options: every selected check's budget.
pub fn bound(settings: &Settings, opts: &Options) -> Duration {
    let dwell = led::DWELL + settings.led.transition;
    opts.checks.iter().map(|c| c.budget(opts.timeout, dwell) + GRACE).sum()
}

/// Slack on top of a check's budget before the runner gives up on it (the check's own timeouts fire first).
const GRACE: Duration = Duration::from_millis(250);

/// Runs the selected checks on valid settings.
pub async fn run(settings: &Settings, opts: &Options) -> Report {
    let started = Instant::now();
    let run_deadline = started + bound(settings, opts);
    let ctx = Ctx {
        settings,
        identity: identity::resolve(settings),
        timeout: opts.timeout,
        config_path: opts.config_path.clone(),
        stage: Mutex::new(String::new()),
    };
    let mut outcomes = Vec::with_capacity(opts.checks.len());
    for &check in &opts.checks {
        ctx.stage("");
        let t0 = Instant::now();
        let budget = check.budget(ctx.timeout, ctx.dwell());
        let deadline = (t0 + budget + GRACE).min(run_deadline);
        let mut verdict = match tokio::time::timeout_at(deadline, run_one(check, &ctx)).await {
            Ok(v) => v,
            Err(_) => {
                let stage = ctx.stage.lock().expect("stage lock").clone();
                let waiting = if stage.is_empty() { String::new() } else { format!(" {stage}") };
                Verdict::fail(
                    format!("timed out after {}{waiting}", humantime::format_duration(budget)),
                    check.timeout_hint(settings),
                )
            }
        };
        verdict.duration = t0.elapsed();
        tracing::debug!(%check, status = %verdict.status, detail = %verdict.detail, "self-test check done");
        outcomes.push(Outcome { check, verdict });
    }
    Report { device_id: Some(ctx.identity.device_id.clone()), outcomes, duration: started.elapsed() }
}

async fn run_one(check: Check, ctx: &Ctx<'_>) -> Verdict {
    match check {
        Check::Config => host::config(ctx.settings),
        Check::Identity => host::identity(&ctx.identity, &ctx.settings.device.interface),
        Check::Led => led::check(ctx).await,
        Check::Service => service::check(ctx).await,
        Check::Broker => broker::check(ctx).await,
        Check::Web => web::check(ctx).await,
        Check::Clock => host::clock(ctx).await,
        Check::Disk => disk::check(ctx).await,
    }
}

/// The report of a run that could not start because the config is invalid: one FAIL naming every problem.
pub fn config_failed(err: &ConfigError, config_path: Option<&std::path::Path>) -> Report {
    let detail = match err {
        ConfigError::Read { .. } => err.to_string(),
        ConfigError::Invalid { origin, problems } => format!(
            "{origin}: {} problem(s): {}",
            problems.len(),
            problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
        ),
    };
    let file = config_path.map_or_else(|| crate::config::DEFAULT_PATH.to_string(), |p| p.display().to_string());
    let verdict = Verdict::fail(
        detail,
        format!("fix each key listed (`lampi-agent config check {file}`); `lampi-agent config default` prints the documented file"),
    );
    Report { device_id: None, outcomes: vec![Outcome { check: Check::Config, verdict }], duration: Duration::ZERO }
}

/// Milliseconds with one decimal, for details ("0.4 ms", "12.0 ms").
pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_names_list_the_valid_ones() {
        for c in Check::ALL {
            assert_eq!(Check::parse(c.name()), Ok(c));
        }
        let err = Check::parse("leds").unwrap_err();
        assert_eq!(
            err,
            "unknown check \"leds\": expected one of config, identity, led, service, broker, web, clock, disk"
        );
    }

    #[test]
    fn only_and_skip_select_in_the_fixed_order() {
        assert_eq!(select(&[], &[]), Check::ALL.to_vec());
        assert_eq!(select(&[Check::Disk, Check::Broker], &[]), vec![Check::Broker, Check::Disk]);
        assert_eq!(select(&[], &[Check::Led, Check::Web]).len(), 6);
        assert_eq!(select(&[Check::Web], &[Check::Web]), vec![]);
    }

    #[test]
    fn combine_keeps_the_worst_status_and_every_hint() {
        let v = Verdict::combine(vec![
            Verdict::pass("a"),
            Verdict::warn("b", "fix b"),
            Verdict::skip("c", "about c"),
            Verdict::pass(""),
        ]);
        assert_eq!(v.status, Status::Warn);
        assert_eq!(v.detail, "a; b; c");
        assert_eq!(v.hint.as_deref(), Some("fix b; about c"));
        assert_eq!(Verdict::combine(vec![Verdict::warn("x", "y"), Verdict::fail("z", "w")]).status, Status::Fail);
        assert_eq!(Verdict::combine(vec![]).status, Status::Pass);
    }

    #[test]
    fn a_report_is_ok_unless_something_failed() {
        let out = |check, status| Outcome { check, verdict: Verdict::new(status, "", None) };
        let mut r = Report {
            device_id: None,
            outcomes: vec![
                out(Check::Config, Status::Pass),
                out(Check::Clock, Status::Warn),
                out(Check::Web, Status::Skip),
            ],
            duration: Duration::ZERO,
        };
        assert!(r.ok());
        r.outcomes.push(out(Check::Disk, Status::Fail));
        assert!(!r.ok());
        assert_eq!(r.count(Status::Warn), 1);
    }

    #[test]
    fn the_led_check_gets_time_to_show_its_colours_and_restore() {
        let t = Duration::from_secs(5);
        assert_eq!(Check::Broker.budget(t, led::DWELL), t);
        assert_eq!(Check::Led.budget(t, Duration::from_millis(300)), Duration::from_millis(16_500));
    }

    #[test]
    fn a_bad_config_report_names_every_problem() {
        let env = |_: &str| None;
        let err = Settings::from_toml("[mqtt]\nport = 0\n[led]\ngamma = 9\n", "bad.toml", &env).unwrap_err();
        let r = config_failed(&err, Some(std::path::Path::new("bad.toml")));
        assert!(!r.ok());
        let v = r.get(Check::Config).unwrap();
        assert!(v.detail.starts_with("bad.toml: 2 problem(s): mqtt.port = 0"), "{}", v.detail);
        assert!(v.detail.contains("led.gamma = 9"), "{}", v.detail);
        assert!(v.hint.as_deref().unwrap().contains("lampi-agent config check bad.toml"));
    }
}
