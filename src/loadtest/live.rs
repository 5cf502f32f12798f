//! The recorder task of a load run: it takes every sample, closes an interval every `--interval` (histograms rolled,
//! this device sampled, every streamed file written, connections counted, outages looked for, the progress line
//! printed) and, at the end, writes the summary and the end-of-run files. It owns all the files; the executors only
//! send samples and update the fleet's counts.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::time::Instant;

use super::fleet::Fleet;
use super::runner::{self, Counters};
use super::sample::{self, Sample};
use super::stop::{self, Stop};
use super::{output, system, Options};
use crate::analytics::replay;
use crate::metrics::{self, OpId, Outcome, Recorder};
use crate::profile::Interface;

struct Recording {
    rec: Recorder,
    ids: HashMap<sample::Op, OpId>,
    /// Under a Locust master: every sample recorded is reported there too.
    tap: Option<crate::locust::Tap>,
}

impl Recording {
    fn take(&mut self, s: Sample) {
        if let Some(tap) = &self.tap {
            tap.record(s.op.kind, s.op.name, s.intended, s.finished, s.outcome.as_ref().copied().map_err(|e| &**e));
        }
        let id = *self.ids.entry(s.op.clone()).or_insert_with(|| self.rec.op(s.op.kind, s.op.name));
        let outcome = match s.outcome {
            Ok(bytes) => Outcome::success(bytes),
            Err(name) => Outcome::failure(name),
        };
        self.rec.record(id, outcome, s.intended.into_std(), s.started.into_std(), s.finished.into_std());
    }
}

/// The latest `$SYS` figures of the broker, by host.
type BrokerView<'a> = (&'a str, &'a Mutex<BTreeMap<String, String>>);

/// The recorder task's state: what it has recorded, the files, and the generator's view of itself.
pub(super) struct Live {
    recording: Recording,
    sampler: Option<system::Sampler>,
    out: output::Output,
    own: OwnUse,
    saturated: u32,
    cores: f64,
    tty: bool,
    start: Instant,
    interval: Duration,
    fleet: Arc<Fleet>,
    internal_responder: bool,
    /// The run's end (`--duration`), and whether it was asked to stop before.
    end: Instant,
    stopping: bool,
    outages: metrics::outage::Detector,
    lamps_connected: metrics::connections::Extent,
}

impl Live {
    /// The recorder of a run that started at `start` (`start_wall` on the wall clock), writing into `out`.
    pub(super) fn new(
        out: output::Output,
        start: Instant,
        start_wall: std::time::SystemTime,
        opts: &Options,
        fleet: Arc<Fleet>,
        tap: Option<crate::locust::Tap>,
    ) -> Live {
        let lamps = if opts.internal_responder { u64::from(opts.params.lamps) } else { 0 };
        Live {
            recording: Recording { rec: Recorder::new(start.into_std(), start_wall), ids: HashMap::new(), tap },
            sampler: system::Sampler::new(),
            out,
            own: OwnUse::default(),
            saturated: 0,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
            tty: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            start,
            interval: opts.interval,
            fleet,
            internal_responder: opts.internal_responder,
            end: start + opts.params.duration,
            stopping: false,
            outages: metrics::outage::Detector::new(),
            lamps_connected: metrics::connections::Extent::new(lamps),
        }
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
                    self.tick(Some((broker.0, &latest)))?;
                }
            }
        }
        // Every lamp is done; take what they sent last.
        while let Ok(s) = rx.try_recv() {
            self.recording.take(s);
        }
        Ok(())
    }

    /// Closes an interval: roll the histograms, sample this device, write every file, print the progress line.
    fn tick(&mut self, broker: Option<(&str, &BTreeMap<String, String>)>) -> anyhow::Result<()> {
        let report = self.recording.rec.roll(Instant::now().into_std());
        let sys = self.sampler.as_mut().map(|s| s.sample(self.interval.as_secs_f64())).unwrap_or_default();
        self.own.add(&sys);
        if sys.own_cpu > 90.0 * self.cores.min(2.0) {
            self.saturated += 1;
            tracing::warn!(
                "the load generator itself is saturated ({:.0}% CPU): figures now measure this host, not the target; \
                 use fewer --devices per host",
                sys.own_cpu
            );
        }
        let conns = self.fleet.take();
        if Instant::now() < self.end && !self.stopping {
            // While the run is on (not its teardown): how many lamps were connected.
            self.lamps_connected.feed(conns.lamps_up);
        }
        // Locust's "User Count": the lamps connected (the owners when the real lamps answer).
        let users = if self.internal_responder { conns.lamps_up } else { conns.owners_up };
        self.out.interval(&report, self.recording.rec.totals(), users, &sys, broker, &conns)?;
        let line = metrics::summary::progress(self.start.elapsed(), &report, self.recording.rec.totals());
        let up =
            if self.internal_responder { format!("lamps up {}", conns.lamps_up) } else { format!("owners up {users}") };
        crate::console::progress(&format!("{line} | {up}"), self.tty);
        self.outages.feed(&metrics::outage::Health::from_report(&report, conns));
        Ok(())
    }

    /// The end: the last (partial) interval, the table and notes on stdout, the end-of-run files, `summary.json`.
    pub(super) fn finish(
        mut self,
        opts: &Options,
        counters: &Counters,
        interrupted: bool,
        replayed: Option<&replay::Stats>,
    ) -> anyhow::Result<bool> {
        self.stopping = true;
        self.tick(None)?;
        if self.tty {
            crate::console::end_progress();
        }
        let totals = self.recording.rec.totals();
        let verdicts = crate::slo::judge(&opts.slos, &totals.ops);
        let summary = metrics::summary::summarize(totals);
        let own = &self.own;
        let mut notes = notes(counters, self.saturated, interrupted, replayed);
        notes.push(format!(
            "load generator: CPU mean {:.0}% (max {:.0}%) of one core, {} cores; RSS max {:.1} MB",
            own.cpu_mean(),
            own.cpu_max,
            self.cores,
            own.rss_max_kb as f64 / 1024.0
        ));
        let outages = self.outages.outages();
        notes.push(format!(
            "lamps connected: min {} max {} of {}; {} outage(s)",
            self.lamps_connected.min(),
            self.lamps_connected.max(),
            if self.internal_responder { opts.params.lamps.to_string() } else { "0 (the real lamps answer)".into() },
            outages.len()
        ));
        notes.extend(outages.iter().map(metrics::outage::Outage::line));
        let slos = if verdicts.is_empty() { String::new() } else { crate::slo::text(&verdicts) };
        let text = format!("{}{slos}\n{}", metrics::summary::table(&summary), notes.join("\n"));
        crate::console::out(&text);
        crate::console::out(&format!("results in {}", opts.out.display()));
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let sessions: serde_json::Map<String, serde_json::Value> =
            Interface::ALL.iter().map(|i| (i.key().to_string(), load(&counters.sessions[i.index()]).into())).collect();
        let actions: serde_json::Map<String, serde_json::Value> =
            runner::ACTION_NAMES.iter().zip(&counters.actions).map(|(n, c)| (n.to_string(), load(c).into())).collect();
        let json = serde_json::json!({
            "ending": if interrupted { "interrupted" } else { "completed" },
            "dispatched": load(&counters.dispatched),
            "completed": load(&counters.completed),
            "not_started": load(&counters.not_started),
            "abandoned": load(&counters.abandoned),
            "skipped_churn": load(&counters.skipped_churn),
            "sessions": sessions,
            "actions": actions,
            "late_actions": load(&counters.late),
            "late_threshold_ms": runner::LATE.as_millis() as u64,
            "max_action_lateness_ms": load(&counters.max_late_us) as f64 / 1000.0,
            "replay": replayed.map(replay_json),
            "generator_saturated_intervals": self.saturated,
            "generator": {
                "cpu_mean_pct": (own.cpu_mean() * 10.0).round() / 10.0,
                "cpu_max_pct": (own.cpu_max * 10.0).round() / 10.0,
                "rss_max_mb": (own.rss_max_kb as f64 / 102.4).round() / 10.0,
                "cores": self.cores,
            },
            "lamps_connected": self.lamps_connected.json(),
            "outages": outages.iter().map(metrics::outage::Outage::json).collect::<Vec<_>>(),
            "slos": verdicts.iter().map(crate::slo::Verdict::json).collect::<Vec<_>>(),
            "results": summary,
        });
        self.out.finish(totals, &text, &json)?;
        Ok(crate::slo::all_pass(&verdicts))
    }
}

/// The load generator's own CPU (percent of one core) and memory over the run.
#[derive(Default)]
struct OwnUse {
    n: u32,
    cpu_sum: f64,
    cpu_max: f64,
    rss_max_kb: u64,
}

impl OwnUse {
    fn cpu_mean(&self) -> f64 {
        self.cpu_sum / f64::from(self.n.max(1))
    }

    fn add(&mut self, i: &system::Interval) {
        self.n += 1;
        self.cpu_sum += i.own_cpu;
        self.cpu_max = self.cpu_max.max(i.own_cpu);
        self.rss_max_kb = self.rss_max_kb.max(i.own_rss_kb);
    }
}

/// The replay's figures in summary.json.
fn replay_json(s: &replay::Stats) -> serde_json::Value {
    let p = &s.played;
    serde_json::json!({
        "path": s.path, "format": s.format, "speed": s.speed, "records": s.records, "malformed": s.bad,
        "events": s.events, "recorded_lamps": s.recorded_lamps,
        "sessions": Interface::ALL.iter().map(|i| (i.key().to_string(), s.sessions[i.index()].into()))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "played": {"login": p.logins, "page": p.pages.iter().sum::<u64>(), "set_config": p.set_config,
            "device_changed": p.device_changed, "reconnect": p.reconnects, "session_end": p.session_ends},
        "state_changes_not_played": s.state_changes, "out_of_order": s.out_of_order, "offline_cut": s.offline_cut,
        "cut_by_duration": s.cut_by_duration, "error": s.error,
    })
}

fn notes(c: &Counters, saturated: u32, interrupted: bool, replayed: Option<&replay::Stats>) -> Vec<String> {
    let what = if replayed.is_some() { "replayed events (actions)" } else { "actions" };
    let mut n = vec![
        format!(
            "actions: {} dispatched, {} completed, {} not started",
            c.dispatched.load(Ordering::Relaxed),
            c.completed.load(Ordering::Relaxed),
            c.not_started.load(Ordering::Relaxed)
        ),
        format!(
            "late: {} {what} started more than {} ms after their intended start (the latest by {:.1} ms); late actions \
             are done late and measured from their intended start, never dropped",
            c.late.load(Ordering::Relaxed),
            runner::LATE.as_millis(),
            c.max_late_us.load(Ordering::Relaxed) as f64 / 1000.0
        ),
    ];
    if let Some(r) = replayed {
        n.push(r.to_string());
    }
    if interrupted {
        n.push(
            "the run was interrupted: every completed sample is in the files; actions not started are counted above"
                .into(),
        );
    }
    let abandoned = c.abandoned.load(Ordering::Relaxed);
    if abandoned > 0 {
        n.push(format!("{abandoned} action(s) cut short in flight by a second interrupt: their outcome is unknown"));
    }
    if saturated > 0 {
        n.push(format!("WARNING: the load generator was CPU-saturated in {saturated} interval(s); those figures describe this host"));
    }
    let churn = c.skipped_churn.load(Ordering::Relaxed);
    if churn > 0 {
        n.push(format!(
            "{churn} connection-churn action(s) skipped: an external lamp's connection is not ours to drop"
        ));
    }
    n
}
