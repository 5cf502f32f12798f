//! Outage windows, found from per-interval counts: when the broker or the web site stopped answering, when it answered
//! again, and when the fleet was whole again (the time to recover).
//!
//! Pure: a [`Detector`] is fed one [`Health`] per closed interval (taken from the interval's latency report and its
//! `connections.csv` row) and keeps the windows. Its resolution is the interval: times are interval boundaries.
//!
//! - **broker**: an outage opens with the first interval in which a connection was lost, a connect failed, or an MQTT
//!   operation failed for want of a connection (`broker unreachable`, `connection lost`, ...); it starts at that
//!   interval's start. It was *answered* at the end of the first later interval with a CONNACK or a round trip that
//!   came back, and is *recovered* at the end of the first interval in which at least 99 % of the lamps connected
//!   before the outage are up again and at least 99 % of round trips succeed.
//! - **site**: opens with the first interval in which an HTTP request could not reach the site (refused, reset, connect
//!   error), or in which every request timed out; answered with the first later successful response; recovered at
//!   the end of the first interval in which at least 99 % of requests succeed.
//!
//! `time_to_recover_s` is `recovered - start`, the window's length (as MTTR counts it); `recovered - answered`, how long
//! the fleet needed once the service was back (the cost of the reconnect storm), is in summary.txt's line. Slow
//! answers alone (timeouts while other requests succeed) are overload, not an outage, and open nothing.

use std::time::Duration;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::connections::Row;
use super::IntervalReport;

/// Failure names that mean "could not reach the service" (MQTT and HTTP use the same short names). An HTTP
/// request cut off mid-answer (`error`) is not among them: a keep-alive connection closed by the server as it was
/// reused looks the same, and a site that is really gone refuses the next connection anyway.
const UNREACHABLE: [&str; 5] =
    ["broker unreachable", "connection lost", "connection refused", "connection error", "connect error"];
const TIMEOUT: &str = "timeout";

/// What a service did in one interval: attempts that succeeded, failed, failed for want of a connection, timed out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub ok: u64,
    pub failed: u64,
    pub unreachable: u64,
    pub timeouts: u64,
}

impl Tally {
    fn add(&mut self, count: u64, failures: u64, errors: impl Iterator<Item = (String, u64)>) {
        self.ok += count - failures.min(count);
        self.failed += failures;
        for (name, n) in errors {
            if UNREACHABLE.contains(&name.as_str()) {
                self.unreachable += n;
            } else if name == TIMEOUT {
                self.timeouts += n;
            }
        }
    }

    /// At least 99 % of the attempts succeeded (true when there were none).
    fn healthy(&self) -> bool {
        self.ok * 100 >= (self.ok + self.failed) * 99
    }

    /// The service was not there: something could not reach it, or nothing got through and something timed out.
    fn broken(&self) -> bool {
        self.unreachable > 0 || (self.ok == 0 && self.timeouts > 0)
    }
}

/// One closed interval, as outage detection sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub end: OffsetDateTime,
    pub length: Duration,
    pub connections: Row,
    /// Round trips (`MQTT roundtrip`).
    pub roundtrips: Tally,
    /// Every other MQTT operation but `connect` (its failures are in `connections`).
    pub mqtt: Tally,
    /// Every HTTP request.
    pub http: Tally,
}

impl Health {
    /// Sorts an interval report's operations into round trips, other MQTT and HTTP.
    pub fn from_report(report: &IntervalReport, connections: Row) -> Health {
        let (mut roundtrips, mut mqtt, mut http) = (Tally::default(), Tally::default(), Tally::default());
        for (op, s) in &report.ops {
            let errors = s.errors.iter().map(|(name, f)| (name.clone(), f.occurrences));
            match (op.kind.as_str(), op.name.as_str()) {
                ("MQTT", "roundtrip") => roundtrips.add(s.count, s.failures, errors),
                ("MQTT", "connect") => {}
                ("MQTT", _) => mqtt.add(s.count, s.failures, errors),
                _ => http.add(s.count, s.failures, errors),
            }
        }
        Health { end: report.end(), length: report.length, connections, roundtrips, mqtt, http }
    }

    fn start(&self) -> OffsetDateTime {
        self.end - self.length
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Broker,
    Site,
}

/// One outage window. `answered`/`recovered` are `None` while (or if the run ended while) it was still open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub kind: Kind,
    pub start: OffsetDateTime,
    pub answered: Option<OffsetDateTime>,
    pub recovered: Option<OffsetDateTime>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default()
}

impl Outage {
    /// From the start of the window to the recovery.
    pub fn time_to_recover(&self) -> Option<Duration> {
        Some((self.recovered? - self.start).try_into().unwrap_or_default())
    }

    /// From the service answering again to the recovery: how long the fleet took to come back.
    pub fn comeback(&self) -> Option<Duration> {
        Some((self.recovered? - self.answered?).try_into().unwrap_or_default())
    }

    /// `{"kind", "start", "answered", "recovered", "time_to_recover_s"}` as summary.json holds it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind,
            "start": rfc3339(self.start),
            "answered": self.answered.map(rfc3339),
            "recovered": self.recovered.map(rfc3339),
            "time_to_recover_s": self.time_to_recover().map(|d| d.as_secs_f64()),
        })
    }

    /// One line for summary.txt.
    pub fn line(&self) -> String {
        let what = match self.kind {
            Kind::Broker => "broker",
            Kind::Site => "web site",
        };
        let mut s = format!("outage ({what}): from {}", rfc3339(self.start));
        match self.answered {
            Some(a) => s += &format!(", answered again at {}", rfc3339(a)),
            None => s += ", never answered again before the run ended",
        }
        match (self.recovered, self.time_to_recover(), self.comeback()) {
            (Some(r), Some(ttr), Some(back)) => {
                s += &format!(
                    ", recovered at {} ({:.1} s after it answered; time to recover {:.1} s)",
                    rfc3339(r),
                    back.as_secs_f64(),
                    ttr.as_secs_f64()
                )
            }
            _ if self.answered.is_some() => s += ", not recovered before the run ended",
            _ => {}
        }
        s
    }
}

/// One service's open window and the closed ones.
#[derive(Debug, Default)]
struct Track {
    open: Option<Outage>,
    /// The opening interval's end: `answered` is looked for after it.
    opened_at: Option<OffsetDateTime>,
    closed: Vec<Outage>,
}

impl Track {
    fn feed(&mut self, kind: Kind, h: &Health, broken: bool, answered: bool, recovered: bool) {
        let Some(o) = self.open.as_mut() else {
            if broken {
                self.open = Some(Outage { kind, start: h.start(), answered: None, recovered: None });
                self.opened_at = Some(h.end);
            }
            return;
        };
        if o.answered.is_none() && answered && self.opened_at.is_some_and(|t| h.end > t) {
            o.answered = Some(h.end);
        }
        if recovered && self.opened_at.is_some_and(|t| h.end > t) && !broken_alone(broken, answered) {
            let mut o = self.open.take().expect("open");
            o.answered.get_or_insert(h.end);
            o.recovered = Some(h.end);
            self.closed.push(o);
        }
    }
}

/// An interval that is still broken and where nothing got through cannot be the recovery.
fn broken_alone(broken: bool, answered: bool) -> bool {
    broken && !answered
}

/// Finds outage windows interval by interval.
#[derive(Debug, Default)]
pub struct Detector {
    broker: Track,
    site: Track,
    /// The most lamps up at once so far while the broker had no open outage: what "99 % back" is measured against.
    baseline: u64,
}

impl Detector {
    pub fn new() -> Detector {
        Detector::default()
    }

    /// Takes one closed interval.
    pub fn feed(&mut self, h: &Health) {
        let c = &h.connections;
        let broker_broken = c.lost > 0 || c.refused > 0 || h.roundtrips.broken() || h.mqtt.broken();
        let answered = c.connack_us.is_some() || h.roundtrips.ok > 0 || h.mqtt.ok > 0;
        let lamps_back = c.lamps_up * 100 >= self.baseline * 99;
        let recovered = lamps_back && h.roundtrips.healthy() && h.mqtt.healthy();
        self.broker.feed(Kind::Broker, h, broker_broken, answered, recovered);
        if self.broker.open.is_none() {
            self.baseline = self.baseline.max(c.lamps_up);
        }
        let site_recovered = h.http.ok > 0 && h.http.healthy();
        self.site.feed(Kind::Site, h, h.http.broken(), h.http.ok > 0, site_recovered);
    }

    /// Every window so far, closed and open, in order of start.
    pub fn outages(&self) -> Vec<Outage> {
        let mut all: Vec<Outage> =
            [&self.broker, &self.site].iter().flat_map(|t| t.closed.iter().chain(t.open.iter())).cloned().collect();
        all.sort_by_key(|o| o.start);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: OffsetDateTime = time::macros::datetime!(2026-11-27 14:48:38 UTC);

    /// Interval `i` (1 s each, ending at T0 + i s) with `lamps` up, round trips (ok, failed as unreachable), and
    /// refused connects / CONNACKs.
    fn broker(i: i64, lamps: u64, rt: (u64, u64), refused: u64, connacks: bool) -> Health {
        Health {
            end: T0 + time::Duration::seconds(i),
            length: Duration::from_secs(1),
            connections: Row {
                lamps_up: lamps,
                refused,
                lost: 0,
                connack_us: connacks.then_some((1000, 2000)),
                ..Row::default()
            },
            roundtrips: Tally { ok: rt.0, failed: rt.1, unreachable: rt.1, timeouts: 0 },
            mqtt: Tally::default(),
            http: Tally::default(),
        }
    }

    fn at(i: i64) -> Option<OffsetDateTime> {
        Some(T0 + time::Duration::seconds(i))
    }

    #[test]
    fn a_broker_restart_is_one_window_with_answer_and_recovery() {
        let mut d = Detector::new();
        for i in 1..=5 {
            d.feed(&broker(i, 200, (100, 0), 0, i == 1));
        }
        let mut lost = broker(6, 0, (10, 90), 0, false);
        lost.connections.lost = 200;
        d.feed(&lost);
        for i in 7..=9 {
            d.feed(&broker(i, 0, (0, 100), 150, false)); // refused while down
        }
        d.feed(&broker(10, 120, (30, 70), 40, true)); // the broker answers: lamps coming back
        d.feed(&broker(11, 197, (99, 1), 0, true)); // 98.5 %: not yet
        d.feed(&broker(12, 199, (100, 0), 0, true)); // 99.5 % of 200, every round trip ok
        d.feed(&broker(13, 200, (100, 0), 0, false));
        let o = d.outages();
        assert_eq!(o.len(), 1, "{o:?}");
        assert_eq!(o[0].kind, Kind::Broker);
        assert_eq!(Some(o[0].start), at(5), "the first failing interval's start");
        assert_eq!(o[0].answered, at(10));
        assert_eq!(o[0].recovered, at(12));
        assert_eq!(o[0].time_to_recover(), Some(Duration::from_secs(7)), "from the start to the recovery");
        assert_eq!(o[0].comeback(), Some(Duration::from_secs(2)), "from the answer to the recovery");
        let j = o[0].json();
        assert_eq!(j["start"], "2026-11-27T14:48:43Z");
        assert_eq!(j["time_to_recover_s"], 7.0);
        let line = o[0].line();
        assert!(
            line.contains("recovered at 2026-11-27T14:48:50Z (2.0 s after it answered; time to recover 7.0 s)"),
            "{line}"
        );
    }

    #[test]
    fn round_trips_must_succeed_again_not_just_the_connections() {
        let mut d = Detector::new();
        d.feed(&broker(1, 50, (10, 0), 0, true));
        let mut lost = broker(2, 0, (0, 10), 0, false);
        lost.connections.lost = 50;
        d.feed(&lost);
        // Every lamp is back, but round trips still fail (say, nobody resubscribed): not recovered.
        for i in 3..=6 {
            d.feed(&broker(i, 50, (0, 10), 0, true));
        }
        let o = d.outages();
        assert_eq!((o.len(), o[0].answered, o[0].recovered), (1, at(3), None));
        assert!(o[0].json()["recovered"].is_null() && o[0].json()["time_to_recover_s"].is_null());
        assert!(o[0].line().contains("not recovered before the run ended"), "{}", o[0].line());
    }

    #[test]
    fn slow_answers_and_a_clean_run_open_nothing() {
        let mut d = Detector::new();
        for i in 1..=4 {
            let mut h = broker(i, 10, (9, 1), 0, i == 1);
            h.roundtrips.unreachable = 0;
            h.roundtrips.timeouts = 1; // a slow lamp, while others answer
            h.http = Tally { ok: 20, failed: 1, unreachable: 0, timeouts: 1 };
            d.feed(&h);
        }
        assert!(d.outages().is_empty(), "{:?}", d.outages());
    }

    #[test]
    fn a_site_outage_opens_on_refusals_and_closes_when_requests_succeed() {
        let mut d = Detector::new();
        let site = |i: i64, http: Tally| Health { http, ..broker(i, 0, (0, 0), 0, false) };
        d.feed(&site(1, Tally { ok: 10, ..Tally::default() }));
        d.feed(&site(2, Tally { ok: 3, failed: 5, unreachable: 5, timeouts: 0 }));
        d.feed(&site(3, Tally { ok: 0, failed: 8, unreachable: 8, timeouts: 0 }));
        d.feed(&site(4, Tally { ok: 4, failed: 2, unreachable: 2, timeouts: 0 })); // answered, not healthy
        d.feed(&site(5, Tally { ok: 10, ..Tally::default() }));
        d.feed(&site(6, Tally { ok: 0, failed: 3, unreachable: 0, timeouts: 3 })); // all timed out: down again
        let o = d.outages();
        assert_eq!(o.len(), 2, "{o:?}");
        assert_eq!((o[0].kind, Some(o[0].start), o[0].answered, o[0].recovered), (Kind::Site, at(1), at(4), at(5)));
        assert_eq!((Some(o[1].start), o[1].answered), (at(5), None));
        assert!(o[1].line().contains("never answered again"), "{}", o[1].line());
    }
}
