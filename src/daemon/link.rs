//! The MQTT event loop task: polls rumqttc, forwards what the logic loop needs, and paces reconnects.
//!
//! rumqttc reconnects on the next `poll` after an error, immediately and forever; this task sleeps a capped,
//! jittered backoff between failed attempts and resets it on CONNACK.

use std::time::Duration;

use rumqttc::{Event, EventLoop, Outgoing, Packet};
use tokio::sync::{mpsc, watch};
use tracing::warn;

use crate::backoff::Backoff;
use crate::lamp::codec::MAX_COMMAND_BYTES;

#[derive(Debug)]
pub enum LinkEvent {
    Connected,
    Publish {
        topic: String,
        payload: bytes::Bytes,
    },
    /// A publish too large for any LAMPI message: only its size and first bytes go on, so a flood of big payloads
    /// cannot pile megabytes into the queue to the logic loop.
    Oversized {
        topic: String,
        size: usize,
        head: bytes::Bytes,
    },
    /// An UNSUBACK: the daemon's shutdown uses an unsubscribe as an ordering marker behind its last publish.
    UnsubAck,
    Disconnected,
}

/// Polls the event loop; `inflight` always holds rumqttc's count of publishes awaiting their acknowledgement.
pub async fn drive(
    mut eventloop: EventLoop,
    tx: mpsc::Sender<LinkEvent>,
    inflight: watch::Sender<u16>,
    min: Duration,
    max: Duration,
) {
    let mut backoff = Backoff::new(min, max);
    loop {
        let polled = eventloop.poll().await;
        inflight.send_replace(eventloop.state.inflight());
        let ev = match polled {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                LinkEvent::Connected
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.payload.len() > MAX_COMMAND_BYTES => {
                let head = p.payload.slice(..200);
                LinkEvent::Oversized { topic: p.topic, size: p.payload.len(), head }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => LinkEvent::Publish { topic: p.topic, payload: p.payload },
            Ok(Event::Incoming(Packet::UnsubAck(_))) => LinkEvent::UnsubAck,
            Ok(Event::Outgoing(Outgoing::Disconnect)) => LinkEvent::Disconnected,
            Ok(_) => continue,
            Err(e) => {
                let delay = backoff.next_delay(rand::random::<f64>());
                warn!(attempt = backoff.attempt(), retry_in = ?delay, "broker connection: {e}");
                if tx.send(LinkEvent::Disconnected).await.is_err() {
                    return;
                }
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        if tx.send(ev).await.is_err() {
            return;
        }
    }
}
