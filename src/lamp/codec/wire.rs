//! The codec's typed fast path: serde structs for the `set_config` / `lamp/changed` shape, read and written without
//! building a `serde_json::Value`.
//!
//! [`parse`] only ever says "this payload is exactly this command" or "I don't know": it must never accept a payload
//! the DOM path (`super::parse_command_dom`) refuses, nor read one differently, so anything unusual makes it give up
//! and the DOM path decide (and explain). To keep that promise the structs are stricter than the DOM path: an
//! unknown or repeated field, `null`, or a JSON array where an object belongs all give up (an array would otherwise
//! fill a derived struct field by field; an ignored field would be skimmed by serde_json without the UTF-8, surrogate
//! and number-range checks the DOM path makes). Every value the fast path does keep goes through the same serde_json
//! parser calls as the DOM path's, so numbers and strings come out the same. The writers' fields are declared in
//! sorted order, because the DOM encoders' `serde_json::Map` is a `BTreeMap` and the bytes must stay identical.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::lamp::{Command, Level, State};

/// A field that may be absent (`None`, by `#[serde(default)]`) but when present must hold a `T`. Unlike
/// `Option<T>`, which reads `null` as absent, `null` is an error here: the DOM path refuses `"brightness": null`.
struct Given<T>(Option<T>);

impl<T> Default for Given<T> {
    fn default() -> Self {
        Given(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Given<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|v| Given(Some(v)))
    }
}

/// A derived struct read from a JSON object only (serde_json would also fill one from an array).
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Only<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Only<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Only(PhantomData)).map(Object)
    }
}

/// A `set_config` as it arrives. `client` is read straight into the `String` the [`Command`] keeps (one copy, as a
/// borrowed `Cow` would need too, since `Command` owns its client).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Incoming {
    #[serde(default)]
    client: Given<String>,
    #[serde(default)]
    color: Given<Object<Colour>>,
    #[serde(default)]
    brightness: Given<f64>,
    #[serde(default)]
    on: Given<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Colour {
    #[serde(default)]
    h: Given<f64>,
    #[serde(default)]
    s: Given<f64>,
}

/// The command in `payload` if it is a plain, valid one; `None` means "ask the DOM path" (which may still accept it,
/// e.g. with unknown fields, or refuses it and says why).
pub(super) fn parse(payload: &[u8]) -> Option<Command> {
    let Object(m) = serde_json::from_slice::<Object<Incoming>>(payload).ok()?;
    let client = m.client.0.filter(|c| !c.is_empty())?;
    let (h, s) = match m.color.0 {
        None => (None, None),
        Some(Object(c)) => (Some(Level::from_f64(c.h.0?)?), Some(Level::from_f64(c.s.0?)?)),
    };
    let brightness = match m.brightness.0 {
        None => None,
        Some(b) => Some(Level::from_f64(b)?),
    };
    Some(Command { client, h, s, brightness, on: m.on.0 })
}

/// A payload going out. Fields in sorted key order (see the module doc); absent ones are left out.
#[derive(Serialize)]
struct Outgoing<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    brightness: Option<f64>,
    client: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    color: Option<Hs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on: Option<bool>,
}

#[derive(Serialize)]
struct Hs {
    h: f64,
    s: f64,
}

fn bytes(out: &Outgoing<'_>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(96);
    // Only an `io::Write` error or a map with non-string keys can fail serde_json; a Vec and this struct have neither.
    serde_json::to_writer(&mut buf, out).expect("serialising a plain struct into a Vec");
    buf
}

pub(super) fn encode_command(cmd: &Command) -> Vec<u8> {
    let color = match (cmd.h, cmd.s) {
        (Some(h), Some(s)) => Some(Hs { h: h.as_f64(), s: s.as_f64() }),
        _ => None,
    };
    bytes(&Outgoing { brightness: cmd.brightness.map(Level::as_f64), client: &cmd.client, color, on: cmd.on })
}

pub(super) fn encode_changed(state: &State, client: &str) -> Vec<u8> {
    bytes(&Outgoing {
        brightness: Some(state.brightness.as_f64()),
        client,
        color: Some(Hs { h: state.h.as_f64(), s: state.s.as_f64() }),
        on: Some(state.on),
    })
}
