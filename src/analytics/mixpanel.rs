//! The Mixpanel raw export: one `{"event": NAME, "properties": {...}}` a line, streamed line by line.
//!
//! This module owns the event names and properties LAMPI sent to Mixpanel and how each becomes an [`Event`]. A line
//! that is not such an object is counted as malformed with its number; an event name we do not model is counted,
//! not fatal. Memory is one line at a time.

use std::io::BufRead;

use serde::Deserialize;

use super::sessions::{Event, Fields, Kind};
use super::{Ctx, DeriveError};
use crate::profile::{Interface, State};

#[derive(Deserialize)]
struct Line {
    event: String,
    properties: Props,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Props {
    time: Option<f64>,
    distinct_id: Option<serde_json::Value>,
    device_id: Option<String>,
    slider: Option<String>,
    value: Option<f64>,
    interface: Option<String>,
    #[serde(rename = "isOn")]
    is_on: Option<bool>,
    user: Option<String>,
    // A state change's state; kept as JSON so a stray type never makes the line malformed.
    color: Option<serde_json::Value>,
    brightness: Option<serde_json::Value>,
    on: Option<serde_json::Value>,
}

/// Names that are LAMPI's but carry nothing a profile uses (still counted by name).
const KNOWN_UNUSED: [&str; 2] = ["Add LAMPI", "LAMPI Activation"];

pub(super) fn read(input: &mut impl BufRead, ctx: &mut Ctx) -> Result<(), DeriveError> {
    let mut lines = Lines::new(input);
    while let Some(ev) = lines.next_event(ctx)? {
        ctx.sessions.add(ev);
    }
    Ok(())
}

/// The export read line by line: each call returns the next event a profile (or a replay) uses, counting the
/// malformed lines and the names it skips on the way. One line in memory at a time.
pub(super) struct Lines<R> {
    input: R,
    buf: Vec<u8>,
    line_no: u64,
    first: bool,
}

impl<R: BufRead> Lines<R> {
    pub fn new(input: R) -> Self {
        Lines { input, buf: Vec::new(), line_no: 0, first: true }
    }

    /// The next usable event, `None` at the end of the input. Fails only on a read error, or when the first line
    /// shows the file is another format.
    pub fn next_event(&mut self, ctx: &mut Ctx) -> Result<Option<Event>, DeriveError> {
        loop {
            self.buf.clear();
            if self.input.read_until(b'\n', &mut self.buf).map_err(DeriveError::Io)? == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            let line_no = self.line_no;
            let text = trim(&self.buf);
            if text.is_empty() {
                continue;
            }
            ctx.counts.records += 1;
            let first = std::mem::replace(&mut self.first, false);
            match serde_json::from_slice::<Line>(text) {
                Ok(line) => match convert(line, ctx) {
                    Ok(Some(ev)) => return Ok(Some(ev)),
                    Ok(None) => {}
                    Err(why) => ctx.bad(format!("line {line_no}: {why}")),
                },
                Err(e) => {
                    if first {
                        check_format(text, line_no)?;
                    }
                    let truncated = if e.is_eof() { " (the line ends early: truncated?)" } else { "" };
                    ctx.bad(format!("line {line_no}: {e}{truncated}"));
                }
            }
        }
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end]
}

/// A first line that is not an event may be a whole other format: say so instead of counting bad lines.
fn check_format(text: &[u8], line_no: u64) -> Result<(), DeriveError> {
    let keen_hint = "this looks like a Keen extraction (one JSON object keyed by collection): use --format keen";
    if text == b"{" || text == b"[" {
        return Err(DeriveError::WrongFormat {
            format: "mixpanel",
            found: format!("line {line_no} is only {:?}, a pretty-printed JSON document", text[0] as char),
            hint: keen_hint.into(),
        });
    }
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(text) {
        if !map.contains_key("event") && map.values().any(serde_json::Value::is_array) {
            let keys: Vec<&str> = map.keys().map(String::as_str).take(5).collect();
            return Err(DeriveError::WrongFormat {
                format: "mixpanel",
                found: format!("line {line_no} is an object of lists ({})", keys.join(", ")),
                hint: keen_hint.into(),
            });
        }
    }
    Ok(())
}

/// The event a line records (`None` for names a profile does not use, which are counted).
fn convert(line: Line, ctx: &mut Ctx) -> Result<Option<Event>, String> {
    let p = line.properties;
    let name = line.event.as_str();
    let mut t = p.time.ok_or_else(|| format!("{name:?} has no properties.time"))?;
    if t > 1e11 {
        t /= 1000.0; // milliseconds, as some exports write
    }
    let distinct = p.distinct_id.as_ref().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
    let kind = match name {
        "Slider Change" => {
            let control = match p.slider.as_deref() {
                Some("hue") => State::Hue,
                Some("saturation") => State::Saturation,
                Some("brightness") => State::Brightness,
                other => {
                    return Err(format!("Slider Change with slider {other:?}, expected hue, saturation or brightness"))
                }
            };
            let value = p.value.filter(|v| (0.0..=1.0).contains(v)).ok_or("Slider Change without a value in [0, 1]")?;
            Kind::Control { interface: interface(p.interface.as_deref()), control, value }
        }
        "Toggle Power" => Kind::Control {
            interface: interface(p.interface.as_deref()),
            control: State::Power,
            value: p.is_on.map_or(f64::NAN, |on| f64::from(u8::from(on))),
        },
        "LAMPI List" => Kind::Page(State::List),
        "LAMPI Detail" => Kind::Page(State::Detail),
        "Page View" => Kind::Page(State::Root),
        "LAMPI State Change" => Kind::DeviceState(fields(&p)),
        "LAMPI Connected" => Kind::Connected,
        "LAMPI Disconnected" => Kind::Disconnected,
        _ if KNOWN_UNUSED.contains(&name) => {
            if let (Some(user), Some(device)) = (p.user.as_ref().or(distinct.as_ref()), &p.device_id) {
                ctx.identity.learn(user, device);
            }
            ctx.counts.named(name);
            return Ok(None);
        }
        _ => {
            ctx.counts.unknown(name);
            return Ok(None);
        }
    };
    let lamp = match (&kind, &p.device_id, &distinct) {
        (Kind::Page(_), Some(device), Some(user)) => {
            ctx.identity.learn(user, device);
            ctx.identity.lamp(device)
        }
        (_, Some(device), _) => ctx.identity.lamp(device),
        (_, None, Some(user)) => ctx.identity.lamp_of_user(user),
        (_, None, None) => return Err(format!("{name:?} has neither properties.device_id nor distinct_id")),
    };
    ctx.counts.named(name);
    Ok(Some(Event { t, lamp, kind }))
}

/// The state a "LAMPI State Change" records (read leniently: a field of the wrong type is left out).
fn fields(p: &Props) -> Fields {
    let num = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_f64);
    let color = p.color.as_ref();
    let on = p.on.as_ref().and_then(serde_json::Value::as_bool).map(|b| f64::from(u8::from(b)));
    [num(color.and_then(|c| c.get("h"))), num(color.and_then(|c| c.get("s"))), num(p.brightness.as_ref()), on]
}

/// Mixpanel's `interface`: web, lampi (the touchscreen), anything else (iOS, Android) is an app.
pub(super) fn interface(name: Option<&str>) -> Interface {
    match name.map(str::to_ascii_lowercase).as_deref() {
        Some("web") => Interface::Web,
        Some("lampi" | "lamp" | "lamp_ui") => Interface::LampUi,
        _ => Interface::App,
    }
}
