//! The per-interval recorder: interns operations, files each sample under the open interval, and on
//! [`Recorder::roll`] closes the interval into an [`IntervalReport`] that it also adds to the run's [`Totals`].
//!
//! It reads no clock. The caller passes instants (`std::time::Instant`; tokio's converts with `into_std()`, which
//! keeps paused-time tests exact) and, once, the wall-clock time of the anchor instant; wall times of intervals and
//! failures are the anchor plus an offset. Memory is flat: per operation, the open interval's [`OpStats`] and the
//! run's; a report is moved out on each roll, and the number of operations is capped at [`MAX_OPS`].

use std::time::{Duration, Instant, SystemTime};

use time::{OffsetDateTime, UtcOffset};

use super::stats::{aggregate, OpStats, Timing};
use super::{Op, OpId, Outcome};

/// Operations a recorder interns before new names start sharing one `(other)` operation of their kind. Names must be
/// grouped (`/lampi/device/[id]`), never raw URLs; this cap keeps such a mistake from eating the lamp's memory.
pub const MAX_OPS: usize = 256;
/// The name shared by operations beyond [`MAX_OPS`].
pub const OTHER_OP: &str = "(other)";

/// One closed interval: what each operation did from `start` for `length`.
#[derive(Debug, Clone)]
pub struct IntervalReport {
    /// Wall-clock (UTC) start of the interval.
    pub start: OffsetDateTime,
    pub length: Duration,
    /// Every operation seen so far in the run, in the order they were interned; idle ones have empty stats.
    pub ops: Vec<(Op, OpStats)>,
    /// Samples recorded in this interval although they finished before it began (queued across a roll).
    pub late_samples: u64,
}

impl IntervalReport {
    /// Wall-clock (UTC) end of the interval: the time sar and Locust stamp a row with.
    pub fn end(&self) -> OffsetDateTime {
        self.start + self.length
    }

    /// All operations together (Locust's "Aggregated").
    pub fn aggregate(&self) -> OpStats {
        aggregate(self.ops.iter().map(|(_, s)| s))
    }

    /// The stats of one operation, if it is in the report.
    pub fn get(&self, op: &Op) -> Option<&OpStats> {
        self.ops.iter().find(|(o, _)| o == op).map(|(_, s)| s)
    }
}

/// Everything in the intervals closed so far (or in several runs, after [`super::merge`]).
#[derive(Debug, Clone)]
pub struct Totals {
    /// Wall-clock (UTC) start of the first interval.
    pub start: OffsetDateTime,
    /// Wall-clock span covered, from `start`: the sum of interval lengths for one run.
    pub elapsed: Duration,
    pub ops: Vec<(Op, OpStats)>,
    pub late_samples: u64,
}

impl Totals {
    pub fn new(start: OffsetDateTime) -> Totals {
        Totals { start, elapsed: Duration::ZERO, ops: Vec::new(), late_samples: 0 }
    }

    /// Adds a closed interval that follows the ones already absorbed.
    pub fn absorb(&mut self, report: &IntervalReport) {
        self.elapsed += report.length;
        self.late_samples += report.late_samples;
        for (op, stats) in &report.ops {
            self.add_op(op, stats);
        }
    }

    pub(crate) fn add_op(&mut self, op: &Op, stats: &OpStats) {
        match self.ops.iter_mut().find(|(o, _)| o == op) {
            Some((_, mine)) => mine.add(stats),
            None => {
                // Presized: the totals live as long as the run, and would otherwise grow with each new maximum.
                let mut mine = OpStats::presized();
                mine.add(stats);
                self.ops.push((op.clone(), mine));
            }
        }
    }

    /// All operations together (Locust's "Aggregated").
    pub fn aggregate(&self) -> OpStats {
        aggregate(self.ops.iter().map(|(_, s)| s))
    }

    pub fn get(&self, op: &Op) -> Option<&OpStats> {
        self.ops.iter().find(|(o, _)| o == op).map(|(_, s)| s)
    }

    /// Every failure tally as (operation, error, tally), most frequent first (as Locust orders its failures).
    pub fn failures(&self) -> Vec<(&Op, &str, super::FailureStat)> {
        let mut rows: Vec<_> =
            self.ops.iter().flat_map(|(op, s)| s.errors.iter().map(move |(e, stat)| (op, e.as_str(), *stat))).collect();
        rows.sort_by(|a, b| b.2.occurrences.cmp(&a.2.occurrences).then_with(|| (a.0, a.1).cmp(&(b.0, b.1))));
        rows
    }
}

/// Records samples into the open interval and closes intervals on demand. See the module docs.
#[derive(Debug)]
pub struct Recorder {
    anchor: Instant,
    anchor_wall: OffsetDateTime,
    ops: Vec<Op>,
    /// Indexed by `OpId`: the open interval's stats, and whether the op has appeared in a report yet.
    current: Vec<OpStats>,
    seen: Vec<bool>,
    interval_start: Instant,
    late_samples: u64,
    totals: Totals,
}

impl Recorder {
    /// A recorder whose first interval opens at `anchor`, which happened at wall-clock time `anchor_wall`.
    pub fn new(anchor: Instant, anchor_wall: SystemTime) -> Recorder {
        let anchor_wall = OffsetDateTime::from(anchor_wall).to_offset(UtcOffset::UTC);
        Recorder {
            anchor,
            anchor_wall,
            ops: Vec::new(),
            current: Vec::new(),
            seen: Vec::new(),
            interval_start: anchor,
            late_samples: 0,
            totals: Totals::new(anchor_wall),
        }
    }

    /// The id of operation `(kind, name)`, interning it on first use. Intern once at setup and keep the id.
    pub fn op(&mut self, kind: &str, name: &str) -> OpId {
        if let Some(i) = self.ops.iter().position(|o| o.kind == kind && o.name == name) {
            return OpId(i as u32);
        }
        if self.ops.len() >= MAX_OPS - 1 && name != OTHER_OP {
            return self.op(kind, OTHER_OP);
        }
        self.ops.push(Op::new(kind, name));
        self.current.push(OpStats::new());
        self.seen.push(false);
        OpId(self.ops.len() as u32 - 1)
    }

    /// The interned operations, indexed by `OpId`.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Records one attempt of `op`: scheduled at `intended`, sent at `started`, ended at `finished`.
    ///
    /// # Panics
    /// If `op` came from another recorder (an `OpId` this one never issued).
    pub fn record(&mut self, op: OpId, outcome: Outcome, intended: Instant, started: Instant, finished: Instant) {
        if finished < self.interval_start {
            self.late_samples += 1;
        }
        let at = self.wall(finished);
        self.current[op.0 as usize].record(outcome, Timing::new(intended, started, finished), at);
    }

    /// Closes the open interval at `now`, adds it to the totals and returns it; the next interval opens at `now`.
    pub fn roll(&mut self, now: Instant) -> IntervalReport {
        let now = now.max(self.interval_start);
        let mut ops = Vec::new();
        for (i, stats) in self.current.iter_mut().enumerate() {
            if stats.is_empty() && !self.seen[i] {
                continue;
            }
            self.seen[i] = true;
            ops.push((self.ops[i].clone(), std::mem::take(stats)));
        }
        let report = IntervalReport {
            start: self.wall(self.interval_start),
            length: now - self.interval_start,
            ops,
            late_samples: std::mem::take(&mut self.late_samples),
        };
        self.totals.absorb(&report);
        self.interval_start = now;
        report
    }

    /// Everything in the intervals closed so far.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Wall-clock (UTC) time of `t`, by its offset from the anchor (instants before the anchor map to it).
    pub fn wall(&self, t: Instant) -> OffsetDateTime {
        self.anchor_wall + t.saturating_duration_since(self.anchor)
    }

    /// Wall-clock (UTC) time of the anchor: the run's start.
    pub fn start(&self) -> OffsetDateTime {
        self.anchor_wall
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    /// 2026-11-27 14:48:37 UTC.
    pub(crate) const WALL_SECS: u64 = 1_795_790_917;

    pub(crate) fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    pub(crate) fn recorder() -> (Recorder, Instant) {
        let t0 = Instant::now();
        (Recorder::new(t0, UNIX_EPOCH + Duration::from_secs(WALL_SECS)), t0)
    }

    /// Records a success taking `svc` ms that was meant to start at `at` ms but started `late` ms later.
    pub(crate) fn sample(r: &mut Recorder, op: OpId, t0: Instant, at: u64, late: u64, svc: u64) {
        let intended = t0 + ms(at);
        r.record(op, Outcome::success(100), intended, intended + ms(late), intended + ms(late + svc));
    }

    #[test]
    fn the_run_totals_do_not_grow_with_each_new_maximum_below_a_minute() {
        let (mut r, t0) = recorder();
        let rt = r.op("MQTT", "roundtrip");
        let mut sizes = Vec::new();
        for (i, svc) in [5, 300, 2_000, 9_000, 40_000].into_iter().enumerate() {
            let at = i as u64 * 50_000;
            sample(&mut r, rt, t0, at, 0, svc); // a new maximum each interval, up to 40 s
            r.roll(t0 + ms(at + svc + 1));
            let s = r.totals().get(&Op::new("MQTT", "roundtrip")).unwrap();
            sizes.push((s.latency.distinct_values(), s.service.distinct_values(), s.lateness.distinct_values()));
        }
        assert!(sizes.windows(2).all(|w| w[0] == w[1]), "the totals' histograms resized: {sizes:?}");
        let s = r.totals().get(&Op::new("MQTT", "roundtrip")).unwrap();
        assert_eq!(s.count, 5);
        assert_eq!(
            s.latency.highest_equivalent(s.latency.max()),
            s.latency.highest_equivalent(40_000_000),
            "the maximum kept"
        );
    }

    #[test]
    fn wall_clock_is_the_anchor_plus_an_offset() {
        let (r, t0) = recorder();
        assert_eq!(r.start().to_string(), "2026-11-27 14:48:37.0 +00:00:00");
        assert_eq!(r.wall(t0 + ms(1500)).to_string(), "2026-11-27 14:48:38.5 +00:00:00");
    }

    #[test]
    fn samples_land_in_the_interval_open_when_recorded() {
        let (mut r, t0) = recorder();
        let get = r.op("GET", "/lampi/");
        let rt = r.op("MQTT", "roundtrip");
        assert_eq!(r.op("GET", "/lampi/"), get, "interning is idempotent");
        sample(&mut r, get, t0, 100, 0, 10);
        sample(&mut r, get, t0, 200, 0, 10);
        let first = r.roll(t0 + ms(1000));
        sample(&mut r, rt, t0, 1500, 0, 20);
        let second = r.roll(t0 + ms(2000));
        let third = r.roll(t0 + ms(3000));

        assert_eq!(first.ops.len(), 1, "an op never seen has no row yet");
        assert_eq!(first.get(&Op::new("GET", "/lampi/")).unwrap().count, 2);
        assert_eq!(first.length, ms(1000));
        assert_eq!(second.start, r.start() + ms(1000));
        assert_eq!(second.get(&Op::new("GET", "/lampi/")).unwrap().count, 0, "seen ops keep a row when idle");
        assert_eq!(second.get(&Op::new("MQTT", "roundtrip")).unwrap().count, 1);
        assert_eq!(third.ops.len(), 2);
        assert!(third.ops.iter().all(|(_, s)| s.is_empty()), "an empty interval is a report of zeros");
        assert_eq!(r.totals().elapsed, ms(3000));
        assert_eq!(r.totals().get(&Op::new("GET", "/lampi/")).unwrap().count, 2);
        assert_eq!(r.totals().aggregate().count, 3);
    }

    #[test]
    fn a_sample_queued_across_a_roll_is_counted_late() {
        let (mut r, t0) = recorder();
        let op = r.op("MQTT", "publish");
        r.roll(t0 + ms(1000));
        sample(&mut r, op, t0, 900, 0, 50); // finished at 950 ms, recorded after the roll at 1000 ms
        sample(&mut r, op, t0, 1100, 0, 50);
        let report = r.roll(t0 + ms(2000));
        assert_eq!(report.late_samples, 1);
        assert_eq!(report.get(&Op::new("MQTT", "publish")).unwrap().count, 2);
        assert_eq!(r.roll(t0 + ms(3000)).late_samples, 0);
        assert_eq!(r.totals().late_samples, 1);
    }

    #[test]
    fn corrected_latency_includes_the_wait_that_raw_service_time_hides() {
        let (mut r, t0) = recorder();
        let op = r.op("POST", "/login/");
        for i in 0..100 {
            // The generator stalled: each request started 500 ms after its slot, then took 10 ms.
            sample(&mut r, op, t0, i * 10, 500, 10);
        }
        let report = r.roll(t0 + ms(2000));
        let s = report.get(&Op::new("POST", "/login/")).unwrap();
        assert_eq!(s.service.value_at_quantile(0.99), s.service.highest_equivalent(10_000));
        assert_eq!(s.latency.value_at_quantile(0.99), s.latency.highest_equivalent(510_000));
        assert_eq!(s.lateness.max(), s.lateness.highest_equivalent(500_000));
        assert_eq!(s.latency.min(), s.latency.lowest_equivalent(510_000));
    }

    #[test]
    fn failures_are_tallied_in_the_interval_and_the_totals() {
        let (mut r, t0) = recorder();
        let op = r.op("POST", "/login/");
        r.record(op, Outcome::failure("login: wrong password"), t0, t0, t0 + ms(30));
        r.roll(t0 + ms(1000));
        r.record(op, Outcome::failure("login: wrong password"), t0 + ms(1200), t0 + ms(1200), t0 + ms(1250));
        r.record(op, Outcome::failure("HTTP 500"), t0 + ms(1300), t0 + ms(1300), t0 + ms(1310));
        let second = r.roll(t0 + ms(2000));
        assert_eq!(second.ops[0].1.failures, 2);
        let failures = r.totals().failures();
        assert_eq!(failures.len(), 2);
        let (op_, error, stat) = failures[0];
        assert_eq!((op_.name.as_str(), error, stat.occurrences), ("/login/", "login: wrong password", 2));
        assert_eq!(stat.first_seen, r.start() + ms(30));
        assert_eq!(stat.last_seen, r.start() + ms(1250));
    }

    #[test]
    fn operations_are_capped() {
        let (mut r, _) = recorder();
        for i in 0..(MAX_OPS + 50) {
            r.op("GET", &format!("/lampi/device/{i}"));
        }
        assert_eq!(r.ops().len(), MAX_OPS);
        assert_eq!(r.op("GET", "/yet/another"), r.op("GET", OTHER_OP));
        assert_eq!(r.ops().last().unwrap().name, OTHER_OP);
    }
}
