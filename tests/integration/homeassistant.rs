//! Home Assistant by MQTT discovery, against a real mosquitto and the real binary (no Home Assistant instance): the
//! discovery document checked against HA's documented MQTT light JSON schema (`tests/fixtures/
//! ha_light_mqtt_json_schema.json`, written from HA's documentation, not from our output), HA commands, the HA
//! state, HA's birth message, reconnects, availability through a stop and a kill -9, bad HA payloads, and config.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::lamp::{config_text, run_cli};
use crate::support::{Lamp, Mosquitto, Probe};

const T: Duration = Duration::from_secs(10);
const DISCOVERY: &str = "homeassistant/light/b827eb08451e/lamp/config";
const STATUS: &str = "homeassistant/status";
const HA_SET: &str = "lamp/homeassistant/set";
const HA_STATE: &str = "lamp/homeassistant/state";
const CHANGED: &str = "lamp/changed";
const SET: &str = "lamp/set_config";
const CONN: &str = "lamp/connection/lamp_service/state";
const HA_ON: &str = "[homeassistant]\nenabled = true\nname = \"Desk lamp\"\n";

fn schema() -> Value {
    serde_json::from_str(include_str!("../fixtures/ha_light_mqtt_json_schema.json")).expect("fixture is JSON")
}

fn lampi_state(v: &Value) -> Value {
    json!({"color": v["color"], "brightness": v["brightness"], "on": v["on"]})
}

/// Starts a lamp with `config`; the probe has seen its birth and its discovery document.
async fn started(broker: &Mosquitto, dir: &std::path::Path, config: &str, topics: &[&str]) -> (Lamp, Probe, Value) {
    let discovery = topics.iter().copied().find(|t| t.ends_with("/config")).unwrap_or(DISCOVERY);
    let mut probe = Probe::connect(broker.port(), "ha_probe", topics).await;
    let lamp = Lamp::start_with(dir, config, &[]);
    let doc = probe.next(discovery, T).await.json();
    (lamp, probe, doc)
}

fn ha_config(broker: &Mosquitto, dir: &std::path::Path) -> String {
    config_text(broker.port(), &dir.join("state"), HA_ON)
}

/// The first ```lang block of the README's Home Assistant section.
fn readme_block(lang: &str) -> String {
    let readme = include_str!("../../README.md");
    let section = readme.split("\n## Home Assistant\n").nth(1).expect("README has a Home Assistant section");
    let section = section.split("\n## ").next().unwrap();
    let block = section.split(&format!("```{lang}\n")).nth(1).and_then(|s| s.split("```").next());
    block.unwrap_or_else(|| panic!("no {lang} block in the README's Home Assistant section")).to_string()
}

/// Does `v` have the documented type (`string`, `boolean`, `integer`, `list`, `map`, `template`, `icon`, `null`,
/// or a list of those)?
fn has_type(v: &Value, ty: &Value) -> bool {
    match ty {
        Value::Array(any) => any.iter().any(|t| has_type(v, t)),
        Value::String(t) => match t.as_str() {
            "string" | "template" | "icon" => v.is_string(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_i64() || v.is_u64(),
            "list" => v.is_array(),
            "map" => v.is_object(),
            "null" => v.is_null(),
            other => panic!("the fixture names an unknown type {other:?}"),
        },
        other => panic!("the fixture's type is {other}"),
    }
}

/// Checks keys of `obj` against documented `keys` (name -> {type, required, ...}); returns what is wrong.
fn check_keys(obj: &Value, keys: &Value, at: &str) -> Vec<String> {
    let mut wrong = Vec::new();
    let Some(obj) = obj.as_object() else { return vec![format!("{at}: {obj} is not an object")] };
    let keys = keys.as_object().expect("fixture keys are an object");
    for (k, v) in obj {
        let Some(spec) = keys.get(k) else {
            wrong.push(format!("{at}{k}: not a documented key"));
            continue;
        };
        if !has_type(v, &spec["type"]) {
            wrong.push(format!("{at}{k} = {v}: documented as {}", spec["type"]));
        }
        if let Some(must) = spec.get("must_be") {
            if v != must {
                wrong.push(format!("{at}{k} = {v}: must be {must}"));
            }
        }
        if let Some(values) = spec["values"].as_array() {
            let given: Vec<&Value> = v.as_array().map_or_else(|| vec![v], |a| a.iter().collect());
            for g in given.iter().filter(|g| !values.contains(g)) {
                wrong.push(format!("{at}{k}: {g} is not one of {}", spec["values"]));
            }
            let alone = spec["alone"].as_array().cloned().unwrap_or_default();
            if given.len() > 1 && given.iter().any(|g| alone.contains(g)) {
                wrong.push(format!("{at}{k}: {} must be the only value", spec["alone"]));
            }
        }
        if let Some(only) = spec["only_in"].as_str() {
            wrong.push(format!("{at}{k}: only allowed in {only}"));
        }
        if let Some(other) = spec["not_with"].as_str() {
            if obj.contains_key(other) {
                wrong.push(format!("{at}{k}: must not be used together with {other}"));
            }
        }
    }
    for (k, spec) in keys {
        if spec["required"] == true && !obj.contains_key(k) {
            wrong.push(format!("{at}{k}: required but missing"));
        }
    }
    wrong
}

/// Everything in a discovery document that HA's documented JSON schema would not accept as written.
fn schema_violations(doc: &Value, schema: &Value) -> Vec<String> {
    let keys = &schema["keys"];
    let mut wrong = check_keys(doc, keys, "");
    for (i, item) in doc["availability"].as_array().into_iter().flatten().enumerate() {
        wrong.extend(check_keys(item, &keys["availability"]["item_keys"], &format!("availability.{i}.")));
    }
    if let Some(device) = doc.get("device") {
        let spec = &keys["device"];
        wrong.extend(check_keys(device, &spec["keys"], "device."));
        let one_of = spec["one_of_required"].as_array().unwrap();
        if !one_of.iter().any(|k| device.get(k.as_str().unwrap()).is_some()) {
            wrong.push(format!("device: needs one of {one_of:?}"));
        }
        if doc.get(spec["needs"].as_str().unwrap()).is_none() {
            wrong.push("device: only works when unique_id is set".into());
        }
    }
    wrong
}

/// Everything in a state message that HA's documented state payload would not take, for `supported_color_modes`.
fn state_violations(state: &Value, doc: &Value, schema: &Value) -> Vec<String> {
    let spec = &schema["state_message"];
    let mut wrong = Vec::new();
    for k in state.as_object().unwrap().keys() {
        if !spec["keys"].as_array().unwrap().iter().any(|d| d == k) {
            wrong.push(format!("{k}: not a documented state element"));
        }
    }
    if !spec["state"].as_array().unwrap().contains(&state["state"]) {
        wrong.push(format!("state = {}: documented are {}", state["state"], spec["state"]));
    }
    let mode = state["color_mode"].as_str().unwrap_or("");
    if !doc["supported_color_modes"].as_array().unwrap().iter().any(|m| m == mode) {
        wrong.push(format!("color_mode = {mode:?}: not one of the discovery document's supported_color_modes"));
    }
    let colour_keys: Vec<&str> =
        spec["color_keys"][mode].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    let color = state["color"].as_object().unwrap();
    if color.keys().map(String::as_str).collect::<Vec<_>>() != colour_keys {
        wrong.push(format!("color = {}: documented keys for {mode} are {colour_keys:?}", state["color"]));
    }
    for (k, range) in spec["hs_ranges"].as_object().unwrap() {
        let (lo, hi, x) = (
            range[0].as_f64().unwrap(),
            range[1].as_f64().unwrap(),
            color.get(k).and_then(Value::as_f64).unwrap_or(-1.0),
        );
        if !(lo..=hi).contains(&x) {
            wrong.push(format!("color.{k} = {x}: documented range {lo}..{hi}"));
        }
    }
    let scale = doc["brightness_scale"].as_f64().unwrap_or(255.0);
    let b = state["brightness"].as_f64().unwrap_or(-1.0);
    if !(0.0..=scale).contains(&b) || b.fract() != 0.0 {
        wrong.push(format!("brightness = {b}: expected a whole number from 0 to brightness_scale {scale}"));
    }
    wrong
}

/// The discovery topic's levels, checked against `<prefix>/<component>/[<node_id>/]<object_id>/config`.
fn check_discovery_topic(topic: &str, prefix: &str, schema: &Value) {
    let spec = &schema["discovery_topic"];
    let rest = topic.strip_prefix(&format!("{prefix}/")).unwrap_or_else(|| panic!("{topic} not under {prefix}/"));
    let levels: Vec<&str> = rest.split('/').collect();
    assert_eq!(levels.len(), 4, "{topic}: expected {}", spec["format"]);
    assert_eq!(levels[0], spec["component"], "{topic}");
    assert_eq!(levels[3], "config", "{topic}");
    for id in &levels[1..3] {
        let ok = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        assert!(ok, "{topic}: {id:?} is outside {}", spec["id_characters"]);
    }
}

#[test]
fn the_schema_check_finds_what_the_documentation_forbids() {
    // The checker must be able to fail: every kind of mistake it looks for is caught.
    let schema = schema();
    let good = json!({"schema": "json", "command_topic": "a/set", "unique_id": "u", "device": {"identifiers": ["x"]}});
    assert_eq!(schema_violations(&good, &schema), Vec::<String>::new());
    let bad = [
        json!({"schema": "json"}),
        json!({"schema": "default", "command_topic": "a"}),
        json!({"schema": "json", "command_topic": "a", "brightness_scal": 255}),
        json!({"schema": "json", "command_topic": "a", "brightness": "yes"}),
        json!({"schema": "json", "command_topic": "a", "supported_color_modes": ["hs", "brightness"]}),
        json!({"schema": "json", "command_topic": "a", "supported_color_modes": ["hsv"]}),
        json!({"schema": "json", "command_topic": "a", "availability": [{"payload_available": "1"}]}),
        json!({"schema": "json", "command_topic": "a", "availability": [], "availability_topic": "t"}),
        json!({"schema": "json", "command_topic": "a", "device": {"identifiers": ["x"]}}),
        json!({"schema": "json", "command_topic": "a", "unique_id": "u", "device": {"model": "m"}}),
        json!({"schema": "json", "command_topic": "a", "unique_id": "u", "device": {"ids": "x"}}),
        json!({"schema": "json", "command_topic": "a", "platform": "light"}),
        json!({"schema": "json", "command_topic": "a", "qos": "1"}),
    ];
    for b in bad {
        assert!(!schema_violations(&b, &schema).is_empty(), "not caught: {b}");
    }
    let doc = json!({"supported_color_modes": ["hs"], "brightness_scale": 255});
    let state = json!({"state": "ON", "brightness": 128, "color_mode": "hs", "color": {"h": 10.0, "s": 5.0}});
    assert_eq!(state_violations(&state, &doc, &schema), Vec::<String>::new());
    for bad in [
        json!({"state": "on", "brightness": 1, "color_mode": "hs", "color": {"h": 1, "s": 1}}),
        json!({"state": "ON", "brightness": 256, "color_mode": "hs", "color": {"h": 1, "s": 1}}),
        json!({"state": "ON", "brightness": 1, "color_mode": "rgb", "color": {"r": 1, "g": 1, "b": 1}}),
        json!({"state": "ON", "brightness": 1, "color_mode": "hs", "color": {"h": 361, "s": 1}}),
        json!({"state": "ON", "brightness": 1, "color_mode": "hs", "color": {"h": 1, "s": 1, "x": 0.1}}),
        json!({"state": "ON", "brightness": 1, "color_mode": "hs", "color": {"h": 1, "s": 1}, "hue": 3}),
    ] {
        assert!(!state_violations(&bad, &doc, &schema).is_empty(), "not caught: {bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_document_follows_the_documented_json_schema_and_the_lamps_topics() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let schema = schema();
    let (_lamp, mut probe, doc) =
        started(&broker, dir.path(), &ha_config(&broker, dir.path()), &[DISCOVERY, HA_STATE]).await;
    assert_eq!(schema_violations(&doc, &schema), Vec::<String>::new(), "{doc:#}");
    check_discovery_topic(DISCOVERY, "homeassistant", &schema);
    // What the issue asks for, beyond what HA accepts.
    assert_eq!(doc["schema"], "json");
    assert_eq!(doc["brightness"], true);
    assert_eq!(doc["supported_color_modes"], json!(["hs"]));
    assert_eq!((doc["command_topic"].as_str(), doc["state_topic"].as_str()), (Some(HA_SET), Some(HA_STATE)));
    assert_eq!(doc["availability"], json!([{"topic": CONN, "payload_available": "1", "payload_not_available": "0"}]));
    assert_eq!(doc["unique_id"], "lampi_b827eb08451e_light");
    assert_eq!(doc["device"]["identifiers"], json!(["lampi_b827eb08451e"]));
    assert_eq!(doc["device"]["name"], "Desk lamp");
    assert_eq!(doc["device"]["model"], "LAMPI");
    assert_eq!(doc["device"]["sw_version"], env!("CARGO_PKG_VERSION"));
    // The README shows this very document.
    let mut shown = readme_block("json").parse::<Value>().expect("the README's discovery document is JSON");
    shown["device"]["sw_version"] = json!(env!("CARGO_PKG_VERSION"));
    assert_eq!(shown, doc, "README's discovery document differs from the lamp's");
    // The state at start-up is there too, in HA's terms, and it is what HA documents.
    let state = probe.next(HA_STATE, T).await.json();
    assert_eq!(state, json!({"state": "ON", "brightness": 255, "color_mode": "hs", "color": {"h": 360.0, "s": 100.0}}));
    assert_eq!(state_violations(&state, &doc, &schema), Vec::<String>::new());
    // Both retained: a Home Assistant that connects later gets them.
    let mut late = Probe::connect(broker.port(), "late_ha", &[DISCOVERY, HA_STATE]).await;
    let again = late.next(DISCOVERY, T).await;
    assert!(again.retain, "the discovery document must be retained");
    assert_eq!(again.json(), doc);
    assert!(late.next(HA_STATE, T).await.retain, "the HA state must be retained");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_follow_the_configured_discovery_and_topic_prefixes() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config_text(broker.port(), &dir.path().join("state"), "")
        .replace("[led]\n", "topic_prefix = \"devices/{device_id}/\"\n[led]\n")
        + "[homeassistant]\nenabled = true\ndiscovery_prefix = \"ha/disc\"\n";
    let discovery = "ha/disc/light/b827eb08451e/lamp/config";
    let (_lamp, mut probe, doc) =
        started(&broker, dir.path(), &config, &[discovery, "devices/b827eb08451e/lamp/changed"]).await;
    let schema = schema();
    assert_eq!(schema_violations(&doc, &schema), Vec::<String>::new(), "{doc:#}");
    check_discovery_topic(discovery, "ha/disc", &schema);
    assert_eq!(doc["command_topic"], "devices/b827eb08451e/lamp/homeassistant/set");
    assert_eq!(doc["state_topic"], "devices/b827eb08451e/lamp/homeassistant/state");
    assert_eq!(doc["availability"][0]["topic"], "devices/b827eb08451e/lamp/connection/lamp_service/state");
    assert_eq!(doc["device"]["name"], "LAMPI");
    probe.publish("devices/b827eb08451e/lamp/homeassistant/set", r#"{"state": "OFF"}"#).await;
    let m = probe.expect("devices/b827eb08451e/lamp/changed", T, |m| m.json()["client"] == "homeassistant").await;
    assert_eq!(m.json()["on"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ha_command_drives_the_led_and_lamp_changed_and_comes_back_on_the_ha_state() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (lamp, mut probe, doc) =
        started(&broker, dir.path(), &ha_config(&broker, dir.path()), &[DISCOVERY, HA_STATE, CHANGED]).await;
    probe.expect(HA_STATE, T, |m| m.json()["state"] == "ON").await;
    probe.publish(HA_SET, r#"{"state": "ON", "brightness": 128, "color": {"h": 120, "s": 100}}"#).await;
    let m = probe.expect(CHANGED, T, |m| m.json()["client"] == "homeassistant").await;
    assert_eq!(lampi_state(&m.json()), json!({"color": {"h": 0.33, "s": 1.0}, "brightness": 0.5, "on": true}));
    // hsv(0.33, 1, 1) = (0.02, 1, 0), times 0.5: exactly what the same set_config gives (run_mode.rs).
    lamp.wait_log("duties=r=0.0100 g=0.5000 b=0.0000", T);
    let st = probe.expect(HA_STATE, T, |m| m.json()["brightness"] == 128).await;
    assert_eq!(
        st.json(),
        json!({"state": "ON", "brightness": 128, "color_mode": "hs", "color": {"h": 118.8, "s": 100.0}})
    );
    assert_eq!(state_violations(&st.json(), &doc, &schema()), Vec::<String>::new());
    // A partial command with a transition: only `on` changes, over the asked fade, and the LED ends off.
    probe.publish(HA_SET, r#"{"state": "OFF", "transition": 0.5}"#).await;
    let m = probe.expect(CHANGED, T, |m| m.json()["on"] == false).await;
    assert_eq!(lampi_state(&m.json()), json!({"color": {"h": 0.33, "s": 1.0}, "brightness": 0.5, "on": false}));
    assert!(lamp.wait_log("transition=500ms", T).contains("client=homeassistant"));
    lamp.wait_log("sim LED r=0.0000 g=0.0000 b=0.0000", T);
    let st = probe.expect(HA_STATE, T, |m| m.json()["state"] == "OFF").await;
    assert_eq!(st.json()["brightness"], 128, "brightness kept while off: {}", st.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lampi_command_updates_the_ha_state() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (_lamp, mut probe, _doc) =
        started(&broker, dir.path(), &ha_config(&broker, dir.path()), &[DISCOVERY, HA_STATE, CHANGED]).await;
    probe.publish(SET, r#"{"color": {"h": 0.5, "s": 0.25}, "brightness": 0.2, "on": true, "client": "lamp_ui"}"#).await;
    // LAMPI's own reply is as before ...
    let m = probe.expect(CHANGED, T, |m| m.json()["client"] == "lamp_ui").await;
    assert_eq!(lampi_state(&m.json()), json!({"color": {"h": 0.5, "s": 0.25}, "brightness": 0.2, "on": true}));
    // ... and Home Assistant hears of it: 0.2 * 255 = 51, 0.5 * 360 = 180, 0.25 * 100 = 25.
    let want = json!({"state": "ON", "brightness": 51, "color_mode": "hs", "color": {"h": 180.0, "s": 25.0}});
    probe.expect(HA_STATE, T, |m| m.json() == want).await;
    probe.publish(SET, r#"{"on": false, "client": "lamp_cmd"}"#).await;
    probe.expect(HA_STATE, T, |m| m.json()["state"] == "OFF").await;
    let mut late = Probe::connect(broker.port(), "late_ha", &[HA_STATE]).await;
    let st = late.next(HA_STATE, T).await;
    assert!(st.retain);
    assert_eq!(
        st.json(),
        json!({"state": "OFF", "brightness": 51, "color_mode": "hs", "color": {"h": 180.0, "s": 25.0}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ha_online_and_every_reconnect_publish_the_discovery_document_again() {
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (lamp, mut probe, doc) =
        started(&broker, dir.path(), &ha_config(&broker, dir.path()), &[DISCOVERY, HA_STATE]).await;
    // HA going offline is no reason to announce: the next thing the lamp publishes is the state for a command.
    probe.publish(STATUS, "offline").await;
    probe.publish(HA_SET, r#"{"brightness": 64}"#).await;
    probe.expect(HA_STATE, T, |m| m.json()["brightness"] == 64).await;
    assert!(!probe.pending().iter().any(|m| m.topic == DISCOVERY), "discovery re-sent on \"offline\"");
    assert!(!lamp.log().contains("Home Assistant is online"), "{}", lamp.log());
    // HA's birth message: the document again (a live copy to this subscriber), with the state.
    probe.publish(STATUS, "online").await;
    let again = probe.next(DISCOVERY, T).await;
    assert!(!again.retain, "expected a fresh publish, not the retained copy");
    assert_eq!(again.json(), doc);
    probe.expect(HA_STATE, T, |m| m.json()["brightness"] == 64).await;
    lamp.wait_log("Home Assistant is online", T);
    // A broker restart forgets every retained message; the reconnect announces again.
    drop(probe);
    broker.restart();
    let mut probe = Probe::connect(broker.port(), "ha_probe2", &[DISCOVERY, HA_STATE]).await;
    assert_eq!(probe.next(DISCOVERY, T).await.json(), doc);
    assert_eq!(probe.next(HA_STATE, T).await.json()["brightness"], 64);
    // And HA's commands are subscribed again.
    probe.publish(HA_SET, r#"{"brightness": 255}"#).await;
    probe.expect(HA_STATE, T, |m| m.json()["brightness"] == 255).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_follows_the_lamps_stop_and_its_last_will() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let config = ha_config(&broker, dir.path());
    let mut probe = Probe::connect(broker.port(), "ha_probe", &[DISCOVERY]).await;
    let mut lamp = Lamp::start_with(dir.path(), &config, &[]);
    // Follow exactly what the discovery document tells Home Assistant to watch.
    let doc = probe.next(DISCOVERY, T).await.json();
    let avail = &doc["availability"][0];
    let (topic, up, down) = (
        avail["topic"].as_str().unwrap().to_string(),
        avail["payload_available"].as_str().unwrap().to_string(),
        avail["payload_not_available"].as_str().unwrap().to_string(),
    );
    let mut watcher = Probe::connect(broker.port(), "ha_avail", &[topic.as_str()]).await;
    watcher.expect(&topic, T, |m| m.text() == up).await;
    lamp.signal(libc::SIGTERM);
    assert_eq!(lamp.wait_exit(T).and_then(|s| s.code()), Some(0));
    watcher.expect(&topic, T, |m| m.text() == down).await;
    assert!(lamp.log().contains("published \"0\""), "a clean stop says goodbye itself:\n{}", lamp.log());
    let mut lamp = Lamp::start_with(dir.path(), &config, &[]);
    watcher.expect(&topic, T, |m| m.text() == up).await;
    lamp.signal(libc::SIGKILL); // no goodbye: the broker publishes the last will
    lamp.wait_exit(T).expect("killed");
    watcher.expect(&topic, T, |m| m.text() == down).await;
    let mut late = Probe::connect(broker.port(), "ha_late", &[topic.as_str()]).await;
    let m = late.next(&topic, T).await;
    assert!(m.retain && m.text() == down, "retained availability after the kill: {:?}", m.text());
    assert!(!lamp.log().contains("published \"0\""), "the killed lamp said goodbye itself:\n{}", lamp.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ha_commands_change_nothing_and_say_why() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (lamp, mut probe, _doc) =
        started(&broker, dir.path(), &ha_config(&broker, dir.path()), &[DISCOVERY, HA_STATE, CHANGED]).await;
    probe.publish(HA_SET, r#"{"state": "ON", "brightness": 102, "color": {"h": 180, "s": 50}}"#).await;
    probe.expect(CHANGED, T, |m| m.json()["client"] == "homeassistant").await;
    // hsv(0.5, 0.5, 1) = (0.5, 1, 1), times 0.4.
    let good_led = "sim LED r=0.2000 g=0.4000 b=0.4000";
    lamp.wait_log(good_led, T);
    let bad: &[&str] = &[
        "{not json",
        "[]",
        "\"ON\"",
        r#"{"state": "on"}"#,
        r#"{"state": true}"#,
        r#"{"brightness": 256}"#,
        r#"{"brightness": "128"}"#,
        r#"{"brightness": -1}"#,
        r#"{"color": {"h": 400, "s": 50}}"#,
        r#"{"color": {"h": 10}}"#,
        r#"{"color": {"r": 255, "g": 0, "b": 0}}"#,
        r#"{"state": "OFF", "transition": -1}"#,
        r#"{"state": "OFF", "brightness": 10, "color": {"h": 10, "s": 10}, "transition": "1s"}"#,
        "\u{0}\u{1}binary",
    ];
    for b in bad {
        probe.publish(HA_SET, *b).await;
    }
    probe.publish(HA_SET, r#"{"state": "ON"}"#).await;
    let m = probe.expect(CHANGED, T, |_| true).await;
    assert_eq!(
        lampi_state(&m.json()),
        json!({"color": {"h": 0.5, "s": 0.5}, "brightness": 0.4, "on": true}),
        "{}",
        m.text()
    );
    let st = probe.expect(HA_STATE, T, |m| m.json()["state"] == "ON" && m.json()["brightness"] == 102).await;
    assert_eq!(st.json()["color"], json!({"h": 180.0, "s": 50.0}));
    let log = lamp.log();
    let ignored = log.lines().filter(|l| l.contains("ignored Home Assistant command")).count();
    assert_eq!(ignored, bad.len(), "one warning per bad command:\n{log}");
    for reason in [
        "\"state\" is \"on\": expected \"ON\" or \"OFF\"",
        "\"brightness\" is 256: expected a number from 0 to 255",
        "\"color.h\" is 400: expected a hue from 0 to 360",
        "\"color.s\" is missing",
        "\"transition\" is -1",
        "not JSON",
    ] {
        assert!(log.contains(reason), "{reason:?} not logged:\n{log}");
    }
    assert!(!log.contains("panicked"), "{log}");
    // The LED never left the good state.
    let from_good = log.lines().skip_while(|l| !l.contains(good_led)).filter(|l| l.contains("sim LED"));
    for line in from_good {
        assert!(line.contains(good_led), "the LED changed: {line}\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_home_assistant_off_nothing_of_it_is_published_or_heard() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let mut probe =
        Probe::connect(broker.port(), "ha_probe", &["homeassistant/#", "lamp/homeassistant/#", CHANGED]).await;
    let lamp = Lamp::start(dir.path(), broker.port());
    probe.expect(CHANGED, T, |m| m.json()["client"] == "lamp_service").await;
    probe.publish(HA_SET, r#"{"state": "OFF"}"#).await;
    probe.publish(STATUS, "online").await;
    probe.publish(SET, r#"{"client": "marker", "brightness": 0.3}"#).await;
    let m = probe.expect(CHANGED, T, |_| true).await;
    assert_eq!(m.json()["client"], "marker", "the HA command was applied: {}", m.text());
    assert_eq!(m.json()["on"], true);
    // Our own two publishes are all there is on HA's topics: the lamp published nothing there.
    let ha: Vec<String> = probe.pending().iter().map(|m| format!("{} {}", m.topic, m.text())).collect();
    assert_eq!(ha, [format!("{HA_SET} {{\"state\": \"OFF\"}}"), format!("{STATUS} online")]);
    assert!(!lamp.log().contains("Home Assistant"), "{}", lamp.log());
}

#[test]
fn homeassistant_config_errors_exit_78_and_the_readme_example_passes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[homeassistant]\nenabled = 1\ndiscovery_prefix = \"ha/#\"\nname = \"\"\nprefix = \"x\"\n")
        .unwrap();
    let (code, _, err) = run_cli(&["config", "check", path.to_str().unwrap()], &[]);
    assert_eq!(code, 78, "{err}");
    for needle in [
        "homeassistant.enabled = 1: expected true or false",
        "homeassistant.discovery_prefix = \"ha/#\": expected a topic without wildcards",
        "homeassistant.name = \"\": expected 1 to 64 characters",
        "homeassistant.prefix = \"x\": expected no such key",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
    // The README's `[homeassistant]` example, taken from the README itself.
    let example = readme_block("toml");
    assert!(example.contains("[homeassistant]") && example.contains("enabled = true"), "{example}");
    let path = dir.path().join("lampi.toml");
    std::fs::write(&path, &example).unwrap();
    let (code, out, err) = run_cli(&["config", "check", path.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("OK") && out.contains("discovery_prefix: \"homeassistant\""), "{out}");
}
