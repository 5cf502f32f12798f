//! One timed operation, as executors report it: what it was, when it should have started (the schedule's intent),
//! when it really started, when it finished, and how it ended. The recorder turns these into histograms; executors
//! never aggregate themselves. Sending is a bounded channel: if the recorder falls behind, executors wait, and the
//! wait shows up as lateness, never as lost samples. A connection's event loop, which must not wait in the middle
//! of handling a packet, collects its samples in an [`Outbox`] and hands them over after each wake-up: when the
//! channel is full it waits there, before reading its socket again (back-pressure: the broker's data waits in the
//! kernel's socket buffer; nothing is dropped and nothing grows without bound).

use tokio::sync::mpsc;
use tokio::time::Instant;

/// An operation's identity: `kind` ("GET", "POST", "MQTT") and a grouped `name` ("/lampi/device/[id]", "roundtrip").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Op {
    pub kind: &'static str,
    pub name: &'static str,
}

pub const CONNECT: Op = Op { kind: "MQTT", name: "connect" };
pub const SUBSCRIBE: Op = Op { kind: "MQTT", name: "subscribe" };
pub const PUBLISH: Op = Op { kind: "MQTT", name: "publish set_config" };
pub const ROUNDTRIP: Op = Op { kind: "MQTT", name: "roundtrip" };
pub const CHANGED: Op = Op { kind: "MQTT", name: "publish changed" };
pub const LOGIN_FORM: Op = Op { kind: "GET", name: "/login/" };
pub const LOGIN_POST: Op = Op { kind: "POST", name: "/login/" };
pub const PAGE_ROOT: Op = Op { kind: "GET", name: "/" };
pub const PAGE_LIST: Op = Op { kind: "GET", name: "/lampi/" };
pub const PAGE_DETAIL: Op = Op { kind: "GET", name: "/lampi/device/[id]" };

#[derive(Debug, Clone)]
pub struct Sample {
    pub op: Op,
    pub intended: Instant,
    pub started: Instant,
    pub finished: Instant,
    /// Ok(bytes of content) or Err(failure name).
    pub outcome: Result<u64, String>,
}

/// Where executors send samples.
#[derive(Clone)]
pub struct Samples(pub mpsc::Sender<Sample>);

impl Samples {
    pub fn channel(capacity: usize) -> (Samples, mpsc::Receiver<Sample>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Samples(tx), rx)
    }

    pub async fn send(&self, op: Op, intended: Instant, started: Instant, outcome: Result<u64, String>) {
        let s = Sample { op, intended, started, finished: Instant::now(), outcome };
        let _ = self.0.send(s).await;
    }
}

/// An operation being timed: what, when it should have started, when it was sent.
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    pub op: Op,
    pub intended: Instant,
    pub sent: Instant,
}

/// One event loop's samples between hand-overs (see the module docs). Holds at most what one wake-up produced.
pub struct Outbox {
    tx: mpsc::Sender<Sample>,
    held: Vec<Sample>,
}

impl Outbox {
    pub fn new(to: &Samples) -> Outbox {
        Outbox { tx: to.0.clone(), held: Vec::new() }
    }

    /// `t` ended now: `Ok(bytes)` or `Err(failure name)`.
    pub fn push(&mut self, t: Timed, outcome: Result<u64, &str>) {
        let s = Sample {
            op: t.op,
            intended: t.intended,
            started: t.sent,
            finished: Instant::now(),
            outcome: outcome.map_err(str::to_string),
        };
        if !self.held.is_empty() {
            return self.held.push(s);
        }
        match self.tx.try_send(s) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {} // closed: the run is over
            Err(mpsc::error::TrySendError::Full(s)) => self.held.push(s),
        }
    }

    /// Hands over what the channel had no room for, waiting for room (in order). The room they took goes with
    /// them: the channel is rarely full, and every connection of the run has an outbox that would keep it.
    pub async fn flush(&mut self) {
        for s in std::mem::take(&mut self.held) {
            let _ = self.tx.send(s).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_at(t: Instant) -> Timed {
        Timed { op: PUBLISH, intended: t, sent: t }
    }

    #[tokio::test]
    async fn what_a_full_channel_made_an_outbox_hold_is_handed_over_in_order_and_its_room_given_back() {
        let (samples, mut rx) = Samples::channel(1);
        let mut out = Outbox::new(&samples);
        let t0 = Instant::now();
        for i in 0..40u64 {
            out.push(sample_at(t0), Ok(i));
        }
        assert_eq!(out.held.len(), 39, "the channel took one");
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(s) = rx.recv().await {
                got.push(s.outcome.unwrap());
            }
            got
        });
        out.flush().await;
        assert_eq!(out.held.capacity(), 0, "the outbox kept the room of {} samples", out.held.capacity());
        drop((out, samples));
        assert_eq!(reader.await.unwrap(), (0..40).collect::<Vec<_>>(), "every sample, in order");
    }
}
