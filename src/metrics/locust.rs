//! Locust-compatible CSV files, for the dashboards people already feed with Locust's `--csv` output.
//!
//! - `<prefix>_stats.csv` ([`write_stats`]): a snapshot of the run so far, one row per operation and a final
//!   `Aggregated` row. Like Locust, rewrite the whole file after each interval (write a temporary file and rename it).
//! - `<prefix>_stats_history.csv` ([`History`]): appended as each interval closes, one row per operation plus an
//!   `Aggregated` row per interval. The rate and percentile columns are *that interval's* values; the `Total ...`
//!   columns are cumulative up to the end of the interval, as in Locust. `Timestamp` is the interval's end in Unix
//!   seconds; `User Count` is the active virtual users the caller passes in.
//! - `<prefix>_failures.csv` ([`write_failures`]): a snapshot, one row per (operation, error), most frequent first,
//!   with `First Seen`/`Last Seen` in UTC `%Y-%m-%dT%H:%M:%SZ`.
//!
//! Differences from Locust, on purpose: "Type" is the HTTP method or `MQTT` and "Name" the grouped name; response
//! times are milliseconds with 3 decimals (µs precision) rather than Locust's rounding to ~2 significant digits;
//! every percentile, and the median, average, min and max, come from the *corrected* latency (from the intended
//! start; raw service time is in `latency.csv` and the hlog). As in Locust, failed attempts are in the counts and the
//! times, an operation with no attempts has `N/A` percentiles and 0 for median, average, min and max, and text
//! fields are quoted as Python's `csv` module does.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use time::format_description::FormatItem;
use time::macros::format_description;

use super::stats::{per_sec, OpStats};
use super::{csv_field, ms, ms_f, IntervalReport, Totals};

/// The file prefix of every Locust file a run writes (`lampi_stats.csv`, ...), as Locust's `--csv=lampi` would.
pub const PREFIX: &str = "lampi";

/// `_stats.csv` header, pinned.
pub const STATS_HEADER: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,\
50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";

/// `_stats_history.csv` header, pinned.
pub const HISTORY_HEADER: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,\
50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,\
Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,\
Total Min Response Time,Total Max Response Time,Total Average Content Size";

/// `_failures.csv` header, pinned.
pub const FAILURES_HEADER: &str = "Method,Name,Error,Occurrences,First Seen,Last Seen";

/// Locust's `PERCENTILES_TO_REPORT`.
const QUANTILES: [f64; 11] = [0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0];
const AGGREGATED: (&str, &str) = ("", "Aggregated");
const SEEN: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Writes `_stats.csv` for everything so far: a header, one row per operation, an `Aggregated` row.
pub fn write_stats(mut out: impl Write, totals: &Totals) -> io::Result<()> {
    let mut text = format!("{STATS_HEADER}\n");
    for (op, s) in &totals.ops {
        stats_row(&mut text, (&op.kind, &op.name), s, totals.elapsed);
    }
    stats_row(&mut text, AGGREGATED, &totals.aggregate(), totals.elapsed);
    out.write_all(text.as_bytes())?;
    out.flush()
}

fn stats_row(text: &mut String, (kind, name): (&str, &str), s: &OpStats, elapsed: Duration) {
    let (kind, name) = (csv_field(kind), csv_field(name));
    let _ = write!(text, "{kind},{name},{},{},", s.count, s.failures);
    summary_fields(text, s);
    let _ = write!(text, ",{:.3},{:.3},", per_sec(s.count, elapsed), per_sec(s.failures, elapsed));
    percentile_fields(text, s);
    text.push('\n');
}

/// `Median,Average,Min,Max,Average Content Size` (Locust's zeros when there were no attempts).
fn summary_fields(text: &mut String, s: &OpStats) {
    let h = &s.latency;
    if h.is_empty() {
        let _ = write!(text, "0,0,0,0,{:.2}", s.mean_bytes());
    } else {
        let (median, mean, min, max) = (ms(h.value_at_quantile(0.5)), ms_f(h.mean()), ms(h.min()), ms(h.max()));
        let _ = write!(text, "{median},{mean},{min},{max},{:.2}", s.mean_bytes());
    }
}

/// The eleven percentile columns, or eleven `N/A`.
fn percentile_fields(text: &mut String, s: &OpStats) {
    for (i, q) in QUANTILES.into_iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        if s.latency.is_empty() {
            text.push_str("N/A");
        } else {
            text.push_str(&ms(s.latency.value_at_quantile(q)));
        }
    }
}

/// Writes `_stats_history.csv` incrementally: the header on creation, rows on each [`History::write`].
#[derive(Debug)]
pub struct History<W: Write> {
    out: W,
}

impl<W: Write> History<W> {
    /// Writes the header and flushes.
    pub fn new(mut out: W) -> io::Result<History<W>> {
        writeln!(out, "{HISTORY_HEADER}")?;
        out.flush()?;
        Ok(History { out })
    }

    /// Writes the rows of one closed interval, then flushes. `totals` must already include `report` (as
    /// [`super::Recorder::totals`] does after [`super::Recorder::roll`]) and `total` is `totals.aggregate()` (or the
    /// same kept as a running sum, as the load run's writer does); `users` is the active virtual users.
    pub fn write(&mut self, report: &IntervalReport, totals: &Totals, total: &OpStats, users: u64) -> io::Result<()> {
        let timestamp = report.end().unix_timestamp();
        let mut text = String::new();
        let empty = OpStats::new();
        for (op, s) in &report.ops {
            let total = totals.get(op).unwrap_or(&empty);
            history_row(&mut text, (timestamp, users), (&op.kind, &op.name), (s, report.length), total);
        }
        history_row(&mut text, (timestamp, users), AGGREGATED, (&report.aggregate(), report.length), total);
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

fn history_row(
    text: &mut String,
    (timestamp, users): (i64, u64),
    (kind, name): (&str, &str),
    (s, length): (&OpStats, Duration),
    total: &OpStats,
) {
    let (kind, name) = (csv_field(kind), csv_field(name));
    let (rate, fail_rate) = (per_sec(s.count, length), per_sec(s.failures, length));
    let _ = write!(text, "{timestamp},{users},{kind},{name},{rate:.3},{fail_rate:.3},");
    percentile_fields(text, s);
    let _ = write!(text, ",{},{},", total.count, total.failures);
    summary_fields(text, total);
    text.push('\n');
}

/// Writes `_failures.csv` for everything so far, most frequent first.
pub fn write_failures(mut out: impl Write, totals: &Totals) -> io::Result<()> {
    let mut text = format!("{FAILURES_HEADER}\n");
    for (op, error, stat) in totals.failures() {
        let first = stat.first_seen.format(SEEN).map_err(io::Error::other)?;
        let last = stat.last_seen.format(SEEN).map_err(io::Error::other)?;
        let (kind, name, error) = (csv_field(&op.kind), csv_field(&op.name), csv_field(error));
        let _ = writeln!(text, "{kind},{name},{error},{},{first},{last}", stat.occurrences);
    }
    out.write_all(text.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::tests::{ms as millis, recorder, sample};
    use crate::metrics::{sadf, Op, Outcome};

    /// Splits simple CSV (no quoted fields) into rows of fields, without the header.
    fn rows(out: &[u8]) -> Vec<Vec<String>> {
        let text = std::str::from_utf8(out).unwrap();
        text.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
    }

    #[test]
    fn headers_are_pinned() {
        let (r, _) = recorder();
        let mut stats = Vec::new();
        write_stats(&mut stats, r.totals()).unwrap();
        let stats = String::from_utf8(stats).unwrap();
        assert_eq!(
            stats.lines().next().unwrap(),
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
        );
        assert_eq!(
            stats.lines().nth(1).unwrap(),
            ",Aggregated,0,0,0,0,0,0,0.00,0.000,0.000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A"
        );
        let history = String::from_utf8(History::new(Vec::new()).unwrap().into_inner()).unwrap();
        assert_eq!(
            history,
            "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,\
100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,\
Total Min Response Time,Total Max Response Time,Total Average Content Size\n"
        );
        let mut failures = Vec::new();
        write_failures(&mut failures, r.totals()).unwrap();
        assert_eq!(failures, b"Method,Name,Error,Occurrences,First Seen,Last Seen\n");
    }

    #[test]
    fn failures_are_quoted_and_stamped_in_utc() {
        let (mut r, t0) = recorder();
        let op = r.op("POST", "/login/");
        let error = "login: wrong password, said \"nope\"";
        r.record(op, Outcome::failure(error), t0, t0, t0 + millis(1500));
        r.record(op, Outcome::failure(error), t0, t0, t0 + millis(61_000));
        r.record(op, Outcome::failure("HTTP 500"), t0, t0, t0 + millis(10));
        r.roll(t0 + millis(62_000));
        let mut out = Vec::new();
        write_failures(&mut out, r.totals()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Method,Name,Error,Occurrences,First Seen,Last Seen\n\
POST,/login/,\"login: wrong password, said \"\"nope\"\"\",2,2026-11-27T14:48:38Z,2026-11-27T14:49:38Z\n\
POST,/login/,HTTP 500,1,2026-11-27T14:48:37Z,2026-11-27T14:48:37Z\n"
        );
    }

    #[test]
    fn history_rows_are_per_interval_and_totals_cumulative() {
        let (mut r, t0) = recorder();
        let get = r.op("GET", "/lampi/");
        let mut history = History::new(Vec::new()).unwrap();
        for i in 0..10 {
            sample(&mut r, get, t0, i * 100, 0, 20);
        }
        let report = r.roll(t0 + millis(2000));
        history.write(&report, r.totals(), &r.totals().aggregate(), 5).unwrap();
        sample(&mut r, get, t0, 2500, 0, 40);
        let report = r.roll(t0 + millis(4000));
        history.write(&report, r.totals(), &r.totals().aggregate(), 7).unwrap();
        let rows = rows(&history.into_inner());
        assert_eq!(rows.len(), 4, "an op row and an Aggregated row per interval");
        assert_eq!(rows.iter().map(|r| r.len()).collect::<Vec<_>>(), [24; 4]);
        assert_eq!(&rows[0][..6], ["1795790919", "5", "GET", "/lampi/", "5.000", "0.000"]);
        assert_eq!(rows[0][6], "20.015", "the interval's median");
        assert_eq!(&rows[1][2..4], ["", "Aggregated"]);
        assert_eq!(&rows[2][..6], ["1795790921", "7", "GET", "/lampi/", "0.500", "0.000"]);
        assert_eq!(rows[2][6], "40.031", "the second interval's own median, not the run's");
        assert_eq!(&rows[2][17..19], ["11", "0"], "Total Request Count is cumulative");
        assert_eq!(rows[2][19], "20.015", "Total Median is the run's");
        assert_eq!(rows[2][23], "100.00", "Total Average Content Size");
    }

    /// The same samples must tell one story in latency.csv, stats.csv, the history and failures.csv.
    #[test]
    fn counts_add_up_across_every_file() {
        let (mut r, t0) = recorder();
        let ops = [r.op("POST", "/login/"), r.op("MQTT", "roundtrip")];
        let mut sadf = sadf::Writer::new(Vec::new(), "lamp").unwrap();
        let mut history = History::new(Vec::new()).unwrap();
        for interval in 0..5u64 {
            for i in 0..(interval * 7 + 3) {
                let op = ops[(i % 2) as usize];
                let at = t0 + millis(interval * 1000 + i);
                let outcome = if i % 5 == 0 { Outcome::failure(format!("E{}", i % 3)) } else { Outcome::success(10) };
                r.record(op, outcome, at, at, at + millis(3));
            }
            let report = r.roll(t0 + millis((interval + 1) * 1000));
            sadf.write(&report).unwrap();
            history.write(&report, r.totals(), &r.totals().aggregate(), 1).unwrap();
        }
        let (mut stats, mut failures) = (Vec::new(), Vec::new());
        write_stats(&mut stats, r.totals()).unwrap();
        write_failures(&mut failures, r.totals()).unwrap();
        let (stats, history, failures) = (rows(&stats), rows(&history.into_inner()), rows(&failures));
        let latency: Vec<Vec<String>> = std::str::from_utf8(&sadf.into_inner())
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(';').map(str::to_string).collect())
            .collect();
        let total: u64 = (0..5).map(|i| i * 7 + 3).sum();
        for (kind, name) in [("POST", "/login/"), ("MQTT", "roundtrip")] {
            let sum = |rows: &[Vec<String>], col: usize| -> u64 {
                rows.iter().filter(|r| r[3] == kind && r[4] == name).map(|r| r[col].parse::<u64>().unwrap()).sum()
            };
            let stat = stats.iter().find(|s| s[0] == kind && s[1] == name).unwrap();
            let last = history.iter().rev().find(|h| h[2] == kind && h[3] == name).unwrap();
            assert_eq!(stat[2], sum(&latency, 5).to_string(), "{kind} count: stats.csv vs latency.csv");
            assert_eq!(stat[3], sum(&latency, 6).to_string(), "{kind} failures: stats.csv vs latency.csv");
            assert_eq!((&last[17], &last[18]), (&stat[2], &stat[3]), "{kind}: history totals vs stats.csv");
            let failed: u64 =
                failures.iter().filter(|f| f[0] == kind && f[1] == name).map(|f| f[3].parse::<u64>().unwrap()).sum();
            assert_eq!(failed.to_string(), stat[3], "{kind}: failures.csv vs stats.csv");
        }
        let aggregated = stats.last().unwrap();
        assert_eq!(aggregated[1], "Aggregated");
        assert_eq!(aggregated[2], total.to_string());
        let roundtrips: u64 = (0..5).map(|i| (i * 7 + 3) / 2).sum();
        assert_eq!(r.totals().get(&Op::new("MQTT", "roundtrip")).unwrap().latency.len(), roundtrips);
    }
}
