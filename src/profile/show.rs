//! `profile show`: a profile described for a person, with what it implies per session and per lamp.
//!
//! This module owns only the text; the numbers come from the profile and its chains.

use super::chain::{Interface, State};
use super::quantiles::{num, Quantiles};
use super::{format_offset, Profile};
use std::fmt::Write as _;

/// What `lampi-agent profile show PROFILE` prints (PROFILE is a name or a path, as for `--profile`).
pub fn profile_show_cmd(name_or_path: &str) -> anyhow::Result<String> {
    Ok(super::Profile::find(name_or_path)?.show())
}

pub(super) fn show(p: &Profile) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Profile {:?} ({})", p.name, p.origin);
    if !p.description.is_empty() {
        let _ = writeln!(out, "  {}", p.description);
    }
    let _ = writeln!(out, "  window {} (UTC{})", p.window, format_offset(p.tz_offset_minutes));
    arrivals(p, &mut out);
    sessions(p, &mut out);
    for i in Interface::ALL {
        if p.share_of(i) > 0.0 {
            chain(p, i, &mut out);
        }
    }
    timing(p, &mut out);
    out
}

fn arrivals(p: &Profile, out: &mut String) {
    let _ = writeln!(out, "\nSession arrivals (sessions per lamp per hour):");
    let peak = p.rates.iter().copied().fold(0.0, f64::max);
    for (h, rate) in p.window.hours().iter().zip(&p.rates) {
        let bar = if peak > 0.0 { "#".repeat((rate / peak * 40.0).round() as usize) } else { String::new() };
        let _ = writeln!(out, "  {h:02}:00  {:>8}  {bar}", num(*rate, 3));
    }
    let mean = p.rates.iter().sum::<f64>() / p.rates.len() as f64;
    let _ = writeln!(out, "  mean {} over the window, peak {}", num(mean, 3), num(peak, 3));
}

fn sessions(p: &Profile, out: &mut String) {
    let shares: Vec<String> =
        Interface::ALL.iter().map(|i| format!("{} {:.1}%", i.key(), 100.0 * p.share_of(*i))).collect();
    let _ = writeln!(out, "\nSessions: {}", shares.join(", "));
    let mix = p.controls_per_session();
    let controls = [State::Power, State::Hue, State::Saturation, State::Brightness];
    let mut messages = 0.0;
    let total: f64 = mix.iter().sum();
    if total > 0.0 {
        let parts: Vec<String> =
            controls.iter().zip(mix).map(|(s, m)| format!("{s} {:.1}%", 100.0 * m / total)).collect();
        let _ = writeln!(out, "  action mix: {}", parts.join(", "));
        messages = mix[0] + (mix[1] + mix[2] + mix[3]) * drag_mean(&p.drag.length);
    }
    let peak = p.rates.iter().copied().fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "  per session: {:.2} controls, {:.1} MQTT messages; at the peak rate {:.1} messages per lamp per hour",
        total,
        messages,
        messages * peak
    );
}

fn drag_mean(q: &Quantiles) -> f64 {
    q.mean().max(1.0)
}

fn chain(p: &Profile, i: Interface, out: &mut String) {
    let Some(c) = p.chain(i) else { return };
    let states: Vec<State> = c.reachable();
    let to: Vec<State> = states.iter().copied().filter(|s| *s != State::Start).collect();
    let visits = c.expected_visits();
    let steps: f64 = to.iter().filter(|s| **s != State::End).map(|s| visits[s.index()]).sum();
    let _ = writeln!(out, "\nSession chain, {i} ({:.2} steps per session on average): row = from, column = to", steps);
    let mut header = format!("  {:<11}", "");
    for t in &to {
        let _ = write!(header, "{:>11}", t.key());
    }
    let _ = writeln!(out, "{header}");
    for from in states.iter().filter(|s| **s != State::End) {
        let mut line = format!("  {:<11}", from.key());
        for t in &to {
            let pr = c.prob(*from, *t);
            let cell = if pr > 0.0 { format!("{pr:.3}") } else { ".".into() };
            let _ = write!(line, "{cell:>11}");
        }
        let _ = writeln!(out, "{line}");
    }
}

fn timing(p: &Profile, out: &mut String) {
    let _ = writeln!(out, "\nThink time before a step (s), quantiles:");
    let _ = writeln!(
        out,
        "  page     {}  (median {}, mean {})",
        p.think.page,
        num(p.think.page.median(), 2),
        num(p.think.page.mean(), 2)
    );
    let c = &p.think.control;
    let _ = writeln!(out, "  control  {c}  (median {}, mean {})", num(c.median(), 2), num(c.mean(), 2));
    let d = &p.drag;
    let _ = writeln!(
        out,
        "\nDrags: a message every {}, {} messages per drag (median {}, mean {})",
        humantime::format_duration(d.interval),
        d.length,
        num(d.length.median().round().max(1.0), 0),
        num(drag_mean(&d.length), 2)
    );
    let _ = writeln!(out, "\nDrag targets (quantiles in [0, 1]):");
    for (name, q) in
        [("hue", &p.values.hue), ("saturation", &p.values.saturation), ("brightness", &p.values.brightness)]
    {
        let _ = writeln!(out, "  {name:<11}{q}  (median {})", num(q.median(), 3));
    }
    let _ = writeln!(
        out,
        "\nChurn: {} reconnects per lamp per hour; offline (s) {}  (median {})",
        num(p.churn.per_hour, 6),
        p.churn.offline,
        num(p.churn.offline.median(), 1)
    );
}
