//! Empirical distributions written as quantiles: `{ p0 = 0.4, p50 = 4.0, p100 = 60 }`.
//!
//! A [`Quantiles`] is a list of (percentile, value) points from p0 to p100 with nondecreasing values. Sampling is by
//! inverse CDF with linear interpolation between points, so the distribution is uniform between two neighbouring
//! quantiles. That keeps a profile readable and tweakable by a person and exactly reproducible from derived data; the
//! price is that the tail between the last two points is flat, which is why derived profiles carry p95 and p99.
//!
//! This module owns the type, its sampling and its TOML form; it knows nothing of what the values mean.

use rand::Rng;
use std::fmt;

/// The percentiles a derived profile writes: dense in the middle, p1/p5 and p95/p99 for the tails.
pub const GRID: [u8; 15] = [0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 100];

/// An empirical distribution given by its quantiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantiles {
    /// (percentile 0..=100, value), percentiles strictly increasing from 0 to 100, values nondecreasing.
    points: Vec<(f64, f64)>,
}

impl Quantiles {
    /// Checks and builds; the error says what is wrong, in words fit for a [`crate::config::Problem`].
    pub fn new(mut points: Vec<(f64, f64)>) -> Result<Quantiles, String> {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        if points.first().map(|p| p.0) != Some(0.0) || points.last().map(|p| p.0) != Some(100.0) {
            return Err("quantiles that include p0 and p100".into());
        }
        for w in points.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(format!("each percentile once (p{} twice)", w[0].0));
            }
            if w[1].1 < w[0].1 {
                return Err(format!(
                    "values that do not decrease as the percentile grows (p{} = {} but p{} = {})",
                    w[0].0, w[0].1, w[1].0, w[1].1
                ));
            }
        }
        Ok(Quantiles { points })
    }

    /// A distribution that is always `value`.
    pub fn constant(value: f64) -> Quantiles {
        Quantiles { points: vec![(0.0, value), (100.0, value)] }
    }

    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }

    /// The inverse CDF at `percent` (0..=100), linearly interpolated.
    pub fn at(&self, percent: f64) -> f64 {
        let pct = percent.clamp(0.0, 100.0);
        let i = self.points.partition_point(|p| p.0 < pct);
        if i == 0 {
            return self.points[0].1;
        }
        let (p0, v0) = self.points[i - 1];
        let (p1, v1) = self.points[i.min(self.points.len() - 1)];
        if p1 <= p0 {
            return v1;
        }
        v0 + (v1 - v0) * (pct - p0) / (p1 - p0)
    }

    /// One draw.
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        self.at(rng.random::<f64>() * 100.0)
    }

    pub fn median(&self) -> f64 {
        self.at(50.0)
    }

    /// The exact mean of the piecewise-uniform distribution the points describe.
    pub fn mean(&self) -> f64 {
        self.points.windows(2).map(|w| (w[1].0 - w[0].0) / 100.0 * (w[0].1 + w[1].1) / 2.0).sum()
    }

    pub fn min(&self) -> f64 {
        self.points[0].1
    }

    pub fn max(&self) -> f64 {
        self.points[self.points.len() - 1].1
    }

    /// The TOML inline table, values with `decimals` places: `{ p0 = 0.4, p50 = 4, p100 = 60 }`.
    pub fn to_toml(&self, decimals: usize) -> String {
        let body: Vec<String> =
            self.points.iter().map(|(p, v)| format!("{} = {}", pct_key(*p), num(*v, decimals))).collect();
        format!("{{ {} }}", body.join(", "))
    }

    /// Reads the inline table form; each wrong entry is one `(key suffix, value, expected)` problem.
    pub fn from_toml(v: &toml::Value, lo: f64, hi: f64) -> Result<Quantiles, Vec<(String, String, String)>> {
        let Some(t) = v.as_table() else {
            return Err(vec![(
                String::new(),
                v.to_string(),
                "a table of percentiles such as { p0 = 1, p50 = 4, p100 = 30 }".into(),
            )]);
        };
        let mut problems = Vec::new();
        let mut points = Vec::new();
        for (k, val) in t {
            let pct = k.strip_prefix('p').and_then(|s| s.parse::<f64>().ok()).filter(|p| (0.0..=100.0).contains(p));
            let x = val.as_float().or_else(|| val.as_integer().map(|i| i as f64)).filter(|x| *x >= lo && *x <= hi);
            match (pct, x) {
                (None, _) => problems.push((format!(".{k}"), val.to_string(), "a percentile key p0 to p100".into())),
                (_, None) => problems.push((format!(".{k}"), val.to_string(), format!("a number from {lo} to {hi}"))),
                (Some(p), Some(x)) => points.push((p, x)),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Quantiles::new(points).map_err(|why| vec![(String::new(), v.to_string(), why)])
    }
}

/// `p50`, `p99.5`.
pub fn pct_key(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("p{}", p as u32)
    } else {
        format!("\"p{p}\"")
    }
}

/// A number with at most `decimals` places, trailing zeros trimmed (TOML accepts `4` and `4.25` alike).
pub fn num(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

impl fmt::Display for Quantiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body: Vec<String> = self.points.iter().map(|(p, v)| format!("{}={}", pct_key(*p), num(*v, 2))).collect();
        f.write_str(&body.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn q(points: &[(f64, f64)]) -> Quantiles {
        Quantiles::new(points.to_vec()).unwrap()
    }

    #[test]
    fn inverse_cdf_interpolates_linearly() {
        let d = q(&[(0.0, 0.0), (50.0, 4.0), (100.0, 10.0)]);
        assert_eq!(d.at(0.0), 0.0);
        assert_eq!(d.at(25.0), 2.0);
        assert_eq!(d.median(), 4.0);
        assert_eq!(d.at(75.0), 7.0);
        assert_eq!(d.at(100.0), 10.0);
        assert!((d.mean() - 4.5).abs() < 1e-12);
    }

    #[test]
    fn sampling_reproduces_the_quantiles() {
        let d = q(&[(0.0, 1.0), (10.0, 2.0), (50.0, 4.0), (90.0, 9.0), (100.0, 20.0)]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut xs: Vec<f64> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
        xs.sort_by(f64::total_cmp);
        assert!((xs[10_000] - 4.0).abs() < 0.1, "{}", xs[10_000]);
        assert!((xs[18_000] - 9.0).abs() < 0.6, "{}", xs[18_000]);
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - d.mean()).abs() / d.mean() < 0.02);
    }

    #[test]
    fn bad_quantiles_say_why() {
        assert!(Quantiles::new(vec![(10.0, 1.0), (100.0, 2.0)]).unwrap_err().contains("p0"));
        assert!(Quantiles::new(vec![(0.0, 3.0), (100.0, 2.0)]).unwrap_err().contains("do not decrease"));
        let v: toml::Value = toml::from_str::<toml::Table>("x = { p0 = 1, q5 = 2, p100 = -1 }").unwrap()["x"].clone();
        let problems = Quantiles::from_toml(&v, 0.0, 10.0).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn toml_round_trip() {
        let d = q(&[(0.0, 0.5), (50.0, 4.0), (99.0, 25.25), (100.0, 60.0)]);
        let text = format!("x = {}", d.to_toml(2));
        assert_eq!(text, "x = { p0 = 0.5, p50 = 4, p99 = 25.25, p100 = 60 }");
        let t: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(Quantiles::from_toml(&t["x"], 0.0, 100.0).unwrap(), d);
    }
}
