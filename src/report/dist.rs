//! Latency by percentile (HdrHistogram's "percentile distribution"): each operation's whole-run histograms read
//! from `latency.hlog` (every interval added exactly), and the curve of latency against percentile on a
//! log-scaled percentile axis out to 99.99 %, where a tail shows that a p99 line over time hides.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;

use super::draw::{percentile_x, Chart, XAxis};
use crate::metrics::hlog::{self, SERVICE_PREFIX};
use crate::metrics::stats::{add_histogram, histogram};
use crate::metrics::Op;
use crate::rundir::read::op_of_tag;
use crate::rundir::{read, Error};

/// One operation's whole-run histograms: corrected latency and raw service time (µs).
#[derive(Debug, Clone)]
pub struct OpHistograms {
    pub op: Op,
    pub corrected: Histogram<u64>,
    pub raw: Histogram<u64>,
}

/// Every operation in an interval log, each interval added in, in tag order.
pub fn from_hlog(bytes: &[u8]) -> Result<Vec<OpHistograms>, crate::metrics::Error> {
    let mut tags: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    hlog::read(bytes, |i| {
        add_histogram(tags.entry(i.tag.unwrap_or_default()).or_insert_with(histogram), &i.histogram)
    })?;
    let ops = tags.iter().filter_map(|(tag, h)| {
        let op = op_of_tag(tag)?;
        let raw = tags.get(&format!("{SERVICE_PREFIX}{tag}")).cloned().unwrap_or_else(histogram);
        Some(OpHistograms { op, corrected: h.clone(), raw })
    });
    Ok(ops.collect())
}

/// Reads a run folder's `latency.hlog` (naming it when damaged).
pub fn read_dir(dir: &Path) -> Result<Vec<OpHistograms>, Error> {
    let path = dir.join("latency.hlog");
    from_hlog(&read(&path)?).map_err(|source| Error::Hlog { path, source })
}

/// The curve of a histogram: (percentile x, ms), from 0 % to the maximum, drawn at 99.99 %.
pub fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut points: Vec<(f64, f64)> = vec![(0.0, h.min() as f64 / 1000.0)];
    for v in h.iter_quantiles(4) {
        let q = v.quantile_iterated_to();
        if q >= 0.9999 {
            break;
        }
        let x = percentile_x(q);
        let y = h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0;
        if points.last().is_some_and(|p| x > p.0) {
            points.push((x, y));
        }
    }
    points.push((4.0, h.max() as f64 / 1000.0));
    points
}

/// One curve of a distribution chart: its name, dashed or not, its colour (palette index), the histogram.
pub type Curve<'a> = (String, bool, usize, &'a Histogram<u64>);

/// A distribution chart: one curve per [`Curve`].
pub fn chart(id: &str, title: &str, curves: &[Curve<'_>]) -> Chart {
    let mut c = Chart::new(id, title, "ms");
    c.x_axis = XAxis::Percentile;
    for (name, dashed, colour, h) in curves {
        for (x, y) in curve(h) {
            c.push(name, *dashed, x, y);
        }
        if let Some(s) = c.series.iter_mut().find(|s| s.name == *name) {
            s.colour = Some(*colour);
        }
    }
    c.series.retain(|s| !s.points.is_empty());
    c
}

/// The chart of one operation in one run: corrected (solid) and raw service time (dashed).
pub fn op_chart(h: &OpHistograms) -> Chart {
    let name = h.op.to_string();
    let id = format!("distribution-{}", super::plot::slug(&name));
    chart(
        &id,
        &format!("Latency by percentile: {name}"),
        &[
            ("corrected (from the intended start)".into(), false, 0, &h.corrected),
            ("raw (service time)".into(), true, 0, &h.raw),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::tests::{ms, recorder, sample};

    #[test]
    fn the_curve_climbs_to_the_maximum_at_four_nines() {
        let (mut r, t0) = recorder();
        let op = r.op("MQTT", "roundtrip");
        for i in 0..10_000u64 {
            // 1 ms each, and one sample in a thousand 500 ms late (coordinated omission the raw figure hides).
            let late = if i % 1000 == 7 { 500 } else { 0 };
            sample(&mut r, op, t0, i / 10, late, 1);
        }
        let report = r.roll(t0 + ms(2000));
        let mut w = hlog::Writer::new(Vec::new(), r.start()).unwrap();
        w.write(&report).unwrap();
        let ops = from_hlog(&w.into_inner()).unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].op, Op::new("MQTT", "roundtrip"));
        let c = curve(&ops[0].corrected);
        assert_eq!(c.first().unwrap().0, 0.0);
        assert_eq!(c.last().unwrap().0, 4.0);
        assert!(c.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "monotonic: {c:?}");
        let at = |x: f64| c.iter().find(|p| p.0 >= x).unwrap().1;
        assert!(at(2.0) < 2.0, "p99 is 1 ms");
        assert!(at(3.5) > 400.0, "the 1-in-1000 stall shows past p99.9: {c:?}");
        let raw = curve(&ops[0].raw);
        assert!(raw.last().unwrap().1 < 2.0, "raw service time never saw the stall");
        let chart = op_chart(&ops[0]);
        assert_eq!(chart.id, "distribution-MQTT-roundtrip");
        assert_eq!(chart.series.len(), 2);
        assert!(chart.series[1].dashed);
    }
}
