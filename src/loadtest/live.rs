//! The recorder task of a load run: it takes every sample into the open interval's histograms and, every
//! `--interval`, closes the interval (the histograms rolled, the fleet's connection counts taken) and hands it to the
//! writer thread (`writer`), which does what blocks: sampling this device, writing every streamed file, printing the
//! progress line. This loop does no blocking I/O, so draining samples never waits on a disk or a terminal. At the
//! end it hands over the last (partial) interval, joins the writer, prints the summary (`summary` for the notes and
//! `summary.json`) and writes the end-of-run files. The executors only send samples and update the fleet's counts.
//!
//! A sample's path: an executor's `sample::Samples` -> the bounded channel -> [`Recording::take`] -> the recorder's
//! open interval (`crate::metrics::Recorder`) -> rolled into an interval report -> the writer thread -> every file.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::time::Instant;

use super::fleet::Fleet;
use super::runner::Counters;
use super::sample::{self, Sample};
use super::stop::{self, Stop};
use super::{output, summary, writer, Options};
use crate::analytics::replay;
use crate::metrics::{self, OpId, Outcome, Recorder};

struct Recording {
    rec: Recorder,
    ids: Ids,
    /// Under a Locust master: every sample recorded is reported there too.
    tap: Option<crate::locust::Tap>,
}

impl Recording {
    fn take(&mut self, s: Sample) {
        if let Some(tap) = &self.tap {
            tap.record(s.op.kind, s.op.name, s.intended, s.finished, s.outcome.as_ref().copied().map_err(|e| &**e));
        }
        let id = self.ids.get(&s.op, &mut self.rec);
        let outcome = match s.outcome {
            Ok(bytes) => Outcome::success(bytes),
            Err(name) => Outcome::failure(name),
        };
        self.rec.record(id, outcome, s.intended.into_std(), s.started.into_std(), s.finished.into_std());
    }
}

/// The recorder's id of each operation seen, looked up once per sample. Executors send the consts of `sample`, so
/// an operation is found by the addresses of its two static strings (a pointer compare each, over the dozen
/// operations a run has); a copy of the same text at another address (another codegen unit's, a leaked string) is
/// found by its text and remembered under its own address too, up to [`Ids::ALIASES`] entries, after which lookups
/// beyond them go by text alone.
#[derive(Default)]
struct Ids(Vec<(sample::Op, OpId)>);

impl Ids {
    const ALIASES: usize = 2 * metrics::recorder::MAX_OPS;

    fn get(&mut self, op: &sample::Op, rec: &mut Recorder) -> OpId {
        let same = |a: &str, b: &str| std::ptr::eq(a, b);
        if let Some((_, id)) = self.0.iter().find(|(o, _)| same(o.kind, op.kind) && same(o.name, op.name)) {
            return *id;
        }
        let id = match self.0.iter().find(|(o, _)| o == op) {
            Some((_, id)) => *id,
            None => rec.op(op.kind, op.name),
        };
        if self.0.len() < Self::ALIASES {
            self.0.push((*op, id));
        }
        id
    }
}

/// The latest `$SYS` figures of the broker, by host.
type BrokerView<'a> = (&'a str, &'a Mutex<BTreeMap<String, String>>);

/// The recorder task's state: what it has recorded and the writer thread it hands each interval to.
pub(super) struct Live {
    recording: Recording,
    writer: writer::Thread,
    tty: bool,
    start: Instant,
    interval: Duration,
    fleet: Arc<Fleet>,
    /// The run's end (`--duration`), and whether it was asked to stop before.
    end: Instant,
    stopping: bool,
}

impl Live {
    /// The recorder of a run that started at `start` (`start_wall` on the wall clock), writing into `out`; it
    /// starts the writer thread.
    pub(super) fn new(
        out: output::Output,
        start: Instant,
        start_wall: std::time::SystemTime,
        opts: &Options,
        fleet: Arc<Fleet>,
        tap: Option<crate::locust::Tap>,
    ) -> anyhow::Result<Live> {
        let rec = Recorder::new(start.into_std(), start_wall);
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let setup = writer::Setup {
            out,
            start: rec.start(),
            interval: opts.interval,
            internal_responder: opts.internal_responder,
            lamps: u64::from(opts.params.lamps),
            tty,
        };
        let writer = writer::Thread::start(setup).context("cannot start the load test's writer thread")?;
        Ok(Live {
            recording: Recording { rec, ids: Ids::default(), tap },
            writer,
            tty,
            start,
            interval: opts.interval,
            fleet,
            end: start + opts.params.duration,
            stopping: false,
        })
    }

    /// Takes samples and closes an interval every `--interval` until the runner is done. On a second interrupt the
    /// runner gets a moment to fail what it still waits for, then is stopped, and the files are written anyway.
    pub(super) async fn record(
        &mut self,
        mut rx: tokio::sync::mpsc::Receiver<Sample>,
        mut runner: tokio::task::JoinHandle<()>,
        broker: BrokerView<'_>,
        mut stop: watch::Receiver<Stop>,
    ) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval_at(self.start + self.interval, self.interval);
        let mut cut_off: Option<Instant> = None;
        loop {
            let at = cut_off.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
            tokio::select! {
                s = rx.recv() => match s {
                    Some(s) => self.recording.take(s),
                    None => break,
                },
                r = &mut runner => {
                    r.context("load runner")?;
                    break;
                }
                _ = stop::now(&mut stop), if cut_off.is_none() => {
                    cut_off = Some(Instant::now() + Duration::from_millis(500));
                }
                _ = tokio::time::sleep_until(at), if cut_off.is_some() => {
                    tracing::warn!("stopping at once: the lamps still busy are cut off");
                    runner.abort();
                    break;
                }
                _ = tick.tick() => {
                    self.stopping = *stop.borrow() != Stop::Running;
                    while let Ok(s) = rx.try_recv() { self.recording.take(s); }
                    let latest = broker.1.lock().unwrap().clone();
                    let closed = self.close(Some((broker.0.to_string(), latest)));
                    self.writer.send(closed).await?;
                }
            }
        }
        // Every lamp is done; take what they sent last.
        while let Ok(s) = rx.try_recv() {
            self.recording.take(s);
        }
        Ok(())
    }

    /// Closes an interval: rolls the histograms and takes the fleet's connection counts, for the writer thread.
    fn close(&mut self, broker: Option<(String, BTreeMap<String, String>)>) -> writer::Interval {
        let report = self.recording.rec.roll(Instant::now().into_std());
        let connections = self.fleet.take();
        let running = Instant::now() < self.end && !self.stopping;
        writer::Interval { report, connections, broker, elapsed: self.start.elapsed(), running }
    }

    /// The end: the last (partial) interval, the table and notes on stdout, the end-of-run files, `summary.json`.
    pub(super) async fn finish(
        mut self,
        opts: &Options,
        counters: &Counters,
        interrupted: bool,
        replayed: Option<&replay::Stats>,
    ) -> anyhow::Result<bool> {
        self.stopping = true;
        let last = self.close(None);
        self.writer.send(last).await?;
        let (out, seen) = self.writer.join().await?;
        if self.tty {
            crate::console::end_progress();
        }
        let totals = self.recording.rec.totals();
        let verdicts = crate::slo::judge(&opts.slos, &totals.ops);
        let results = metrics::summary::summarize(totals);
        let outages = seen.outages.outages();
        let lamps = opts.internal_responder.then_some(opts.params.lamps);
        let end = summary::End { counters, seen: &seen, outages: &outages, interrupted, replayed, lamps };
        let slos = if verdicts.is_empty() { String::new() } else { crate::slo::text(&verdicts) };
        let text = format!("{}{slos}\n{}", metrics::summary::table(&results), end.notes().join("\n"));
        crate::console::out(&text);
        crate::console::out(&format!("results in {}", opts.out.display()));
        out.finish(totals, &text, &end.json(&verdicts, &results))?;
        Ok(crate::slo::all_pass(&verdicts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_found_by_address_and_by_text() {
        let mut rec = Recorder::new(std::time::Instant::now(), std::time::SystemTime::now());
        let mut ids = Ids::default();
        let publish = ids.get(&sample::PUBLISH, &mut rec);
        let roundtrip = ids.get(&sample::ROUNDTRIP, &mut rec);
        assert_ne!(publish, roundtrip);
        assert_eq!(ids.get(&sample::PUBLISH, &mut rec), publish);
        // The same text at other addresses is the same operation.
        let kind: &'static str = Box::leak(String::from("MQTT").into_boxed_str());
        let name: &'static str = Box::leak(String::from("roundtrip").into_boxed_str());
        let copy = sample::Op { kind, name };
        assert!(!std::ptr::eq(copy.name, sample::ROUNDTRIP.name));
        assert_eq!(ids.get(&copy, &mut rec), roundtrip);
        assert_eq!(ids.get(&copy, &mut rec), roundtrip, "remembered under its own address");
        assert_eq!(ids.get(&sample::ROUNDTRIP, &mut rec), roundtrip);
        let names: Vec<_> = rec.ops().iter().map(|o| (o.kind.as_str(), o.name.as_str())).collect();
        assert_eq!(names, [("MQTT", "publish set_config"), ("MQTT", "roundtrip")], "each interned once");
    }
}
