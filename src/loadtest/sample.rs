//! One timed operation, as executors report it: what it was, when it should have started (the schedule's intent),
//! when it really started, when it finished, and how it ended. The recorder turns these into histograms; executors
//! never aggregate themselves. Sending is a bounded channel: if the recorder falls behind, executors wait, and the
//! wait shows up as lateness, never as lost samples.

use tokio::sync::mpsc;
use tokio::time::Instant;

/// An operation's identity: `kind` ("GET", "POST", "MQTT") and a grouped `name` ("/lampi/device/[id]", "roundtrip").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    /// For event-loop callbacks that must not wait: drops nothing unless the run is over (channel closed);
    /// a full channel falls back to a spawned send.
    pub fn send_now(&self, s: Sample) {
        if let Err(mpsc::error::TrySendError::Full(s)) = self.0.try_send(s) {
            let tx = self.0.clone();
            tokio::spawn(async move {
                let _ = tx.send(s).await;
            });
        }
    }
}
