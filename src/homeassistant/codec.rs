//! Home Assistant's MQTT light JSON schema in and out: commands to the lamp's [`Command`], state to HA's JSON, and
//! the scales between them.
//!
//! LAMPI keeps every value in hundredths of [0, 1] ([`Level`]); Home Assistant speaks brightness 0-255, hue 0-360
//! degrees and saturation 0-100. Both directions round to the nearest step (halves up), so every LAMPI value goes to
//! HA and back unchanged, and an HA value comes back as the nearest value the lamp can show (but a brightness above 0
//! never becomes 0, as in HA's own scaling). A command is validated
//! whole, like a `set_config`: a wrong type or a value out of range refuses all of it, saying which field and what it
//! held (the LAMPI codec's [`BadCommand`]). Unknown keys (`flash`, `effect`: the lamp has neither) are ignored, as
//! the LAMPI codec ignores them.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::lamp::codec::{show, BadCommand};
use crate::lamp::{Command, Level, State};

/// The `client` that Home Assistant's commands carry on `lamp/changed`.
pub const CLIENT: &str = "homeassistant";

/// The longest fade a command may ask for: Home Assistant's own bound on `transition` in its light services.
pub const MAX_TRANSITION: Duration = Duration::from_secs(6553);

/// A validated HA command: the lamp command it is, and the fade it asked for (`transition`), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaCommand {
    pub command: Command,
    pub transition: Option<Duration>,
}

/// LAMPI brightness to HA's 0-255: `round(n * 255 / 100)` for `n` hundredths.
pub fn brightness_to_ha(b: Level) -> u8 {
    ((u32::from(b.hundredths()) * 255 + 50) / 100) as u8
}

/// HA brightness (0-255) to the nearest hundredth, `round(x * 100 / 255)`, but never 0 for a brightness above 0
/// (HA itself never rounds a brightness down to 0 when it scales one: 1 is the dimmest light, not darkness);
/// `None` outside 0-255.
pub fn brightness_from_ha(x: f64) -> Option<Level> {
    let l = scaled(x, 255.0)?;
    Some(if l == Level::ZERO && x > 0.0 { Level::from_hundredths(1)? } else { l })
}

/// LAMPI hue to HA degrees: `n * 3.6` for `n` hundredths (0.44 is 158.4°; LAMPI's 1.0 is 360°).
pub fn hue_to_ha(h: Level) -> f64 {
    f64::from(u16::from(h.hundredths()) * 36) / 10.0
}

/// HA hue (0-360°) to the nearest hundredth: `round(deg / 3.6)`; `None` outside 0-360.
pub fn hue_from_ha(deg: f64) -> Option<Level> {
    scaled(deg, 360.0)
}

/// LAMPI saturation to HA's 0-100: the hundredths themselves.
pub fn saturation_to_ha(s: Level) -> f64 {
    f64::from(s.hundredths())
}

/// HA saturation (0-100) to the nearest hundredth; `None` outside 0-100.
pub fn saturation_from_ha(pct: f64) -> Option<Level> {
    scaled(pct, 100.0)
}

/// `x` in [0, full] to the nearest hundredth of `full` (halves round up).
fn scaled(x: f64, full: f64) -> Option<Level> {
    if !x.is_finite() || !(0.0..=full).contains(&x) {
        return None;
    }
    Level::from_hundredths((x * 100.0 / full).round() as u8)
}

fn number<T>(
    obj: &Map<String, Value>,
    key: &str,
    field: &'static str,
    expected: &'static str,
    convert: impl Fn(f64) -> Option<T>,
) -> Result<Option<T>, BadCommand> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => {
            v.as_f64().and_then(convert).map(Some).ok_or_else(|| BadCommand::Field { field, got: show(v), expected })
        }
    }
}

/// Parses and validates a command in HA's JSON schema (`state`, `brightness`, `color.h`/`color.s`, `transition`).
pub fn parse_command(payload: &[u8]) -> Result<HaCommand, BadCommand> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| BadCommand::NotJson(e.to_string()))?;
    let obj = v.as_object().ok_or_else(|| BadCommand::NotObject(show(&v)))?;
    let on = match obj.get("state") {
        None => None,
        Some(Value::String(s)) if s == "ON" => Some(true),
        Some(Value::String(s)) if s == "OFF" => Some(false),
        Some(other) => {
            return Err(BadCommand::Field { field: "state", got: show(other), expected: "\"ON\" or \"OFF\"" })
        }
    };
    let brightness = number(obj, "brightness", "brightness", "a number from 0 to 255", brightness_from_ha)?;
    let (h, s) = match obj.get("color") {
        None => (None, None),
        Some(Value::Object(c)) => {
            let h = number(c, "h", "color.h", "a hue from 0 to 360", hue_from_ha)?;
            let s = number(c, "s", "color.s", "a saturation from 0 to 100", saturation_from_ha)?;
            let missing = |field, expected| BadCommand::Field { field, got: "missing".into(), expected };
            (
                Some(h.ok_or_else(|| missing("color.h", "a hue from 0 to 360"))?),
                Some(s.ok_or_else(|| missing("color.s", "a saturation from 0 to 100"))?),
            )
        }
        Some(other) => {
            return Err(BadCommand::Field {
                field: "color",
                got: show(other),
                expected: "an object {\"h\": 0-360, \"s\": 0-100}",
            })
        }
    };
    let transition = number(obj, "transition", "transition", "a number of seconds from 0 to 6553", |x| {
        (x.is_finite() && (0.0..=MAX_TRANSITION.as_secs_f64()).contains(&x)).then(|| Duration::from_secs_f64(x))
    })?;
    Ok(HaCommand { command: Command { client: CLIENT.to_string(), h, s, brightness, on }, transition })
}

/// The lamp state in HA's JSON schema, as published on the HA state topic.
pub fn state_json(state: &State) -> Value {
    json!({
        "state": if state.on { "ON" } else { "OFF" },
        "brightness": brightness_to_ha(state.brightness),
        "color_mode": "hs",
        "color": {"h": hue_to_ha(state.h), "s": saturation_to_ha(state.s)},
    })
}

/// The HA state payload bytes.
pub fn encode_state(state: &State) -> Vec<u8> {
    state_json(state).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(n: u8) -> Level {
        Level::from_hundredths(n).unwrap()
    }

    fn err(s: &str) -> String {
        parse_command(s.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn every_lampi_value_goes_to_ha_and_back_unchanged() {
        for n in 0..=100 {
            let l = level(n);
            assert_eq!(brightness_from_ha(f64::from(brightness_to_ha(l))), Some(l), "brightness {l}");
            assert_eq!(hue_from_ha(hue_to_ha(l)), Some(l), "hue {l}");
            assert_eq!(saturation_from_ha(saturation_to_ha(l)), Some(l), "saturation {l}");
        }
        assert_eq!(
            (brightness_to_ha(level(0)), brightness_to_ha(level(50)), brightness_to_ha(level(100))),
            (0, 128, 255)
        );
        assert_eq!((hue_to_ha(level(44)), hue_to_ha(level(3)), hue_to_ha(level(100))), (158.4, 10.8, 360.0));
    }

    #[test]
    fn all_256_ha_brightnesses_come_back_within_one_and_settle() {
        for x in 0..=255u8 {
            let l = brightness_from_ha(f64::from(x)).unwrap();
            let back = brightness_to_ha(l);
            assert_eq!(brightness_from_ha(f64::from(back)), Some(l), "a second round trip of {x} moved");
            if x == 1 {
                continue; // the one exception, below
            }
            assert!(back.abs_diff(x) <= 1, "{x} -> {l} -> {back}");
            // The nearest hundredth: no other level is closer to x.
            let d = |n: u8| (f64::from(n) * 2.55 - f64::from(x)).abs();
            assert!((0..=100).all(|n| d(l.hundredths()) <= d(n) + 1e-9), "{x} -> {l} is not the nearest");
        }
        assert_eq!(brightness_from_ha(128.0), Some(level(50)));
        assert_eq!(brightness_from_ha(2.0), Some(level(1)));
        // 1 is nearest to 0.00, but a lit lamp must not go dark: it is the dimmest lit level, shown back as 3.
        assert_eq!(brightness_from_ha(1.0), Some(level(1)));
        assert_eq!(brightness_to_ha(level(1)), 3);
        assert_eq!(brightness_from_ha(0.0), Some(level(0)));
        assert_eq!(brightness_from_ha(0.2), Some(level(1)));
    }

    #[test]
    fn every_tenth_of_a_degree_and_of_a_saturation_percent_comes_back_within_half_a_step() {
        for tenths in 0..=3600u16 {
            let deg = f64::from(tenths) / 10.0;
            let l = hue_from_ha(deg).unwrap();
            let back = hue_to_ha(l);
            assert!((back - deg).abs() <= 1.8 + 1e-9, "{deg} -> {l} -> {back}");
            assert_eq!(hue_from_ha(back), Some(l), "a second round trip of {deg} moved");
        }
        for tenths in 0..=1000u16 {
            let pct = f64::from(tenths) / 10.0;
            let l = saturation_from_ha(pct).unwrap();
            let back = saturation_to_ha(l);
            assert!((back - pct).abs() <= 0.5 + 1e-9, "{pct} -> {l} -> {back}");
            assert_eq!(saturation_from_ha(back), Some(l), "a second round trip of {pct} moved");
        }
        // Halves round up: 9° is exactly 2.5 hundredths.
        assert_eq!(hue_from_ha(9.0), Some(level(3)));
        assert_eq!(hue_from_ha(120.0), Some(level(33)));
        assert_eq!(saturation_from_ha(29.412), Some(level(29)));
    }

    #[test]
    fn out_of_range_values_have_no_level() {
        for bad in [-1.0, 255.5, f64::NAN, f64::INFINITY] {
            assert_eq!(brightness_from_ha(bad), None, "{bad}");
        }
        assert_eq!(hue_from_ha(360.1), None);
        assert_eq!(hue_from_ha(-0.1), None);
        assert_eq!(saturation_from_ha(100.5), None);
    }

    #[test]
    fn full_and_partial_commands_become_lamp_commands() {
        let c = parse_command(br#"{"state":"ON","brightness":128,"color":{"h":120,"s":100},"transition":2}"#).unwrap();
        let want = Command {
            client: "homeassistant".into(),
            h: Some(level(33)),
            s: Some(level(100)),
            brightness: Some(level(50)),
            on: Some(true),
        };
        assert_eq!(c, HaCommand { command: want, transition: Some(Duration::from_secs(2)) });
        let off = parse_command(br#"{"state":"OFF"}"#).unwrap();
        assert_eq!(
            (off.command.on, off.command.brightness, off.command.h, off.transition),
            (Some(false), None, None, None)
        );
        let dim = parse_command(br#"{"brightness":76.5,"flash":"short","effect":"x"}"#).unwrap();
        assert_eq!((dim.command.brightness, dim.command.on), (Some(level(30)), None));
        let nothing = parse_command(b"{}").unwrap();
        assert_eq!(nothing.command, Command { client: CLIENT.into(), h: None, s: None, brightness: None, on: None });
        let fade = parse_command(br#"{"state":"ON","transition":0.25}"#).unwrap();
        assert_eq!(fade.transition, Some(Duration::from_millis(250)));
    }

    #[test]
    fn every_kind_of_bad_command_says_why() {
        assert!(err("{nope").starts_with("not JSON"));
        assert!(err("[1]").contains("expected a JSON object"));
        assert_eq!(err(r#"{"state":"on"}"#), "\"state\" is \"on\": expected \"ON\" or \"OFF\"");
        assert!(err(r#"{"state":true}"#).contains("\"state\" is true"));
        assert_eq!(err(r#"{"brightness":256}"#), "\"brightness\" is 256: expected a number from 0 to 255");
        assert!(err(r#"{"brightness":"128"}"#).contains("\"brightness\" is \"128\""));
        assert!(err(r#"{"brightness":-1}"#).contains("from 0 to 255"));
        assert!(err(r#"{"color":{"h":400,"s":50}}"#).contains("\"color.h\" is 400: expected a hue from 0 to 360"));
        assert!(err(r#"{"color":{"h":10,"s":101}}"#).contains("\"color.s\" is 101"));
        assert!(err(r#"{"color":{"s":10}}"#).contains("\"color.h\" is missing"));
        assert!(err(r#"{"color":{"h":10}}"#).contains("\"color.s\" is missing"));
        assert!(err(r#"{"color":{"r":255,"g":0,"b":0}}"#).contains("\"color.h\" is missing"));
        assert!(err(r#"{"color":[1,2]}"#).contains("\"color\" is [1,2]"));
        assert!(err(r#"{"transition":-1}"#).contains("\"transition\" is -1: expected a number of seconds"));
        assert!(err(r#"{"transition":6554}"#).contains("from 0 to 6553"));
        assert_eq!(parse_command(br#"{"transition":1800}"#).unwrap().transition, Some(Duration::from_secs(1800)));
        assert!(err(r#"{"brightness":null}"#).contains("\"brightness\" is null"));
    }

    #[test]
    fn a_bad_field_refuses_the_whole_command() {
        assert!(parse_command(br#"{"state":"ON","brightness":100,"color":{"h":10,"s":10},"transition":"1s"}"#).is_err());
    }

    #[test]
    fn state_is_published_in_ha_terms() {
        let st = State { h: level(44), s: level(100), brightness: level(47), on: true };
        let v: Value = serde_json::from_slice(&encode_state(&st)).unwrap();
        assert_eq!(v, json!({"state": "ON", "brightness": 120, "color_mode": "hs", "color": {"h": 158.4, "s": 100.0}}));
        let off = state_json(&State { on: false, ..State::default() });
        assert_eq!(
            off,
            json!({"state": "OFF", "brightness": 255, "color_mode": "hs", "color": {"h": 360.0, "s": 100.0}})
        );
    }

    #[test]
    fn an_ha_command_applied_and_published_round_trips_through_the_state() {
        // What HA sends comes back on the state topic as the nearest value the lamp holds, and sending that back
        // changes nothing: the two worlds settle after one exchange.
        let cmd = parse_command(br#"{"state":"ON","brightness":100,"color":{"h":200.5,"s":33.3}}"#).unwrap();
        let st = State::default().apply(&cmd.command);
        let published = encode_state(&st);
        let again = parse_command(&published).unwrap();
        assert_eq!(st.apply(&again.command), st);
    }
}
