//! `latency.csv`: device-side latency in sysstat's `sadf -d` framing, so it joins by timestamp with `sadf -d` output
//! taken on the broker and web hosts.
//!
//! One header line starting `# `, then one row per interval per operation, `;`-separated, written as each interval
//! closes and flushed, so an interrupted run keeps every completed interval. As in sar, `timestamp` is the *end* of
//! the interval (`YYYY-MM-DD HH:MM:SS UTC`) and `interval` its length in whole seconds. Columns:
//!
//! | column | meaning |
//! |---|---|
//! | `hostname` | the lamp (or simulating host) that measured |
//! | `interval`, `timestamp` | as in sar |
//! | `type`, `name` | the operation: `GET`/`POST`/`MQTT`, and the grouped name (`/lampi/device/[id]`, `roundtrip`) |
//! | `count`, `failures` | attempts in the interval (failures included), and the failed ones |
//! | `rate/s` | attempts per second over the interval |
//! | `lat_{min,mean,p50,p90,p95,p99,p999,max}_ms` | corrected latency (from the intended start), ms |
//! | `svc_{min,mean,p50,p90,p95,p99,p999,max}_ms` | raw service time (from the actual send), ms |
//! | `late_p99_ms`, `late_max_ms` | how late attempts started, ms |
//!
//! Times are milliseconds with microsecond precision (3 decimals), from histograms with 3 significant digits;
//! `p999` is the 99.9th percentile. Failed attempts are in the timings. An idle interval of an operation already
//! seen has count 0 and *empty* timing fields (missing, not zero). `;` and line breaks in names become `_`.

use std::fmt::Write as _;
use std::io::{self, Write};

use hdrhistogram::Histogram;
use time::format_description::FormatItem;
use time::macros::format_description;

use super::stats::per_sec;
use super::{ms, ms_f, IntervalReport};

/// The header line, pinned.
pub const HEADER: &str = "# hostname;interval;timestamp;type;name;count;failures;rate/s;\
lat_min_ms;lat_mean_ms;lat_p50_ms;lat_p90_ms;lat_p95_ms;lat_p99_ms;lat_p999_ms;lat_max_ms;\
svc_min_ms;svc_mean_ms;svc_p50_ms;svc_p90_ms;svc_p95_ms;svc_p99_ms;svc_p999_ms;svc_max_ms;\
late_p99_ms;late_max_ms";

const TIMESTAMP: &[FormatItem<'static>] = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

/// A wall-clock time as `sadf -d` writes it: `YYYY-MM-DD HH:MM:SS UTC`.
pub fn timestamp(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(TIMESTAMP).unwrap_or_default()
}
const QUANTILES: [f64; 6] = [0.5, 0.9, 0.95, 0.99, 0.999, 1.0];

/// Writes `latency.csv` incrementally: the header on creation, rows on each [`Writer::write`].
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    hostname: String,
}

impl<W: Write> Writer<W> {
    /// Writes the header and flushes.
    pub fn new(mut out: W, hostname: &str) -> io::Result<Writer<W>> {
        writeln!(out, "{HEADER}")?;
        out.flush()?;
        Ok(Writer { out, hostname: clean(hostname) })
    }

    /// Writes one row per operation of a closed interval, then flushes.
    pub fn write(&mut self, report: &IntervalReport) -> io::Result<()> {
        let timestamp = report.end().format(TIMESTAMP).map_err(io::Error::other)?;
        let interval = report.length.as_secs_f64().round() as u64;
        let mut line = String::with_capacity(320);
        for (op, s) in &report.ops {
            line.clear();
            let rate = per_sec(s.count, report.length);
            let (host, kind, name) = (&self.hostname, clean(&op.kind), clean(&op.name));
            let _ = write!(line, "{host};{interval};{timestamp};{kind};{name};{};{};{rate:.3}", s.count, s.failures);
            distribution(&mut line, &s.latency);
            distribution(&mut line, &s.service);
            if s.lateness.is_empty() {
                line.push_str(";;");
            } else {
                let late = &s.lateness;
                let _ = write!(line, ";{};{}", ms(late.value_at_quantile(0.99)), ms(late.max()));
            }
            line.push('\n');
            self.out.write_all(line.as_bytes())?;
        }
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// `;min;mean;p50;p90;p95;p99;p999;max`, or eight empty fields.
fn distribution(line: &mut String, h: &Histogram<u64>) {
    if h.is_empty() {
        line.push_str(";;;;;;;;");
        return;
    }
    let _ = write!(line, ";{};{}", ms(h.min()), ms_f(h.mean()));
    for q in QUANTILES {
        let _ = write!(line, ";{}", ms(h.value_at_quantile(q)));
    }
}

pub(crate) fn clean(s: &str) -> String {
    s.replace([';', '\n', '\r'], "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::tests::ms as millis;
    use crate::metrics::recorder::tests::{recorder, sample};

    fn rows(out: &[u8]) -> Vec<Vec<String>> {
        let text = std::str::from_utf8(out).unwrap();
        text.lines().skip(1).map(|l| l.split(';').map(str::to_string).collect()).collect()
    }

    #[test]
    fn header_is_pinned_and_written_once() {
        let (mut r, t0) = recorder();
        let mut w = Writer::new(Vec::new(), "lamp-b827eb").unwrap();
        w.write(&r.roll(t0 + millis(1000))).unwrap();
        let out = String::from_utf8(w.into_inner()).unwrap();
        assert_eq!(
            out,
            "# hostname;interval;timestamp;type;name;count;failures;rate/s;lat_min_ms;lat_mean_ms;lat_p50_ms;\
lat_p90_ms;lat_p95_ms;lat_p99_ms;lat_p999_ms;lat_max_ms;svc_min_ms;svc_mean_ms;svc_p50_ms;svc_p90_ms;svc_p95_ms;\
svc_p99_ms;svc_p999_ms;svc_max_ms;late_p99_ms;late_max_ms\n",
            "no ops yet: header only"
        );
        assert_eq!(HEADER.split(';').count(), 26);
    }

    #[test]
    fn rows_carry_corrected_and_raw_times_per_interval() {
        let (mut r, t0) = recorder();
        let login = r.op("POST", "/login/");
        let mut w = Writer::new(Vec::new(), "lamp;1").unwrap();
        sample(&mut r, login, t0, 0, 0, 10); // on time, 10 ms
        sample(&mut r, login, t0, 100, 90, 10); // started 90 ms late, 10 ms
        r.record(
            login,
            crate::metrics::Outcome::failure("HTTP 500"),
            t0 + millis(200),
            t0 + millis(200),
            t0 + millis(203),
        );
        w.write(&r.roll(t0 + millis(2000))).unwrap();
        w.write(&r.roll(t0 + millis(4000))).unwrap();
        let rows = rows(&w.into_inner());
        assert_eq!(rows.len(), 2);
        let first = &rows[0];
        assert_eq!(first.len(), 26);
        assert_eq!(&first[..8], ["lamp_1", "2", "2026-11-27 14:48:39 UTC", "POST", "/login/", "3", "1", "1.500"]);
        assert_eq!(first[8], "3.000", "lat_min");
        assert_eq!(first[11], "100.031", "lat_p90 is the late request, 100 ms from its slot (3 sig. digits)");
        assert_eq!(first[15], "100.031", "lat_max");
        assert_eq!(first[16], "3.000", "svc_min");
        assert_eq!(first[23], "10.007", "svc_max: never more than 10 ms");
        assert_eq!((first[24].as_str(), first[25].as_str()), ("90.047", "90.047"), "lateness p99, max");
        let idle = &rows[1];
        assert_eq!(&idle[..8], ["lamp_1", "2", "2026-11-27 14:48:41 UTC", "POST", "/login/", "0", "0", "0.000"]);
        assert!(idle[8..].iter().all(String::is_empty), "idle: empty timing fields, not zeros");
    }
}
