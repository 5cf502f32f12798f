//! The DOM-based encoders the typed ones replaced, kept verbatim as the reference the codec's tests and
//! `benches/codec.rs` compare against. Not part of the library: the test module and the bench include this file.

use serde_json::{json, Map, Value};

use super::{state_json, Command, State};

/// A `set_config` payload with just the command's fields, as a `serde_json::Map` wrote it.
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

/// The `lamp/changed` payload bytes, as `state_json(..).to_string()` wrote them.
pub fn encode_changed(state: &State, client: &str) -> Vec<u8> {
    state_json(state, client).to_string().into_bytes()
}
