//! The LAMPI wire format: `lamp/set_config` in, `lamp/changed` out (DESIGN section 2).
//!
//! A command is validated whole before anything is applied: invalid JSON, a wrong type (`"on": "true"`), a value
//! outside [0, 1], a colour without `h` or `s`, or a missing `client` gives a [`BadCommand`] that says which field and
//! what it held, so the daemon can log one line and change nothing. Unknown fields are ignored (newer senders may add
//! some). The same JSON shape is the state file's format.

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
    let mut m = Map::new();
    if let (Some(h), Some(s)) = (cmd.h, cmd.s) {
        m.insert("color".into(), json!({"h": h.as_f64(), "s": s.as_f64()}));
    }
    if let Some(b) = cmd.brightness {
        m.insert("brightness".into(), json!(b.as_f64()));
    }
    if let Some(on) = cmd.on {
        m.insert("on".into(), json!(on));
    }
    m.insert("client".into(), json!(cmd.client));
    Value::Object(m).to_string().into_bytes()
}

/// The `lamp/changed` payload bytes.
pub fn encode_changed(state: &State, client: &str) -> Vec<u8> {
    state_json(state, client).to_string().into_bytes()
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
mod tests {
    use super::*;

    #[test]
    fn oversized_commands_are_refused_unread_with_their_size() {
        let pad = |n: usize| {
            let head = r#"{"client": "x", "on": false, "pad": ""#;
            format!("{head}{}\"}}", "a".repeat(n - head.len() - 2))
        };
        assert!(parse_command(pad(MAX_COMMAND_BYTES).as_bytes()).is_ok(), "at the limit: a valid command");
        let e = parse_command(pad(20_053).as_bytes()).unwrap_err();
        assert_eq!(e, BadCommand::TooLarge(20_053));
        assert_eq!(e.to_string(), "payload of 20,053 bytes: expected a set_config of at most 4,096 bytes");
        assert_eq!(thousands(1_048_576), "1,048,576");
        assert_eq!((thousands(0), thousands(999), thousands(1000)), ("0".into(), "999".into(), "1,000".into()));
    }

    fn err(s: &str) -> String {
        parse_command(s.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn full_and_partial_commands_parse() {
        let c =
            parse_command(br#"{"color": {"h": 0.44, "s": 1.0}, "brightness": 0.47, "on": true, "client": "lamp_ui"}"#)
                .unwrap();
        assert_eq!(c.client, "lamp_ui");
        assert_eq!(c.h.unwrap().hundredths(), 44);
        assert_eq!(c.brightness.unwrap().hundredths(), 47);
        assert_eq!(c.on, Some(true));
        let p = parse_command(br#"{"client": "x", "on": false}"#).unwrap();
        assert_eq!((p.h, p.s, p.brightness, p.on), (None, None, None, Some(false)));
    }

    #[test]
    fn values_are_rounded_to_hundredths() {
        let c = parse_command(br#"{"client":"x","brightness":0.123456}"#).unwrap();
        assert_eq!(c.brightness.unwrap().hundredths(), 12);
    }

    #[test]
    fn every_kind_of_bad_payload_says_why() {
        assert!(err("{not json").starts_with("not JSON"));
        assert!(err("[1,2]").contains("expected a JSON object"));
        assert!(err(r#"{"on": false}"#).contains("\"client\" is missing"));
        assert!(err(r#"{"client": 7}"#).contains("\"client\" is 7"));
        assert_eq!(err(r#"{"client":"x","on":"true"}"#), "\"on\" is \"true\": expected true or false");
        assert!(err(r#"{"client":"x","brightness":1.5}"#).contains("\"brightness\" is 1.5"));
        assert!(err(r#"{"client":"x","brightness":-0.2}"#).contains("from 0 to 1"));
        assert!(err(r#"{"client":"x","color":{"s":0.5}}"#).contains("\"color.h\" is missing"));
        assert!(err(r#"{"client":"x","color":{"h":0.5}}"#).contains("\"color.s\" is missing"));
        assert!(err(r#"{"client":"x","color":{"h":"red","s":1}}"#).contains("\"color.h\" is \"red\""));
        assert!(err(r#"{"client":"x","color":"red"}"#).contains("\"color\" is \"red\""));
        assert!(err(r#"{"client":"x","brightness":null}"#).contains("\"brightness\" is null"));
    }

    #[test]
    fn a_bad_field_rejects_the_whole_message() {
        // A valid colour with an invalid `on` must not half-apply: parse fails, so nothing is applied.
        assert!(parse_command(br#"{"client":"x","color":{"h":0.1,"s":0.2},"on":1}"#).is_err());
    }

    #[test]
    fn commands_encode_only_their_fields_and_parse_back() {
        let c = parse_command(br#"{"brightness": 0.3, "client": "app"}"#).unwrap();
        assert_eq!(parse_command(&encode_command(&c)).unwrap(), c);
        let full = parse_command(br#"{"color":{"h":0.1,"s":0.2},"brightness":0.3,"on":false,"client":"w"}"#).unwrap();
        assert_eq!(parse_command(&encode_command(&full)).unwrap(), full);
    }

    #[test]
    fn changed_round_trips_and_matches_the_lampi_shape() {
        let st = State {
            h: Level::from_f64(0.44).unwrap(),
            s: Level::FULL,
            brightness: Level::from_f64(0.47).unwrap(),
            on: true,
        };
        let bytes = encode_changed(&st, "lamp_ui");
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v, json!({"color": {"h": 0.44, "s": 1.0}, "brightness": 0.47, "on": true, "client": "lamp_ui"}));
        assert_eq!(parse_state(&bytes).unwrap(), (st, "lamp_ui".to_string()));
        assert!(parse_state(br#"{"client":"x","on":true}"#).is_err());
    }
}
