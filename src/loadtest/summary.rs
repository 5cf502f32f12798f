//! What a load run says at its end beside the results table (`crate::metrics::summary`): the notes printed under
//! the table (and kept in `summary.txt`), and the `summary.json` document. Both are built from one [`End`], the run's
//! counters and what the writer thread saw of the generator and the fleet; this module only formats, it reads no
//! clock and writes no file (the recorder writes them, `output`).

use std::sync::atomic::{AtomicU64, Ordering};

use super::runner::{self, Counters};
use super::writer::Seen;
use crate::analytics::replay;
use crate::metrics::outage::Outage;
use crate::profile::Interface;

/// How a run ended, as the notes and `summary.json` report it.
pub(super) struct End<'a> {
    pub counters: &'a Counters,
    pub seen: &'a Seen,
    pub outages: &'a [Outage],
    pub interrupted: bool,
    pub replayed: Option<&'a replay::Stats>,
    /// The lamps the run should hold connected (internal responders); `None` when the real lamps answer.
    pub lamps: Option<u32>,
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl End<'_> {
    /// The notes under the table, a line each.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = counter_notes(self.counters, self.seen.saturated, self.interrupted, self.replayed);
        let own = &self.seen.own;
        notes.push(format!(
            "load generator: CPU mean {:.0}% (max {:.0}%) of one core, {} cores; RSS max {:.1} MB",
            own.cpu_mean(),
            own.cpu_max,
            self.seen.cores,
            own.rss_max_kb as f64 / 1024.0
        ));
        notes.push(format!(
            "lamps connected: min {} max {} of {}; {} outage(s)",
            self.seen.lamps_connected.min(),
            self.seen.lamps_connected.max(),
            self.lamps.map_or_else(|| "0 (the real lamps answer)".into(), |n| n.to_string()),
            self.outages.len()
        ));
        notes.extend(self.outages.iter().map(Outage::line));
        notes
    }

    /// The whole `summary.json` document: these figures, the SLO verdicts and the results.
    pub fn json(
        &self,
        verdicts: &[crate::slo::Verdict],
        results: &crate::metrics::summary::Summary,
    ) -> serde_json::Value {
        let (counters, own) = (self.counters, &self.seen.own);
        let sessions: serde_json::Map<String, serde_json::Value> =
            Interface::ALL.iter().map(|i| (i.key().to_string(), load(&counters.sessions[i.index()]).into())).collect();
        let actions: serde_json::Map<String, serde_json::Value> =
            runner::ACTION_NAMES.iter().zip(&counters.actions).map(|(n, c)| (n.to_string(), load(c).into())).collect();
        serde_json::json!({
            "ending": if self.interrupted { "interrupted" } else { "completed" },
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
            "replay": self.replayed.map(replay_json),
            "generator_saturated_intervals": self.seen.saturated,
            "generator": {
                "cpu_mean_pct": (own.cpu_mean() * 10.0).round() / 10.0,
                "cpu_max_pct": (own.cpu_max * 10.0).round() / 10.0,
                "rss_max_mb": (own.rss_max_kb as f64 / 102.4).round() / 10.0,
                "cores": self.seen.cores,
            },
            "lamps_connected": self.seen.lamps_connected.json(),
            "outages": self.outages.iter().map(Outage::json).collect::<Vec<_>>(),
            "slos": verdicts.iter().map(crate::slo::Verdict::json).collect::<Vec<_>>(),
            "results": results,
        })
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

/// The notes from the run's counters (and the replay's figures).
fn counter_notes(c: &Counters, saturated: u32, interrupted: bool, replayed: Option<&replay::Stats>) -> Vec<String> {
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
