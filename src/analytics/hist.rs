//! A sparse histogram that turns samples into [`Quantiles`] in memory bounded by distinct values, not samples.
//!
//! Samples are kept as counts per multiple of a `unit`. Quantiles treat each kept value as spread evenly over a bin
//! of width `spread` centred on it (clamped at 0): the timestamps' resolution. With whole-second timestamps (the
//! Mixpanel export) a think time of "4 s" means anything from about 3.5 to 4.5 s, and spreading it so gives smooth,
//! unbiased quantiles instead of a staircase of integers. Counts (drag lengths) use a spread of 1, so sampling a
//! quantile and rounding gives back the integer distribution.

use std::collections::BTreeMap;

use crate::profile::quantiles::GRID;
use crate::profile::Quantiles;

#[derive(Debug, Clone)]
pub(super) struct Hist {
    unit: f64,
    counts: BTreeMap<i64, u64>,
    n: u64,
    sum: f64,
}

impl Hist {
    pub fn new(unit: f64) -> Hist {
        Hist { unit, counts: BTreeMap::new(), n: 0, sum: 0.0 }
    }

    pub fn add(&mut self, x: f64) {
        if x.is_finite() {
            *self.counts.entry((x / self.unit).round() as i64).or_default() += 1;
            self.n += 1;
            self.sum += x;
        }
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.sum / self.n as f64
        }
    }

    /// The value below which a fraction `p` of the samples lie, values spread over bins of width `spread`.
    pub fn quantile(&self, p: f64, spread: f64) -> f64 {
        let target = p.clamp(0.0, 1.0) * self.n as f64;
        let mut cum = 0.0;
        let mut last = 0.0;
        for (k, c) in &self.counts {
            let centre = *k as f64 * self.unit;
            let (lo, hi) = ((centre - spread / 2.0).max(0.0), centre + spread / 2.0);
            let c = *c as f64;
            if cum + c >= target {
                return if target <= cum { lo } else { lo + (target - cum) / c * (hi - lo) };
            }
            cum += c;
            last = hi;
        }
        last
    }

    /// Quantiles on the derive grid, clamped to `[lo, hi]`; `None` without samples.
    pub fn quantiles(&self, spread: f64, lo: f64, hi: f64) -> Option<Quantiles> {
        if self.n == 0 {
            return None;
        }
        let points = GRID.iter().map(|p| (f64::from(*p), self.quantile(f64::from(*p) / 100.0, spread).clamp(lo, hi)));
        Quantiles::new(points.collect()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_are_spread_over_their_second() {
        let mut h = Hist::new(0.01);
        for x in [3.0, 4.0, 4.0, 5.0] {
            h.add(x);
        }
        assert_eq!(h.quantile(0.0, 1.0), 2.5);
        assert_eq!(h.quantile(0.5, 1.0), 4.0);
        assert_eq!(h.quantile(1.0, 1.0), 5.5);
        assert_eq!(h.quantile(0.375, 1.0), 3.75);
        assert_eq!(h.mean(), 4.0);
    }

    #[test]
    fn counts_round_back_to_themselves() {
        let mut h = Hist::new(1.0);
        for n in [1, 1, 2, 3, 3, 3, 10] {
            h.add(f64::from(n));
        }
        let q = h.quantiles(1.0, 0.5, 1e4).unwrap();
        assert_eq!(q.min(), 0.5);
        assert_eq!(q.at(50.0).round(), 3.0);
        assert_eq!(q.max(), 10.5);
        assert!(Hist::new(1.0).quantiles(1.0, 0.0, 1.0).is_none());
    }

    #[test]
    fn zero_is_not_spread_below_zero() {
        let mut h = Hist::new(0.01);
        h.add(0.0);
        h.add(0.0);
        assert_eq!(h.quantile(0.0, 1.0), 0.0);
        assert_eq!(h.quantile(1.0, 1.0), 0.5);
    }
}
