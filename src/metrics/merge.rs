//! Adding runs together exactly, for `report merge` (many lamps load-testing at once, or runs one after another).
//!
//! Percentiles cannot be averaged; histograms can be added. Everything here adds histograms bucket by bucket, so a
//! merged p99 is the p99 of all the samples together (to the histograms' 3 significant digits). In memory, use
//! [`totals`] and [`reports`]; from files, [`hlog`] adds every interval of a `latency.hlog` into per-tag totals. The
//! CSV files hold percentiles only and cannot be merged exactly: that is what the hlog is for.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::stats::{add_histogram, histogram};
use super::{hlog as log, Error, IntervalReport, Totals};

/// Histograms by hlog tag (`MQTT.roundtrip`, `svc:MQTT.roundtrip`).
pub type Tagged = BTreeMap<String, Histogram<u64>>;

/// Adds `other` into `into`: operations matched by (kind, name), failure tallies joined, and the wall-clock span
/// widened to cover both (so rates of concurrent runs add up, and sequential runs average over their whole span).
pub fn totals(into: &mut Totals, other: &Totals) {
    let end = (into.start + into.elapsed).max(other.start + other.elapsed);
    into.start = into.start.min(other.start);
    into.elapsed = Duration::try_from(end - into.start).unwrap_or(Duration::ZERO);
    into.late_samples += other.late_samples;
    for (op, stats) in &other.ops {
        into.add_op(op, stats);
    }
}

/// Adds interval `other` into `into` (the same interval as measured by another lamp): operations added, the span
/// widened to cover both.
pub fn reports(into: &mut IntervalReport, other: &IntervalReport) {
    let end = into.end().max(other.end());
    into.start = into.start.min(other.start);
    into.length = Duration::try_from(end - into.start).unwrap_or(Duration::ZERO);
    into.late_samples += other.late_samples;
    for (op, stats) in &other.ops {
        match into.ops.iter_mut().find(|(o, _)| o == op) {
            Some((_, mine)) => mine.add(stats),
            None => into.ops.push((op.clone(), stats.clone())),
        }
    }
}

/// Adds every interval histogram of one interval log into `into` by tag (untagged lines under `""`). Returns how many
/// intervals it read.
pub fn hlog(input: &[u8], into: &mut Tagged) -> Result<usize, Error> {
    let mut intervals = 0;
    log::read(input, |interval| {
        let sum = into.entry(interval.tag.unwrap_or_default()).or_insert_with(histogram);
        add_histogram(sum, &interval.histogram);
        intervals += 1;
    })?;
    Ok(intervals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::tests::{ms as millis, recorder};
    use crate::metrics::{hlog::Writer, Op, OpId, Outcome, Recorder};
    use std::time::Instant;

    /// A deterministic spread of service times: `seed` changes the shape, so the two runs differ.
    fn run(r: &mut Recorder, t0: Instant, op: OpId, seed: u64, n: u64, out: &mut Vec<IntervalReport>) {
        for i in 0..n {
            let svc = (i * 7919 + seed * 104_729) % (2000 + seed * 3000) + 1;
            let at = t0 + millis(i % 1000);
            let outcome = if i % 97 == seed { Outcome::failure("timeout") } else { Outcome::success(1) };
            r.record(op, outcome, at, at + millis(seed), at + millis(seed) + Duration::from_micros(svc * 100));
            if i % 1000 == 999 {
                out.push(r.roll(t0 + millis(1000 * (i / 1000 + 1))));
            }
        }
    }

    #[test]
    fn merged_percentiles_are_those_of_all_samples_together() {
        let (mut a, t0) = recorder();
        let (mut b, _) = recorder();
        let (mut both, _) = recorder();
        let (mut ra, mut rb, mut rboth) = (Vec::new(), Vec::new(), Vec::new());
        let ids = [a.op("MQTT", "roundtrip"), b.op("MQTT", "roundtrip"), both.op("MQTT", "roundtrip")];
        run(&mut a, t0, ids[0], 1, 5000, &mut ra);
        run(&mut b, t0, ids[1], 2, 3000, &mut rb);
        run(&mut both, t0, ids[2], 1, 5000, &mut rboth);
        run(&mut both, t0, ids[2], 2, 3000, &mut rboth);

        let mut merged = a.totals().clone();
        totals(&mut merged, b.totals());
        let op = Op::new("MQTT", "roundtrip");
        let (m, all) = (merged.get(&op).unwrap(), both.totals().get(&op).unwrap());
        assert_eq!((m.count, m.failures, m.bytes), (all.count, all.failures, all.bytes));
        assert_eq!(m.errors["timeout"].occurrences, all.errors["timeout"].occurrences);
        for h in [(&m.latency, &all.latency), (&m.service, &all.service), (&m.lateness, &all.lateness)] {
            for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
                assert_eq!(h.0.value_at_quantile(q), h.1.value_at_quantile(q), "q = {q}");
            }
        }
        let (pa, pb) =
            (a.totals().ops[0].1.service.value_at_quantile(0.99), b.totals().ops[0].1.service.value_at_quantile(0.99));
        assert_ne!((pa + pb) / 2, m.service.value_at_quantile(0.99), "averaging percentiles would be wrong here");

        let mut first = ra[0].clone();
        reports(&mut first, &rb[0]);
        assert_eq!(first.ops[0].1.count, 2000);
        assert_eq!(first.length, Duration::from_secs(1));
    }

    #[test]
    fn hlogs_from_several_lamps_add_up_exactly() {
        let (mut a, t0) = recorder();
        let (mut b, _) = recorder();
        let (mut ra, mut rb) = (Vec::new(), Vec::new());
        let (ida, idb) = (a.op("GET", "/lampi/"), b.op("GET", "/lampi/"));
        run(&mut a, t0, ida, 3, 4000, &mut ra);
        run(&mut b, t0, idb, 5, 2000, &mut rb);
        let mut merged = Tagged::new();
        for (recorder, reports) in [(&a, &ra), (&b, &rb)] {
            let mut w = Writer::new(Vec::new(), recorder.start()).unwrap();
            for r in reports {
                w.write(r).unwrap();
            }
            assert_eq!(hlog(&w.into_inner(), &mut merged).unwrap(), reports.len() * 3, "three tags per operation");
        }
        let mut expected = a.totals().clone();
        totals(&mut expected, b.totals());
        let e = expected.get(&Op::new("GET", "/lampi/")).unwrap();
        for (tag, h) in
            [("GET./lampi/", &e.latency), ("svc:GET./lampi/", &e.service), ("late:GET./lampi/", &e.lateness)]
        {
            let m = &merged[tag];
            assert_eq!(m.len(), 6000, "{tag}");
            for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
                assert_eq!(m.value_at_quantile(q), h.value_at_quantile(q), "{tag} q = {q}");
            }
        }
    }
}
