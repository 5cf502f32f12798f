//! Locust's master/worker messages on the wire: what a worker sends ([`ToMaster`]) and what it understands of the
//! master ([`FromMaster`]), to and from the bytes of one ZeroMQ frame.
//!
//! A frame is a msgpack array of three elements, `[type, data, node_id]` (LOCUST.md, "Transport"): strings as msgpack
//! str, never bin; integer map keys where Locust has them (response-time buckets, unix seconds); times as float64 unix
//! seconds. Decoding never trusts the frame: anything that is not such an array, or a known type whose data lacks
//! what we need, is a [`WireError`] naming what was wrong, for the caller to log and ignore. Types we do not act on
//! decode as [`FromMaster::Other`]. Pure: no socket, no clock.

use std::collections::BTreeMap;

use rmpv::Value;

use super::stats::{Entry, ErrorEntry, Report};

/// `client_ready`'s data: `-1` skips the master's version comparison (as boomer and locust4j do).
pub const READY_VERSION: i64 = -1;

/// Nested deeper than this, a frame is refused (no master message is more than four levels deep).
const MAX_DEPTH: usize = 16;

/// A worker's state as its heartbeats tell the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ready,
    Spawning,
    Running,
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Spawning => "spawning",
            State::Running => "running",
            State::Stopped => "stopped",
        }
    }
}

/// A message a worker sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ToMaster {
    ClientReady,
    /// `current_cpu_usage` in percent, `current_memory_usage` in bytes.
    Heartbeat {
        state: State,
        cpu_percent: f64,
        memory_bytes: u64,
    },
    Spawning,
    SpawningComplete {
        classes: BTreeMap<String, u32>,
    },
    Stats {
        report: Box<Report>,
        classes: BTreeMap<String, u32>,
    },
    ClientStopped,
    Quit,
    Exception {
        msg: String,
        traceback: String,
    },
}

/// A `spawn`: this worker's absolute target, per user class.
#[derive(Debug, Clone, PartialEq)]
pub struct Spawn {
    pub timestamp: f64,
    pub classes: BTreeMap<String, u32>,
    /// The master's `--host`, if it has one.
    pub host: Option<String>,
}

/// A message from the master, as far as a worker acts on it.
#[derive(Debug, Clone, PartialEq)]
pub enum FromMaster {
    Ack {
        index: i64,
    },
    Spawn(Spawn),
    Stop,
    Quit,
    Reconnect,
    Heartbeat,
    /// A well-formed message of a type we ignore (`update_user_class`, `locustfile`, anything new).
    Other(String),
}

/// Why a frame from the master was not understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    #[error("not msgpack: {0}")]
    Msgpack(String),
    #[error("{0} byte(s) after the message")]
    Trailing(usize),
    #[error("expected an array of [type, data, node_id], got {0}")]
    Shape(String),
    #[error("`{kind}` message: {why}")]
    Data { kind: String, why: String },
}

fn s(x: &str) -> Value {
    Value::from(x)
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (s(k), v)).collect())
}

fn counts<K: Into<Value> + Copy>(m: &BTreeMap<K, u64>) -> Value {
    Value::Map(m.iter().map(|(k, v)| ((*k).into(), Value::from(*v))).collect())
}

fn classes(m: &BTreeMap<String, u32>) -> Value {
    Value::Map(m.iter().map(|(k, v)| (s(k), Value::from(*v))).collect())
}

fn opt_f64(x: Option<f64>) -> Value {
    x.map_or(Value::Nil, Value::F64)
}

/// `StatsEntry.serialize()`'s dict.
fn entry(e: &Entry) -> Value {
    map(vec![
        ("name", s(&e.name)),
        ("method", s(&e.method)),
        ("last_request_timestamp", opt_f64(e.last_request_timestamp)),
        ("start_time", Value::F64(e.start_time)),
        ("num_requests", e.num_requests.into()),
        ("num_none_requests", 0.into()),
        ("num_failures", e.num_failures.into()),
        ("total_response_time", Value::F64(e.total_response_time)),
        ("max_response_time", Value::F64(e.max_response_time)),
        ("min_response_time", opt_f64(e.min_response_time)),
        ("total_content_length", e.total_content_length.into()),
        ("response_times", counts(&e.response_times)),
        ("num_reqs_per_sec", counts(&e.num_reqs_per_sec)),
        ("num_fail_per_sec", counts(&e.num_fail_per_sec)),
    ])
}

fn error(e: &ErrorEntry) -> Value {
    map(vec![
        ("method", s(&e.method)),
        ("name", s(&e.name)),
        ("error", s(&e.error)),
        ("occurrences", e.occurrences.into()),
        ("first_seen", Value::F64(e.first_seen)),
        ("last_seen", Value::F64(e.last_seen)),
    ])
}

fn data(msg: &ToMaster) -> (&'static str, Value) {
    let users = |c: &BTreeMap<String, u32>| Value::from(c.values().map(|&n| u64::from(n)).sum::<u64>());
    match msg {
        ToMaster::ClientReady => ("client_ready", READY_VERSION.into()),
        ToMaster::Heartbeat { state, cpu_percent, memory_bytes } => (
            "heartbeat",
            map(vec![
                ("state", s(state.as_str())),
                ("current_cpu_usage", Value::F64(*cpu_percent)),
                ("current_memory_usage", (*memory_bytes).into()),
            ]),
        ),
        ToMaster::Spawning => ("spawning", Value::Nil),
        ToMaster::SpawningComplete { classes: c } => {
            ("spawning_complete", map(vec![("user_classes_count", classes(c)), ("user_count", users(c))]))
        }
        ToMaster::Stats { report, classes: c } => (
            "stats",
            map(vec![
                ("stats", Value::Array(report.entries.iter().map(entry).collect())),
                ("stats_total", entry(&report.total)),
                ("errors", Value::Map(report.errors.iter().map(|(k, e)| (s(k), error(e))).collect())),
                ("user_classes_count", classes(c)),
                ("user_count", users(c)),
            ]),
        ),
        ToMaster::ClientStopped => ("client_stopped", Value::Nil),
        ToMaster::Quit => ("quit", Value::Nil),
        ToMaster::Exception { msg, traceback } => {
            ("exception", map(vec![("msg", s(msg)), ("traceback", s(traceback))]))
        }
    }
}

/// The frame of `msg` from worker `node_id`.
pub fn encode(msg: &ToMaster, node_id: &str) -> Vec<u8> {
    let (kind, data) = data(msg);
    let frame = Value::Array(vec![s(kind), data, s(node_id)]);
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    rmpv::encode::write_value(&mut out, &frame).expect("msgpack into a Vec");
    out
}

fn get<'a>(m: &'a Value, key: &str) -> Option<&'a Value> {
    m.as_map()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
}

/// A number as msgpack may carry it (Python ints and floats mix freely).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => i.as_f64(),
        Value::F32(x) => Some(f64::from(*x)),
        Value::F64(x) => Some(*x),
        _ => None,
    }
}

fn spawn(data: &Value) -> Result<Spawn, String> {
    let timestamp = get(data, "timestamp").and_then(number).ok_or("no numeric `timestamp`")?;
    let counts = get(data, "user_classes_count").and_then(Value::as_map).ok_or("no `user_classes_count` map")?;
    let mut classes = BTreeMap::new();
    for (k, v) in counts {
        let name = k.as_str().ok_or_else(|| format!("user class name {k} is not a string"))?;
        let n = v.as_u64().and_then(|n| u32::try_from(n).ok());
        let n = n.ok_or_else(|| format!("user class {name:?}: count {v} is not a whole number of users"))?;
        classes.insert(name.to_string(), n);
    }
    let host = get(data, "host").and_then(Value::as_str).filter(|h| !h.is_empty()).map(str::to_string);
    Ok(Spawn { timestamp, classes, host })
}

/// Reads one frame from the master: the message and the node id it names.
pub fn decode(frame: &[u8]) -> Result<(FromMaster, String), WireError> {
    let mut rd = frame;
    let v =
        rmpv::decode::read_value_with_max_depth(&mut rd, MAX_DEPTH).map_err(|e| WireError::Msgpack(e.to_string()))?;
    if !rd.is_empty() {
        return Err(WireError::Trailing(rd.len()));
    }
    let parts = match v.as_array() {
        Some(p) if p.len() == 3 => p,
        _ => return Err(WireError::Shape(short(&v))),
    };
    let (Some(kind), Some(node)) = (parts[0].as_str(), parts[2].as_str()) else {
        return Err(WireError::Shape(short(&v)));
    };
    let data = &parts[1];
    let bad = |why: String| WireError::Data { kind: kind.to_string(), why };
    let msg = match kind {
        "ack" => {
            let index = get(data, "index").and_then(Value::as_i64).ok_or_else(|| bad("no integer `index`".into()))?;
            FromMaster::Ack { index }
        }
        "spawn" => FromMaster::Spawn(spawn(data).map_err(|w| bad(w.to_string()))?),
        "stop" => FromMaster::Stop,
        "quit" => FromMaster::Quit,
        "reconnect" => FromMaster::Reconnect,
        "heartbeat" => FromMaster::Heartbeat,
        other => FromMaster::Other(other.to_string()),
    };
    Ok((msg, node.to_string()))
}

/// A value for an error message, cut to a readable length.
fn short(v: &Value) -> String {
    let mut t = v.to_string();
    if t.len() > 120 {
        let cut = (0..=120).rev().find(|&i| t.is_char_boundary(i)).unwrap_or(0);
        t.truncate(cut);
        t.push('…');
    }
    t
}

#[cfg(test)]
mod tests;
