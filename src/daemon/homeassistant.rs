//! The daemon's Home Assistant side: which incoming topics are HA's, and what to subscribe and publish for it.
//!
//! A thin shell over [`crate::homeassistant`]: it holds the topics and the encoded discovery document, and queues
//! packets on the daemon's client. Deciding what a command means, and applying it, stays with the pure codec and the
//! daemon's logic loop, which treats an HA command exactly as a `set_config`.

use rumqttc::{AsyncClient, ClientError, QoS};

use crate::config;
use crate::homeassistant::{self, codec, Topics};
use crate::lamp::State;
use crate::mqtt;

/// What an incoming message on one of HA's topics is.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A command on the HA command topic.
    Command,
    /// HA's birth message: announce again (HA forgets discovered entities when it restarts without retained ones).
    Online,
    /// Anything else on HA's status topic (`offline` when HA stops): nothing to do.
    Status,
}

pub struct Ha {
    pub topics: Topics,
    discovery: Vec<u8>,
}

impl Ha {
    pub fn new(cfg: &config::HomeAssistant, topic_prefix: &str, device_id: &str, lamp: &mqtt::Topics) -> Ha {
        let topics = Topics::new(&cfg.discovery_prefix, topic_prefix, device_id, lamp);
        let discovery = homeassistant::encode_discovery(cfg, device_id, &topics);
        Ha { topics, discovery }
    }

    /// Classifies a message by topic (and, on the status topic, payload); `None` when it is not HA's.
    pub fn route(&self, topic: &str, payload: &[u8]) -> Option<Inbound> {
        if topic == self.topics.command {
            Some(Inbound::Command)
        } else if topic == self.topics.status {
            Some(if payload == b"online" { Inbound::Online } else { Inbound::Status })
        } else {
            None
        }
    }

    /// On every CONNACK: subscribe to HA's command and status topics, then announce.
    pub async fn connected(&self, client: &AsyncClient, state: &State) -> Result<(), ClientError> {
        client.subscribe(&self.topics.command, QoS::AtLeastOnce).await?;
        client.subscribe(&self.topics.status, QoS::AtLeastOnce).await?;
        self.announce(client, state).await
    }

    /// Publishes the discovery document and then the state, both retained (QoS 1).
    pub async fn announce(&self, client: &AsyncClient, state: &State) -> Result<(), ClientError> {
        client.publish(&self.topics.discovery, QoS::AtLeastOnce, true, self.discovery.clone()).await?;
        self.publish_state(client, state).await
    }

    /// Publishes the state in HA's JSON schema, retained (QoS 1), after every accepted change.
    pub async fn publish_state(&self, client: &AsyncClient, state: &State) -> Result<(), ClientError> {
        client.publish(&self.topics.state, QoS::AtLeastOnce, true, codec::encode_state(state)).await
    }

    /// At shutdown: take no more HA commands (queued before the LAMPI unsubscribe that shutdown waits on).
    pub fn leave(&self, client: &AsyncClient) -> bool {
        client.try_unsubscribe(&self.topics.command).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_commands_and_only_online_as_a_birth() {
        let cfg = config::HomeAssistant { discovery_prefix: "homeassistant".into(), name: "LAMPI".into() };
        let lamp = mqtt::Topics::new("", "b827eb08451e", "lamp_service");
        let ha = Ha::new(&cfg, "", "b827eb08451e", &lamp);
        assert_eq!(ha.route("lamp/homeassistant/set", b"{}"), Some(Inbound::Command));
        assert_eq!(ha.route("homeassistant/status", b"online"), Some(Inbound::Online));
        assert_eq!(ha.route("homeassistant/status", b"offline"), Some(Inbound::Status));
        assert_eq!(ha.route("lamp/set_config", b"{}"), None);
        assert_eq!(ha.route("homeassistant/light/b827eb08451e/lamp/config", b"{}"), None);
    }
}
