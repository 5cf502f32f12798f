//! From the folded counts to a [`Profile`] and a [`Report`], and the written file's header.
//!
//! This module owns the estimators: rates are window sessions per lamp per day by start hour; chain rows are
//! transition counts over their total; quantiles come from the histograms. Numbers are rounded here to what the
//! written file carries, so the derived profile equals the file read back.

use time::OffsetDateTime;

use super::sessions::Sessions;
use super::{Ctx, DeriveError, DeriveOptions, Derived, Format, Report};
use crate::profile::quantiles::num;
use crate::profile::{format_offset, Chain, Churn, Drag, Interface, Profile, Quantiles, State, Think, Values, Window};

const DAY: f64 = 86_400.0;

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

fn rounded(q: Quantiles, decimals: i32) -> Quantiles {
    let points = q.points().iter().map(|(p, v)| (*p, round(*v, decimals))).collect();
    Quantiles::new(points).unwrap_or(q)
}

pub(super) fn build(
    ctx: Ctx,
    opts: &DeriveOptions,
    window: Window,
    format: Format,
    sha256: String,
    bytes: u64,
) -> Result<Derived, DeriveError> {
    let s = &ctx.sessions;
    let c = &ctx.counts;
    if !s.first_t.is_finite() {
        let unknown = c.unknown.values().sum();
        return Err(DeriveError::NoEvents { records: c.records, bad: c.bad, unknown });
    }
    let tz = f64::from(opts.tz_offset_minutes) * 60.0;
    let day0 = ((s.first_t + tz) / DAY).floor();
    let days = (((s.last_t + tz) / DAY).floor() + 1.0 - day0).max(1.0);
    let date = |t: f64| OffsetDateTime::from_unix_timestamp(t as i64).map_or(format!("{t}"), |d| d.date().to_string());
    let (first, last) = (date(s.first_t), date(s.last_t));
    if s.in_window_sessions() == 0 {
        return Err(DeriveError::EmptyWindow {
            window: window.to_string(),
            tz: format_offset(opts.tz_offset_minutes),
            sessions: s.acc.sessions_total,
            first,
            last,
        });
    }
    let lamps = opts.lamps.unwrap_or_else(|| s.lamps_seen()).max(1);
    let mut report = Report {
        format: format.to_string(),
        bytes,
        sha256,
        records: c.records,
        by_name: c.by_name.clone(),
        unknown: c.unknown.clone(),
        bad: c.bad,
        bad_examples: c.bad_examples.clone(),
        unattributed: c.unattributed,
        lamps,
        days,
        first,
        last,
        ..Report::default()
    };
    add_session_figures(&mut report, s);
    let profile = profile(s, opts, window, f64::from(lamps) * days, &mut report.warnings);
    Ok(Derived { profile, report })
}

/// What the rebuilt sessions say, for the report.
fn add_session_figures(r: &mut Report, s: &Sessions) {
    let a = &s.acc;
    let controls: u64 = (0..3)
        .map(|i| {
            State::ALL
                .iter()
                .filter(|t| t.is_control())
                .map(|t| a.trans[i].iter().map(|row| row[t.index()]).sum::<u64>())
                .sum::<u64>()
        })
        .sum();
    r.out_of_order = s.out_of_order;
    r.whole_seconds = s.whole_seconds;
    r.sessions_total = a.sessions_total;
    r.sessions_window = s.in_window_sessions();
    r.steps_window = a.steps;
    r.drags_window = a.bursts.len();
    r.mean_drag_messages = a.bursts.mean();
    r.mean_controls_per_session = controls as f64 / r.sessions_window.max(1) as f64;
    r.disconnects_window = a.disconnects;
}

fn profile(s: &Sessions, opts: &DeriveOptions, window: Window, lamp_days: f64, warnings: &mut Vec<String>) -> Profile {
    let a = &s.acc;
    let total = s.in_window_sessions() as f64;
    let rates = window.hours().iter().map(|h| round(a.sessions_by_hour[*h as usize] as f64 / lamp_days, 3)).collect();
    let share = Interface::ALL.map(|i| round(a.by_interface[i.index()] as f64 / total, 3));
    let chains =
        Interface::ALL.map(|i| (a.by_interface[i.index()] > 0).then(|| chain(&a.trans[i.index()], i)).flatten());
    let time_spread = if s.whole_seconds { 1.0 } else { 0.01 };
    let mut q = |h: &super::hist::Hist, spread, lo, hi, decimals, what: &str, fallback: Quantiles| match h
        .quantiles(spread, lo, hi)
    {
        Some(q) => rounded(q, decimals),
        None => {
            warnings.push(format!("no {what} observed in the window: written as {fallback}, a placeholder"));
            fallback
        }
    };
    let uniform = Quantiles::new(vec![(0.0, 0.0), (100.0, 1.0)]).expect("valid");
    let think = Think {
        page: q(&a.think_page, time_spread, 0.0, 3600.0, 2, "page think times", Quantiles::constant(1.0)),
        control: q(&a.think_control, time_spread, 0.0, 3600.0, 2, "control think times", Quantiles::constant(4.0)),
    };
    let drag = Drag {
        interval: std::time::Duration::from_millis(100),
        length: q(&a.bursts, 1.0, 0.5, 10_000.0, 2, "drags", Quantiles::constant(1.0)),
    };
    let values = Values {
        hue: q(&a.values[0], 0.01, 0.0, 1.0, 3, "hue drags", uniform.clone()),
        saturation: q(&a.values[1], 0.01, 0.0, 1.0, 3, "saturation drags", uniform.clone()),
        brightness: q(&a.values[2], 0.01, 0.0, 1.0, 3, "brightness drags", uniform),
    };
    let offline_fallback = Quantiles::new(vec![(0.0, 10.0), (100.0, 60.0)]).expect("valid");
    let churn = Churn {
        per_hour: round(a.disconnects as f64 / (lamp_days * f64::from(window.len())), 6),
        offline: q(&a.offline, time_spread.max(1.0), 0.0, 86_400.0, 1, "reconnects (offline times)", offline_fallback),
    };
    let description = format!(
        "Derived: {} sessions starting {} (UTC{}) over {} lamp-days",
        s.in_window_sessions(),
        window,
        format_offset(opts.tz_offset_minutes),
        num(lamp_days, 1)
    );
    Profile {
        name: opts.name.clone(),
        description,
        origin: "derived".into(),
        window,
        tz_offset_minutes: opts.tz_offset_minutes,
        rates,
        share,
        chains,
        think,
        drag,
        values,
        churn,
        max_actions: 100,
        slos: Vec::new(),
    }
}

/// Transition counts to a chain of probabilities with three decimals (exact ones if rounding broke a row).
fn chain(counts: &[[u64; 10]; 10], interface: Interface) -> Option<Chain> {
    let rows = |decimals: Option<i32>| -> Vec<(State, Vec<(State, f64)>)> {
        State::ALL
            .iter()
            .filter_map(|from| {
                let row = &counts[from.index()];
                let total: u64 = row.iter().sum();
                let cells: Vec<(State, f64)> = State::ALL
                    .iter()
                    .map(|to| {
                        let p = row[to.index()] as f64 / total.max(1) as f64;
                        (*to, decimals.map_or(p, |d| round(p, d)))
                    })
                    .filter(|(_, p)| *p > 0.0)
                    .collect();
                (total > 0).then_some((*from, cells))
            })
            .collect()
    };
    Chain::new(&rows(Some(3)), interface).or_else(|_| Chain::new(&rows(None), interface)).ok()
}

impl Derived {
    /// The profile as TOML, headed by where it came from: `source` (a file name), its size and SHA-256, the
    /// counts, the window, the `command` that reproduces it, and `derived_at`.
    pub fn to_toml(&self, source: &str, command: &str, derived_at: OffsetDateTime) -> String {
        let r = &self.report;
        let p = &self.profile;
        let names: Vec<String> = r.by_name.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let mut header = vec![
            format!("Profile {:?}, derived from analytics. Edit freely, or derive it again with:", p.name),
            format!("  {command}"),
            format!("Source: {source}, {} bytes, SHA-256 {}", r.bytes, r.sha256),
            format!(
                "Read: {} export, {} records ({} malformed, {} unknown, {} unattributed, {} out of order); {} lamps over {} days ({} to {})",
                r.format,
                r.records,
                r.bad,
                r.unknown.values().sum::<u64>(),
                r.unattributed,
                r.out_of_order,
                r.lamps,
                num(r.days, 2),
                r.first,
                r.last
            ),
            format!("Events: {}", names.join(", ")),
            format!(
                "Window: {} (UTC{}): {} of {} sessions, {} steps; {} messages per drag, {} controls per session (means)",
                p.window,
                format_offset(p.tz_offset_minutes),
                r.sessions_window,
                r.sessions_total,
                r.steps_window,
                num(r.mean_drag_messages, 2),
                num(r.mean_controls_per_session, 2)
            ),
        ];
        if r.whole_seconds {
            header.push("Timestamps are whole seconds: time quantiles spread each over its second.".into());
        }
        header.extend(r.warnings.iter().map(|w| format!("Warning: {w}")));
        let when = derived_at
            .replace_nanosecond(0)
            .unwrap_or(derived_at)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| derived_at.to_string());
        header.push(format!("Derived at: {when}"));
        p.to_toml(&header)
    }
}
