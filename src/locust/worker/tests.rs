//! The state machine under tokio's paused clock: no socket, no real time.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::locust::wire::{FromMaster, Spawn, State, ToMaster};

fn classes(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn spawn(ts: f64, pairs: &[(&str, u32)]) -> FromMaster {
    FromMaster::Spawn(Spawn { timestamp: ts, classes: classes(pairs), host: None })
}

fn sends(effects: &[Effect]) -> Vec<&ToMaster> {
    effects.iter().filter_map(|e| if let Effect::Send(m) = e { Some(m) } else { None }).collect()
}

#[test]
fn spawn_targets_fill_classes_in_order_up_to_the_capacity() {
    let asked = classes(&[("A", 3), ("B", 2)]);
    assert_eq!(assign(&asked, 10), asked);
    assert_eq!(assign(&asked, 4), classes(&[("A", 3), ("B", 1)]));
    assert_eq!(assign(&asked, 2), classes(&[("A", 2), ("B", 0)]));
    assert_eq!(total(&assign(&asked, 0)), 0);
    assert_eq!(total(&classes(&[("A", u32::MAX), ("B", 1)])), u32::MAX, "saturates");
}

#[tokio::test(start_paused = true)]
async fn registers_and_resends_ready_every_5s_until_acked() {
    let mut w = Worker::new(10, Duration::from_secs(60), Instant::now());
    assert_eq!(sends(&w.connected(Instant::now())), [&ToMaster::ClientReady]);
    let mut readies = Vec::new();
    for s in 1..=11 {
        tokio::time::advance(Duration::from_secs(1)).await;
        let e = w.on_tick(Instant::now());
        assert!(e.contains(&Effect::Heartbeat(State::Ready)), "a heartbeat every second, also unregistered");
        if sends(&e).contains(&&ToMaster::ClientReady) {
            readies.push(s);
        }
        if s <= 4 {
            w.on_message(FromMaster::Heartbeat, Instant::now()); // the link is alive
        }
    }
    assert_eq!(readies, [5, 10]);
    w.on_message(FromMaster::Ack { index: 0 }, Instant::now());
    for _ in 0..6 {
        tokio::time::advance(Duration::from_secs(1)).await;
        w.on_message(FromMaster::Heartbeat, Instant::now());
        assert!(!sends(&w.on_tick(Instant::now())).contains(&&ToMaster::ClientReady));
    }
}

#[tokio::test(start_paused = true)]
async fn the_masters_host_is_passed_on_before_the_lamps_and_again_only_when_it_changes() {
    let mut w = Worker::new(5, Duration::from_secs(60), Instant::now());
    w.connected(Instant::now());
    let with_host = |ts: f64, host: Option<&str>| {
        FromMaster::Spawn(Spawn { timestamp: ts, classes: classes(&[("U", 1)]), host: host.map(str::to_string) })
    };
    let hosts = |e: &[Effect]| e.iter().filter(|e| matches!(e, Effect::Host(_))).cloned().collect::<Vec<_>>();
    let e = w.on_message(with_host(1.0, Some("http://site:8000")), Instant::now());
    let at = |want: &Effect| e.iter().position(|x| x == want).unwrap();
    assert!(at(&Effect::Host("http://site:8000".into())) < at(&Effect::Lamps(1)), "{e:?}");
    assert!(hosts(&w.on_message(with_host(2.0, Some("http://site:8000")), Instant::now())).is_empty(), "the same");
    assert!(hosts(&w.on_message(with_host(3.0, None), Instant::now())).is_empty(), "no host: the last one stays");
    let e = w.on_message(with_host(4.0, Some("https://other/")), Instant::now());
    assert_eq!(hosts(&e), [Effect::Host("https://other/".into())]);
}

#[tokio::test(start_paused = true)]
async fn spawns_are_absolute_and_stale_ones_ignored() {
    let mut w = Worker::new(5, Duration::from_secs(60), Instant::now());
    w.connected(Instant::now());
    let e = w.on_message(spawn(10.0, &[("LampiUser", 2)]), Instant::now());
    assert_eq!(
        e,
        [
            Effect::Send(ToMaster::Spawning),
            Effect::Lamps(2),
            Effect::Send(ToMaster::SpawningComplete { classes: classes(&[("LampiUser", 2)]) })
        ]
    );
    assert_eq!(w.state(), State::Running);
    // A ramp: 2, then 4 (not 2 + 4).
    assert!(w.on_message(spawn(11.0, &[("LampiUser", 4)]), Instant::now()).contains(&Effect::Lamps(4)));
    // Not newer than the last: ignored.
    assert!(w.on_message(spawn(11.0, &[("LampiUser", 1)]), Instant::now()).is_empty());
    assert!(w.on_message(spawn(9.0, &[("LampiUser", 1)]), Instant::now()).is_empty());
    // More than --devices: capped, and the master is told the truth.
    let e = w.on_message(spawn(12.0, &[("LampiUser", 9)]), Instant::now());
    assert!(e.contains(&Effect::Lamps(5)));
    assert!(sends(&e).contains(&&ToMaster::SpawningComplete { classes: classes(&[("LampiUser", 5)]) }));
    assert_eq!(w.classes(), &classes(&[("LampiUser", 5)]));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(w.on_tick(Instant::now()).contains(&Effect::Heartbeat(State::Running)));
}

#[tokio::test(start_paused = true)]
async fn stop_stops_the_lamps_and_registers_again() {
    let mut w = Worker::new(5, Duration::from_secs(60), Instant::now());
    w.connected(Instant::now());
    w.on_message(FromMaster::Ack { index: 1 }, Instant::now());
    w.on_message(spawn(1.0, &[("U", 3)]), Instant::now());
    let e = w.on_message(FromMaster::Stop, Instant::now());
    assert_eq!(e[0], Effect::Lamps(0));
    assert_eq!(sends(&e), [&ToMaster::ClientStopped, &ToMaster::ClientReady]);
    assert_eq!(w.state(), State::Ready);
    assert!(w.classes().is_empty());
    // Not acknowledged yet: resent after 5 s.
    tokio::time::advance(READY_RESEND).await;
    w.on_message(FromMaster::Heartbeat, Instant::now());
    assert!(sends(&w.on_tick(Instant::now())).contains(&&ToMaster::ClientReady));
    assert_eq!(w.on_message(FromMaster::Quit, Instant::now()), [Effect::Quit]);
    assert_eq!(w.on_message(FromMaster::Reconnect, Instant::now()), [Effect::Reconnect]);
    assert!(w.on_message(FromMaster::Other("locustfile".into()), Instant::now()).is_empty());
}

#[tokio::test(start_paused = true)]
async fn reports_every_3s_and_heartbeats_every_second() {
    let mut w = Worker::new(5, Duration::from_secs(60), Instant::now());
    w.connected(Instant::now());
    let mut reports = Vec::new();
    let mut beats = 0;
    for s in 1..=9 {
        tokio::time::advance(Duration::from_secs(1)).await;
        w.on_message(FromMaster::Heartbeat, Instant::now());
        let e = w.on_tick(Instant::now());
        beats += e.iter().filter(|e| matches!(e, Effect::Heartbeat(_))).count();
        if e.contains(&Effect::Report) {
            reports.push(s);
        }
    }
    assert_eq!((beats, reports), (9, vec![3, 6, 9]));
    assert!(w.next_tick() <= Instant::now() + HEARTBEAT);
}

#[tokio::test(start_paused = true)]
async fn a_dead_link_is_rebuilt_and_a_silent_master_stops_the_load_once() {
    let silence = Duration::from_secs(20);
    let mut w = Worker::new(5, silence, Instant::now());
    w.connected(Instant::now());
    w.on_message(FromMaster::Ack { index: 0 }, Instant::now());
    w.on_message(spawn(1.0, &[("U", 2)]), Instant::now());
    let t0 = Instant::now();
    let mut reconnects = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..30 {
        tokio::time::advance(Duration::from_secs(1)).await;
        let now = Instant::now();
        let e = w.on_tick(now);
        if e.contains(&Effect::Reconnect) {
            reconnects.push((now - t0).as_secs());
            assert_eq!(sends(&w.connected(now)), [&ToMaster::ClientReady], "a new link registers again");
        }
        if e.contains(&Effect::Lamps(0)) {
            stops.push((now - t0).as_secs());
        }
    }
    assert_eq!(reconnects, [5, 10, 15, 20, 25, 30], "every {LINK_TIMEOUT:?} without a word");
    assert_eq!(stops, [20], "the load stops once, after the silence");
    assert_eq!(w.state(), State::Ready);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(w.on_tick(Instant::now()).contains(&Effect::Heartbeat(State::Ready)));
    // The master comes back (a new one): it acks and spawns again.
    w.on_message(FromMaster::Ack { index: 0 }, Instant::now());
    assert!(w.on_message(spawn(100.0, &[("U", 2)]), Instant::now()).contains(&Effect::Lamps(2)));
}
