//! `connections.csv`: the simulated fleet's MQTT connections per interval, in sysstat's `sadf -d` framing (the same
//! timestamp as `latency.csv`: the interval's end, `YYYY-MM-DD HH:MM:SS UTC`), so a reconnect storm after a broker
//! outage can be read next to the broker host's own `sadf -d` output.
//!
//! | column | meaning |
//! |---|---|
//! | `lamps_up` | virtual lamp (responder) connections up at the end of the interval |
//! | `owners_up` | owner (lamp page, app) connections up at the end of the interval |
//! | `connect_attempts` | CONNECTs tried in the interval (first connects and reconnects) |
//! | `connect_refused` | attempts that failed (refused, reset, timed out before the CONNACK) |
//! | `connack_p50_ms`, `connack_p99_ms` | time from the start of an attempt to its CONNACK, successful attempts only; empty when none |
//!
//! Pure: rows in, text out through any `io::Write`.

use std::io::{self, Write};

use super::ms;

/// The header line, pinned (agreed with the SLO and plot readers of the file).
pub const HEADER: &str = "# hostname;interval;timestamp;lamps_up;owners_up;connect_attempts;connect_refused;\
connack_p50_ms;connack_p99_ms";

/// The file's name in a run folder.
pub const FILE: &str = "connections.csv";

/// One interval of the fleet's connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub lamps_up: u64,
    pub owners_up: u64,
    pub attempts: u64,
    pub refused: u64,
    /// Connections that were up and dropped in the interval (not a column: outage detection uses it).
    pub lost: u64,
    /// Time to CONNACK of the successful attempts, in microseconds (p50, p99).
    pub connack_us: Option<(u64, u64)>,
}

/// Writes `connections.csv` incrementally: the header on creation, one row per [`Writer::write`], flushed.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    hostname: String,
}

impl<W: Write> Writer<W> {
    pub fn new(mut out: W, hostname: &str) -> io::Result<Writer<W>> {
        writeln!(out, "{HEADER}")?;
        out.flush()?;
        Ok(Writer { out, hostname: super::sadf::clean(hostname) })
    }

    /// One row for the interval of `interval_secs` that ended at `end`.
    pub fn write(&mut self, interval_secs: u64, end: time::OffsetDateTime, row: &Row) -> io::Result<()> {
        let (p50, p99) = row.connack_us.map_or((String::new(), String::new()), |(a, b)| (ms(a), ms(b)));
        writeln!(
            self.out,
            "{};{interval_secs};{};{};{};{};{};{p50};{p99}",
            self.hostname,
            super::sadf::timestamp(end),
            row.lamps_up,
            row.owners_up,
            row.attempts,
            row.refused
        )?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Lamps connected over a run: the most at once, and the fewest once every lamp had been up (during the ramp-up
/// fewer are up by design); if they never were all up, the fewest over the whole run.
#[derive(Debug, Clone, Default)]
pub struct Extent {
    target: u64,
    max: u64,
    min_all: Option<u64>,
    /// From the first interval that ended with all `target` lamps up.
    min_after: Option<u64>,
}

impl Extent {
    pub fn new(target: u64) -> Extent {
        Extent { target, ..Extent::default() }
    }

    pub fn feed(&mut self, lamps_up: u64) {
        self.max = self.max.max(lamps_up);
        self.min_all = Some(self.min_all.map_or(lamps_up, |m| m.min(lamps_up)));
        if self.min_after.is_some() || (self.target > 0 && lamps_up >= self.target) {
            self.min_after = Some(self.min_after.map_or(lamps_up, |m| m.min(lamps_up)));
        }
    }

    pub fn min(&self) -> u64 {
        self.min_after.or(self.min_all).unwrap_or(0)
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// `{"min": n, "max": n}`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"min": self.min(), "max": self.max()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_counts_from_when_every_lamp_was_first_up() {
        let mut e = Extent::new(10);
        for n in [2, 7, 10, 10, 4, 9, 10] {
            e.feed(n);
        }
        assert_eq!((e.min(), e.max()), (4, 10), "the ramp-up's 2 and 7 are not a dip");
        let mut never = Extent::new(10);
        for n in [3, 8, 6] {
            never.feed(n);
        }
        assert_eq!((never.min(), never.max()), (3, 8));
        assert_eq!(Extent::new(0).json(), serde_json::json!({"min": 0, "max": 0}));
    }

    #[test]
    fn rows_follow_the_pinned_header_and_idle_connack_fields_are_empty() {
        let mut w = Writer::new(Vec::new(), "host;1").unwrap();
        let end = time::macros::datetime!(2026-11-27 14:48:39 UTC);
        let busy =
            Row { lamps_up: 200, owners_up: 3, attempts: 40, refused: 12, lost: 0, connack_us: Some((1500, 20_250)) };
        w.write(1, end, &busy).unwrap();
        w.write(1, end + time::Duration::seconds(1), &Row { lamps_up: 200, ..Row::default() }).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "# hostname;interval;timestamp;lamps_up;owners_up;connect_attempts;connect_refused;connack_p50_ms;connack_p99_ms"
        );
        assert_eq!(lines[1], "host_1;1;2026-11-27 14:48:39 UTC;200;3;40;12;1.500;20.250");
        assert_eq!(lines[2], "host_1;1;2026-11-27 14:48:40 UTC;200;0;0;0;;");
        assert_eq!(lines[1].split(';').count(), HEADER.split(';').count());
    }
}
