//! Reading a profile's TOML through the config [`Reader`], so every problem is reported as key, value, expected.
//!
//! This module owns which keys a profile has and their ranges; the meaning of each is documented on [`Profile`] and
//! in the shipped files. It never stops at the first problem: each section is read even when another is wrong.

use super::chain::{Chain, Interface, State};
use super::quantiles::Quantiles;
use super::{Churn, Drag, Profile, Think, Values, Window};
use crate::config::reader::Reader;
use std::time::Duration;

/// The largest rate a profile may give (sessions per lamp per hour): one a second.
pub const MAX_RATE: f64 = 3600.0;

pub(super) fn read(r: &mut Reader, origin: &str) -> Option<Profile> {
    let name = required(r, "name", "a short name of letters, digits, '-' or '_', e.g. \"evening\"", |v| {
        v.as_str().filter(|s| is_name(s)).map(str::to_string)
    });
    let description = r.string("description").unwrap_or_default();
    let window = required(r, "window", "[start_hour, end_hour], hours 0-23 and 1-24, e.g. [18, 23]", window);
    let tz_offset_minutes = r
        .get("tz_offset", "an offset from UTC such as \"+00:00\" or \"-05:00\"", |v| v.as_str().and_then(parse_offset))
        .unwrap_or(0);
    let max_actions = r.int("max_actions", 1, 10_000).map_or(100, |n| n as u32);
    let rates = match window {
        Some(w) => read_rates(r, w),
        None => {
            r.mark_subtree("arrivals"); // its hours cannot be checked without a window
            None
        }
    };
    let share = read_share(r);
    let chains = read_chains(r, share);
    let page = quantiles(r, "think.page", 0.0, 3600.0);
    let control = quantiles(r, "think.control", 0.0, 3600.0);
    let interval = r.duration("drag.interval", Duration::from_millis(10), Duration::from_secs(10));
    let length = quantiles(r, "drag.length", 0.5, 10_000.0);
    let hue = quantiles(r, "values.hue", 0.0, 1.0);
    let saturation = quantiles(r, "values.saturation", 0.0, 1.0);
    let brightness = quantiles(r, "values.brightness", 0.0, 1.0);
    let churn = read_churn(r);
    let slos = read_slos(r);
    Some(Profile {
        name: name?,
        description,
        origin: origin.to_string(),
        window: window?,
        tz_offset_minutes,
        rates: rates?,
        share: share?,
        chains: chains?,
        think: Think { page: page?, control: control? },
        drag: Drag { interval: interval.unwrap_or(Duration::from_millis(100)), length: length? },
        values: Values { hue: hue?, saturation: saturation?, brightness: brightness? },
        churn: churn?,
        max_actions,
        slos: slos?,
    })
}

/// `slo = ["roundtrip p99 < 100ms", "failures < 1%"]`: optional; each entry must parse.
fn read_slos(r: &mut Reader) -> Option<Vec<crate::slo::Slo>> {
    if r.lookup("slo").is_none() {
        return Some(Vec::new());
    }
    let expected = "a list of SLOs such as [\"roundtrip p99 < 100ms\", \"failures < 1%\"]";
    let items = r.get("slo", expected, |v| v.as_array().cloned())?;
    let mut slos = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let key = format!("slo.{i}");
        match item.as_str().map(crate::slo::Slo::parse) {
            Some(Ok(s)) => slos.push(s),
            Some(Err(e)) => {
                r.problem(&key, format!("{:?}", item.as_str().unwrap_or_default()), e.to_string());
                ok = false;
            }
            None => {
                r.problem(&key, item.to_string(), "a string such as \"roundtrip p99 < 100ms\"");
                ok = false;
            }
        }
    }
    ok.then_some(slos)
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Like `Reader::get`, but a missing key is a problem too.
fn required<T>(
    r: &mut Reader,
    key: &str,
    expected: &str,
    convert: impl FnOnce(&toml::Value) -> Option<T>,
) -> Option<T> {
    if r.lookup(key).is_none() {
        r.problem(key, "(missing)", expected);
        return None;
    }
    r.get(key, expected, convert)
}

fn window(v: &toml::Value) -> Option<Window> {
    let a = v.as_array()?;
    let [s, e] = a.as_slice() else { return None };
    let (s, e) = (s.as_integer()?, e.as_integer()?);
    let all_day = (s, e) == (0, 24);
    ((0..=23).contains(&s) && (1..=24).contains(&e) && (s != e % 24 || all_day))
        .then_some(Window { start: s as u8, end: e as u8 })
}

/// `+05:30` -> 330 minutes.
pub fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=14).contains(&h) && (0..60).contains(&m)).then_some(sign * (h * 60 + m))
}

/// `+05:30`.
pub fn format_offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60)
}

fn read_rates(r: &mut Reader, w: Window) -> Option<Vec<f64>> {
    let hours = w.hours();
    let mut rates = vec![None; hours.len()];
    let mut ok = true;
    for key in r.keys("arrivals") {
        let full = format!("arrivals.{key}");
        match key.parse::<u8>().ok().and_then(|h| hours.iter().position(|x| *x == h)) {
            Some(i) => rates[i] = r.float(&full, 0.0, MAX_RATE),
            None => {
                let value = r.lookup(&full).map(|v| v.to_string()).unwrap_or_default();
                r.mark_subtree(&full);
                r.problem(
                    &full,
                    value,
                    format!("an hour of the window {w} (a key from {} to {})", hours[0], hours[hours.len() - 1]),
                );
                ok = false;
            }
        }
    }
    for (i, rate) in rates.iter().enumerate() {
        if rate.is_none() && r.lookup(&format!("arrivals.{}", hours[i])).is_none() {
            r.problem(
                &format!("arrivals.{}", hours[i]),
                "(missing)",
                "sessions per lamp per hour for every hour of the window",
            );
        }
    }
    let rates: Option<Vec<f64>> = rates.into_iter().collect();
    rates.filter(|_| ok)
}

fn read_share(r: &mut Reader) -> Option<[f64; 3]> {
    let mut share = [0.0; 3];
    let mut ok = true;
    for i in Interface::ALL {
        match r.float(&format!("share.{}", i.key()), 0.0, 1.0) {
            Some(x) => share[i.index()] = x,
            None => ok &= r.lookup(&format!("share.{}", i.key())).is_none(),
        }
    }
    let total: f64 = share.iter().sum();
    if ok && (total - 1.0).abs() > 0.01 {
        let shown = Interface::ALL.map(|i| format!("{}={}", i.key(), share[i.index()])).join(", ");
        r.problem("share", shown, "shares of web, app and lamp_ui that add up to 1");
        return None;
    }
    ok.then_some(share)
}

fn read_chains(r: &mut Reader, share: Option<[f64; 3]>) -> Option<[Option<Chain>; 3]> {
    let mut chains = [None, None, None];
    let mut ok = true;
    for i in Interface::ALL {
        let key = format!("chain.{}", i.key());
        let needed = share.is_some_and(|s| s[i.index()] > 0.0);
        if r.lookup(&key).is_none() {
            if needed {
                r.problem(
                    &key,
                    "(missing)",
                    format!("a session chain for {i} sessions (share.{} is above 0)", i.key()),
                );
                ok = false;
            }
            continue;
        }
        match read_chain(r, &key, i) {
            Some(c) => chains[i.index()] = Some(c),
            None => ok = false,
        }
    }
    ok.then_some(chains)
}

fn read_chain(r: &mut Reader, key: &str, interface: Interface) -> Option<Chain> {
    let mut rows = Vec::new();
    let mut ok = true;
    for from_key in r.keys(key) {
        let row_key = format!("{key}.{from_key}");
        let Some(from) = State::from_key(&from_key) else {
            let value = r.lookup(&row_key).map(|v| v.to_string()).unwrap_or_default();
            r.mark_subtree(&row_key);
            r.problem(&row_key, value, format!("a state: one of {}", state_list()));
            ok = false;
            continue;
        };
        let mut row = Vec::new();
        for to_key in r.keys(&row_key) {
            let cell = format!("{row_key}.{to_key}");
            match State::from_key(&to_key) {
                Some(to) => match r.float(&cell, 0.0, 1.0) {
                    Some(p) => row.push((to, p)),
                    None => ok = false,
                },
                None => {
                    let value = r.lookup(&cell).map(|v| v.to_string()).unwrap_or_default();
                    r.mark_subtree(&cell);
                    r.problem(&cell, value, format!("a next state: one of {}", state_list()));
                    ok = false;
                }
            }
        }
        let total: f64 = row.iter().map(|(_, p)| p).sum();
        if !row.is_empty() && (total - 1.0).abs() > 0.01 {
            r.problem(&row_key, format!("probabilities adding up to {total:.4}"), "probabilities that add up to 1");
            ok = false;
        }
        rows.push((from, row));
    }
    if !ok {
        return None;
    }
    match Chain::new(&rows, interface) {
        Ok(c) => Some(c),
        Err(problems) => {
            for (k, why) in problems {
                r.problem(&format!("{key}.{k}"), "(as written)", why);
            }
            None
        }
    }
}

fn state_list() -> String {
    State::ALL.iter().map(|s| s.key()).collect::<Vec<_>>().join(", ")
}

/// A required quantiles table; each bad entry is its own problem.
fn quantiles(r: &mut Reader, key: &str, lo: f64, hi: f64) -> Option<Quantiles> {
    let Some(v) = r.lookup(key) else {
        r.problem(key, "(missing)", "quantiles such as { p0 = 1, p50 = 4, p100 = 30 }");
        return None;
    };
    r.mark_subtree(key);
    match Quantiles::from_toml(v, lo, hi) {
        Ok(q) => Some(q),
        Err(problems) => {
            for (suffix, value, expected) in problems {
                r.problem(&format!("{key}{suffix}"), value, expected);
            }
            None
        }
    }
}

fn read_churn(r: &mut Reader) -> Option<Churn> {
    let per_hour = r.float("churn.per_hour", 0.0, MAX_RATE);
    if per_hour.is_none() && r.lookup("churn.per_hour").is_none() {
        r.problem("churn.per_hour", "(missing)", "reconnects per lamp per hour (0 for none)");
    }
    let offline = quantiles(r, "churn.offline", 0.0, 86_400.0);
    Some(Churn { per_hour: per_hour?, offline: offline? })
}
