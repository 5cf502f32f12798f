//! Micro-benchmark of the LAMPI wire codec (not a test: it prints figures).
//!
//!     cargo bench --no-default-features --features gpio --bench codec [-- ROUNDS]
//!
//! For each payload, times the DOM reference (`parse_command_dom`; the DOM encoders the typed ones replaced, from
//! `src/lamp/codec/reference.rs`) and the codec as it is now, interleaved round by round so both see the same
//! machine load, and prints the median ns per call over ROUNDS (default 15) rounds of about 50 ms each, the
//! fastest round, and the ratio of the medians. Each pair's results are checked equal before timing. The
//! `parse_state` row's DOM side is `parse_command_dom` alone (the old `parse_state` added four field checks).

use std::hint::black_box;
use std::time::{Duration, Instant};

use lampi_agent::lamp::codec::{self, state_json};
use lampi_agent::lamp::{Command, Level, State};

#[path = "../src/lamp/codec/reference.rs"]
#[allow(dead_code)]
mod reference;

/// Calls per round, so that one round of `f` takes about `target`.
fn calibrate(f: &mut dyn FnMut(), target: Duration) -> u64 {
    let mut n = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        let took = t.elapsed();
        if took >= target / 4 {
            return (n as f64 * target.as_secs_f64() / took.as_secs_f64()).ceil() as u64;
        }
        n *= 4;
    }
}

fn ns_per_call(f: &mut dyn FnMut(), n: u64) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times `before` and `after` over `rounds` interleaved rounds and prints one row.
fn row(name: &str, rounds: usize, before: &mut dyn FnMut(), after: &mut dyn FnMut()) {
    let target = Duration::from_millis(50);
    let (nb, na) = (calibrate(before, target), calibrate(after, target));
    let (mut b, mut a) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        b.push(ns_per_call(before, nb));
        a.push(ns_per_call(after, na));
    }
    let (bmin, amin) =
        (b.iter().copied().fold(f64::INFINITY, f64::min), a.iter().copied().fold(f64::INFINITY, f64::min));
    let (bm, am) = (median(&mut b), median(&mut a));
    println!("{name:<44} {bm:>9.0} {bmin:>9.0} {am:>9.0} {amin:>9.0} {:>7.2}x", bm / am);
}

fn parse_row(name: &str, rounds: usize, payload: &[u8]) {
    assert_eq!(codec::parse_command(payload), codec::parse_command_dom(payload), "{name}");
    row(name, rounds, &mut || drop(black_box(codec::parse_command_dom(black_box(payload)))), &mut || {
        drop(black_box(codec::parse_command(black_box(payload))))
    });
}

fn level(x: f64) -> Option<Level> {
    Level::from_f64(x)
}

fn main() {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(15).max(1);
    let st = State { h: Level::from_hundredths(44).unwrap_or(Level::ZERO), s: Level::FULL, ..State::default() };
    let changed = codec::encode_changed(&st, "lamp_service");
    let full = Command {
        client: "lampi_load_000123".into(),
        h: level(0.44),
        s: level(1.0),
        brightness: level(0.47),
        on: Some(true),
    };
    let partial = Command { client: "lampi_load_000123".into(), h: None, s: None, brightness: level(0.3), on: None };

    println!(
        "codec: ns per call, median and fastest of {rounds} rounds (~50 ms each); ratio = DOM median / typed median"
    );
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "operation", "DOM med", "DOM min", "typed med", "typed min", "ratio"
    );
    parse_row(
        "parse_command: web page's full set_config",
        rounds,
        br#"{"color": {"h": 0.44, "s": 1.0}, "brightness": 0.47, "on": true, "client": "lamp_ui"}"#,
    );
    parse_row("parse_command: encode_command(full) bytes", rounds, &codec::encode_command(&full));
    parse_row("parse_command: partial {client, brightness}", rounds, &codec::encode_command(&partial));
    parse_row("parse_command: lamp/changed payload", rounds, &changed);
    row(
        "parse_state: lamp/changed payload",
        rounds,
        &mut || drop(black_box(codec::parse_command_dom(black_box(&changed)))),
        &mut || drop(black_box(codec::parse_state(black_box(&changed)))),
    );
    parse_row("parse_command: unknown field (falls back)", rounds, br#"{"client":"x","on":true,"x":1}"#);
    parse_row("parse_command: \"on\":\"true\" (refused, falls back)", rounds, br#"{"client":"x","on":"true"}"#);

    for (name, cmd) in [("encode_command: full", &full), ("encode_command: partial", &partial)] {
        assert_eq!(codec::encode_command(cmd), reference::encode_command(cmd));
        row(name, rounds, &mut || drop(black_box(reference::encode_command(black_box(cmd)))), &mut || {
            drop(black_box(codec::encode_command(black_box(cmd))))
        });
    }
    assert_eq!(codec::encode_changed(&st, "lamp_service"), reference::encode_changed(&st, "lamp_service"));
    row(
        "encode_changed",
        rounds,
        &mut || drop(black_box(reference::encode_changed(black_box(&st), black_box("lamp_service")))),
        &mut || drop(black_box(codec::encode_changed(black_box(&st), black_box("lamp_service")))),
    );
}
