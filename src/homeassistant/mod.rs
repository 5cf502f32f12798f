//! Home Assistant by MQTT discovery, as pure data: the topics, the discovery document, and (in `codec`) HA's JSON
//! schema for commands and state.
//!
//! With `[homeassistant] enabled = true` the lamp announces itself as an MQTT light with the JSON schema
//! (<https://www.home-assistant.io/integrations/light.mqtt/#json-schema>): a retained document on
//! `<discovery prefix>/light/<device id>/lamp/config` naming its own command and state topics under the lamp's topic
//! prefix, brightness and hue/saturation, and the LAMPI connection topic (`"1"` / `"0"`) as its availability. The
//! LAMPI protocol is untouched: HA commands become ordinary [`crate::lamp::Command`]s with `client: "homeassistant"`.
//! Nothing here touches the network; the daemon (`crate::daemon`) subscribes, publishes and re-announces.

pub mod codec;

use serde_json::{json, Value};

use crate::config::HomeAssistant;
use crate::mqtt;

/// The model the device registry shows.
pub const MODEL: &str = "LAMPI";

/// Every topic the Home Assistant side of one lamp uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `<discovery prefix>/light/<device id>/lamp/config`: the retained discovery document.
    pub discovery: String,
    /// `<discovery prefix>/status`: HA's birth (`online`) and last will (`offline`).
    pub status: String,
    /// `<topic prefix>lamp/homeassistant/set`: commands in HA's JSON schema.
    pub command: String,
    /// `<topic prefix>lamp/homeassistant/state`: the lamp's state in HA's JSON schema, retained.
    pub state: String,
    /// The LAMPI connection topic: `"1"` while the lamp runs, `"0"` after a stop or as its last will.
    pub availability: String,
}

impl Topics {
    /// `topic_prefix` as in `mqtt.topic_prefix` (may hold `{device_id}`); `lamp` gives the connection topic.
    pub fn new(discovery_prefix: &str, topic_prefix: &str, device_id: &str, lamp: &mqtt::Topics) -> Topics {
        let p = topic_prefix.replace("{device_id}", device_id);
        Topics {
            discovery: format!("{discovery_prefix}/light/{device_id}/lamp/config"),
            status: format!("{discovery_prefix}/status"),
            command: format!("{p}lamp/homeassistant/set"),
            state: format!("{p}lamp/homeassistant/state"),
            availability: lamp.connection.clone(),
        }
    }
}

/// The discovery document for one lamp: an MQTT light with the JSON schema, HS colour and brightness.
pub fn discovery(cfg: &HomeAssistant, device_id: &str, topics: &Topics) -> Value {
    json!({
        "name": null,
        "unique_id": format!("lampi_{device_id}_light"),
        "schema": "json",
        "command_topic": topics.command,
        "state_topic": topics.state,
        "brightness": true,
        "brightness_scale": 255,
        "supported_color_modes": ["hs"],
        "qos": 1,
        "availability": [{
            "topic": topics.availability,
            "payload_available": "1",
            "payload_not_available": "0",
        }],
        "device": {
            "identifiers": [format!("lampi_{device_id}")],
            "name": cfg.name.replace("{device_id}", device_id),
            "model": MODEL,
            "sw_version": env!("CARGO_PKG_VERSION"),
        },
    })
}

/// The discovery document's bytes.
pub fn encode_discovery(cfg: &HomeAssistant, device_id: &str, topics: &Topics) -> Vec<u8> {
    discovery(cfg, device_id, topics).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(name: &str) -> HomeAssistant {
        HomeAssistant { discovery_prefix: "homeassistant".into(), name: name.into() }
    }

    #[test]
    fn topics_follow_both_prefixes() {
        let lamp = mqtt::Topics::new("", "b827eb08451e", "lamp_service");
        let t = Topics::new("homeassistant", "", "b827eb08451e", &lamp);
        assert_eq!(t.discovery, "homeassistant/light/b827eb08451e/lamp/config");
        assert_eq!(t.status, "homeassistant/status");
        assert_eq!(t.command, "lamp/homeassistant/set");
        assert_eq!(t.state, "lamp/homeassistant/state");
        assert_eq!(t.availability, "lamp/connection/lamp_service/state");
        let cloud = mqtt::Topics::new("devices/{device_id}/", "b827eb08451e", "lamp_service");
        let t = Topics::new("ha", "devices/{device_id}/", "b827eb08451e", &cloud);
        assert_eq!(t.discovery, "ha/light/b827eb08451e/lamp/config");
        assert_eq!(t.command, "devices/b827eb08451e/lamp/homeassistant/set");
        assert_eq!(t.availability, "devices/b827eb08451e/lamp/connection/lamp_service/state");
    }

    #[test]
    fn the_discovery_document_describes_an_hs_json_light_tied_to_the_lamp() {
        let lamp = mqtt::Topics::new("/", "b827eb08451e", "lamp_service");
        let t = Topics::new("homeassistant", "/", "b827eb08451e", &lamp);
        let d: Value =
            serde_json::from_slice(&encode_discovery(&cfg("LAMPI {device_id}"), "b827eb08451e", &t)).unwrap();
        assert_eq!(d["schema"], "json");
        assert_eq!(d["unique_id"], "lampi_b827eb08451e_light");
        assert_eq!((d["command_topic"].as_str(), d["state_topic"].as_str()), (Some(&*t.command), Some(&*t.state)));
        assert_eq!(d["brightness"], true);
        assert_eq!(d["supported_color_modes"], json!(["hs"]));
        assert_eq!(
            d["availability"],
            json!([{"topic": "/lamp/connection/lamp_service/state", "payload_available": "1", "payload_not_available": "0"}])
        );
        assert_eq!(d["device"]["identifiers"], json!(["lampi_b827eb08451e"]));
        assert_eq!(d["device"]["name"], "LAMPI b827eb08451e");
        assert_eq!(d["device"]["sw_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(d["device"]["model"], "LAMPI");
    }
}
