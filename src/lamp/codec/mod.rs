//! The LAMPI wire format: `lamp/set_config` in, `lamp/changed` out (DESIGN section 2).
//!
//! A command is validated whole before anything is applied: invalid JSON, a wrong type (`"on": "true"`), a value
//! outside [0, 1], a colour without `h` or `s`, or a missing `client` gives a [`BadCommand`] that says which field and
//! what it held, so the daemon can log one line and change nothing. Unknown fields are ignored (newer senders may add
//! some). The same JSON shape is the state file's format.
//!
//! Two readers give the same answers: the typed fast path (`wire`) takes the plain, valid payloads that make up
//! the traffic without building a JSON tree, and anything it is unsure of goes to the DOM path
//! ([`parse_command_dom`]), which decides and words the error. The writers are typed too, byte for byte what the
//! `serde_json::Value` they replaced wrote (the codec's tests hold the old ones as the reference).

mod wire;

use serde_json::{json, Map, Value};

use super::{Command, Level, State};

/// Why a payload was refused; the `Display` is the one log line the daemon writes.
/// The largest `set_config` read: real ones are about 100 bytes; anything larger is refused unread.
pub const MAX_COMMAND_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadCommand {
    #[error("payload of {} bytes: expected a set_config of at most {} bytes", thousands(*.0), thousands(MAX_COMMAND_BYTES))]
    TooLarge(usize),
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("expected a JSON object, got {0}")]
    NotObject(String),
    #[error("\"client\" is missing (every set_config must name its sender)")]
    MissingClient,
    #[error("\"{field}\" is {got}: expected {expected}")]
    Field { field: &'static str, got: String, expected: &'static str },
}

/// `20053` -> `20,053`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A value as JSON for a message, cut after 60 characters.
pub(crate) fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", &s[..s.char_indices().nth(60).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

fn level(obj: &Map<String, Value>, key: &'static str, field: &'static str) -> Result<Option<Level>, BadCommand> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => v.as_f64().and_then(Level::from_f64).map(Some).ok_or_else(|| BadCommand::Field {
            field,
            got: show(v),
            expected: "a number from 0 to 1",
        }),
    }
}

/// Parses and validates a `set_config` payload.
pub fn parse_command(payload: &[u8]) -> Result<Command, BadCommand> {
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(BadCommand::TooLarge(payload.len()));
    }
    wire::parse(payload).map_or_else(|| parse_command_dom(payload), Ok)
}

/// [`parse_command`] by way of a `serde_json::Value`: the same results, slower. It is the fallback that explains a
/// refusal, and public so the codec benchmark can set the two side by side.
pub fn parse_command_dom(payload: &[u8]) -> Result<Command, BadCommand> {
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(BadCommand::TooLarge(payload.len()));
    }
    let v: Value = serde_json::from_slice(payload).map_err(|e| BadCommand::NotJson(e.to_string()))?;
    let obj = v.as_object().ok_or_else(|| BadCommand::NotObject(show(&v)))?;
    let client = match obj.get("client") {
        None | Some(Value::Null) => return Err(BadCommand::MissingClient),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => {
            return Err(BadCommand::Field { field: "client", got: show(other), expected: "a non-empty string" })
        }
    };
    let (h, s) = match obj.get("color") {
        None => (None, None),
        Some(Value::Object(c)) => {
            let h = level(c, "h", "color.h")?;
            let s = level(c, "s", "color.s")?;
            match (h, s) {
                (Some(h), Some(s)) => (Some(h), Some(s)),
                (None, _) => {
                    return Err(BadCommand::Field {
                        field: "color.h",
                        got: "missing".into(),
                        expected: "a number from 0 to 1",
                    })
                }
                (_, None) => {
                    return Err(BadCommand::Field {
                        field: "color.s",
                        got: "missing".into(),
                        expected: "a number from 0 to 1",
                    })
                }
            }
        }
        Some(other) => {
            return Err(BadCommand::Field {
                field: "color",
                got: show(other),
                expected: "an object {\"h\": .., \"s\": ..}",
            })
        }
    };
    let brightness = level(obj, "brightness", "brightness")?;
    let on = match obj.get("on") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => return Err(BadCommand::Field { field: "on", got: show(other), expected: "true or false" }),
    };
    Ok(Command { client, h, s, brightness, on })
}

/// The JSON object for a state with the client that caused it (the `lamp/changed` payload).
pub fn state_json(state: &State, client: &str) -> Value {
    json!({
        "color": {"h": state.h.as_f64(), "s": state.s.as_f64()},
        "brightness": state.brightness.as_f64(),
        "on": state.on,
        "client": client,
    })
}

/// A `set_config` payload with just the command's fields (partial updates are normal).
pub fn encode_command(cmd: &Command) -> Vec<u8> {
    wire::encode_command(cmd)
}

/// The `lamp/changed` payload bytes (the same bytes as [`state_json`]'s text).
pub fn encode_changed(state: &State, client: &str) -> Vec<u8> {
    wire::encode_changed(state, client)
}

/// Reads a full state (a `lamp/changed` payload or the state file): every field required, as the lamp writes it.
pub fn parse_state(payload: &[u8]) -> Result<(State, String), BadCommand> {
    let cmd = parse_command(payload)?;
    let missing = |field| BadCommand::Field { field, got: "missing".into(), expected: "present in a full state" };
    Ok((
        State {
            h: cmd.h.ok_or(missing("color"))?,
            s: cmd.s.ok_or(missing("color"))?,
            brightness: cmd.brightness.ok_or(missing("brightness"))?,
            on: cmd.on.ok_or(missing("on"))?,
        },
        cmd.client,
    ))
}

#[cfg(test)]
mod tests;
