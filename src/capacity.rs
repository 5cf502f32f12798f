//! Capacity search, the pure part: a stepped search's plan ([`Plan`], [`Step`]), each step's [`Figures`], the step
//! controller ([`decide`]: the next step's load, or stop and why), the capacity ([`capacity`]: the highest step that
//! held every SLO without saturating the generator), the knee of the hockey stick ([`knee`]), and the search's
//! outputs (`steps.csv` with its pinned header, the text report, the JSON figures). No I/O: `loadtest --find-limit`
//! (`crate::loadtest::limit`) runs the steps and feeds their figures in; `report plot` reads `steps.csv` back.

use std::fmt::Write as _;
use std::time::Duration;

use crate::slo::{self, Verdict};

/// How the load grows from step to step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// `--rate` times this factor each step.
    Rate(f64),
    /// `--devices` plus this many each step.
    Devices(u32),
}

/// The search's shape, validated by the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub step: Step,
    pub step_duration: Duration,
    pub settle: Duration,
    pub max_steps: u32,
}

/// The load of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    pub rate: f64,
    pub devices: u32,
}

impl Load {
    /// The next step's load.
    pub fn next(self, step: Step) -> Load {
        match step {
            Step::Rate(f) => Load { rate: self.rate * f, ..self },
            Step::Devices(n) => Load { devices: self.devices.saturating_add(n), ..self },
        }
    }
}

/// What one step showed, judged over its part after the settle.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub load: Load,
    /// Actions the schedule started per second (what was offered).
    pub offered: f64,
    /// Actions completed per second over the step's whole time (its schedule's length, or longer if it overran).
    pub achieved: f64,
    /// Corrected latency of all operations together, ms.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub verdicts: Vec<Verdict>,
    /// The generator was CPU-saturated in at least one interval.
    pub saturated: bool,
    pub interrupted: bool,
    /// Unix seconds of the step's first interval's start and its last interval's end.
    pub span: (i64, i64),
}

/// Why the search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// An SLO failed: the target's limit.
    SloFailed,
    /// This host ran out of CPU: the generator's limit, not the target's.
    GeneratorSaturated,
    /// `--max-steps` steps all held.
    MaxSteps,
    Interrupted,
}

impl Reason {
    pub fn key(self) -> &'static str {
        match self {
            Reason::SloFailed => "slo_failed",
            Reason::GeneratorSaturated => "generator_saturated",
            Reason::MaxSteps => "max_steps",
            Reason::Interrupted => "interrupted",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Reason::SloFailed => "an SLO failed while this host kept up: the limit of the target, not of the generator",
            Reason::GeneratorSaturated => {
                "this host (the load generator) was CPU-saturated: its limit, not the target's; the target's \
                 capacity is at least the step before (spread the load over more hosts)"
            }
            Reason::MaxSteps => "every step held: the capacity is at least the last step (raise --max-steps)",
            Reason::Interrupted => "the search was interrupted",
        }
    }
}

/// What to do after the steps so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Next(Load),
    Stop(Reason),
}

/// The step controller: given every step's figures so far (at least one), run the next step or stop.
pub fn decide(plan: &Plan, steps: &[Figures]) -> Decision {
    let Some(last) = steps.last() else { return Decision::Stop(Reason::Interrupted) };
    if last.interrupted {
        Decision::Stop(Reason::Interrupted)
    } else if last.saturated {
        Decision::Stop(Reason::GeneratorSaturated)
    } else if !slo::all_pass(&last.verdicts) {
        Decision::Stop(Reason::SloFailed)
    } else if steps.len() >= plan.max_steps as usize {
        Decision::Stop(Reason::MaxSteps)
    } else {
        Decision::Next(last.load.next(plan.step))
    }
}

/// The capacity: the index of the highest step that held every SLO on an unsaturated host, if any.
pub fn capacity(steps: &[Figures]) -> Option<usize> {
    steps.iter().rposition(|s| !s.saturated && !s.interrupted && slo::all_pass(&s.verdicts))
}

/// A step is past the knee when it achieves under this share of what it was offered...
pub const KNEE_EFFICIENCY: f64 = 0.9;
/// ... or its p99 is more than this many times the lowest p99 of the steps before it.
pub const KNEE_P99_GROWTH: f64 = 3.0;

/// The knee of a curve of steps `(offered, achieved, p99 ms)` in order of growing load: the last step before the
/// first one that bends (see [`KNEE_EFFICIENCY`], [`KNEE_P99_GROWTH`]). `None` if no step bends (the knee lies
/// beyond the steps run) or the first step already bent (it lies below them).
pub fn knee(points: &[(f64, f64, Option<f64>)]) -> Option<usize> {
    let mut best_p99 = f64::INFINITY;
    for (i, &(offered, achieved, p99)) in points.iter().enumerate() {
        let starved = offered > 0.0 && achieved < KNEE_EFFICIENCY * offered;
        let slow = p99.is_some_and(|p| best_p99.is_finite() && p > KNEE_P99_GROWTH * best_p99.max(0.001));
        if starved || slow {
            return i.checked_sub(1);
        }
        if let Some(p) = p99 {
            best_p99 = best_p99.min(p);
        }
    }
    None
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3}"))
}

pub fn step_line(n: usize, f: &Figures) -> String {
    let failed: Vec<String> = f.verdicts.iter().filter(|v| !v.pass).map(Verdict::line).collect();
    let verdict = match (f.saturated, failed.is_empty()) {
        (true, _) => "GENERATOR SATURATED".to_string(),
        (false, true) => "all SLOs held".to_string(),
        (false, false) => failed.join("; "),
    };
    format!("step {n}: {}: {verdict}", brief(f))
}

/// `rate 2 x 10 devices: offered 40.1/s achieved 39.8/s p50 2.1 ms p99 12.3 ms`.
fn brief(f: &Figures) -> String {
    format!(
        "rate {} x {} devices: offered {:.1}/s achieved {:.1}/s p50 {} ms p99 {} ms",
        f.load.rate,
        f.load.devices,
        f.offered,
        f.achieved,
        fmt_ms(f.p50_ms),
        fmt_ms(f.p99_ms)
    )
}

/// `steps.csv`'s header, pinned.
pub const STEPS_HEADER: &str =
    "step,rate,devices,start,end,offered_per_s,achieved_per_s,p50_ms,p99_ms,slos_held,slos_failed,saturated,verdict";

/// `steps.csv`: one row a step.
pub fn steps_csv(steps: &[Figures]) -> String {
    let mut out = format!("{STEPS_HEADER}\n");
    for (i, f) in steps.iter().enumerate() {
        let held = f.verdicts.iter().filter(|v| v.pass).count();
        let verdict = if f.saturated {
            "SATURATED"
        } else if slo::all_pass(&f.verdicts) {
            "PASS"
        } else {
            "FAIL"
        };
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:.3},{:.3},{},{},{held},{},{},{verdict}",
            i + 1,
            f.load.rate,
            f.load.devices,
            f.span.0,
            f.span.1,
            f.offered,
            f.achieved,
            opt(f.p50_ms),
            opt(f.p99_ms),
            f.verdicts.len() - held,
            f.saturated
        );
    }
    out
}

/// The search's conclusion as text: every step, the capacity, what broke and why the search stopped.
pub fn report_text(plan: &Plan, steps: &[Figures], reason: Reason) -> String {
    let how = match plan.step {
        Step::Rate(f) => format!("--rate x{f} per step"),
        Step::Devices(n) => format!("+{n} devices per step"),
    };
    let mut t = format!(
        "find-limit: {} step(s) of {} judged after a {} settle, {how}\n",
        steps.len(),
        humantime::format_duration(plan.step_duration),
        humantime::format_duration(plan.settle)
    );
    for (i, f) in steps.iter().enumerate() {
        let _ = writeln!(t, "  {}", step_line(i + 1, f));
    }
    match capacity(steps) {
        Some(c) => {
            let _ = writeln!(t, "capacity: step {}: {} (actions/s), every SLO held", c + 1, brief(&steps[c]));
        }
        None => t.push_str("capacity: none: the first step did not hold\n"),
    }
    if matches!(reason, Reason::SloFailed | Reason::GeneratorSaturated) {
        if let Some(f) = steps.last() {
            let _ =
                writeln!(t, "first to break: step {} (rate {}, {} devices)", steps.len(), f.load.rate, f.load.devices);
            for v in f.verdicts.iter().filter(|v| !v.pass) {
                let _ = writeln!(t, "  {}", v.line());
            }
        }
    }
    let _ = writeln!(t, "stopped: {}", reason.describe());
    t
}

pub fn figures_json(f: &Figures) -> serde_json::Value {
    serde_json::json!({
        "rate": f.load.rate, "devices": f.load.devices, "offered_per_s": f.offered, "achieved_per_s": f.achieved,
        "p50_ms": f.p50_ms, "p99_ms": f.p99_ms, "saturated": f.saturated, "start": f.span.0, "end": f.span.1,
        "slos": f.verdicts.iter().map(Verdict::json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(step: Step) -> Plan {
        Plan { step, step_duration: Duration::from_secs(10), settle: Duration::from_secs(2), max_steps: 4 }
    }

    fn verdict(pass: bool) -> Verdict {
        let slo = crate::slo::Slo::parse("roundtrip p99 < 100ms").unwrap();
        Verdict { slo, measured: Some(if pass { 50.0 } else { 150.0 }), samples: 100, pass }
    }

    fn step(rate: f64, pass: bool, saturated: bool) -> Figures {
        Figures {
            load: Load { rate, devices: 10 },
            offered: rate * 10.0,
            achieved: rate * 10.0,
            p50_ms: Some(5.0),
            p99_ms: Some(if pass { 50.0 } else { 150.0 }),
            verdicts: vec![verdict(true), verdict(pass)],
            saturated,
            interrupted: false,
            span: (0, 12),
        }
    }

    #[test]
    fn the_controller_grows_the_load_until_an_slo_fails() {
        let p = plan(Step::Rate(2.0));
        let mut steps = vec![step(1.0, true, false)];
        assert_eq!(decide(&p, &steps), Decision::Next(Load { rate: 2.0, devices: 10 }));
        steps.push(step(2.0, true, false));
        assert_eq!(decide(&p, &steps), Decision::Next(Load { rate: 4.0, devices: 10 }));
        steps.push(step(4.0, false, false));
        assert_eq!(decide(&p, &steps), Decision::Stop(Reason::SloFailed));
        assert_eq!(capacity(&steps), Some(1));
        let text = report_text(&p, &steps, Reason::SloFailed);
        assert!(text.contains("capacity: step 2: rate 2 x 10 devices: offered 20.0/s"), "{text}");
        assert!(
            text.contains(
                "first to break: step 3 (rate 4, 10 devices)\n  FAIL  roundtrip p99 < 100ms  measured 150.000"
            ),
            "{text}"
        );
        assert!(text.contains("the limit of the target, not of the generator"), "{text}");
    }

    #[test]
    fn the_controller_adds_devices_and_stops_at_the_step_limit() {
        let p = plan(Step::Devices(5));
        let steps: Vec<Figures> = (0..3).map(|_| step(1.0, true, false)).collect();
        assert_eq!(decide(&p, &steps), Decision::Next(Load { rate: 1.0, devices: 15 }));
        let steps: Vec<Figures> = (0..4).map(|_| step(1.0, true, false)).collect();
        assert_eq!(decide(&p, &steps), Decision::Stop(Reason::MaxSteps));
        assert_eq!(capacity(&steps), Some(3));
    }

    #[test]
    fn a_saturated_generator_is_not_the_targets_limit() {
        let p = plan(Step::Rate(2.0));
        // Saturated and failing: the failure may be this host's own, so saturation is the reason given.
        let steps = vec![step(1.0, true, false), step(2.0, false, true)];
        assert_eq!(decide(&p, &steps), Decision::Stop(Reason::GeneratorSaturated));
        assert_eq!(capacity(&steps), Some(0));
        let steps = vec![step(1.0, true, false), step(2.0, true, true)];
        assert_eq!(decide(&p, &steps), Decision::Stop(Reason::GeneratorSaturated));
        assert_eq!(capacity(&steps), Some(0), "a saturated step that held is not a capacity either");
        let text = report_text(&p, &steps, Reason::GeneratorSaturated);
        assert!(text.contains("the load generator) was CPU-saturated"), "{text}");
        let mut cut = step(1.0, true, false);
        cut.interrupted = true;
        assert_eq!(decide(&p, &[cut.clone()]), Decision::Stop(Reason::Interrupted));
        assert_eq!(capacity(&[cut]), None);
        let first_fails = vec![step(1.0, false, false)];
        assert_eq!(capacity(&first_fails), None);
        assert!(report_text(&p, &first_fails, Reason::SloFailed).contains("capacity: none"));
    }

    #[test]
    fn the_knee_is_the_last_step_before_the_curve_bends() {
        // Throughput keeps up, then falls behind at step 3 (index 3).
        let flat =
            [(10.0, 10.0, Some(20.0)), (20.0, 19.8, Some(22.0)), (40.0, 39.0, Some(30.0)), (80.0, 50.0, Some(900.0))];
        assert_eq!(knee(&flat), Some(2));
        // Latency bends first (more than 3x the best p99 so far) while throughput still keeps up.
        let slow =
            [(10.0, 10.0, Some(20.0)), (20.0, 20.0, Some(15.0)), (40.0, 40.0, Some(46.0)), (80.0, 80.0, Some(50.0))];
        assert_eq!(knee(&slow), Some(1));
        assert_eq!(knee(&[(10.0, 10.0, Some(1.0)), (20.0, 20.0, Some(2.9))]), None, "no bend: beyond the steps");
        assert_eq!(knee(&[(10.0, 5.0, Some(1.0))]), None, "bent from the first step: below them");
        assert_eq!(knee(&[]), None);
    }

    #[test]
    fn steps_csv_has_a_row_a_step() {
        let csv = steps_csv(&[step(1.0, true, false), step(2.0, false, false)]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], STEPS_HEADER);
        assert_eq!(lines[1], "1,1,10,0,12,10.000,10.000,5.000,50.000,2,0,false,PASS");
        assert_eq!(lines[2], "2,2,10,0,12,20.000,20.000,5.000,150.000,1,1,false,FAIL");
    }
}
