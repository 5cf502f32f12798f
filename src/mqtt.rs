//! MQTT plumbing shared by every mode: LAMPI topic names under the configured prefix, and rumqttc options built from
//! config (client id, keepalive, credentials, TLS with a CA and an optional client certificate, last will).
//!
//! It reads the TLS files (so errors name them) but opens no connection; the daemon, the self-test and the load
//! generator each drive their own event loop.

use std::path::{Path, PathBuf};

use rumqttc::{LastWill, MqttOptions, QoS, Transport};

use crate::config;

/// LAMPI's topics for one lamp, with the prefix applied (DESIGN section 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub set_config: String,
    pub changed: String,
    /// `lamp/connection/<client id>/state`: "1" on connect, "0" as last will.
    pub connection: String,
    pub associated: String,
}

impl Topics {
    /// `prefix` may contain `{device_id}`; `service` is the client id in the connection topic (`lamp_service`).
    pub fn new(prefix: &str, device_id: &str, service: &str) -> Topics {
        let p = prefix.replace("{device_id}", device_id);
        Topics {
            set_config: format!("{p}lamp/set_config"),
            changed: format!("{p}lamp/changed"),
            connection: format!("{p}lamp/connection/{service}/state"),
            associated: format!("{p}lamp/associated"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read {what} {path}: {source}")]
    File { what: &'static str, path: PathBuf, source: std::io::Error },
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, SetupError> {
    std::fs::read(path).map_err(|source| SetupError::File { what, path: path.to_path_buf(), source })
}

/// rumqttc options for the configured broker with the given client id and optional last will.
pub fn options(cfg: &config::Mqtt, client_id: &str, will: Option<LastWill>) -> Result<MqttOptions, SetupError> {
    let mut o = MqttOptions::new(client_id, cfg.host.clone(), cfg.port);
    o.set_keep_alive(cfg.keepalive);
    o.set_clean_session(true);
    if let Some(user) = &cfg.username {
        o.set_credentials(user.clone(), cfg.password.as_ref().map(|p| p.0.clone()).unwrap_or_default());
    }
    if let Some(w) = will {
        o.set_last_will(w);
    }
    if let Some(tls) = &cfg.tls {
        let ca = read("the MQTT CA file (mqtt.tls.ca_file)", &tls.ca_file)?;
        let client_auth = match (&tls.cert_file, &tls.key_file) {
            (Some(c), Some(k)) => Some((
                read("the client certificate (mqtt.tls.cert_file)", c)?,
                read("the client key (mqtt.tls.key_file)", k)?,
            )),
            _ => None,
        };
        o.set_transport(Transport::tls(ca, client_auth, None));
    }
    Ok(o)
}

/// The largest publish payload a LAMPI deployment lets through: the broker's `message_size_limit` (mosquitto drops
/// a larger publish at the broker and keeps its sender connected). Real LAMPI messages are about 100 bytes.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// The largest packet every client here reads. rumqttc drops the connection on a bigger one (its default is 10 KiB,
/// so a 20 KB `set_config` knocked the lamp off the broker and made it re-announce); MQTT 3.1.1 cannot tell the
/// broker a limit, so the client reads anything up to [`MAX_PAYLOAD`] plus the longest topic (65,535 bytes) and the
/// packet's header, and the codec rejects what is too big for its purpose with a one-line reason.
pub const MAX_INCOMING_PACKET: usize = MAX_PAYLOAD + 65_535 + 16;

/// What these clients send at most (their own messages are small; a bigger publish is refused before sending).
const MAX_OUTGOING_PACKET: usize = 64 * 1024;

/// A client and its event loop, with Nagle off (a lamp's messages are small and latency is what we sell) and the
/// incoming packet limit of [`MAX_INCOMING_PACKET`].
pub fn client(mut options: MqttOptions, capacity: usize) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    options.set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, capacity);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    net.set_connection_timeout(5);
    eventloop.set_network_options(net);
    (client, eventloop)
}

/// The LAMPI last will: `"0"` retained at QoS 2 on the connection topic.
pub fn will(topics: &Topics) -> LastWill {
    LastWill::new(topics.connection.clone(), "0", QoS::ExactlyOnce, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_apply_to_every_topic() {
        let t = Topics::new("", "b827eb08451e", "lamp_service");
        assert_eq!(t.set_config, "lamp/set_config");
        assert_eq!(t.connection, "lamp/connection/lamp_service/state");
        let course = Topics::new("/", "x", "lamp_service");
        assert_eq!(course.changed, "/lamp/changed");
        let cloud = Topics::new("devices/{device_id}/", "b827eb08451e", "lamp_service");
        assert_eq!(cloud.set_config, "devices/b827eb08451e/lamp/set_config");
        assert_eq!(cloud.associated, "devices/b827eb08451e/lamp/associated");
    }

    #[test]
    fn missing_tls_files_are_named() {
        let env = |_: &str| None;
        let s =
            config::Settings::from_toml("[mqtt.tls]\nenabled = true\nca_file = \"/nonexistent/ca.pem\"\n", "t", &env)
                .unwrap();
        let err = options(&s.mqtt, "x", None).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem") && err.contains("mqtt.tls.ca_file"), "{err}");
    }
}
