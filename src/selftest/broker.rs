//! The broker check, and the small MQTT session ([`Conn`]) that the broker, service and LED checks each open.
//!
//! Broker: connect with the configured TLS and credentials (as the lamp service would, under the self-test's own
//! client id), subscribe to a private topic, publish to it and time the round trip. A refused connection, bad
//! credentials, a TLS failure or a refused subscription each get their own hint ([`connect_failure`], pure).
//!
//! `Conn` polls its event loop only inside its own calls: each call waits for what it needs (CONNACK, SUBACKs, a
//! matching message) and keeps other messages for later. Callers bound it in time; it never sleeps.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{ConnectReturnCode, ConnectionError, Event, Outgoing, Packet, QoS, SubscribeReasonCode};
use tokio::time::Instant;

use super::{ms, Ctx, Verdict, CLIENT_ID};
use crate::config;
use crate::mqtt;

/// A message received.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub payload: Bytes,
}

/// One MQTT session of the self-test.
pub struct Conn {
    client: rumqttc::AsyncClient,
    events: rumqttc::EventLoop,
    inbox: VecDeque<Msg>,
}

/// Why a session could not be set up.
#[derive(Debug)]
pub enum ConnectError {
    Setup(mqtt::SetupError),
    Mqtt(ConnectionError),
}

/// Where the broker is, for details: "127.0.0.1:1883 (TLS, user lamp)".
pub fn describe(cfg: &config::Mqtt) -> String {
    let tls = match &cfg.tls {
        Some(t) if t.cert_file.is_some() => "TLS with client certificate",
        Some(_) => "TLS",
        None => "plain",
    };
    let auth = cfg.username.as_ref().map_or_else(|| "anonymous".to_string(), |u| format!("user {u}"));
    format!("{}:{} ({tls}, {auth})", cfg.host, cfg.port)
}

/// The verdict for a session that could not be set up, with the fix for each cause.
pub fn connect_failure(e: &ConnectError, cfg: &config::Mqtt) -> Verdict {
    let at = format!("{}:{}", cfg.host, cfg.port);
    let creds = "check mqtt.username and mqtt.password (or LAMPI_MQTT_USERNAME / LAMPI_MQTT_PASSWORD)";
    let e = match e {
        ConnectError::Setup(s) => return Verdict::fail(s.to_string(), "fix the path in the [mqtt.tls] section"),
        ConnectError::Mqtt(e) => e,
    };
    match e {
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => Verdict::fail(
            format!("connection refused by {at}: no broker listening"),
            "start the broker (`systemctl status mosquitto`) or fix mqtt.host / mqtt.port",
        ),
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) => Verdict::fail(format!("{at} refused the login ({code:?}) as {}", describe(cfg)), creds),
        ConnectionError::ConnectionRefused(code) => Verdict::fail(
            format!("{at} refused the connection ({code:?})"),
            "see the broker's log (`journalctl -u mosquitto`)",
        ),
        ConnectionError::Tls(t) => Verdict::fail(
            format!("TLS with {at} failed: {t}"),
            "check mqtt.tls.ca_file (the CA that signed the broker's certificate), the client certificate and key, \
             that mqtt.host is the name in the broker's certificate, and the clock",
        ),
        ConnectionError::NetworkTimeout => Verdict::fail(
            format!("no answer from {at}"),
            "is the broker reachable from here (network, firewall, mqtt.host)?",
        ),
        ConnectionError::Io(io) if io.to_string().contains("lookup") => {
            Verdict::fail(format!("cannot resolve {}: {io}", cfg.host), "check mqtt.host and DNS")
        }
        other => Verdict::fail(
            format!("cannot connect to {at}: {other}"),
            "see the broker's log; check mqtt.host / mqtt.port / TLS",
        ),
    }
}

impl Conn {
    /// Connects as the self-test and waits for the CONNACK; returns the session and how long that took.
    pub async fn connect(cfg: &config::Mqtt) -> Result<(Conn, Duration), ConnectError> {
        let options = mqtt::options(cfg, CLIENT_ID, None).map_err(ConnectError::Setup)?;
        let (client, events) = mqtt::client(options, 32);
        let mut conn = Conn { client, events, inbox: VecDeque::new() };
        let t0 = Instant::now();
        loop {
            match conn.events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok((conn, t0.elapsed())),
                Ok(_) => {}
                Err(e) => return Err(ConnectError::Mqtt(e)),
            }
        }
    }

    /// The next event, with incoming messages queued in the inbox.
    async fn poll(&mut self) -> Result<Event, String> {
        let ev = self.events.poll().await.map_err(|e| format!("connection lost: {e}"))?;
        if let Event::Incoming(Packet::Publish(p)) = &ev {
            self.inbox.push_back(Msg { topic: p.topic.clone(), payload: p.payload.clone() });
        }
        Ok(ev)
    }

    /// Subscribes (QoS 1) and waits for every SUBACK; a refused subscription is an error naming the topic.
    pub async fn subscribe(&mut self, topics: &[&str]) -> Result<(), String> {
        for t in topics {
            self.client.subscribe(*t, QoS::AtLeastOnce).await.map_err(|e| e.to_string())?;
        }
        let mut acked = 0;
        while acked < topics.len() {
            if let Event::Incoming(Packet::SubAck(ack)) = self.poll().await? {
                if ack.return_codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure)) {
                    return Err(format!("the broker refused the subscription to {}", topics[acked]));
                }
                acked += 1;
            }
        }
        Ok(())
    }

    /// Publishes (not retained) and returns when it is queued.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) -> Result<(), String> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload.into()).await.map_err(|e| e.to_string())
    }

    /// The first message (already received or next) for which `pred` holds; others are kept.
    pub async fn wait_for(&mut self, pred: impl Fn(&Msg) -> bool) -> Result<Msg, String> {
        let mut seen = 0;
        loop {
            if let Some(i) = self.inbox.iter().skip(seen).position(&pred) {
                return Ok(self.inbox.remove(seen + i).expect("index in range"));
            }
            seen = self.inbox.len();
            self.poll().await?;
        }
    }

    /// Publishes `marker` on `topic` (which this session subscribed to) and waits for it to come back. A broker
    /// delivers retained messages when it handles the SUBSCRIBE, before a later PUBLISH on the same connection: once
    /// the marker is back, every retained message is in the inbox, and an absent one is really absent.
    pub async fn sync(&mut self, topic: &str, marker: &str) -> Result<Duration, String> {
        let t0 = Instant::now();
        self.publish(topic, marker.as_bytes()).await?;
        self.wait_for(|m| m.topic == topic && m.payload == marker.as_bytes()).await?;
        Ok(t0.elapsed())
    }

    /// Forgets the messages received so far.
    pub fn clear(&mut self) {
        self.inbox.clear();
    }

    /// The last message received so far on `topic` (retained ones, after [`Conn::sync`]).
    pub fn last_on(&self, topic: &str) -> Option<&Msg> {
        self.inbox.iter().rev().find(|m| m.topic == topic)
    }

    /// A clean disconnect (bounded: the session is over either way).
    pub async fn close(mut self) {
        if self.client.disconnect().await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while let Ok(ev) = self.events.poll().await {
                if matches!(ev, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// A topic only this run uses, under the lamp's prefix (so broker ACLs for the lamp allow it).
pub fn private_topic(ctx: &Ctx<'_>) -> String {
    let prefix = ctx.settings.mqtt.topic_prefix.replace("{device_id}", &ctx.identity.device_id);
    format!("{prefix}lamp/selftest/{}-{:08x}", std::process::id(), rand::random::<u32>())
}

pub async fn check(ctx: &Ctx<'_>) -> Verdict {
    let cfg = &ctx.settings.mqtt;
    ctx.stage(format!("waiting for CONNACK from {}:{}", cfg.host, cfg.port));
    let (mut conn, connect) = match Conn::connect(cfg).await {
        Ok(c) => c,
        Err(e) => return connect_failure(&e, cfg),
    };
    let topic = private_topic(ctx);
    ctx.stage(format!("waiting for SUBACK on {topic}"));
    if let Err(e) = conn.subscribe(&[&topic]).await {
        conn.close().await;
        return Verdict::fail(
            e,
            format!("the broker's ACL must let {CLIENT_ID} publish and subscribe under the lamp's topics"),
        );
    }
    ctx.stage(format!("waiting for the round trip on {topic}"));
    let rtt = conn.sync(&topic, "selftest").await;
    conn.close().await;
    match rtt {
        Ok(rtt) => Verdict::pass(format!(
            "{}: connect {}, publish/subscribe round trip {} on {topic}",
            describe(cfg),
            ms(connect),
            ms(rtt)
        )),
        Err(e) => {
            Verdict::fail(format!("round trip on {topic}: {e}"), "see the broker's log (`journalctl -u mosquitto`)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::Status;

    fn cfg(extra: &str) -> config::Mqtt {
        let env = |_: &str| None;
        config::Settings::from_toml(&format!("[mqtt]\nhost = \"10.0.0.5\"\nport = 1884\n{extra}"), "t", &env)
            .unwrap()
            .mqtt
    }

    #[test]
    fn each_connect_failure_has_its_own_hint() {
        let c = cfg("");
        let refused =
            connect_failure(&ConnectError::Mqtt(ConnectionError::Io(std::io::ErrorKind::ConnectionRefused.into())), &c);
        assert_eq!(refused.status, Status::Fail);
        assert_eq!(refused.detail, "connection refused by 10.0.0.5:1884: no broker listening");
        assert!(refused.hint.unwrap().contains("systemctl status mosquitto"));
        let auth = connect_failure(
            &ConnectError::Mqtt(ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized)),
            &cfg("username = \"lamp\"\n"),
        );
        assert_eq!(auth.detail, "10.0.0.5:1884 refused the login (NotAuthorized) as 10.0.0.5:1884 (plain, user lamp)");
        assert!(auth.hint.unwrap().contains("LAMPI_MQTT_PASSWORD"));
        let timeout = connect_failure(&ConnectError::Mqtt(ConnectionError::NetworkTimeout), &c);
        assert!(timeout.hint.unwrap().contains("firewall"));
    }

    #[test]
    fn a_missing_tls_file_is_named() {
        let c = cfg("[mqtt.tls]\nenabled = true\nca_file = \"/nonexistent/ca.pem\"\n");
        let e = mqtt::options(&c, CLIENT_ID, None).unwrap_err();
        let v = connect_failure(&ConnectError::Setup(e), &c);
        assert!(v.detail.contains("/nonexistent/ca.pem"), "{}", v.detail);
        assert_eq!(describe(&c), "10.0.0.5:1884 (TLS, anonymous)");
    }
}
