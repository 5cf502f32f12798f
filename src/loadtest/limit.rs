//! `loadtest --find-limit`: a stepped search for the load the target can take while keeping every SLO.
//!
//! Each step is an ordinary load run ([`super::run`]) into its own folder `step-NN/` inside the run folder, at a
//! load that grows by a factor of `--rate` or by `--devices` per step. A step lasts `--settle` (recorded, not
//! judged: lamps connect, queues fill) plus `--step-duration` (judged). Its figures, read back from its folder,
//! go to [`crate::capacity::decide`], a pure function that says whether to run the next step or stop, and why: an SLO failed (the
//! target's limit), this host saturated (the generator's limit, not the target's), the step limit was reached, or
//! the run was interrupted. The capacity is the highest step that held every SLO without saturating the host.
//!
//! At the end the run folder holds every step's folder, the steps merged into one timeline (the files a single
//! run has, so `report plot` and `report compare` take it), `steps.csv` (one row a step: its load, its time span,
//! offered and achieved actions/s, p50/p99, verdicts) and `limit.json`; `summary.txt` and `summary.json` carry
//! the capacity. [`crate::capacity::knee`] finds the bend in the offered-vs-achieved and latency curves for the hockey-stick chart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::{Ending, Options};
use crate::capacity::{capacity, decide, figures_json, knee, report_text, step_line, steps_csv};
use crate::capacity::{Decision, Figures, Load, Plan, Reason, Step};
use crate::config::Settings;
use crate::metrics::stats::aggregate;
use crate::slo::{self, Verdict};

/// Runs the search; see the module docs. `Completed` when a capacity was found (whatever stopped the search),
/// `SloFailed` when even the first step broke an SLO, `Interrupted` on a signal.
pub async fn find(
    settings: &Settings,
    opts: &Options,
    plan: &Plan,
    stop: watch::Receiver<super::Stop>,
) -> anyhow::Result<Ending> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create the run folder {}", opts.out.display()))?;
    let mut load = Load { rate: opts.params.rate, devices: opts.params.lamps };
    let mut steps: Vec<Figures> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let reason = loop {
        let n = steps.len() + 1;
        let dir = opts.out.join(format!("step-{n:02}"));
        tracing::info!(step = n, rate = load.rate, devices = load.devices, "find-limit: step");
        let step_opts = step_options(opts, plan, load, n, &dir);
        let ending = super::run(settings, &step_opts, stop.clone()).await.with_context(|| format!("step {n}"))?;
        let mut figures = judge(&dir, opts, plan, load).with_context(|| format!("step {n}: reading its figures"))?;
        figures.interrupted = ending == Ending::Interrupted;
        record_verdicts(&dir, &figures.verdicts, plan.settle)?;
        eprintln!("find-limit: {}", step_line(n, &figures));
        steps.push(figures);
        dirs.push(dir);
        match decide(plan, &steps) {
            Decision::Next(next) => load = next,
            Decision::Stop(reason) => break reason,
        }
    };
    let text = write_results(opts, plan, &steps, &dirs, reason)?;
    println!("{text}");
    Ok(match (reason, capacity(&steps)) {
        (Reason::Interrupted, _) => Ending::Interrupted,
        (_, None) => Ending::SloFailed,
        (_, Some(_)) => Ending::Completed,
    })
}

/// Puts the judged verdicts (after the settle) into the step's `summary.json` and `summary.txt`, in place of the
/// whole step's (settle included), so the step folder says what the search decided on.
fn record_verdicts(dir: &Path, verdicts: &[Verdict], settle: Duration) -> anyhow::Result<()> {
    let path = dir.join("summary.json");
    let mut summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    summary["slos"] = verdicts.iter().map(Verdict::json).collect();
    summary["slos_judged_after_s"] = settle.as_secs_f64().into();
    std::fs::write(&path, serde_json::to_string_pretty(&summary)? + "\n")?;
    let text_path = dir.join("summary.txt");
    let text = std::fs::read_to_string(&text_path)?;
    let judged = format!("judged after the {} settle: {}", humantime::format_duration(settle), slo::text(verdicts));
    std::fs::write(&text_path, format!("{text}\n{judged}"))?;
    Ok(())
}

fn step_options(opts: &Options, plan: &Plan, load: Load, n: usize, dir: &Path) -> Options {
    let mut o = opts.clone();
    o.params.rate = load.rate;
    o.params.lamps = load.devices;
    o.params.duration = plan.settle + plan.step_duration;
    o.params.seed = opts.params.seed.wrapping_add(n as u64 - 1);
    o.this_lamp = opts.this_lamp && load.devices == 1;
    o.out = dir.to_path_buf();
    o.preflight = opts.preflight && n == 1;
    o.start_at = if n == 1 { opts.start_at } else { None };
    o.schedule_csv = opts.schedule_csv.as_ref().map(|_| dir.join("schedule.csv"));
    // A step's own verdicts would include its settle; the judged ones are written in afterwards.
    o.slos = Vec::new();
    o
}

/// A step's figures from its folder: verdicts and percentiles over the intervals after the settle.
fn judge(dir: &Path, opts: &Options, plan: &Plan, load: Load) -> anyhow::Result<Figures> {
    let run = crate::rundir::read::read_run(dir)?;
    let first = run.slots.iter().next().map_or(0, |(end, s)| end - s.length as i64);
    let last = run.slots.keys().next_back().copied().unwrap_or(first);
    let settled = first + plan.settle.as_secs_f64().ceil() as i64;
    let judged: Vec<_> =
        run.slots.iter().filter(|(end, s)| **end - s.length as i64 >= settled).map(|(_, s)| s).collect();
    let ops = crate::rundir::merge::ops_of(judged);
    let all = aggregate(ops.iter().map(|(_, s)| s));
    let q = |q: f64| (!all.latency.is_empty()).then(|| all.latency.value_at_quantile(q) as f64 / 1000.0);
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json"))?)?;
    let count = |key: &str| summary[key].as_u64().unwrap_or(0) as f64;
    // A run ends early when its schedule's last action does; one that cannot keep up runs past its schedule.
    let scheduled = (plan.settle + plan.step_duration).as_secs_f64().max(1e-9);
    let elapsed = summary["results"]["elapsed_s"].as_f64().unwrap_or(0.0).max(scheduled);
    Ok(Figures {
        load,
        offered: count("dispatched") / scheduled,
        achieved: count("completed") / elapsed,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        verdicts: slo::judge(&opts.slos, &ops),
        saturated: count("generator_saturated_intervals") > 0.0,
        interrupted: false,
        span: (first, last),
    })
}

/// Writes the merged timeline, `steps.csv`, `limit.json`, `summary.txt` and `summary.json`; returns the text.
fn write_results(
    opts: &Options,
    plan: &Plan,
    steps: &[Figures],
    dirs: &[PathBuf],
    reason: Reason,
) -> anyhow::Result<String> {
    let out = &opts.out;
    let (fleet, merged) = crate::rundir::merge::merge_dirs(dirs, out).context("merging the steps into one timeline")?;
    let _ = std::fs::remove_file(out.join("lamps.csv")); // the steps are not lamps
    std::fs::write(out.join("steps.csv"), steps_csv(steps))?;
    let cap = capacity(steps);
    let points: Vec<_> = steps.iter().map(|f| (f.offered, f.achieved, f.p99_ms)).collect();
    let limit = serde_json::json!({
        "reason": reason.key(), "reason_text": reason.describe(),
        "capacity_step": cap.map(|c| c + 1), "capacity": cap.map(|c| figures_json(&steps[c])),
        "first_broken_step": matches!(reason, Reason::SloFailed | Reason::GeneratorSaturated).then_some(steps.len()),
        "knee_step": knee(&points).map(|k| k + 1),
        "step": match plan.step { Step::Rate(f) => serde_json::json!({"rate_factor": f}), Step::Devices(n) => serde_json::json!({"devices": n}) },
        "step_duration_s": plan.step_duration.as_secs_f64(), "settle_s": plan.settle.as_secs_f64(),
        "slos": opts.slos.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
        "steps": steps.iter().map(figures_json).collect::<Vec<_>>(),
    });
    std::fs::write(out.join("limit.json"), serde_json::to_string_pretty(&limit)? + "\n")?;
    let text = report_text(plan, steps, reason);
    // The merged text's first line counts the steps' lamps as a fleet's; the steps are one host's runs in turn.
    let merged = merged.split_once('\n').map_or(merged.as_str(), |(_, rest)| rest);
    std::fs::write(out.join("summary.txt"), format!("{text}\nall steps together:\n{merged}"))?;
    let path = out.join("summary.json");
    let mut summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    summary["limit"] = limit;
    // The verdicts over every step together, as a single run has them (the steps' own are in limit.json).
    summary["slos"] = slo::judge(&opts.slos, &fleet.totals.ops).iter().map(Verdict::json).collect();
    std::fs::write(&path, serde_json::to_string_pretty(&summary)? + "\n")?;
    Ok(text)
}
