//! The simulated fleet's MQTT connections as a whole: live counts that every connection's event loop updates (how many
//! are up, connect attempts, failed attempts, drops, time to CONNACK), taken once per interval as a
//! [`connections::Row`] for `connections.csv`, the Locust "User Count" and outage detection.
//!
//! Counters are atomics and one small histogram behind a lock, touched once per connect attempt, never per message.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::metrics::connections::Row;

/// Which side of a virtual lamp a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The lamp itself (`--responder internal`).
    Lamp,
    /// An owner's lamp page or app.
    Owner,
}

#[derive(Debug)]
pub struct Fleet {
    lamps_up: AtomicU64,
    owners_up: AtomicU64,
    attempts: AtomicU64,
    refused: AtomicU64,
    lost: AtomicU64,
    /// Time to CONNACK of this interval's successful attempts, in microseconds.
    connack: Mutex<Histogram<u64>>,
}

impl Default for Fleet {
    fn default() -> Fleet {
        Fleet {
            lamps_up: AtomicU64::new(0),
            owners_up: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            connack: Mutex::new(crate::metrics::stats::histogram()),
        }
    }
}

impl Fleet {
    fn gauge(&self, role: Role) -> &AtomicU64 {
        match role {
            Role::Lamp => &self.lamps_up,
            Role::Owner => &self.owners_up,
        }
    }

    pub fn attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Lamp connections up right now.
    pub fn lamps_up(&self) -> u64 {
        self.lamps_up.load(Ordering::Relaxed)
    }

    pub fn owners_up(&self) -> u64 {
        self.owners_up.load(Ordering::Relaxed)
    }

    /// The interval's figures; the counters (not the gauges) start again from zero.
    pub fn take(&self) -> Row {
        let connack_us = {
            let mut h = self.connack.lock().unwrap_or_else(|e| e.into_inner());
            let q = (!h.is_empty()).then(|| (h.value_at_quantile(0.5), h.value_at_quantile(0.99)));
            h.reset();
            q
        };
        Row {
            lamps_up: self.lamps_up(),
            owners_up: self.owners_up(),
            attempts: self.attempts.swap(0, Ordering::Relaxed),
            refused: self.refused.swap(0, Ordering::Relaxed),
            lost: self.lost.swap(0, Ordering::Relaxed),
            connack_us,
        }
    }
}

/// One connection's place in the [`Fleet`] counts: up from its CONNACK until it drops or this is dropped (a task
/// that is aborted still gives its place back).
#[derive(Debug)]
pub struct Presence {
    fleet: Arc<Fleet>,
    role: Role,
    up: bool,
}

impl Presence {
    pub fn new(fleet: Arc<Fleet>, role: Role) -> Presence {
        Presence { fleet, role, up: false }
    }

    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// A CONNACK, `took` after the attempt started.
    pub fn connected(&mut self, took: Duration) {
        let us = took.as_micros().min(u128::from(crate::metrics::MAX_MICROS)) as u64;
        crate::metrics::stats::record_micros(&mut self.fleet.connack.lock().unwrap_or_else(|e| e.into_inner()), us);
        if !self.up {
            self.up = true;
            self.fleet.gauge(self.role).fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The connection failed; if it was up, it counts as lost.
    pub fn dropped(&mut self) {
        if self.up {
            self.up = false;
            self.fleet.gauge(self.role).fetch_sub(1, Ordering::Relaxed);
            self.fleet.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        if self.up {
            self.fleet.gauge(self.role).fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presences_count_up_and_down_and_intervals_restart_the_counters() {
        let fleet = Arc::new(Fleet::default());
        let mut a = Presence::new(fleet.clone(), Role::Lamp);
        let mut b = Presence::new(fleet.clone(), Role::Lamp);
        let mut o = Presence::new(fleet.clone(), Role::Owner);
        for _ in 0..3 {
            fleet.attempt();
        }
        fleet.refused();
        a.connected(Duration::from_millis(2));
        b.connected(Duration::from_millis(4));
        o.connected(Duration::from_millis(4));
        a.connected(Duration::from_millis(1)); // a second CONNACK on the same connection counts once
        let r = fleet.take();
        assert_eq!((r.lamps_up, r.owners_up, r.attempts, r.refused, r.lost), (2, 1, 3, 1, 0));
        assert_eq!(r.connack_us.map(|(p50, _)| p50 / 1000), Some(2));
        b.dropped();
        drop(o); // an aborted task's connection
        let r = fleet.take();
        assert_eq!((r.lamps_up, r.owners_up, r.attempts, r.lost, r.connack_us), (1, 0, 0, 1, None));
        drop(a);
        assert_eq!(fleet.lamps_up(), 0);
    }
}
