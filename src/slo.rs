//! Service-level objectives: `--slo 'roundtrip p99 < 100ms'`, parsed, and judged against recorded histograms.
//!
//! This module owns the grammar and the verdicts. It reads no file and no clock: [`Slo::parse`] takes text, and
//! [`judge`] takes what a run recorded (operations with their [`OpStats`]) and returns one [`Verdict`] each. The
//! load test prints the verdicts, writes them into `summary.json` / `summary.txt` and exits
//! [`crate::cli::EXIT_SLO`] when one fails; `--find-limit` judges every step with them.
//!
//! # Grammar
//!
//! ```text
//! slo        = [operation] measure comparison
//! operation  = [KIND] NAME        KIND: an upper-case word (GET, POST, MQTT); NAME: as in the stats, spaces allowed
//! measure    = "p" PERCENT | "max" | "failures"       PERCENT: above 0, at most 100 (p50, p99, p99.9)
//! comparison = ("<" | "<=") limit
//! limit      = NUMBER ("us" | "ms" | "s")   for p.. and max (corrected latency)
//!            | NUMBER "%"                   for failures (failed attempts as a share of all)
//! ```
//!
//! Examples: `roundtrip p99 < 100ms`, `failures < 1%`, `POST /login/ p95 < 500ms`, `MQTT publish set_config max
//! <= 2s`, `p99.9 < 1s` (no operation: all operations together). Without a KIND, a NAME matches that name under
//! every kind (`/login/` is both `GET` and `POST`), added together. Latency is the corrected figure (from the
//! intended start, DESIGN section 6), because that is what a user on the schedule waited. An SLO whose operation
//! has no samples fails: a misspelt name must not pass a CI gate.

use std::fmt;

use crate::metrics::stats::aggregate;
use crate::metrics::{Op, OpStats};

/// What an SLO bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// A latency percentile, 0 < p <= 100.
    Percentile(f64),
    Max,
    /// Failed attempts as a share of all attempts.
    Failures,
}

impl Measure {
    pub fn is_latency(self) -> bool {
        !matches!(self, Measure::Failures)
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Measure::Percentile(p) => write!(f, "p{p}"),
            Measure::Max => f.write_str("max"),
            Measure::Failures => f.write_str("failures"),
        }
    }
}

/// One objective, as parsed. `limit` is milliseconds for latency, percent for failures.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The text as written (trimmed), for messages and files.
    pub text: String,
    /// `None`: every operation together.
    pub kind: Option<String>,
    pub name: Option<String>,
    pub measure: Measure,
    /// `<=` rather than `<`.
    pub inclusive: bool,
    pub limit: f64,
}

/// An SLO that cannot be parsed; each names the SLO and the part that is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SloError {
    #[error("SLO {slo:?}: empty; expected e.g. 'roundtrip p99 < 100ms' or 'failures < 1%'")]
    Empty { slo: String },
    #[error("SLO {slo:?}: no comparison; expected `<` or `<=` followed by a limit, e.g. 'roundtrip p99 < 100ms'")]
    NoComparison { slo: String },
    #[error("SLO {slo:?}: {part:?} is not supported; an SLO is an upper bound, written with `<` or `<=`")]
    Operator { slo: String, part: String },
    #[error("SLO {slo:?}: nothing before {part:?}; expected a measure (p50..p99.9, max, failures) before it")]
    NoMeasure { slo: String, part: String },
    #[error("SLO {slo:?}: {part:?} is not a measure; expected p<percent> (p50, p99, p99.9), max or failures")]
    Measure { slo: String, part: String },
    #[error("SLO {slo:?}: {part:?}: a percentile must be above 0 and at most 100")]
    Percentile { slo: String, part: String },
    #[error("SLO {slo:?}: limit {part:?}: {expected}")]
    Limit { slo: String, part: String, expected: &'static str },
}

const LATENCY_LIMIT: &str = "expected a duration such as 100ms, 1.5s or 800us";
const SHARE_LIMIT: &str = "expected a share such as 1% or 0.5%";

impl Slo {
    /// Parses one SLO (see the module docs for the grammar).
    pub fn parse(text: &str) -> Result<Slo, SloError> {
        let slo = text.trim().to_string();
        let err_slo = || slo.clone();
        if slo.is_empty() {
            return Err(SloError::Empty { slo: err_slo() });
        }
        if let Some(i) = slo.find(['>', '=', '!']).filter(|&i| !slo[..i].ends_with('<')) {
            let part: String = slo[i..].chars().take_while(|c| "<>=!".contains(*c)).collect();
            return Err(SloError::Operator { slo: err_slo(), part });
        }
        let Some(at) = slo.find('<') else { return Err(SloError::NoComparison { slo: err_slo() }) };
        let (left, right) = (slo[..at].trim(), &slo[at + 1..]);
        let (inclusive, right) = match right.strip_prefix('=') {
            Some(r) => (true, r.trim()),
            None => (false, right.trim()),
        };
        let op = if inclusive { "<=" } else { "<" };
        let words: Vec<&str> = left.split_whitespace().collect();
        let Some((&last, before)) = words.split_last() else {
            return Err(SloError::NoMeasure { slo: err_slo(), part: op.into() });
        };
        let measure = measure(last).map_err(|bad| match bad {
            BadMeasure::Unknown => SloError::Measure { slo: err_slo(), part: last.into() },
            BadMeasure::Range => SloError::Percentile { slo: err_slo(), part: last.into() },
        })?;
        let limit = limit(right, measure).map_err(|expected| SloError::Limit {
            slo: err_slo(),
            part: right.to_string(),
            expected,
        })?;
        let (kind, name) = match before {
            [] => (None, None),
            [k, rest @ ..] if !rest.is_empty() && is_kind(k) => (Some(k.to_string()), Some(rest.join(" "))),
            all => (None, Some(all.join(" "))),
        };
        Ok(Slo { text: slo, kind, name, measure, inclusive, limit })
    }

    /// Whether a measured value keeps this objective.
    pub fn holds(&self, measured: f64) -> bool {
        if self.inclusive {
            measured <= self.limit
        } else {
            measured < self.limit
        }
    }

    /// The limit's unit: `ms` or `%`.
    pub fn unit(&self) -> &'static str {
        if self.measure.is_latency() {
            "ms"
        } else {
            "%"
        }
    }

    /// Whether operation `op` is one this SLO is about.
    pub fn matches(&self, op: &Op) -> bool {
        self.name.as_ref().is_none_or(|n| *n == op.name) && self.kind.as_ref().is_none_or(|k| *k == op.kind)
    }

    /// The operation as written (`all operations` when none).
    pub fn target(&self) -> String {
        match (&self.kind, &self.name) {
            (Some(k), Some(n)) => format!("{k} {n}"),
            (None, Some(n)) => n.clone(),
            _ => "all operations".into(),
        }
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_kind(word: &str) -> bool {
    word.len() <= 10 && word.chars().all(|c| c.is_ascii_uppercase())
}

enum BadMeasure {
    Unknown,
    Range,
}

fn measure(word: &str) -> Result<Measure, BadMeasure> {
    match word {
        "max" => return Ok(Measure::Max),
        "failures" => return Ok(Measure::Failures),
        _ => {}
    }
    let digits = word.strip_prefix('p').ok_or(BadMeasure::Unknown)?;
    let p: f64 = digits.parse().map_err(|_| BadMeasure::Unknown)?;
    if !(p > 0.0 && p <= 100.0) {
        return Err(BadMeasure::Range);
    }
    Ok(Measure::Percentile(p))
}

/// The limit in milliseconds (latency) or percent (failures).
fn limit(text: &str, measure: Measure) -> Result<f64, &'static str> {
    let expected = if measure.is_latency() { LATENCY_LIMIT } else { SHARE_LIMIT };
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    let n: f64 = number.parse().map_err(|_| expected)?;
    if !n.is_finite() || n < 0.0 {
        return Err(expected);
    }
    let value = match (measure.is_latency(), unit) {
        (true, "us" | "µs") => n / 1000.0,
        (true, "ms") => n,
        (true, "s") => n * 1000.0,
        (false, "%") if n <= 100.0 => n,
        _ => return Err(expected),
    };
    Ok(value)
}

/// Reads SLOs from a file's text: one a line, `#` starts a comment, blank lines are skipped. Errors carry the
/// 1-based line number.
pub fn parse_lines(text: &str) -> Result<Vec<Slo>, (usize, SloError)> {
    let mut slos = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if !line.is_empty() {
            slos.push(Slo::parse(line).map_err(|e| (i + 1, e))?);
        }
    }
    Ok(slos)
}

/// One SLO judged: the value measured (`None`: no samples of its operation) and whether it held.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub slo: Slo,
    pub measured: Option<f64>,
    /// Attempts the figure rests on.
    pub samples: u64,
    pub pass: bool,
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        if self.pass {
            "PASS"
        } else {
            "FAIL"
        }
    }

    /// `FAIL  roundtrip p99 < 100ms  measured 132.1 ms (4,210 samples)`.
    pub fn line(&self) -> String {
        let measured = match self.measured {
            Some(v) => format!("measured {v:.3} {} ({} samples)", self.slo.unit(), self.samples),
            None => format!("no samples of {}", self.slo.target()),
        };
        format!("{}  {}  {measured}", self.label(), self.slo)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "slo": self.slo.text, "kind": self.slo.kind, "name": self.slo.name,
            "measure": self.slo.measure.to_string(), "limit": self.slo.limit, "inclusive": self.slo.inclusive,
            "unit": self.slo.unit(), "measured": self.measured, "samples": self.samples, "verdict": self.label(),
        })
    }
}

/// Judges every SLO against what was recorded (`ops`: operations with their figures over the span judged).
pub fn judge(slos: &[Slo], ops: &[(Op, OpStats)]) -> Vec<Verdict> {
    slos.iter().map(|slo| judge_one(slo, ops)).collect()
}

fn judge_one(slo: &Slo, ops: &[(Op, OpStats)]) -> Verdict {
    let stats = aggregate(ops.iter().filter(|(op, _)| slo.matches(op)).map(|(_, s)| s));
    let measured = (stats.count > 0).then(|| match slo.measure {
        Measure::Failures => 100.0 * stats.failures as f64 / stats.count as f64,
        Measure::Max => stats.latency.max() as f64 / 1000.0,
        Measure::Percentile(p) => stats.latency.value_at_quantile(p / 100.0) as f64 / 1000.0,
    });
    let pass = measured.is_some_and(|m| slo.holds(m));
    Verdict { slo: slo.clone(), measured, samples: stats.count, pass }
}

/// Whether every verdict passed (true for none).
pub fn all_pass(verdicts: &[Verdict]) -> bool {
    verdicts.iter().all(|v| v.pass)
}

/// The verdicts as text for the console and `summary.txt`: a heading line and one line each.
pub fn text(verdicts: &[Verdict]) -> String {
    let failed = verdicts.iter().filter(|v| !v.pass).count();
    let mut out = format!("SLOs: {} of {} held\n", verdicts.len() - failed, verdicts.len());
    for v in verdicts {
        out.push_str("  ");
        out.push_str(&v.line());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::tests::{ms, recorder, sample};
    use crate::metrics::Outcome;

    #[test]
    fn the_three_documented_forms_parse() {
        let s = Slo::parse(" roundtrip p99 < 100ms ").unwrap();
        assert_eq!(
            (s.kind, s.name.as_deref(), s.measure, s.limit),
            (None, Some("roundtrip"), Measure::Percentile(99.0), 100.0)
        );
        assert_eq!(s.text, "roundtrip p99 < 100ms");
        let s = Slo::parse("failures < 1%").unwrap();
        assert_eq!((s.unit(), s.name, s.measure, s.limit), ("%", None, Measure::Failures, 1.0));
        let s = Slo::parse("POST /login/ p95 < 500ms").unwrap();
        assert_eq!((s.kind.as_deref(), s.name.as_deref(), s.limit), (Some("POST"), Some("/login/"), 500.0));
        let s = Slo::parse("MQTT publish set_config max <= 1.5s").unwrap();
        assert_eq!(
            (s.name.as_deref(), s.measure, s.inclusive, s.limit),
            (Some("publish set_config"), Measure::Max, true, 1500.0)
        );
        assert_eq!(Slo::parse("p99.9<800us").unwrap().measure, Measure::Percentile(99.9));
        assert_eq!(Slo::parse("p99.9<800us").unwrap().limit, 0.8);
        assert_eq!(Slo::parse("GET p50 < 1s").unwrap().name.as_deref(), Some("GET"), "a lone word is a name");
    }

    fn err(text: &str) -> String {
        Slo::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn every_error_names_the_bad_part() {
        assert!(err("  ").contains("empty"));
        let e = err("roundtrip p99 100ms");
        assert!(e.contains("\"roundtrip p99 100ms\"") && e.contains("no comparison"), "{e}");
        let e = err("roundtrip p99 > 100ms");
        assert!(e.contains("\">\" is not supported"), "{e}");
        let e = err("roundtrip p99 >= 100ms");
        assert!(e.contains("\">=\" is not supported"), "{e}");
        let e = err("< 100ms");
        assert!(e.contains("nothing before \"<\""), "{e}");
        let e = err("roundtrip median < 100ms");
        assert!(e.contains("\"median\" is not a measure"), "{e}");
        let e = err("roundtrip p0 < 100ms");
        assert!(e.contains("\"p0\": a percentile must be above 0"), "{e}");
        let e = err("roundtrip p101 < 100ms");
        assert!(e.contains("\"p101\""), "{e}");
        let e = err("roundtrip p99 < 100");
        assert!(e.contains("limit \"100\"") && e.contains("duration"), "{e}");
        let e = err("roundtrip p99 < 100 parsecs");
        assert!(e.contains("limit \"100 parsecs\""), "{e}");
        let e = err("roundtrip p99 < 1%");
        assert!(e.contains("limit \"1%\"") && e.contains("duration"), "{e}");
        let e = err("failures < 10ms");
        assert!(e.contains("limit \"10ms\"") && e.contains("share"), "{e}");
        let e = err("failures < 120%");
        assert!(e.contains("limit \"120%\""), "{e}");
        let e = err("failures <= ");
        assert!(e.contains("limit \"\""), "{e}");
    }

    #[test]
    fn files_hold_one_a_line_with_comments() {
        let text = "# gates\nroundtrip p99 < 100ms\n\nfailures < 1%  # any operation\n";
        let slos = parse_lines(text).unwrap();
        assert_eq!(
            slos.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
            ["roundtrip p99 < 100ms", "failures < 1%"]
        );
        let (line, e) = parse_lines("failures < 1%\nroundtrip p99 = 3ms\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(e.to_string().contains("\"=\""), "{e}");
    }

    fn recorded() -> Vec<(Op, OpStats)> {
        let (mut r, t0) = recorder();
        let rt = r.op("MQTT", "roundtrip");
        let get = r.op("GET", "/login/");
        let post = r.op("POST", "/login/");
        for i in 0..100 {
            sample(&mut r, rt, t0, i * 10, 0, 1 + i); // 1..100 ms
        }
        sample(&mut r, get, t0, 0, 0, 20);
        sample(&mut r, post, t0, 0, 0, 200);
        r.record(post, Outcome::failure("HTTP 500"), t0, t0, t0 + ms(300));
        r.roll(t0 + ms(2000));
        r.totals().ops.clone()
    }

    #[test]
    fn verdicts_come_from_the_recorded_histograms() {
        let ops = recorded();
        let slos: Vec<Slo> = [
            "roundtrip p99 < 100ms",   // p99 is 99 ms (to 3 digits)
            "roundtrip p50 < 50ms",    // p50 is 50 ms: not below
            "roundtrip p50 <= 50.1ms", // ... but within
            "roundtrip max < 1s",
            "POST /login/ failures < 10%", // 1 of 2
            "/login/ max < 250ms",         // GET and POST together: 300 ms
            "failures < 1%",               // 1 of 103
            "nosuch p99 < 1s",
        ]
        .iter()
        .map(|t| Slo::parse(t).unwrap())
        .collect();
        let v = judge(&slos, &ops);
        let got: Vec<(bool, Option<f64>)> =
            v.iter().map(|v| (v.pass, v.measured.map(|m| (m * 10.0).round() / 10.0))).collect();
        assert_eq!(
            got,
            [
                (true, Some(99.0)),
                (false, Some(50.0)),
                (true, Some(50.0)),
                (true, Some(100.0)),
                (false, Some(50.0)),
                (false, Some(300.0)),
                (true, Some(1.0)),
                (false, None),
            ]
        );
        assert_eq!(v[5].samples, 3);
        assert!(!all_pass(&v) && all_pass(&v[..1]) && all_pass(&[]));
        assert_eq!(v[7].line(), "FAIL  nosuch p99 < 1s  no samples of nosuch");
        assert!(v[0].line().starts_with("PASS  roundtrip p99 < 100ms  measured 99.0"), "{}", v[0].line());
        let t = text(&v);
        assert!(t.starts_with("SLOs: 4 of 8 held\n"), "{t}");
        assert_eq!(v[4].json()["verdict"], "FAIL");
        assert_eq!(v[4].json()["unit"], "%");
    }
}
