//! `--broker-sys`: the broker's own view of the run, from mosquitto's `$SYS/broker/load/...` (per-minute rates,
//! exponentially smoothed, published every `sys_interval` seconds and only when changed) and
//! `$SYS/broker/clients/connected`. The last value seen is written each interval to `broker.csv` in `sadf -d`
//! framing, with the broker's host in the hostname column, so it joins with `sar` from the broker host.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use rumqttc::{Event, MqttOptions, Packet, QoS};
use tokio::task::JoinHandle;

/// The `$SYS` topics recorded, in column order, with their column names.
pub const COLUMNS: &[(&str, &str)] = &[
    ("$SYS/broker/clients/connected", "clients_connected"),
    ("$SYS/broker/load/messages/received/1min", "messages_received_1min"),
    ("$SYS/broker/load/messages/sent/1min", "messages_sent_1min"),
    ("$SYS/broker/load/publish/received/1min", "publish_received_1min"),
    ("$SYS/broker/load/publish/sent/1min", "publish_sent_1min"),
    ("$SYS/broker/load/bytes/received/1min", "bytes_received_1min"),
    ("$SYS/broker/load/bytes/sent/1min", "bytes_sent_1min"),
    ("$SYS/broker/load/connections/1min", "connections_1min"),
    ("$SYS/broker/load/messages/received/5min", "messages_received_5min"),
    ("$SYS/broker/load/messages/sent/5min", "messages_sent_5min"),
];

pub fn header() -> String {
    let cols: Vec<&str> = COLUMNS.iter().map(|c| c.1).collect();
    format!("# hostname;interval;timestamp;{}", cols.join(";"))
}

/// Latest values by topic.
pub type Latest = Arc<Mutex<BTreeMap<String, String>>>;

/// One row from the latest values (a value never seen is left empty).
pub fn row(host: &str, interval: u64, timestamp: &str, latest: &BTreeMap<String, String>) -> String {
    let vals: Vec<&str> = COLUMNS.iter().map(|(t, _)| latest.get(*t).map_or("", |v| v.trim())).collect();
    format!("{host};{interval};{timestamp};{}", vals.join(";"))
}

pub fn write_row(w: &mut impl Write, line: &str) -> io::Result<()> {
    writeln!(w, "{line}")?;
    w.flush()
}

/// Subscribes to the broker's `$SYS` topics and keeps the latest values; subscribes again after every reconnect
/// (a restarted broker knows no subscriptions), and forgets the values while the broker is away (its rows are then
/// empty, not stale).
pub fn watch(options: MqttOptions, latest: Latest) -> JoinHandle<()> {
    let (client, mut ev) = crate::mqtt::client(options, 16);
    tokio::spawn(async move {
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_subscribe("$SYS/broker/load/#", QoS::AtMostOnce);
                    let _ = client.try_subscribe("$SYS/broker/clients/connected", QoS::AtMostOnce);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    latest.lock().unwrap().insert(p.topic, String::from_utf8_lossy(&p.payload).into_owned());
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!("$SYS watcher: {e}");
                    latest.lock().unwrap().clear();
                    ev.clean();
                    ev.pending.clear();
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_line_up_with_the_header_and_leave_unknowns_empty() {
        let mut m = BTreeMap::new();
        m.insert("$SYS/broker/clients/connected".to_string(), "12".to_string());
        m.insert("$SYS/broker/load/messages/received/1min".to_string(), "2200.5".to_string());
        let r = row("broker", 1, "2026-11-27 14:48:37 UTC", &m);
        assert_eq!(r, "broker;1;2026-11-27 14:48:37 UTC;12;2200.5;;;;;;;;");
        assert_eq!(r.split(';').count(), header().split(';').count());
        assert!(header().starts_with("# hostname;interval;timestamp;clients_connected;"));
    }
}
