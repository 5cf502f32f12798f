//! How a self-test run is shown: an aligned table for a person (each hint on its own line under its check, so long
//! details do not push it off the screen) and one JSON document for Ansible. Both are pure: they take a [`Report`]
//! and write to any `impl Write`, so they are tested against pinned text.

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::{Check, Report, Status};

/// "0.4 ms", "12 ms", "1.25 s".
pub fn duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// The summary line: the verdict for the lamp and the counts.
pub fn summary(r: &Report) -> String {
    let mut counts = vec![format!("{} passed", r.count(Status::Pass))];
    for (status, one, many) in [
        (Status::Warn, "warning", "warnings"),
        (Status::Fail, "failed", "failed"),
        (Status::Skip, "skipped", "skipped"),
    ] {
        match r.count(status) {
            0 => {}
            1 => counts.push(format!("1 {one}")),
            n => counts.push(format!("{n} {many}")),
        }
    }
    let failed: Vec<&str> =
        r.outcomes.iter().filter(|o| o.verdict.status == Status::Fail).map(|o| o.check.name()).collect();
    let verdict = if failed.is_empty() { "READY".to_string() } else { format!("NOT READY ({})", failed.join(", ")) };
    let lamp = r.device_id.as_deref().map_or_else(String::new, |id| format!("lamp {id}: "));
    format!("{lamp}{verdict}: {} in {}", counts.join(", "), duration(r.duration))
}

/// The table: CHECK, STATUS, TIME, DETAIL columns, a `hint:` line under a check that has one, then the summary.
pub fn table(r: &Report, w: &mut impl Write) -> io::Result<()> {
    // Fixed width (the longest name), so tables of different runs line up.
    let name_w = Check::ALL.iter().map(|c| c.name().len()).max().unwrap_or(8);
    let times: Vec<String> = r.outcomes.iter().map(|o| duration(o.verdict.duration)).collect();
    let time_w = times.iter().map(String::len).max().unwrap_or(4).max(4);
    writeln!(w, "{:<name_w$}  {:<6}  {:>time_w$}  DETAIL", "CHECK", "STATUS", "TIME")?;
    let indent = name_w + 2 + 6 + 2 + time_w + 2;
    for (o, t) in r.outcomes.iter().zip(&times) {
        let v = &o.verdict;
        writeln!(w, "{:<name_w$}  {:<6}  {:>time_w$}  {}", o.check.name(), v.status.as_str(), t, v.detail)?;
        if let Some(h) = &v.hint {
            writeln!(w, "{:indent$}hint: {h}", "")?;
        }
    }
    writeln!(w)?;
    writeln!(w, "{}", summary(r))
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// The JSON document (fields in this order): `hint` is null when there is none.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    pub ok: bool,
    pub device_id: Option<&'a str>,
    pub version: &'static str,
    pub duration_ms: f64,
    pub checks: Vec<CheckEntry<'a>>,
}

#[derive(Debug, Serialize)]
pub struct CheckEntry<'a> {
    pub name: &'static str,
    pub status: &'static str,
    pub duration_ms: f64,
    pub detail: &'a str,
    pub hint: Option<&'a str>,
}

pub fn document(r: &Report) -> Document<'_> {
    Document {
        ok: r.ok(),
        device_id: r.device_id.as_deref(),
        version: env!("CARGO_PKG_VERSION"),
        duration_ms: millis(r.duration),
        checks: r
            .outcomes
            .iter()
            .map(|o| CheckEntry {
                name: o.check.name(),
                status: o.verdict.status.as_str(),
                duration_ms: millis(o.verdict.duration),
                detail: &o.verdict.detail,
                hint: o.verdict.hint.as_deref(),
            })
            .collect(),
    }
}

/// The JSON document, pretty-printed, with a final newline.
pub fn json(r: &Report, w: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &document(r))?;
    writeln!(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::{Outcome, Verdict};

    fn report() -> Report {
        let mut broker = Verdict::fail("connection refused by 127.0.0.1:1883: no broker listening", "start the broker");
        broker.duration = Duration::from_micros(1234);
        let mut led = Verdict::pass("sim: lit red, green, blue, white");
        led.duration = Duration::from_millis(1250);
        let mut web = Verdict::skip("reachable; login not checked", "set web.username");
        web.duration = Duration::from_millis(25);
        Report {
            device_id: Some("b827eb08451e".into()),
            outcomes: vec![
                Outcome { check: Check::Led, verdict: led },
                Outcome { check: Check::Broker, verdict: broker },
                Outcome { check: Check::Web, verdict: web },
            ],
            duration: Duration::from_millis(1300),
        }
    }

    #[test]
    fn the_table_aligns_columns_and_puts_hints_under_their_check() {
        let mut out = Vec::new();
        table(&report(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\
CHECK     STATUS    TIME  DETAIL
led       PASS    1.25 s  sim: lit red, green, blue, white
broker    FAIL    1.2 ms  connection refused by 127.0.0.1:1883: no broker listening
                          hint: start the broker
web       SKIP     25 ms  reachable; login not checked
                          hint: set web.username

lamp b827eb08451e: NOT READY (broker): 1 passed, 1 failed, 1 skipped in 1.30 s
"
        );
    }

    #[test]
    fn the_json_has_one_entry_per_check_and_ok_false_on_a_failure() {
        use serde_json::{json, Value};
        let mut out = Vec::new();
        json(&report(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("{\n  \"ok\": false,\n  \"device_id\": \"b827eb08451e\",\n"), "{text}");
        assert!(text.ends_with("}\n"));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["duration_ms"], 1300.0);
        let checks = v["checks"].as_array().unwrap();
        assert_eq!(checks.len(), 3);
        assert_eq!(
            checks[1],
            json!({"name": "broker", "status": "FAIL", "duration_ms": 1.2,
                   "detail": "connection refused by 127.0.0.1:1883: no broker listening", "hint": "start the broker"})
        );
        assert_eq!(checks[0]["hint"], Value::Null);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_micros(420)), "0.4 ms");
        assert_eq!(duration(Duration::from_millis(12)), "12 ms");
        assert_eq!(duration(Duration::from_millis(1500)), "1.50 s");
    }
}
