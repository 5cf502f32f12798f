//! The Keen.io extraction: one JSON object keyed by collection (`ui`, `devicestate`, `devicemonitoring`,
//! `pageviews`, `activations`), each a list of events carrying `keen.timestamp`.
//!
//! The file is streamed with a `DeserializeSeed` over the top-level map and each list, one event at a time, so no
//! JSON tree of the file is ever built. But a session's events are spread over several collections, so they must be
//! merged by time: each event is kept as a compact record (a few dozen bytes) until the file is read, then sorted.
//! Memory is therefore O(events) in compact form, not O(file size) as JSON, and not O(open sessions) as for Mixpanel.
//!
//! LAMPI's `ui` events carry `lampi.device_id: null`: they are attributed to a lamp by the state change each
//! drag or toggle causes, which follows within [`MATCH_WINDOW`] and carries the device id and the value the control
//! ended at. Events that match nothing are counted as unattributed.

use std::cell::RefCell;
use std::fmt;
use std::io::Read;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::sessions::{Event, Kind, BURST_GAP};
use super::{Ctx, DeriveError};
use crate::profile::{Interface, State};

/// A control's state change comes this soon after its last UI event.
pub const MATCH_WINDOW: f64 = 2.0;

const EXPECTING_LIST: &str = "a list of events";

#[derive(Debug, Clone, Copy)]
enum Rec {
    Known(Kind),
    /// A UI event, its lamp maybe unknown.
    Ui {
        interface: Interface,
        control: State,
        value: f64,
    },
    /// A state change: h, s, brightness, on (1/0).
    State([Option<f64>; 4]),
}

#[derive(Debug, Clone, Copy)]
struct Record {
    t: f64,
    lamp: Option<u32>,
    rec: Rec,
}

pub(super) fn read(input: impl Read, ctx: &mut Ctx) -> Result<(), DeriveError> {
    for ev in read_events(input, ctx)? {
        ctx.sessions.add(ev);
    }
    Ok(())
}

/// Every attributed event of the extraction, in time order (the whole file is read first: see the module's note).
pub(super) fn read_events(input: impl Read, ctx: &mut Ctx) -> Result<Vec<Event>, DeriveError> {
    let mut de = serde_json::Deserializer::from_reader(input);
    let current = RefCell::new(String::new());
    let mut records = Vec::new();
    let result = Top { ctx: &mut *ctx, records: &mut records, current: &current }.deserialize(&mut de);
    result.and_then(|()| de.end()).map_err(|e| json_error(e, &current.borrow()))?;
    records.sort_by(|a, b| a.t.total_cmp(&b.t));
    attribute(&mut records, ctx);
    let events = records.into_iter().filter_map(|r| {
        let lamp = r.lamp?;
        let kind = match r.rec {
            Rec::Known(k) => k,
            Rec::Ui { interface, control, value } => Kind::Control { interface, control, value },
            Rec::State(fields) => Kind::DeviceState(fields),
        };
        Some(Event { t: r.t, lamp, kind })
    });
    Ok(events.collect())
}

fn json_error(e: serde_json::Error, collection: &str) -> DeriveError {
    let mixpanel_hint = "this looks like a Mixpanel export (one event a line): use --format mixpanel".to_string();
    let (line, column) = (e.line(), e.column());
    if e.is_eof() {
        DeriveError::Truncated { line, column }
    } else if e.to_string().contains(EXPECTING_LIST) {
        DeriveError::WrongFormat {
            format: "keen",
            found: format!("key {collection:?} at line {line} holds no list of events"),
            hint: mixpanel_hint,
        }
    } else if e.to_string().starts_with("trailing characters") {
        DeriveError::WrongFormat {
            format: "keen",
            found: format!("another JSON value follows the first object at line {line}"),
            hint: mixpanel_hint,
        }
    } else {
        DeriveError::Json { line, column, message: e.to_string() }
    }
}

struct Top<'a> {
    ctx: &'a mut Ctx,
    records: &'a mut Vec<Record>,
    current: &'a RefCell<String>,
}

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object keyed by Keen collection (ui, devicestate, ...)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            *self.current.borrow_mut() = name.clone();
            map.next_value_seed(Collection { name: &name, ctx: &mut *self.ctx, records: &mut *self.records })?;
        }
        Ok(())
    }
}

struct Collection<'a> {
    name: &'a str,
    ctx: &'a mut Ctx,
    records: &'a mut Vec<Record>,
}

impl<'de> DeserializeSeed<'de> for Collection<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Collection<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{EXPECTING_LIST} for collection {:?}", self.name)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0u64;
        while let Some(v) = seq.next_element::<Value>()? {
            self.ctx.counts.records += 1;
            match convert(self.name, &v, self.ctx) {
                Ok(Some(r)) => self.records.push(r),
                Ok(None) => {}
                Err(why) => self.ctx.bad(format!("{}[{index}]: {why}", self.name)),
            }
            index += 1;
        }
        Ok(())
    }
}

fn timestamp(v: &Value) -> Result<f64, String> {
    let s = v.pointer("/keen/timestamp").and_then(Value::as_str).ok_or("no keen.timestamp")?;
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("keen.timestamp {s:?} is not ISO 8601 ({e})"))?;
    Ok(t.unix_timestamp_nanos() as f64 / 1e9)
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn convert(collection: &str, v: &Value, ctx: &mut Ctx) -> Result<Option<Record>, String> {
    let known = ["ui", "devicestate", "devicemonitoring", "pageviews", "activations"];
    if !known.contains(&collection) {
        ctx.counts.unknown(collection);
        return Ok(None);
    }
    let t = timestamp(v)?;
    let device = |p: &str| str_at(v, p).map(str::to_string);
    let record = match collection {
        "ui" => ui(v, t, ctx)?,
        "devicestate" => {
            let d = device("/device_id").ok_or("no device_id")?;
            let f = |p: &str| v.pointer(p).and_then(Value::as_f64);
            let on = v.pointer("/state/on").and_then(Value::as_bool).map(|b| f64::from(u8::from(b)));
            let fields = [f("/state/color/h"), f("/state/color/s"), f("/state/brightness"), on];
            Some(Record { t, lamp: Some(ctx.identity.lamp(&d)), rec: Rec::State(fields) })
        }
        "devicemonitoring" => {
            let d = device("/device_id").ok_or("no device_id")?;
            let kind = match str_at(v, "/state") {
                Some("connected") => Kind::Connected,
                Some("disconnected") => Kind::Disconnected,
                other => return Err(format!("state {other:?}, expected \"connected\" or \"disconnected\"")),
            };
            Some(Record { t, lamp: Some(ctx.identity.lamp(&d)), rec: Rec::Known(kind) })
        }
        "pageviews" => pageview(v, t, ctx)?,
        _ => {
            if let (Some(d), Some(u)) = (device("/device_id"), device("/user")) {
                ctx.identity.learn(&u, &d);
            }
            None
        }
    };
    ctx.counts.named(collection);
    Ok(record)
}

fn ui(v: &Value, t: f64, ctx: &mut Ctx) -> Result<Option<Record>, String> {
    let id = str_at(v, "/element/id").ok_or("no element.id")?;
    let control = match id {
        "hue-slider" => State::Hue,
        "saturation-slider" => State::Saturation,
        "brightness-slider" => State::Brightness,
        "power" => State::Power,
        other => {
            ctx.counts.unknown(&format!("ui element {other}"));
            return Ok(None);
        }
    };
    let raw = v.pointer("/element/value");
    let value = match (control, raw) {
        (State::Power, Some(Value::Bool(b))) => f64::from(u8::from(*b)),
        (_, Some(x)) if x.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)) => x.as_f64().unwrap_or_default(),
        _ => return Err(format!("element {id} with value {}", raw.map_or("(none)".into(), Value::to_string))),
    };
    let interface = super::mixpanel::interface(str_at(v, "/lampi/ui"));
    let lamp = str_at(v, "/lampi/device_id").map(|d| ctx.identity.lamp(d));
    Ok(Some(Record { t, lamp, rec: Rec::Ui { interface, control, value } }))
}

fn pageview(v: &Value, t: f64, ctx: &mut Ctx) -> Result<Option<Record>, String> {
    let page = match str_at(v, "/page").or_else(|| str_at(v, "/url")) {
        Some("LAMPI List" | "/lampi/") => State::List,
        Some("LAMPI Detail") => State::Detail,
        Some("/" | "Page View") => State::Root,
        Some(p) if p.starts_with("/lampi/device/") => State::Detail,
        Some(other) => {
            ctx.counts.unknown(&format!("page {other}"));
            return Ok(None);
        }
        None => return Err("no page".into()),
    };
    let lamp = match (str_at(v, "/device_id"), str_at(v, "/user")) {
        (Some(d), Some(u)) => {
            ctx.identity.learn(u, d);
            ctx.identity.lamp(d)
        }
        (Some(d), None) => ctx.identity.lamp(d),
        (None, Some(u)) => ctx.identity.lamp_of_user(u),
        (None, None) => return Err("a page view with neither user nor device_id".into()),
    };
    Ok(Some(Record { t, lamp: Some(lamp), rec: Rec::Known(Kind::Page(page)) }))
}

/// A run of UI events from one unknown lamp: a drag (same slider, within [`BURST_GAP`]) or a toggle.
struct Run {
    interface: Interface,
    control: State,
    idx: Vec<usize>,
    last_t: f64,
    value: f64,
}

/// Gives unattributed UI runs the lamp of the state change that matches their last value.
fn attribute(records: &mut [Record], ctx: &mut Ctx) {
    let mut pending: Vec<Run> = Vec::new();
    for i in 0..records.len() {
        let r = records[i];
        pending.retain(|p| {
            let keep = p.last_t >= r.t - MATCH_WINDOW;
            if !keep {
                ctx.counts.unattributed += p.idx.len() as u64;
            }
            keep
        });
        match (r.lamp, r.rec) {
            (None, Rec::Ui { interface, control, value }) => {
                let open = pending.iter_mut().find(|p| {
                    control.is_slider()
                        && p.interface == interface
                        && p.control == control
                        && r.t - p.last_t <= BURST_GAP
                });
                match open {
                    Some(p) => {
                        p.idx.push(i);
                        (p.last_t, p.value) = (r.t, value);
                    }
                    None => pending.push(Run { interface, control, idx: vec![i], last_t: r.t, value }),
                }
            }
            (Some(lamp), Rec::State(fields)) => {
                let field = |c: State| match c {
                    State::Hue => fields[0],
                    State::Saturation => fields[1],
                    State::Brightness => fields[2],
                    _ => fields[3],
                };
                let best = pending
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| field(p.control).is_some_and(|x| (x - p.value).abs() < 0.005))
                    .max_by(|a, b| a.1.last_t.total_cmp(&b.1.last_t))
                    .map(|(k, _)| k);
                if let Some(k) = best {
                    for j in pending.swap_remove(k).idx {
                        records[j].lamp = Some(lamp);
                    }
                }
            }
            _ => {}
        }
    }
    ctx.counts.unattributed += pending.iter().map(|p| p.idx.len() as u64).sum::<u64>();
}
