//! Measurement core of `loadtest`: latency samples in, per-interval reports and every output file out.
//!
//! This module owns the numbers, not the run. [`Recorder`] takes one sample per attempted operation and, when the
//! caller rolls the interval, hands back an [`IntervalReport`] and adds it to the run's [`Totals`]. The writers turn
//! reports and totals into files people already have tools for: [`sadf`] (`latency.csv`), [`locust`]
//! (`<prefix>_stats.csv`, `_stats_history.csv`, `_failures.csv`), [`hlog`] (`latency.hlog`) and [`summary`] (console
//! table, JSON document, live progress line); [`merge`] adds runs together exactly. It must not own a clock, a file
//! or a socket: instants are passed in, the only wall-clock reading is the run-start anchor handed to
//! [`Recorder::new`], and every writer takes an `io::Write` (the loadtest shell opens the files, tests use `Vec<u8>`).
//!
//! # What one sample yields
//!
//! For an attempt scheduled at `intended`, sent at `started` and completed (or failed) at `finished`:
//!
//! - **latency** = `finished - intended`: what a user on the schedule waited, corrected for coordinated omission
//!   (wrk2). This is the headline figure: Locust percentiles, the hlog's plain tags and `lat_*` columns.
//! - **service** = `finished - started`: the raw time the server took once asked (`svc_*` columns, `svc:` tags).
//! - **lateness** = `started - intended`, 0 when not late: how far behind the generator ran (`late_*` columns, `late:` tags).
//!
//! All three are kept in microseconds in HdrHistograms (3 significant digits, values clamped to [`MAX_MICROS`] = 1 h,
//! far beyond any timeout). Memory stays flat however long the run: a histogram grows with the largest value it has
//! seen and never past the 1 h size (about 184 KiB), and no sample is ever stored.
//!
//! **Failures are in the timings**, as in Locust: `count` is every attempt, `failures` the failed ones, and a failed
//! attempt's times go into the same histograms. Leaving them out would make a server that answers 500 quickly, or
//! not at all, look fast. Failure kinds are tallied per operation as *(error, occurrences, first seen, last seen)*;
//! callers pass short, grouped failure names (`"HTTP 500"`, `"timeout"`), and past [`MAX_ERRORS_PER_OP`] distinct
//! names per operation further ones are counted under [`OTHER_ERRORS`].
//!
//! # Intervals
//!
//! An interval runs from one [`Recorder::roll`] to the next (the first from the anchor). A sample lands in the interval
//! open when it is recorded; one whose `finished` is before that interval's start (it sat in a queue across a roll) is
//! still counted there, and the report's `late_samples` says how many did. Drain pending samples before rolling and
//! that figure stays 0. An operation appears from the first interval in which it had a sample; from then on it has a
//! row in every interval, with count 0 and empty latency fields when idle, so a plot shows a drop to zero rather than
//! a gap. (The hlog, being a histogram stream, simply has no line for an idle interval.)

pub mod connections;
pub mod hlog;
pub mod locust;
pub mod merge;
pub mod outage;
pub mod recorder;
pub mod sadf;
pub mod stats;
pub mod summary;

use std::borrow::Cow;
use std::fmt;

use hdrhistogram::serialization::V2DeflateSerializeError;

pub use recorder::{IntervalReport, Recorder, Totals};
pub use stats::{FailureStat, OpStats, Timing, MAX_ERRORS_PER_OP, MAX_MICROS, OTHER_ERRORS};

/// One kind of operation: `("GET", "/lampi/device/[id]")`, `("MQTT", "roundtrip")`.
///
/// `kind` is the HTTP method or `MQTT` (Locust's "Type"); `name` groups requests the way Locust's `name=` does, so ids
/// never appear in it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Op {
    pub kind: String,
    pub name: String,
}

impl Op {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Op {
        Op { kind: kind.into(), name: name.into() }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// A small index for an interned [`Op`], from [`Recorder::op`]; only meaningful to the recorder that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpId(pub(crate) u32);

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It worked; `bytes` is the content received (HTTP body, MQTT payload).
    Success { bytes: u64 },
    /// It failed; `error` is a short, grouped name such as `"login: wrong password"`, `"HTTP 500"`, `"timeout"`.
    Failure { error: String },
}

impl Outcome {
    pub fn success(bytes: u64) -> Outcome {
        Outcome::Success { bytes }
    }

    pub fn failure(error: impl Into<String>) -> Outcome {
        Outcome::Failure { error: error.into() }
    }
}

/// What can go wrong writing or reading metrics files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The output file could not be written (disk full, removed, permissions): check the output directory.
    #[error("cannot write metrics output: {0}")]
    Io(#[from] std::io::Error),
    /// HdrHistogram's encoder failed; this points at a bug, not at the data.
    #[error("cannot encode the {tag} histogram for the HdrHistogram log: {source}")]
    Encode { tag: String, source: V2DeflateSerializeError },
    /// A histogram log line could not be parsed: the file is truncated mid-line or is not an interval log.
    #[error("HdrHistogram log is malformed at byte {offset}")]
    HlogSyntax { offset: usize },
    /// A histogram in a log could not be decoded: the line is damaged or was written by an unsupported encoder.
    #[error("HdrHistogram log interval {index} (tag {tag:?}) cannot be decoded: {detail}")]
    HlogDecode { index: usize, tag: String, detail: String },
}

/// Microseconds as milliseconds with microsecond precision, exactly: `1234567` -> `"1234.567"`.
pub(crate) fn ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// A fractional number of microseconds as milliseconds with 3 decimals.
pub(crate) fn ms_f(us: f64) -> String {
    format!("{:.3}", us / 1000.0)
}

/// A CSV field quoted as RFC 4180 (and Python's `csv.QUOTE_MINIMAL`, which Locust uses) requires.
pub(crate) fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_keep_microsecond_precision_without_float_rounding() {
        assert_eq!(ms(0), "0.000");
        assert_eq!(ms(7), "0.007");
        assert_eq!(ms(1_234_567), "1234.567");
        assert_eq!(ms_f(2.0), "0.002");
        assert_eq!(ms_f(1500.6), "1.501");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("/lampi/"), "/lampi/");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
