//! `report compare RUN_A RUN_B`: the same operations in two runs side by side (count, failure rate, p50, p99,
//! max, throughput), the change, and whether the change is beyond the noise each run shows from one interval to
//! the next: the "optimisation experiment" check (mosquitto with and without a setting, a site before and after).
//!
//! Noise: each figure is also taken per interval (an interval's p99, its rate, ...); a change is *significant*
//! when the whole-run figures differ by more than [`SIGMAS`] standard errors (`sqrt(s_a²/n_a + s_b²/n_b)`, `s`
//! each run's spread of its interval values, taken robustly as 1.4826 x the median absolute deviation so one
//! interval stalled by a busy machine does not hide a real change), and by more than [`MIN_RELATIVE`] of the
//! baseline (so a huge run does not flag a 0.1 % change). With fewer than [`MIN_INTERVALS`] intervals with samples in either run, the change is
//! not judged. Whole-run figures come from exactly added histograms, never averaged percentiles.

use std::fmt::Write as _;
use std::path::Path;

use super::dist;
use super::draw::{html, svg, Chart};
use crate::metrics::{Op, OpStats};
use crate::rundir::merge::ops_of;
use crate::rundir::read::{read_run, Run};
use crate::rundir::Error;

/// The page's name in RUN_B when `--out` is not given.
pub const DEFAULT_FILE: &str = "compare.html";
/// Standard errors a change must exceed.
pub const SIGMAS: f64 = 3.0;
/// ... and this share of the baseline.
pub const MIN_RELATIVE: f64 = 0.05;
/// Intervals with samples each run needs for a change to be judged.
pub const MIN_INTERVALS: usize = 3;

/// Whether a change stands out of the runs' own noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Significant,
    WithinNoise,
    /// Too few intervals to tell.
    Unjudged,
}

impl Change {
    pub fn label(self) -> &'static str {
        match self {
            Change::Significant => "SIGNIFICANT",
            Change::WithinNoise => "within noise",
            Change::Unjudged => "too few intervals",
        }
    }
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The spread of per-interval values, robustly: 1.4826 x the median absolute deviation (the standard deviation
/// for normal data, but one interval stalled by a busy machine does not swamp it); the plain standard deviation
/// when more than half the values are equal.
fn spread(xs: &[f64]) -> f64 {
    let mid = median(&mut xs.to_vec());
    let mad = median(&mut xs.iter().map(|x| (x - mid).abs()).collect::<Vec<_>>());
    if mad > 0.0 {
        return 1.4826 * mad;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt()
}

/// Judges the change from `a` to `b` (whole-run figures) against the per-interval values of each run.
pub fn judge(a: f64, b: f64, per_a: &[f64], per_b: &[f64]) -> Change {
    if per_a.len() < MIN_INTERVALS || per_b.len() < MIN_INTERVALS {
        return Change::Unjudged;
    }
    let (sa, sb) = (spread(per_a), spread(per_b));
    let noise = (sa * sa / per_a.len() as f64 + sb * sb / per_b.len() as f64).sqrt();
    let delta = (b - a).abs();
    if delta > SIGMAS * noise && delta > MIN_RELATIVE * a.abs() && delta > 0.0 {
        Change::Significant
    } else {
        Change::WithinNoise
    }
}

/// The figures compared, by name: whole-run value of a run's stats, and its per-interval value.
const METRICS: [&str; 5] = ["failures %", "p50 ms", "p99 ms", "max ms", "throughput /s"];

fn figure(metric: &str, s: &OpStats, secs: f64) -> Option<f64> {
    let q = |q: f64| (!s.latency.is_empty()).then(|| s.latency.value_at_quantile(q) as f64 / 1000.0);
    match metric {
        "failures %" => (s.count > 0).then(|| 100.0 * s.failures as f64 / s.count as f64),
        "p50 ms" => q(0.5),
        "p99 ms" => q(0.99),
        "max ms" => (!s.latency.is_empty()).then(|| s.latency.max() as f64 / 1000.0),
        _ => Some(s.count as f64 / secs.max(1e-9)),
    }
}

/// One compared figure of one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub op: Op,
    pub metric: &'static str,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub change: Change,
}

/// A run's whole figures per operation, its per-interval stats, and its length in seconds.
struct Side {
    ops: Vec<(Op, OpStats)>,
    intervals: Vec<(u64, Vec<(Op, OpStats)>)>,
    secs: f64,
}

fn side(run: &Run) -> Side {
    let secs = run.slots.values().map(|s| s.length).sum::<u64>() as f64;
    let intervals = run.slots.values().map(|s| (s.length, ops_of([s]))).collect();
    Side { ops: ops_of(run.slots.values()), intervals, secs }
}

fn per_interval(side: &Side, op: &Op, metric: &str) -> Vec<f64> {
    let active = side.intervals.iter().filter_map(|(len, ops)| {
        let (_, s) = ops.iter().find(|(o, s)| o == op && s.count > 0)?;
        figure(metric, s, *len as f64)
    });
    active.collect()
}

/// Every operation of either run, each figure compared. Pure.
fn rows(a: &Side, b: &Side) -> Vec<Row> {
    let mut ops: Vec<&Op> = a.ops.iter().map(|(o, _)| o).collect();
    ops.extend(b.ops.iter().map(|(o, _)| o).filter(|o| !a.ops.iter().any(|(x, _)| x == *o)));
    let mut rows = Vec::new();
    for op in ops {
        let find = |s: &Side| s.ops.iter().find(|(o, _)| o == op).map(|(_, st)| st.clone());
        let (sa, sb) = (find(a), find(b));
        for metric in METRICS {
            let fa = sa.as_ref().and_then(|s| figure(metric, s, a.secs));
            let fb = sb.as_ref().and_then(|s| figure(metric, s, b.secs));
            let change = match (fa, fb) {
                (Some(x), Some(y)) => judge(x, y, &per_interval(a, op, metric), &per_interval(b, op, metric)),
                _ => Change::Unjudged,
            };
            rows.push(Row { op: op.clone(), metric, a: fa, b: fb, change });
        }
    }
    rows
}

/// The text table: per operation, the counts, then one line per figure with A, B, the change and the verdict.
pub fn table(a_name: &str, b_name: &str, a: &[(Op, OpStats)], b: &[(Op, OpStats)], rows: &[Row]) -> String {
    let mut t = format!("compare A = {a_name}\n        B = {b_name}\n");
    let _ = writeln!(
        t,
        "(latency corrected, from the intended start; SIGNIFICANT = beyond {SIGMAS} standard errors of the runs' \
         interval-to-interval variation and over {:.0}% of A)",
        MIN_RELATIVE * 100.0
    );
    let count = |ops: &[(Op, OpStats)], op: &Op| ops.iter().find(|(o, _)| o == op).map_or(0, |(_, s)| s.count);
    let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    let mut last: Option<&Op> = None;
    for r in rows {
        if last != Some(&r.op) {
            let _ = writeln!(t, "\n{}  count A {}  B {}", r.op, count(a, &r.op), count(b, &r.op));
            let _ = writeln!(t, "  {:<14}{:>14}{:>14}{:>26}  verdict", "figure", "A", "B", "change");
            last = Some(&r.op);
        }
        let change = match (r.a, r.b) {
            (Some(x), Some(y)) if x.abs() > 1e-12 => format!("{:+.3} ({:+.1}%)", y - x, 100.0 * (y - x) / x),
            (Some(x), Some(y)) => format!("{:+.3}", y - x),
            _ => "-".into(),
        };
        let _ = writeln!(t, "  {:<14}{:>14}{:>14}{:>26}  {}", r.metric, num(r.a), num(r.b), change, r.change.label());
    }
    let n = rows.iter().filter(|r| r.change == Change::Significant).count();
    let _ = writeln!(t, "\n{n} significant change(s)");
    t
}

fn name(dir: &Path) -> String {
    dir.display().to_string()
}

/// Reads both runs, writes the page to `out`, returns the text table.
pub fn compare_dirs(a_dir: &Path, b_dir: &Path, out: &Path) -> Result<String, Error> {
    let (ra, rb) = (read_run(a_dir)?, read_run(b_dir)?);
    let (a, b) = (side(&ra), side(&rb));
    let rows = rows(&a, &b);
    let text = table(&name(a_dir), &name(b_dir), &a.ops, &b.ops, &rows);
    let (da, db) = (dist::read_dir(a_dir)?, dist::read_dir(b_dir)?);
    let mut drawn = Vec::new();
    for (op, _) in a.ops.iter().chain(b.ops.iter().filter(|(o, _)| !a.ops.iter().any(|(x, _)| x == o))) {
        let find = |d: &[dist::OpHistograms]| d.iter().find(|h| h.op == *op).cloned();
        let (ha, hb) = (find(&da), find(&db));
        let mut curves = Vec::new();
        for (colour, label, h) in [(0, "A", &ha), (1, "B", &hb)] {
            if let Some(h) = h {
                curves.push((format!("{label} corrected"), false, colour, &h.corrected));
                curves.push((format!("{label} raw (service)"), true, colour, &h.raw));
            }
        }
        let id = format!("compare-{}", super::plot::slug(&op.to_string()));
        let chart: Chart = dist::chart(&id, &format!("Latency by percentile, A against B: {op}"), &curves);
        let s = svg(&chart, "").map_err(|e| Error::parse(out, 0, format!("chart {id}: {e}")))?;
        drawn.push((chart, s));
    }
    let subtitle = format!("A = {}, B = {}", name(a_dir), name(b_dir));
    let page = html("lampi-agent: two runs compared", &subtitle, &[("Per operation", &text)], &drawn);
    std::fs::write(out, page).map_err(|e| Error::io(out, e))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_counts_only_beyond_the_interval_noise() {
        let a = [10.0, 11.0, 9.0, 10.5, 9.5];
        assert_eq!(judge(10.0, 10.0, &a, &a), Change::WithinNoise, "a run against itself");
        let b: Vec<f64> = a.iter().map(|x| x + 50.0).collect();
        assert_eq!(judge(10.0, 60.0, &a, &b), Change::Significant, "50 ms added");
        let noisy = [2.0, 30.0, 5.0, 25.0, 1.0];
        assert_eq!(judge(12.6, 14.0, &noisy, &noisy), Change::WithinNoise, "inside the spread");
        let tight = [100.0, 100.1, 99.9, 100.0];
        let tight_b = [101.0, 101.1, 100.9, 101.0];
        assert_eq!(judge(100.0, 101.0, &tight, &tight_b), Change::WithinNoise, "1% is under the 5% floor");
        assert_eq!(judge(1.0, 2.0, &a[..2], &a), Change::Unjudged);
        assert_eq!(judge(0.0, 0.0, &[0.0; 4], &[0.0; 4]), Change::WithinNoise, "no failures in either");
        // One stalled interval in A does not hide a 50 ms change...
        let stalled = [10.0, 11.0, 9.0, 10.5, 400.0, 9.5];
        let later: Vec<f64> = stalled.iter().map(|x| x + 50.0).collect();
        assert_eq!(judge(11.0, 61.0, &stalled, &later), Change::Significant);
        // ... while a run whose intervals really are all over the place does.
        let wild = [5.0, 80.0, 20.0, 150.0, 60.0, 1.0];
        assert_eq!(judge(40.0, 60.0, &wild, &wild.map(|x| x + 20.0)), Change::WithinNoise);
    }

    fn side_of(latencies: &[&[u64]]) -> Side {
        use crate::metrics::recorder::tests::{ms, recorder, sample};
        let (mut r, t0) = recorder();
        let op = r.op("GET", "/lampi/");
        let mut intervals = Vec::new();
        for (i, lat) in latencies.iter().enumerate() {
            for (k, l) in lat.iter().enumerate() {
                sample(&mut r, op, t0, i as u64 * 1000 + k as u64, 0, *l);
            }
            let rep = r.roll(t0 + ms((i as u64 + 1) * 1000));
            intervals.push((1, rep.ops.clone()));
        }
        Side { ops: r.totals().ops.clone(), intervals, secs: latencies.len() as f64 }
    }

    #[test]
    fn rows_flag_the_delayed_latency_and_not_the_unchanged_throughput() {
        let base: Vec<&[u64]> = vec![&[10, 12, 11], &[11, 10, 13], &[12, 11, 10], &[10, 13, 12]];
        let slow: Vec<&[u64]> = vec![&[60, 62, 61], &[61, 60, 63], &[62, 61, 60], &[60, 63, 62]];
        let (a, b) = (side_of(&base), side_of(&slow));
        let rows = rows(&a, &b);
        let get = |m: &str| rows.iter().find(|r| r.metric == m).unwrap().change;
        assert_eq!(get("p50 ms"), Change::Significant);
        assert_eq!(get("max ms"), Change::Significant);
        assert_eq!(get("throughput /s"), Change::WithinNoise);
        assert_eq!(get("failures %"), Change::WithinNoise);
        let same = super::rows(&a, &side_of(&base));
        assert!(same.iter().all(|r| r.change != Change::Significant), "{same:?}");
        let text = table("a", "b", &a.ops, &b.ops, &rows);
        assert!(text.contains("GET /lampi/  count A 12  B 12"), "{text}");
        assert!(text.contains("SIGNIFICANT") && text.contains("significant change(s)"), "{text}");
    }
}
