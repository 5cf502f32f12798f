//! The run in brief: a [`Summary`] document (serialised as JSON), a plain-text [`table`] for the console, and a
//! one-line [`progress`] string for a live status line. Pure formatting: no terminal handling, no I/O beyond the
//! `io::Write` that [`write_json`] is given.
//!
//! Figures are those of [`Totals`]: counts include failures (as in Locust), latency is corrected (from the intended
//! start), service is raw (from the send), lateness is how late attempts started; all in milliseconds with µs
//! precision. Timing fields are `null` in JSON, and `-` in the table, for an operation with no attempts.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use super::stats::{per_sec, OpStats};
use super::{ms, IntervalReport, Totals};

/// The whole run, ready for `serde_json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// RFC 3339, UTC.
    pub start: String,
    pub elapsed_s: f64,
    /// Samples recorded in a later interval than the one they finished in.
    pub late_samples: u64,
    pub ops: Vec<OpSummary>,
    /// All operations together.
    pub aggregated: OpSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpSummary {
    pub kind: String,
    pub name: String,
    pub count: u64,
    pub failures: u64,
    /// Successful attempts as a percentage of all; `None` with no attempts.
    pub success_pct: Option<f64>,
    pub rate_per_s: f64,
    pub bytes: u64,
    /// Corrected latency (from the intended start).
    pub latency_ms: Option<Distribution>,
    /// Raw service time (from the actual send).
    pub service_ms: Option<Distribution>,
    /// How late attempts started.
    pub lateness_ms: Option<Distribution>,
}

/// A histogram's figures in milliseconds (3 decimals).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Distribution {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Distribution {
    fn of(h: &Histogram<u64>) -> Option<Distribution> {
        if h.is_empty() {
            return None;
        }
        let q = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Some(Distribution {
            min: h.min() as f64 / 1000.0,
            mean: h.mean().round() / 1000.0,
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: h.max() as f64 / 1000.0,
        })
    }
}

impl OpSummary {
    fn of(kind: &str, name: &str, s: &OpStats, elapsed: Duration) -> OpSummary {
        OpSummary {
            kind: kind.to_string(),
            name: name.to_string(),
            count: s.count,
            failures: s.failures,
            success_pct: (s.count > 0).then(|| 100.0 * (s.count - s.failures) as f64 / s.count as f64),
            rate_per_s: per_sec(s.count, elapsed),
            bytes: s.bytes,
            latency_ms: Distribution::of(&s.latency),
            service_ms: Distribution::of(&s.service),
            lateness_ms: Distribution::of(&s.lateness),
        }
    }
}

/// Summarises the run so far.
pub fn summarize(totals: &Totals) -> Summary {
    let elapsed = totals.elapsed;
    Summary {
        start: totals.start.format(&Rfc3339).unwrap_or_else(|_| totals.start.to_string()),
        elapsed_s: elapsed.as_secs_f64(),
        late_samples: totals.late_samples,
        ops: totals.ops.iter().map(|(op, s)| OpSummary::of(&op.kind, &op.name, s, elapsed)).collect(),
        aggregated: OpSummary::of("", "Aggregated", &totals.aggregate(), elapsed),
    }
}

/// Writes the summary as pretty JSON and a final newline.
pub fn write_json(mut out: impl Write, summary: &Summary) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut out, summary)?;
    writeln!(out)?;
    out.flush()
}

const COLUMNS: [&str; 12] =
    ["type", "name", "count", "fail", "ok%", "rate/s", "min", "p50", "p90", "p99", "p99.9", "max"];

/// A plain-text table, one line per operation and an `Aggregated` line; times are corrected latency in ms.
pub fn table(summary: &Summary) -> String {
    let mut rows = vec![COLUMNS.map(str::to_string).to_vec()];
    rows.extend(summary.ops.iter().chain([&summary.aggregated]).map(table_row));
    let widths: Vec<usize> = (0..COLUMNS.len()).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut text = String::new();
    for row in &rows {
        for (c, cell) in row.iter().enumerate() {
            let sep = if c == 0 { "" } else { "  " };
            match c {
                0 | 1 => {
                    let _ = write!(text, "{sep}{cell:<w$}", w = widths[c]);
                }
                _ => {
                    let _ = write!(text, "{sep}{cell:>w$}", w = widths[c]);
                }
            }
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
    }
    let _ = writeln!(text, "times: ms from the intended start (corrected for coordinated omission)");
    if let Some(late) = summary.aggregated.lateness_ms {
        let _ = writeln!(text, "late starts: p99 {:.3} ms, max {:.3} ms", late.p99, late.max);
    }
    text
}

fn table_row(s: &OpSummary) -> Vec<String> {
    let ok = s.success_pct.map_or("-".to_string(), |p| format!("{p:.1}"));
    let mut row = vec![s.kind.clone(), s.name.clone(), s.count.to_string(), s.failures.to_string(), ok];
    row.push(format!("{:.2}", s.rate_per_s));
    let times = s.latency_ms.map(|d| [d.min, d.p50, d.p90, d.p99, d.p999, d.max]);
    row.extend((0..6).map(|i| times.map_or("-".to_string(), |t| format!("{:.3}", t[i]))));
    row
}

/// One status line: run time, the last interval's rate, p99 and late-start p99, and errors so far (`all`: the
/// run's totals aggregated, [`Totals::aggregate`]).
///
/// `00:01:30  152.3/s  p99 12.345 ms  late p99 0.120 ms  errors 2 (0.02%)`
pub fn progress(elapsed: Duration, last: &IntervalReport, all: &OpStats) -> String {
    let secs = elapsed.as_secs();
    let now = last.aggregate();
    let mut line = format!("{:02}:{:02}:{:02}  ", secs / 3600, secs / 60 % 60, secs % 60);
    let _ = write!(line, "{:.1}/s", per_sec(now.count, last.length));
    if now.is_empty() {
        line.push_str("  p99 -");
    } else {
        let (p99, late) = (now.latency.value_at_quantile(0.99), now.lateness.value_at_quantile(0.99));
        let _ = write!(line, "  p99 {} ms  late p99 {} ms", ms(p99), ms(late));
    }
    let pct = if all.count == 0 { 0.0 } else { 100.0 * all.failures as f64 / all.count as f64 };
    let _ = write!(line, "  errors {} ({pct:.2}%)", all.failures);
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::tests::{ms as millis, recorder, sample};
    use crate::metrics::Outcome;

    fn run() -> (Totals, IntervalReport) {
        let (mut r, t0) = recorder();
        let login = r.op("POST", "/login/");
        let rt = r.op("MQTT", "roundtrip");
        for i in 0..99 {
            sample(&mut r, rt, t0, i * 10, 0, 8);
        }
        sample(&mut r, rt, t0, 995, 100, 8); // one 108 ms outlier, 100 ms of it waiting to start
        r.record(login, Outcome::failure("HTTP 500"), t0, t0, t0 + millis(40));
        sample(&mut r, login, t0, 0, 0, 30);
        let last = r.roll(t0 + millis(2000));
        (r.totals().clone(), last)
    }

    #[test]
    fn json_carries_corrected_raw_and_lateness() {
        let (totals, _) = run();
        let summary = summarize(&totals);
        let mut out = Vec::new();
        write_json(&mut out, &summary).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["start"], "2026-11-27T14:48:37Z");
        assert_eq!(v["elapsed_s"], 2.0);
        let rt = &v["ops"][1];
        assert_eq!((rt["kind"].as_str(), rt["name"].as_str()), (Some("MQTT"), Some("roundtrip")));
        assert_eq!(rt["count"], 100);
        assert_eq!(rt["rate_per_s"], 50.0);
        assert_eq!(rt["latency_ms"]["max"], 108.031);
        assert_eq!(rt["service_ms"]["max"], 8.003);
        assert_eq!(rt["lateness_ms"]["max"], 100.031);
        assert_eq!(v["ops"][0]["success_pct"], 50.0);
        assert_eq!(v["aggregated"]["count"], 102);
        assert_eq!(v["aggregated"]["failures"], 1);
    }

    #[test]
    fn table_lines_up_and_says_what_the_times_are() {
        let (totals, _) = run();
        let text = table(&summarize(&totals));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(lines[0].starts_with("type  name        count  fail    ok%  rate/s"), "{text}");
        assert!(lines[1].starts_with("POST  /login/         2     1   50.0    1.00  30.000  30.015  40.031"), "{text}");
        assert!(lines[3].starts_with("      Aggregated    102     1   99.0   51.00"), "{text}");
        assert_eq!(lines[0].find("max").map(|i| i + 3), Some(lines[1].len()), "right-aligned columns:\n{text}");
        assert!(lines[4].contains("corrected"), "{text}");
        assert!(lines[5].starts_with("late starts: p99"), "{text}");
    }

    #[test]
    fn progress_is_one_line_of_the_last_interval() {
        let (totals, last) = run();
        let line = progress(Duration::from_secs(3725), &last, &totals.aggregate());
        assert_eq!(line, "01:02:05  51.0/s  p99 40.031 ms  late p99 0.000 ms  errors 1 (0.98%)");
        let (mut r, t0) = recorder();
        let idle = r.roll(t0 + millis(1000));
        assert_eq!(
            progress(Duration::ZERO, &idle, &r.totals().aggregate()),
            "00:00:00  0.0/s  p99 -  errors 0 (0.00%)"
        );
    }
}
