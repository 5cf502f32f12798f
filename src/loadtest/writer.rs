//! The writer thread of a load run: everything done once per interval that may block. The recorder loop (`live`)
//! rolls the histograms and hands each closed interval here, then goes back to draining samples; this thread samples
//! this device (`system`, which reads /proc), writes the interval to every streamed file (`output`), prints the
//! progress line, gives the allocator's free pages back ([`super::heap`]), and keeps the run's view of the generator
//! (its own CPU and memory, the intervals it was saturated), of the fleet (the lamps connected) and of outage
//! windows. Joined at the end, it hands back the run folder and that view ([`Seen`]) for the summary. So the loop
//! that drains samples never waits on a disk, on /proc, on the terminal or on the allocator's trim.
//!
//! Why a dedicated `std::thread` and a FIFO channel rather than `spawn_blocking` per interval: the writer lives as
//! long as the run and its work is serial (rows reach the files in interval order). One thread that owns the files
//! and takes the intervals in order gives that order for free and keeps the writers' state in one place, where a
//! blocking task per interval would have to hand the files back and forth and be awaited before the next; and it
//! does not hold one of tokio's blocking-pool threads for the whole run (this one is named `lt-writer`).
//!
//! The queue holds [`QUEUE`] intervals. When it is full (the disk or the terminal stalled for that many intervals),
//! the loop waits for room; samples then wait in their own bounded channel and the executors wait on it, which shows
//! as lateness, never as a lost row (the policy of `sample`). Nothing is dropped, and memory is bounded by [`QUEUE`]
//! reports. The first I/O error stops the thread; the loop's next hand-over, or the join, returns that error.
//!
//! The cumulative columns of `_stats_history.csv` and the progress line need the run's totals: the thread keeps its
//! own, absorbing each report as the recorder does (the same reports in the same order give the same figures), so no
//! copy of the totals crosses the channel. Their "Aggregated" figures are a running sum of each interval's (adding
//! histograms is exact), so an interval costs what its own samples cost, not a merge of every operation's
//! whole-run histograms.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::output::Output;
use super::system;
use crate::metrics::{self, connections, IntervalReport, Totals};

/// Closed intervals the loop may hand over before it waits for the writer.
pub(super) const QUEUE: usize = 8;

/// One closed interval, as the loop hands it over.
pub(super) struct Interval {
    pub report: IntervalReport,
    /// The fleet's connections over the interval.
    pub connections: connections::Row,
    /// The broker's host and its latest `$SYS` figures (`broker.csv`); none for the last, partial interval.
    pub broker: Option<(String, BTreeMap<String, String>)>,
    /// How long the run had been going when the interval closed (the progress line's clock).
    pub elapsed: Duration,
    /// Whether the run was on (not stopping, not past `--duration`): only then are the lamps connected counted.
    pub running: bool,
}

/// What the thread needs of the run.
pub(super) struct Setup {
    pub out: Output,
    /// The run's totals start empty at this wall-clock time (the recorder's start).
    pub start: time::OffsetDateTime,
    pub interval: Duration,
    /// Internal responders: the lamps are ours, and the run should hold `lamps` of them connected.
    pub internal_responder: bool,
    pub lamps: u64,
    /// Whether stderr is a terminal (the progress line then overwrites itself).
    pub tty: bool,
}

/// What the writer saw of the generator and the fleet over the run.
pub(super) struct Seen {
    pub own: OwnUse,
    /// Intervals in which the generator's own CPU was above 90 % of (up to two of) its cores.
    pub saturated: u32,
    pub cores: f64,
    pub outages: metrics::outage::Detector,
    pub lamps_connected: connections::Extent,
}

/// The load generator's own CPU (percent of one core) and memory over the run.
#[derive(Default)]
pub(super) struct OwnUse {
    n: u32,
    cpu_sum: f64,
    pub cpu_max: f64,
    pub rss_max_kb: u64,
}

impl OwnUse {
    pub fn cpu_mean(&self) -> f64 {
        self.cpu_sum / f64::from(self.n.max(1))
    }

    fn add(&mut self, i: &system::Interval) {
        self.n += 1;
        self.cpu_sum += i.own_cpu;
        self.cpu_max = self.cpu_max.max(i.own_cpu);
        self.rss_max_kb = self.rss_max_kb.max(i.own_rss_kb);
    }
}

type Handed = io::Result<(Output, Seen)>;

/// The loop's end of the writer thread.
pub(super) struct Thread {
    tx: mpsc::Sender<Interval>,
    done: oneshot::Receiver<Handed>,
}

impl Thread {
    /// Starts the thread; it takes this device's baseline sample first.
    pub fn start(setup: Setup) -> io::Result<Thread> {
        let (tx, mut rx) = mpsc::channel::<Interval>(QUEUE);
        let (done_tx, done) = oneshot::channel();
        std::thread::Builder::new().name("lt-writer".into()).spawn(move || {
            let mut writer = Writer::new(setup);
            let result = loop {
                match rx.blocking_recv() {
                    Some(i) => {
                        if let Err(e) = writer.interval(i) {
                            break Err(e);
                        }
                    }
                    None => break Ok(()),
                }
            };
            let _ = done_tx.send(result.map(|()| (writer.out, writer.seen)));
        })?;
        Ok(Thread { tx, done })
    }

    /// Hands one closed interval over, waiting while the queue is full. If the thread has stopped on an error,
    /// that error.
    pub async fn send(&mut self, interval: Interval) -> anyhow::Result<()> {
        if self.tx.send(interval).await.is_ok() {
            return Ok(());
        }
        match (&mut self.done).await {
            Ok(Err(e)) => Err(e.into()),
            _ => anyhow::bail!("the interval writer thread stopped"),
        }
    }

    /// Waits until every interval handed over is written, and takes back the run folder and what the thread saw.
    pub async fn join(self) -> anyhow::Result<(Output, Seen)> {
        drop(self.tx);
        match self.done.await {
            Ok(handed) => Ok(handed?),
            Err(_) => anyhow::bail!("the interval writer thread stopped"),
        }
    }
}

/// The thread's state.
struct Writer {
    out: Output,
    seen: Seen,
    sampler: Option<system::Sampler>,
    totals: Totals,
    /// All operations of `totals` together, kept up to date interval by interval.
    total: metrics::OpStats,
    interval: Duration,
    internal_responder: bool,
    tty: bool,
}

impl Writer {
    fn new(s: Setup) -> Writer {
        Writer {
            out: s.out,
            seen: Seen {
                own: OwnUse::default(),
                saturated: 0,
                cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
                outages: metrics::outage::Detector::new(),
                lamps_connected: connections::Extent::new(if s.internal_responder { s.lamps } else { 0 }),
            },
            sampler: system::Sampler::new(),
            totals: Totals::new(s.start),
            total: metrics::OpStats::presized(),
            interval: s.interval,
            internal_responder: s.internal_responder,
            tty: s.tty,
        }
    }

    /// One closed interval: sample this device, write every file, print the progress line, look for outages, give
    /// free memory back.
    fn interval(&mut self, i: Interval) -> io::Result<()> {
        let Interval { report, connections: conns, broker, elapsed, running } = i;
        self.totals.absorb(&report);
        self.total.add(&report.aggregate());
        let sys = self.sampler.as_mut().map(|s| s.sample(self.interval.as_secs_f64())).unwrap_or_default();
        let seen = &mut self.seen;
        seen.own.add(&sys);
        if sys.own_cpu > 90.0 * seen.cores.min(2.0) {
            seen.saturated += 1;
            tracing::warn!(
                "the load generator itself is saturated ({:.0}% CPU): figures now measure this host, not the target; \
                 use fewer --devices per host",
                sys.own_cpu
            );
        }
        if running {
            // While the run is on (not its teardown): how many lamps were connected.
            seen.lamps_connected.feed(conns.lamps_up);
        }
        // Locust's "User Count": the lamps connected (the owners when the real lamps answer).
        let users = if self.internal_responder { conns.lamps_up } else { conns.owners_up };
        let broker = broker.as_ref().map(|(host, latest)| (host.as_str(), latest));
        self.out.interval(&report, (&self.totals, &self.total), users, &sys, broker, &conns)?;
        let line = metrics::summary::progress(elapsed, &report, &self.total);
        let up =
            if self.internal_responder { format!("lamps up {}", conns.lamps_up) } else { format!("owners up {users}") };
        crate::console::progress(&format!("{line} | {up}"), self.tty);
        self.seen.outages.feed(&metrics::outage::Health::from_report(&report, conns));
        super::heap::give_back(); // after a backlog, what it freed leaves RSS too
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Outcome, Recorder};
    use std::time::SystemTime;

    /// A recorder whose wall clock starts at 1,800,000,000 s, and the writer's set-up for a run folder in `dir`.
    fn run_in(dir: &std::path::Path, lamps: u64) -> (std::time::Instant, Recorder, Setup) {
        let t0 = std::time::Instant::now();
        let rec = Recorder::new(t0, SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let out = Output::create(dir, "host", 1, rec.start(), false).unwrap();
        let start = rec.start();
        (t0, rec, Setup { out, start, interval: Duration::from_secs(1), internal_responder: true, lamps, tty: false })
    }

    #[tokio::test]
    async fn every_interval_handed_over_is_written_in_order_with_the_runs_totals() {
        let dir = tempfile::tempdir().unwrap();
        let (t0, mut rec, setup) = run_in(dir.path(), 5);
        let mut thread = Thread::start(setup).unwrap();
        let op = rec.op("MQTT", "roundtrip");
        let n = 3 * QUEUE as u64; // more than the queue holds: the hand-over waits, nothing is dropped
        for k in 1..=n {
            let t = t0 + Duration::from_secs(k);
            let ms = Duration::from_millis(1);
            rec.record(op, Outcome::success(1), t - 10 * ms, t - 10 * ms, t - 5 * ms);
            let report = rec.roll(t);
            let connections = connections::Row { lamps_up: k, ..Default::default() };
            let interval = Interval { report, connections, broker: None, elapsed: t - t0, running: k != n };
            thread.send(interval).await.unwrap();
        }
        let (_out, seen) = thread.join().await.unwrap();
        assert_eq!(seen.lamps_connected.max(), n - 1, "the last interval was not running");
        assert_eq!(seen.outages.outages(), vec![]);

        let history = std::fs::read_to_string(dir.path().join("lampi_stats_history.csv")).unwrap();
        let mut lines = history.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (stamp, users, total) = (col("Timestamp"), col("User Count"), col("Total Request Count"));
        let rows: Vec<Vec<&str>> =
            lines.map(|l| l.split(',').collect::<Vec<_>>()).filter(|r| r[col("Name")] == "Aggregated").collect();
        assert_eq!(rows.len() as u64, n);
        for (k, row) in (1..=n).zip(&rows) {
            assert_eq!(row[stamp], (1_800_000_000 + k).to_string(), "interval {k} in its place");
            assert_eq!(row[users], k.to_string());
            assert_eq!(row[total], k.to_string(), "the cumulative count includes interval {k}");
        }
    }

    #[test]
    fn the_running_aggregate_is_the_aggregate_of_the_totals() {
        let dir = tempfile::tempdir().unwrap();
        let (t0, mut rec, setup) = run_in(dir.path(), 2);
        let mut w = Writer::new(setup);
        let (get, post) = (rec.op("GET", "/"), rec.op("POST", "/login/"));
        for k in 1..=6u64 {
            let t = t0 + Duration::from_secs(10 * k);
            // Latencies that grow from interval to interval, so the run's histograms resize past the intervals'.
            for j in 0..20 * k {
                let (start, late) = (t - Duration::from_millis(3 * j * k + 1), Duration::from_micros(97 * j));
                rec.record(get, Outcome::success(j), start - late, start, t);
                if j % 7 == 0 {
                    rec.record(post, Outcome::failure(format!("HTTP 50{}", j % 3)), start - late, start, t);
                }
            }
            let interval = Interval {
                report: rec.roll(t),
                connections: connections::Row { lamps_up: 2, ..Default::default() },
                broker: None,
                elapsed: t - t0,
                running: true,
            };
            w.interval(interval).unwrap();
        }
        let (running, all) = (&w.total, w.totals.aggregate());
        assert!(all.count > 100 && all.failures > 10, "{} {}", all.count, all.failures);
        assert_eq!((running.count, running.failures, running.bytes), (all.count, all.failures, all.bytes));
        for (a, b) in
            [(&running.latency, &all.latency), (&running.service, &all.service), (&running.lateness, &all.lateness)]
        {
            assert_eq!((a.len(), a.min(), a.max()), (b.len(), b.min(), b.max()));
            for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
                assert_eq!(a.value_at_quantile(q), b.value_at_quantile(q), "q = {q}");
            }
            assert_eq!(a.mean(), b.mean());
        }
        assert_eq!(running.errors, all.errors);
    }
}
