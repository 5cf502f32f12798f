//! Running as a worker of a Locust 2.x master (`loadtest --locust-master HOST[:PORT]`): the operator drives the
//! fleet from Locust's web UI or headless CLI, and our requests show there live, next to any Python users.
//!
//! - `wire`: the messages, to and from msgpack frames (pure).
//! - `stats`: Locust's statistics entries from our samples, with Locust's bucket rule and error keys (pure).
//! - `worker`: the session's state machine: messages and ticks in, messages and runner actions out (pure).
//! - `session`: the shell: a ZeroMQ DEALER (the pure-Rust `zeromq` crate) with this worker's identity, rebuilt on a
//!   dead link or the master's `reconnect`, driving the state machine and reporting what [`Tap`] collects.
//!
//! Users in Locust are virtual lamps: the master's target (the sum of its user classes' counts, whatever their
//! names) is how many of this worker's lamps run the profile's schedule, up to `--devices`. This module does not
//! run load; the load test gives it a [`Tap`] of its samples, a channel for the number of lamps to run and one for
//! the web site, which follows the master's `--host` unless the worker was given `--site`.

pub mod session;
pub mod stats;
pub mod wire;
pub mod worker;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

pub use session::{start, Session};

/// Locust's default `--master-bind-port`.
pub const DEFAULT_PORT: u16 = 5557;

/// `--locust-master HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    pub host: String,
    pub port: u16,
}

impl std::str::FromStr for Master {
    type Err = String;

    fn from_str(s: &str) -> Result<Master, String> {
        let bad = || format!("{s:?}: expected HOST or HOST:PORT of a Locust master, e.g. locust.example.com:5557");
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.parse::<u16>().map_err(|_| bad())?),
            _ => (s, DEFAULT_PORT),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 || host.contains(['/', ' ']) {
            return Err(bad());
        }
        Ok(Master { host: host.to_string(), port })
    }
}

impl std::fmt::Display for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How this worker joins its master.
#[derive(Debug, Clone)]
pub struct Options {
    pub master: Master,
    /// Without a word from the master this long, the load stops (`--locust-silence`, 60 s by default).
    pub silence: Duration,
    /// The most lamps this worker runs (`--devices`).
    pub capacity: u32,
    /// Whether the master's `--host` points the web sessions (true unless `--site` was given).
    pub follow_host: bool,
}

/// Where the load test's samples reach the Locust reports: the same samples its recorder takes, as they are taken.
#[derive(Clone)]
pub struct Tap {
    tally: Arc<Mutex<stats::Tally>>,
    anchor: Instant,
    anchor_unix: f64,
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl Tap {
    /// A tap whose instants are read against `anchor`, which happened at wall-clock time `anchor_wall`.
    pub fn new(anchor: Instant, anchor_wall: SystemTime) -> Tap {
        let anchor_unix = unix(anchor_wall);
        Tap { tally: Arc::new(Mutex::new(stats::Tally::new(anchor_unix))), anchor, anchor_unix }
    }

    fn unix(&self, t: Instant) -> f64 {
        self.anchor_unix + t.saturating_duration_since(self.anchor).as_secs_f64()
    }

    /// One finished operation. Its Locust response time is measured from the intended start, as every latency of
    /// ours (the `_stats.csv` we write ourselves reads the same).
    pub fn record(&self, method: &str, name: &str, intended: Instant, finished: Instant, outcome: Result<u64, &str>) {
        let r = stats::Request {
            method,
            name,
            response_ms: finished.saturating_duration_since(intended).as_secs_f64() * 1000.0,
            content_length: *outcome.as_ref().unwrap_or(&0),
            at: self.unix(finished),
            error: outcome.err(),
        };
        self.tally.lock().unwrap_or_else(|p| p.into_inner()).record(&r);
    }

    /// What was recorded since the last report; the next interval starts now.
    fn take(&self) -> stats::Report {
        let now = self.unix(Instant::now());
        self.tally.lock().unwrap_or_else(|p| p.into_inner()).take(now)
    }
}

/// This worker's node id (and ZeroMQ identity): Locust's own form, `hostname_` and 32 random hex digits.
pub fn node_id() -> String {
    let host = sysinfo::System::host_name().unwrap_or_else(|_| "lampi".into());
    format!("{host}_{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_addresses_take_an_optional_port() {
        let m = |s: &str| s.parse::<Master>();
        assert_eq!(m("locust.example.com"), Ok(Master { host: "locust.example.com".into(), port: 5557 }));
        assert_eq!(m("10.0.0.2:6000"), Ok(Master { host: "10.0.0.2".into(), port: 6000 }));
        assert_eq!(m("[::1]:6000"), Ok(Master { host: "::1".into(), port: 6000 }));
        assert_eq!(m("::1").unwrap().port, 5557);
        assert_eq!(m("[::1]:6000").unwrap().to_string(), "[::1]:6000");
        for bad in ["", ":5557", "host:0", "host:http", "host:70000", "http://host"] {
            assert!(m(bad).unwrap_err().contains("Locust master"), "{bad:?}");
        }
    }

    #[test]
    fn node_ids_are_unique_and_locust_shaped() {
        let (a, b) = (node_id(), node_id());
        assert_ne!(a, b);
        let (_, hex) = a.rsplit_once('_').unwrap();
        assert_eq!(hex.len(), 32);
    }

    #[tokio::test(start_paused = true)]
    async fn the_tap_reports_latency_from_the_intended_start_at_wall_clock_seconds() {
        let t0 = Instant::now();
        let tap = Tap::new(t0, UNIX_EPOCH + Duration::from_secs(1_000));
        tap.record("GET", "/", t0, t0 + Duration::from_millis(1500), Ok(10));
        tap.record("MQTT", "roundtrip", t0 + Duration::from_secs(1), t0 + Duration::from_millis(2500), Err("timeout"));
        tokio::time::advance(Duration::from_secs(3)).await;
        let r = tap.take();
        assert_eq!((r.total.num_requests, r.total.num_failures, r.total.total_content_length), (2, 1, 10));
        assert_eq!(r.total.num_reqs_per_sec, std::collections::BTreeMap::from([(1001, 1), (1002, 1)]));
        assert_eq!(r.total.response_times, std::collections::BTreeMap::from([(1500, 2)]));
        assert_eq!(tap.take().total.start_time, 1003.0);
    }
}
