//! Schedule tests: rates, think times, determinism, order, ramp-up and the end, against shipped profiles.

use super::*;
use crate::profile::{Quantiles, SHIPPED};
use std::collections::{HashMap, HashSet};

fn shipped(name: &str) -> Profile {
    let text = SHIPPED.iter().find(|(n, _)| *n == name).unwrap().1;
    Profile::from_toml(text, name).unwrap()
}

fn params(p: &Profile, lamps: u32, secs: u64, seed: u64) -> Params {
    Params::for_profile(p, lamps, Duration::from_secs(secs), seed)
}

fn run(p: &Profile, params: &Params) -> Vec<Action> {
    Schedule::new(p, params).unwrap().collect()
}

/// The first action of every session, as (time, session).
fn session_starts(actions: &[Action]) -> Vec<(Duration, u64)> {
    let mut seen = HashSet::new();
    actions.iter().filter(|a| a.session != NO_SESSION && seen.insert(a.session)).map(|a| (a.at, a.session)).collect()
}

#[test]
fn same_seed_same_schedule_other_seed_other_schedule() {
    let p = shipped("smoke");
    let a = run(&p, &params(&p, 5, 20, 42));
    assert!(a.len() > 100, "{}", a.len());
    assert_eq!(a, run(&p, &params(&p, 5, 20, 42)));
    assert_ne!(a, run(&p, &params(&p, 5, 20, 43)));
}

#[test]
fn a_lamp_does_the_same_whatever_the_fleet_size() {
    let p = shipped("smoke");
    let small: Vec<Action> = run(&p, &params(&p, 5, 20, 9)).into_iter().filter(|a| a.lamp == 3).collect();
    let big: Vec<Action> = run(&p, &params(&p, 50, 20, 9)).into_iter().filter(|a| a.lamp == 3).collect();
    assert!(!small.is_empty());
    assert_eq!(small, big);
}

#[test]
fn actions_come_in_time_order_and_stop_before_the_end() {
    let p = shipped("smoke");
    let actions = run(&p, &params(&p, 20, 30, 1));
    assert!(actions.windows(2).all(|w| w[0].at <= w[1].at));
    let last = actions.last().unwrap().at;
    assert!(last < Duration::from_secs(30) && last > Duration::from_secs(29), "{last:?}");
    let kinds: HashSet<&str> = actions.iter().map(|a| kind_name(&a.kind)).collect();
    for k in ["login", "page", "set_config", "device_changed", "reconnect", "session_end"] {
        assert!(kinds.contains(k), "smoke profile gave no {k} in 30 s of 20 lamps: {kinds:?}");
    }
}

fn kind_name(k: &ActionKind) -> &'static str {
    match k {
        ActionKind::Login => "login",
        ActionKind::Page(_) => "page",
        ActionKind::SetConfig(_) => "set_config",
        ActionKind::DeviceChanged(_) => "device_changed",
        ActionKind::Reconnect { .. } => "reconnect",
        ActionKind::SessionEnd => "session_end",
    }
}

#[test]
fn session_rates_follow_the_profile_hour_by_hour() {
    let p = shipped("evening");
    let lamps = 1000;
    let mut schedule = Schedule::new(&p, &params(&p, lamps, 5 * 3600, 5)).unwrap();
    let mut seen = HashSet::new();
    let mut per_hour = [0u64; 5];
    let mut max_pending = 0;
    while let Some(a) = schedule.next() {
        max_pending = max_pending.max(schedule.heap.len());
        if a.session != NO_SESSION && seen.insert(a.session) {
            per_hour[a.at.as_secs() as usize / 3600] += 1;
        }
    }
    for (h, n) in per_hour.iter().enumerate() {
        let expected = p.rates[h] * f64::from(lamps);
        let rel = (*n as f64 - expected) / expected;
        assert!(rel.abs() < 0.1, "hour {}: {n} sessions, expected {expected}", 18 + h);
    }
    let total: u64 = per_hour.iter().sum();
    let expected: f64 = p.rates.iter().sum::<f64>() * f64::from(lamps);
    assert!(((total as f64 - expected) / expected).abs() < 0.03, "{total} vs {expected}");
    // O(lamps + open sessions): two processes per lamp plus the few sessions open at once.
    assert!(max_pending < 2 * lamps as usize + 200, "{max_pending}");
}

#[test]
fn speed_and_rate_scale_arrivals_not_think_times() {
    let p = shipped("evening");
    let mut pr = params(&p, 200, 300, 3);
    pr.start_hour = 20.0;
    pr.speed = 12.0; // 5 wall minutes = 1 profile hour at 1.8
    pr.rate = 2.0;
    let starts = session_starts(&run(&p, &pr)).len() as f64;
    let expected = p.rates[2] * 200.0 * 2.0; // an hour at 20:00
    assert!(((starts - expected) / expected).abs() < 0.08, "{starts} vs {expected}");
    assert!((summary::expected_sessions(&p, &pr) - expected).abs() < 1e-6);
}

#[test]
fn think_times_of_generated_sessions_match_the_profile() {
    let mut p = shipped("evening");
    p.drag.length = Quantiles::constant(1.0); // every message is a step, so gaps are think times
    let mut pr = params(&p, 2000, 3600, 11);
    pr.start_hour = 20.0;
    let actions = run(&p, &pr);
    let mut last: HashMap<u64, Duration> = HashMap::new();
    let mut gaps = Vec::new();
    for a in &actions {
        if a.interface == Some(Interface::App) && matches!(a.kind, ActionKind::SetConfig(_)) {
            if let Some(prev) = last.insert(a.session, a.at) {
                gaps.push((a.at - prev).as_secs_f64());
            }
        }
    }
    gaps.sort_by(f64::total_cmp);
    assert!(gaps.len() > 1000, "{}", gaps.len());
    let median = gaps[gaps.len() / 2];
    let want = p.think.control.median();
    assert!((median - want).abs() / want < 0.08, "median think {median} vs {want} over {}", gaps.len());
}

#[test]
fn ramp_up_grows_arrivals_linearly() {
    let p = shipped("smoke");
    let mut pr = params(&p, 100, 100, 8);
    pr.ramp_up = Duration::from_secs(50);
    let starts = session_starts(&run(&p, &pr));
    let first = starts.iter().filter(|(t, _)| *t < Duration::from_secs(50)).count() as f64;
    let second = starts.len() as f64 - first;
    assert!((first / second - 0.5).abs() < 0.1, "{first} then {second}");
    let first_tenth = starts.iter().filter(|(t, _)| *t < Duration::from_secs(10)).count() as f64;
    assert!(first_tenth < first / 10.0, "{first_tenth} of {first}");
    let expected = summary::expected_sessions(&p, &pr);
    assert!(((starts.len() as f64 - expected) / expected).abs() < 0.06, "{} vs {expected}", starts.len());
}

#[test]
fn messages_carry_what_each_interface_sends() {
    let p = shipped("smoke");
    let actions = run(&p, &params(&p, 10, 60, 2));
    let mut by_session: HashMap<u64, Vec<&Action>> = HashMap::new();
    for a in &actions {
        by_session.entry(a.session).or_default().push(a);
        let patch = match &a.kind {
            ActionKind::SetConfig(x) | ActionKind::DeviceChanged(x) => x,
            _ => continue,
        };
        for v in [patch.h, patch.s, patch.brightness].into_iter().flatten() {
            assert!((0.0..=1.0).contains(&v) && ((v * 100.0).round() - v * 100.0).abs() < 1e-9, "{v}");
        }
        match a.interface {
            Some(Interface::Web) => assert!(patch.h.is_some() && patch.on.is_some(), "web sends the full state"),
            Some(Interface::App) => {
                let set = [patch.h.is_some(), patch.s.is_some(), patch.brightness.is_some(), patch.on.is_some()];
                assert_eq!(set.iter().filter(|x| **x).count(), 1, "an app sends one field: {patch:?}")
            }
            Some(Interface::LampUi) => assert!(matches!(a.kind, ActionKind::DeviceChanged(_))),
            None => panic!("a message outside a session"),
        }
    }
    // Web sessions log in, list, then open the lamp's page; every session that ends ends last.
    for acts in by_session.values().filter(|v| v[0].interface == Some(Interface::Web)) {
        assert_eq!(acts[0].kind, ActionKind::Login);
        if acts.len() > 2 {
            assert_eq!(acts[1].kind, ActionKind::Page(Page::List));
            assert_eq!(acts[2].kind, ActionKind::Page(Page::Detail));
        }
        let ends = acts.iter().filter(|a| a.kind == ActionKind::SessionEnd).count();
        assert!(ends <= 1 && (ends == 0 || acts.last().unwrap().kind == ActionKind::SessionEnd));
    }
}

#[test]
fn a_drag_steps_evenly_every_interval() {
    let p = shipped("evening");
    let actions = run(&p, &params(&p, 500, 3600, 4));
    let app: Vec<&Action> = actions.iter().filter(|a| a.interface == Some(Interface::App)).collect();
    let mut prev: HashMap<u64, (Duration, f64)> = HashMap::new();
    let mut steps = 0;
    for a in app {
        let ActionKind::SetConfig(Patch { h: Some(h), .. }) = a.kind else {
            prev.remove(&a.session);
            continue;
        };
        if let Some((t, _)) = prev.get(&a.session) {
            let gap = a.at - *t;
            if gap == p.drag.interval {
                steps += 1;
            }
        }
        prev.insert(a.session, (a.at, h));
    }
    assert!(steps > 100, "only {steps} hue steps 100 ms apart");
}

#[test]
fn bad_params_name_the_option() {
    let p = shipped("evening");
    let mut pr = params(&p, 1, 10, 0);
    pr.start_hour = 12.0;
    let err = Schedule::new(&p, &pr).err().unwrap();
    assert!(err.to_string().contains("18:00-23:00"), "{err}");
    pr = params(&p, 0, 10, 0);
    assert_eq!(Schedule::new(&p, &pr).err(), Some(ParamsError::NoLamps));
    pr = params(&p, 1, 10, 0);
    pr.speed = 0.0;
    assert!(Schedule::new(&p, &pr).is_err());
}

#[test]
fn summary_counts_the_schedule() {
    let p = shipped("smoke");
    let pr = params(&p, 10, 30, 6);
    let s = summary(&p, &pr).unwrap();
    let actions = run(&p, &pr);
    assert_eq!(s.total_sessions() as usize, session_starts(&actions).len());
    let messages =
        actions.iter().filter(|a| matches!(a.kind, ActionKind::SetConfig(_) | ActionKind::DeviceChanged(_))).count();
    assert_eq!(s.messages() as usize, messages);
    assert!(s.peak_messages > 0 && s.peak_messages as f64 >= s.messages_per_sec());
    let text = s.to_string();
    assert!(text.contains("sessions") && text.contains("peak"), "{text}");
}

#[test]
fn four_thousand_lamps_for_an_hour_stream_in_bounded_memory() {
    let p = shipped("evening");
    let mut pr = params(&p, 4000, 3600, 1);
    pr.speed = 5.0; // five profile hours in one wall hour
    let mut schedule = Schedule::new(&p, &pr).unwrap();
    let (mut n, mut max_pending) = (0u64, 0usize);
    while schedule.next().is_some() {
        n += 1;
        max_pending = max_pending.max(schedule.heap.len());
    }
    assert!(n > 300_000, "{n}");
    assert!(max_pending < 9000, "{max_pending}");
}
