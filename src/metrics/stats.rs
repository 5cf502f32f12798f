//! What one operation did over a span of time (an interval, a run, several runs): counts, bytes, the three timing
//! histograms and the failure tally. [`OpStats`] only records and adds; it knows nothing of intervals, operations'
//! names or files. Adding is exact (histogram addition, never averaging percentiles), so interval -> run -> fleet
//! totals lose nothing but the histograms' 3 significant digits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use time::OffsetDateTime;

use super::Outcome;

/// Largest value kept, in microseconds (1 hour); larger ones are recorded as this.
pub const MAX_MICROS: u64 = 3_600_000_000;
/// Significant decimal digits every histogram keeps.
pub const SIGFIG: u8 = 3;
/// Distinct failure names kept per operation; further names are counted under [`OTHER_ERRORS`].
pub const MAX_ERRORS_PER_OP: usize = 64;
/// The failure name that collects names beyond [`MAX_ERRORS_PER_OP`].
pub const OTHER_ERRORS: &str = "(other errors)";

/// An empty histogram of microseconds.
///
/// It starts small (16 KiB) and resizes as larger values arrive; [`record_micros`] clamps to [`MAX_MICROS`], so it
/// never grows past the size for 1 h (about 184 KiB).
pub fn histogram() -> Histogram<u64> {
    Histogram::new(SIGFIG).expect("an auto-resizing histogram with 3 significant digits is a valid configuration")
}

/// The range a run's totals are sized for from the start, in microseconds (1 minute).
pub const PRESIZED_MICROS: u64 = 60_000_000;

/// An empty histogram of microseconds sized for values up to [`PRESIZED_MICROS`] from the start (136 KiB), still
/// resizing (to [`MAX_MICROS`]) for larger ones. For histograms that live as long as the run, the totals: an
/// auto-sized one grows with each new maximum (each latency spike), in a heap that keeps what it moved out of.
pub fn presized_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, PRESIZED_MICROS, SIGFIG)
        .expect("a histogram from 1 µs to 1 minute with 3 significant digits is a valid configuration");
    h.auto(true);
    h
}

/// Records `us` microseconds, clamped to [`MAX_MICROS`].
pub fn record_micros(h: &mut Histogram<u64>, us: u64) {
    let us = us.min(MAX_MICROS);
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

/// Adds `src` into `dst` exactly. Never fails: our histograms resize to take any range; should `dst` be a fixed-range
/// one that refuses `src`, values are re-recorded bucket by bucket, clamped to `dst`'s range, so no sample is lost.
pub fn add_histogram(dst: &mut Histogram<u64>, src: &Histogram<u64>) {
    if dst.add(src).is_ok() {
        return;
    }
    for v in src.iter_recorded() {
        let value = v.value_iterated_to();
        if dst.record_n(value, v.count_at_value()).is_err() {
            dst.saturating_record_n(value, v.count_at_value());
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The three durations derived from one attempt's instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `finished - intended`: corrected for coordinated omission.
    pub latency: Duration,
    /// `finished - started`: raw service time.
    pub service: Duration,
    /// `started - intended`, zero if the attempt started on time or early.
    pub lateness: Duration,
}

impl Timing {
    /// Derives the timing; instants out of order give zero rather than a panic.
    pub fn new(intended: Instant, started: Instant, finished: Instant) -> Timing {
        Timing {
            latency: finished.saturating_duration_since(intended),
            service: finished.saturating_duration_since(started),
            lateness: started.saturating_duration_since(intended),
        }
    }
}

/// How often one failure name occurred, and when (wall-clock time of the failed attempts' completion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureStat {
    pub occurrences: u64,
    pub first_seen: OffsetDateTime,
    pub last_seen: OffsetDateTime,
}

impl FailureStat {
    fn add(&mut self, other: &FailureStat) {
        self.occurrences += other.occurrences;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}

/// One operation's figures over some span. `count == latency.len() == service.len() == lateness.len()`.
#[derive(Debug, Clone)]
pub struct OpStats {
    /// Every attempt, failed or not (Locust's "Request Count").
    pub count: u64,
    pub failures: u64,
    /// Content bytes of successful attempts.
    pub bytes: u64,
    /// Corrected latency, µs.
    pub latency: Histogram<u64>,
    /// Raw service time, µs.
    pub service: Histogram<u64>,
    /// Lateness of the start, µs.
    pub lateness: Histogram<u64>,
    /// Failure name -> tally; at most [`MAX_ERRORS_PER_OP`] + 1 entries.
    pub errors: BTreeMap<String, FailureStat>,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            count: 0,
            failures: 0,
            bytes: 0,
            latency: histogram(),
            service: histogram(),
            lateness: histogram(),
            errors: BTreeMap::new(),
        }
    }
}

impl OpStats {
    pub fn new() -> OpStats {
        OpStats::default()
    }

    /// Empty, its histograms [`presized_histogram`]s: for figures kept for the whole run.
    pub fn presized() -> OpStats {
        OpStats {
            count: 0,
            failures: 0,
            bytes: 0,
            latency: presized_histogram(),
            service: presized_histogram(),
            lateness: presized_histogram(),
            errors: BTreeMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records one attempt that completed at wall-clock time `at`.
    pub fn record(&mut self, outcome: Outcome, timing: Timing, at: OffsetDateTime) {
        self.count += 1;
        record_micros(&mut self.latency, micros(timing.latency));
        record_micros(&mut self.service, micros(timing.service));
        record_micros(&mut self.lateness, micros(timing.lateness));
        match outcome {
            Outcome::Success { bytes } => self.bytes += bytes,
            Outcome::Failure { error } => {
                self.failures += 1;
                self.note_error(error, FailureStat { occurrences: 1, first_seen: at, last_seen: at });
            }
        }
    }

    /// Adds `other` into `self` exactly.
    pub fn add(&mut self, other: &OpStats) {
        self.count += other.count;
        self.failures += other.failures;
        self.bytes += other.bytes;
        add_histogram(&mut self.latency, &other.latency);
        add_histogram(&mut self.service, &other.service);
        add_histogram(&mut self.lateness, &other.lateness);
        for (error, stat) in &other.errors {
            self.note_error(error.clone(), *stat);
        }
    }

    fn note_error(&mut self, error: String, stat: FailureStat) {
        let key = if self.errors.contains_key(&error) || self.errors.len() < MAX_ERRORS_PER_OP {
            error
        } else {
            OTHER_ERRORS.to_string()
        };
        match self.errors.get_mut(&key) {
            Some(known) => known.add(&stat),
            None => {
                self.errors.insert(key, stat);
            }
        }
    }

    /// Mean content size per attempt (Locust's "Average Content Size": bytes over all attempts).
    pub fn mean_bytes(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.bytes as f64 / self.count as f64
        }
    }
}

/// The sum of several operations' figures (Locust's "Aggregated").
pub fn aggregate<'a>(stats: impl IntoIterator<Item = &'a OpStats>) -> OpStats {
    let mut total = OpStats::new();
    for s in stats {
        total.add(s);
    }
    total
}

/// Events per second over `span`; 0 for an empty span.
pub fn per_sec(n: u64, span: Duration) -> f64 {
    if span.is_zero() {
        0.0
    } else {
        n as f64 / span.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-27 14:48:37 UTC);

    #[test]
    fn timing_separates_corrected_latency_from_service_time() {
        let intended = Instant::now();
        let started = intended + Duration::from_millis(40);
        let finished = started + Duration::from_millis(10);
        let t = Timing::new(intended, started, finished);
        assert_eq!(t.latency, Duration::from_millis(50));
        assert_eq!(t.service, Duration::from_millis(10));
        assert_eq!(t.lateness, Duration::from_millis(40));
        // Started early: no negative lateness, latency measured from the intended start anyway.
        let early = Timing::new(started, intended, finished);
        assert_eq!(early.lateness, Duration::ZERO);
        assert_eq!(early.latency, Duration::from_millis(10));
    }

    #[test]
    fn failures_count_and_keep_their_times() {
        let mut s = OpStats::new();
        let t =
            Timing { latency: Duration::from_millis(5), service: Duration::from_millis(4), lateness: Duration::ZERO };
        s.record(Outcome::success(100), t, T0);
        let slow = Timing { latency: Duration::from_secs(10), ..t };
        s.record(Outcome::failure("timeout"), slow, T0 + Duration::from_secs(3));
        s.record(Outcome::failure("timeout"), slow, T0 + Duration::from_secs(9));
        assert_eq!((s.count, s.failures, s.bytes), (3, 2, 100));
        assert_eq!(s.latency.len(), 3);
        assert!(s.latency.max() >= 10_000_000, "the failed attempts' times are kept");
        let stat = s.errors["timeout"];
        assert_eq!(stat.occurrences, 2);
        assert_eq!(stat.first_seen, T0 + Duration::from_secs(3));
        assert_eq!(stat.last_seen, T0 + Duration::from_secs(9));
        assert!((s.mean_bytes() - 100.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn distinct_failure_names_are_capped() {
        let mut s = OpStats::new();
        let t = Timing { latency: Duration::ZERO, service: Duration::ZERO, lateness: Duration::ZERO };
        for i in 0..(MAX_ERRORS_PER_OP + 10) {
            s.record(Outcome::failure(format!("HTTP {i}")), t, T0);
        }
        s.record(Outcome::failure("HTTP 0"), t, T0);
        assert_eq!(s.errors.len(), MAX_ERRORS_PER_OP + 1);
        assert_eq!(s.errors[OTHER_ERRORS].occurrences, 10);
        assert_eq!(s.errors["HTTP 0"].occurrences, 2);
        assert_eq!(s.errors.values().map(|e| e.occurrences).sum::<u64>(), s.failures);
    }

    #[test]
    fn histogram_memory_is_bounded_by_the_clamp() {
        let mut fixed = Histogram::<u64>::new_with_bounds(1, MAX_MICROS, SIGFIG).unwrap();
        fixed.record(MAX_MICROS).unwrap();
        let bound = fixed.distinct_values();
        let mut h = histogram();
        let small = h.distinct_values();
        for i in 0..1_000_000u64 {
            record_micros(&mut h, i * i); // up to 10^12 µs: far past the clamp
        }
        let after_million = h.distinct_values();
        assert!(after_million <= bound, "{after_million} buckets > {bound}");
        for i in 0..1_000_000u64 {
            record_micros(&mut h, u64::MAX - i);
        }
        assert_eq!(h.distinct_values(), after_million, "a second million samples must not grow it");
        assert_eq!(h.len(), 2_000_000);
        assert!(small < bound / 10, "an idle histogram stays small: {small}");
        assert!(h.max() <= fixed.highest_equivalent(MAX_MICROS));
    }

    #[test]
    fn adding_is_exact_across_ranges_and_counts_survive_a_refusing_destination() {
        let mut a = histogram();
        let mut b = Histogram::<u64>::new_with_bounds(1, 1000, SIGFIG).unwrap();
        for v in 1..=1000 {
            record_micros(&mut a, v * 1000);
            b.record(v).unwrap();
        }
        let mut dst = histogram();
        add_histogram(&mut dst, &b);
        add_histogram(&mut dst, &a);
        assert_eq!(dst.len(), 2000);
        assert_eq!(dst.value_at_quantile(0.5), 1000);
        assert_eq!(dst.max(), a.max());

        let mut narrow = Histogram::<u64>::new_with_bounds(1, 10_000, SIGFIG).unwrap();
        assert!(narrow.add(&a).is_err(), "precondition: plain add() refuses");
        add_histogram(&mut narrow, &a);
        assert_eq!(narrow.len(), 1000, "no sample is lost, large ones are clamped");
        assert_eq!(narrow.value_at_quantile(0.005), narrow.highest_equivalent(5000));
        assert!(narrow.max() < 20_000 && a.max() > 999_000, "large values clamped to its range, not dropped");
    }
}
