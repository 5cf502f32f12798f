//! A test MQTT client: publish, and wait for the next message on a topic that satisfies a predicate (bounded by a
//! deadline, never by a fixed sleep).

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

pub struct Probe {
    pub client: AsyncClient,
    events: EventLoop,
    pub id: String,
    /// Messages received but not yet asked for (on other topics than the one being waited for).
    pending: std::collections::VecDeque<Msg>,
}

#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Msg {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or(serde_json::Value::Null)
    }
}

impl Probe {
    /// Connects and waits for the CONNACK, then subscribes to `topics` (QoS 1) and waits for the SUBACKs.
    pub async fn connect(port: u16, id: &str, topics: &[&str]) -> Probe {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_max_packet_size(4 << 20, 4 << 20); // room for the oversized payloads the fuzz test sends
        let (client, events) = AsyncClient::new(o, 1000);
        let mut p = Probe { client, events, id: id.to_string(), pending: Default::default() };
        for t in topics {
            p.client.subscribe(*t, QoS::AtLeastOnce).await.unwrap();
        }
        let mut acks = 0;
        tokio::time::timeout(Duration::from_secs(10), async {
            while acks < topics.len() {
                match p.events.poll().await.expect("probe connection") {
                    Event::Incoming(Packet::SubAck(_)) => acks += 1,
                    Event::Incoming(Packet::Publish(m)) => {
                        p.pending.push_back(Msg { topic: m.topic, payload: m.payload.to_vec(), retain: m.retain })
                    }
                    _ => {}
                }
            }
        })
        .await
        .expect("probe: no SUBACK in 10 s");
        p
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.publish_qos(topic, QoS::AtLeastOnce, payload).await;
    }

    pub async fn publish_qos(&self, topic: &str, qos: QoS, payload: impl Into<Vec<u8>>) {
        self.client.publish(topic, qos, false, payload.into()).await.unwrap();
    }

    /// The next message on `topic` for which `pred` holds, within `within`; panics otherwise. Messages on `topic`
    /// before it are skipped; messages on other topics are kept for later calls.
    pub async fn expect(&mut self, topic: &str, within: Duration, pred: impl Fn(&Msg) -> bool) -> Msg {
        while let Some(i) = self.pending.iter().position(|m| m.topic == topic) {
            let m = self.pending.remove(i).unwrap();
            if pred(&m) {
                return m;
            }
        }
        let pending = &mut self.pending;
        let events = &mut self.events;
        let found = tokio::time::timeout(within, async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let m = Msg { topic: p.topic, payload: p.payload.to_vec(), retain: p.retain };
                        if m.topic != topic {
                            pending.push_back(m);
                        } else if pred(&m) {
                            return m;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("probe {}: {e}", self.id);
                        tokio::time::sleep(Duration::from_millis(50)).await; // reconnect pacing
                    }
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("probe {}: no matching message on {topic} within {within:?}", self.id))
    }

    /// Messages received but not yet asked for, oldest first: what arrived on other topics before an awaited one
    /// (one publisher's messages arrive in order, so this shows what a lamp published before a marker).
    pub fn pending(&self) -> Vec<Msg> {
        self.pending.iter().cloned().collect()
    }

    /// The next message on `topic`, whatever it is.
    pub async fn next(&mut self, topic: &str, within: Duration) -> Msg {
        self.expect(topic, within, |_| true).await
    }

    /// Keeps the connection serviced (acks flow) while polling for up to `within`, returning every message seen.
    pub async fn drain(&mut self, within: Duration) -> Vec<Msg> {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(within, async {
            loop {
                if let Ok(Event::Incoming(Packet::Publish(p))) = self.events.poll().await {
                    out.push(Msg { topic: p.topic, payload: p.payload.to_vec(), retain: p.retain });
                }
            }
        })
        .await;
        out
    }
}
