//! What a load run is asked to do, before the profile and the config are read.
//!
//! The command line fills a [`Request`] with already-parsed values (durations, a broker address, a site URL: clap's
//! value parsers check those, so a bad flag is a usage error that names it). [`Request::resolve`] then reads the
//! profile, applies the overrides to the settings and checks the schedule's parameters, giving the validated
//! [`Options`] a run takes. Nothing here knows about clap.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::config::{ConfigError, Settings};
use crate::profile::Profile;
use crate::schedule::{self, ParamsError};
use crate::slo::{Slo, SloError};

use super::{default_out, Options, ReplaySource};
use crate::capacity::{Plan, Step};

/// Who answers the virtual lamps' `set_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responder {
    /// A responder inside the run, behaving as `lampi-agent run` does.
    Internal,
    /// Real lamps running `lampi-agent run`.
    External,
}

/// A broker address from `--broker HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
}

impl std::str::FromStr for Broker {
    type Err = String;

    fn from_str(s: &str) -> Result<Broker, String> {
        match s.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
            Some((h, Ok(port))) if !h.is_empty() && port != 0 => Ok(Broker { host: h.to_string(), port }),
            _ => Err(format!("{s:?}: expected HOST:PORT, e.g. broker.example.com:1883")),
        }
    }
}

/// `--site URL`: an http:// or https:// URL.
pub fn parse_site(s: &str) -> Result<reqwest::Url, String> {
    match reqwest::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(u),
        _ => Err(format!("{s:?}: expected an http:// or https:// URL, e.g. http://lampi.example.com/")),
    }
}

/// A load run as asked for; see [`Request::resolve`].
#[derive(Debug, Clone)]
pub struct Request {
    pub profile: String,
    pub devices: u32,
    pub first_lamp: Option<u32>,
    pub duration: Duration,
    pub seed: Option<u64>,
    pub rate: f64,
    pub speed: f64,
    pub ramp_up: Duration,
    pub start_hour: Option<f64>,
    pub start_at: Option<SystemTime>,
    pub dry_run: bool,
    pub replay: Option<ReplaySource>,
    pub schedule_csv: Option<PathBuf>,
    pub preflight: bool,
    /// `None`: external for this lamp (`--devices 1`), internal for a simulated fleet.
    pub responder: Option<Responder>,
    pub out: Option<PathBuf>,
    pub interval: Duration,
    pub timeout: Duration,
    /// On SIGINT/SIGTERM, how long operations in flight get to complete (bounded by `timeout` when resolved).
    pub stop_grace: Duration,
    /// Reconnect backoff of every virtual connection: the first delay and the cap.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub broker_sys: bool,
    pub broker: Option<Broker>,
    pub site: Option<reqwest::Url>,
    pub topic_prefix: String,
    pub user_pattern: String,
    /// `--slo` (the profile's and `--slo-file`'s come first).
    pub slos: Vec<Slo>,
    pub slo_file: Option<PathBuf>,
    /// `--find-limit` and its step flags.
    pub find_limit: Option<LimitFlags>,
    /// `--locust-master`: join this master as a worker, with up to `devices` lamps.
    pub locust_master: Option<crate::locust::Master>,
    pub locust_silence: Duration,
}

/// `--find-limit`'s flags, checked when the request is resolved.
#[derive(Debug, Clone)]
pub struct LimitFlags {
    pub step_rate: Option<f64>,
    pub step_devices: Option<u32>,
    pub step_duration: Duration,
    pub settle: Duration,
    pub max_steps: u32,
}

/// Why a request cannot run: a bad profile (exit 78, like a bad config) or parameters the schedule refuses (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("profile error in {0}")]
    Profile(#[from] ConfigError),
    #[error(transparent)]
    Params(#[from] ParamsError),
    #[error("--slo-file {}: {source}", path.display())]
    SloFile { path: PathBuf, source: std::io::Error },
    #[error("--slo-file {}:{line}: {source}", path.display())]
    SloLine { path: PathBuf, line: usize, source: SloError },
    #[error("--find-limit: {0}")]
    Limit(String),
}

impl Request {
    /// Reads the profile, applies `--broker`/`--site` to `settings`, checks the schedule's parameters.
    /// `now` names the default run folder.
    pub fn resolve(self, settings: &mut Settings, now: time::OffsetDateTime) -> Result<Options, RequestError> {
        let site_given = self.site.is_some();
        if let Some(b) = self.broker {
            (settings.mqtt.host, settings.mqtt.port) = (b.host, b.port);
        }
        if let Some(site) = self.site {
            settings.web.url = site;
        }
        let profile = Profile::find(&self.profile)?;
        let seed = self.seed.unwrap_or_else(rand::random);
        let mut params = schedule::Params::for_profile(&profile, self.devices, self.duration, seed);
        params.rate = self.rate;
        params.speed = self.speed;
        params.ramp_up = self.ramp_up;
        if let Some(h) = self.start_hour {
            params.start_hour = h;
        }
        schedule::Schedule::new(&profile, &params)?;
        let mut slos = profile.slos.clone();
        if let Some(path) = &self.slo_file {
            let text =
                std::fs::read_to_string(path).map_err(|source| RequestError::SloFile { path: path.clone(), source })?;
            let more = crate::slo::parse_lines(&text).map_err(|(line, source)| RequestError::SloLine {
                path: path.clone(),
                line,
                source,
            })?;
            slos.extend(more);
        }
        slos.extend(self.slos);
        let limit = match self.find_limit {
            Some(flags) => Some(flags.plan(slos.is_empty(), self.replay.is_some() || self.dry_run)?),
            None => None,
        };
        let this_lamp = self.devices == 1 && self.first_lamp.is_none();
        Ok(Options {
            profile,
            params,
            first_lamp: self.first_lamp.unwrap_or(0),
            this_lamp,
            user_pattern: self.user_pattern,
            // This lamp's own daemon answers; a simulated fleet needs simulated lamps.
            internal_responder: self.responder.map_or(!this_lamp, |r| r == Responder::Internal),
            topic_prefix: self.topic_prefix,
            out: self.out.unwrap_or_else(|| default_out(now)),
            interval: self.interval.max(Duration::from_secs(1)),
            timeout: self.timeout,
            stop_grace: self.stop_grace,
            reconnect: (self.reconnect_min, self.reconnect_max.max(self.reconnect_min)),
            broker_sys: self.broker_sys,
            preflight: self.preflight,
            start_at: self.start_at,
            dry_run: self.dry_run,
            replay: self.replay,
            schedule_csv: self.schedule_csv,
            slos,
            limit,
            locust: self.locust_master.map(|master| crate::locust::Options {
                master,
                silence: self.locust_silence,
                capacity: self.devices,
                follow_host: !site_given,
            }),
        })
    }
}

impl LimitFlags {
    /// The search plan; it needs an SLO to judge the steps by and a profile's load to step.
    fn plan(self, no_slos: bool, not_a_profile_run: bool) -> Result<Plan, RequestError> {
        let refuse = |why: &str| Err(RequestError::Limit(why.to_string()));
        if no_slos {
            return refuse("needs at least one SLO (--slo, --slo-file or the profile's slo) to judge the steps by");
        }
        if not_a_profile_run {
            return refuse("steps a profile's load; it cannot be combined with --replay or --dry-run");
        }
        let step = match (self.step_devices, self.step_rate) {
            (Some(0), _) => return refuse("--step-devices 0: expected at least 1"),
            (Some(n), _) => Step::Devices(n),
            (None, Some(f)) if !(f > 1.0 && f.is_finite()) => {
                return refuse(&format!("--step-rate {f}: expected a factor above 1, e.g. 2"))
            }
            (None, f) => Step::Rate(f.unwrap_or(2.0)),
        };
        Ok(Plan { step, step_duration: self.step_duration, settle: self.settle, max_steps: self.max_steps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses_need_a_host_and_a_port() {
        let b: Broker = "broker.example.com:1883".parse().unwrap();
        assert_eq!((b.host.as_str(), b.port), ("broker.example.com", 1883));
        assert_eq!("[::1]:1884".parse::<Broker>().unwrap().host, "[::1]");
        for bad in ["broker", ":1883", "broker:", "broker:http", "broker:0", "broker:70000"] {
            let e = bad.parse::<Broker>().unwrap_err();
            assert!(e.contains(&format!("{bad:?}")) && e.contains("HOST:PORT"), "{e}");
        }
    }

    #[test]
    fn sites_are_http_urls() {
        assert_eq!(parse_site("https://lampi.example.com/").unwrap().host_str(), Some("lampi.example.com"));
        for bad in ["lampi.example.com", "ftp://x/", "http://", "mailto:a@b"] {
            assert!(parse_site(bad).unwrap_err().contains("http:// or https://"), "{bad}");
        }
    }
}
