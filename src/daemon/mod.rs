//! `lampi-agent run`: the lamp daemon. The I/O shell around the pure lamp core.
//!
//! Start-up order matters for systemd: load the saved state, light the LED, tell systemd READY — all before the broker
//! is reached, because a lamp must light up (and boot must finish) while the network is still down. Then four tasks:
//!
//! - the MQTT event loop (`link`), which reconnects with capped, jittered backoff and forwards events;
//! - the logic loop (here), which validates each `set_config` whole, applies it, publishes `lamp/changed`, and on every
//!   CONNACK re-subscribes and re-publishes birth and state (rumqttc does neither by itself); it also pings the systemd
//!   watchdog, so a stuck loop gets the service restarted. With `[homeassistant]` on, Home Assistant's commands take
//!   the same path (`homeassistant`: discovery, HA state and HA's birth message beside the LAMPI topics);
//! - the LED task (`fader`), which fades to each new target;
//! - the store task (`persist`), which writes the latest state atomically, coalescing bursts so a slider drag costs one
//!   fsync per write slot, not one per message.
//!
//! One shutdown future ends it: publish `"0"` on the connection topic (a clean disconnect sends no will), disconnect,
//! flush the state, turn the LED off.

mod fader;
mod homeassistant;
mod link;
mod persist;

use std::future::Future;
use std::time::Duration;

use rumqttc::{AsyncClient, QoS};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::config::Settings;
use crate::homeassistant::codec as ha_codec;
use crate::identity::Identity;
use crate::lamp::{codec, colour, Command, State};
use crate::led::Led;
use crate::mqtt::{self, Topics};
use crate::store::{Loaded, Store};
use homeassistant::{Ha, Inbound};
use link::LinkEvent;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Setup(#[from] mqtt::SetupError),
}

/// What a daemon run did, for the final log line and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub accepted: u64,
    pub rejected: u64,
    pub connects: u64,
    pub final_state: State,
}

/// How long shutdown waits for the broker to take the `"0"` and the disconnect (SIGTERM must exit within 2 s).
const GOODBYE: Duration = Duration::from_millis(1200);

/// Runs the lamp until `shutdown` completes. `ready` is called once the LED shows the restored state.
pub async fn run(
    settings: &Settings,
    identity: &Identity,
    mut led: Box<dyn Led>,
    ready: impl FnOnce(),
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, DaemonError> {
    let topics = Topics::new(&settings.mqtt.topic_prefix, &identity.device_id, &settings.mqtt.client_id);
    let prefix = &settings.mqtt.topic_prefix;
    let ha = settings.homeassistant.as_ref().map(|cfg| Ha::new(cfg, prefix, &identity.device_id, &topics));
    let store = Store::new(&settings.state.dir);
    let now_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let state = match store.load(now_unix) {
        Loaded::Restored(s) => {
            info!(state = %s, path = %store.path().display(), "restored the last state");
            s
        }
        Loaded::Missing => {
            info!(path = %store.path().display(), "no saved state; using the first-boot defaults");
            State::default()
        }
        Loaded::Corrupt { reason, aside } => {
            warn!(path = %store.path().display(), aside = ?aside, "saved state unusable ({reason}); using the defaults");
            State::default()
        }
    };
    let gamma = settings.led.gamma;
    if let Err(e) = led.set(colour::duties(&state, gamma)) {
        warn!("cannot set the LED: {e}");
    }
    let options = mqtt::options(&settings.mqtt, &settings.mqtt.client_id, Some(mqtt::will(&topics)))?;
    let (led_tx, led_task) = fader::spawn(led, settings.led.transition);
    let (store_tx, store_task) = persist::spawn(store, state, settings.mqtt.client_id.clone());
    ready();
    info!(
        device_id = %identity, broker = %format!("{}:{}", settings.mqtt.host, settings.mqtt.port),
        prefix = %settings.mqtt.topic_prefix, "lamp ready; connecting to the broker"
    );

    let (client, eventloop) = mqtt::client(options, 64);
    let (events_tx, events) = mpsc::channel(256);
    let (inflight_tx, inflight) = watch::channel(0u16);
    let (min, max) = (settings.mqtt.reconnect_min, settings.mqtt.reconnect_max);
    let link_task = tokio::spawn(link::drive(eventloop, events_tx, inflight_tx, min, max));
    if let Some(ha) = &ha {
        info!(discovery = %ha.topics.discovery, commands = %ha.topics.command, "Home Assistant discovery on");
    }
    let mut lamp =
        Logic { client, topics, ha, state, gamma, led: led_tx, store: store_tx, summary: Summary::default() };
    let mut events = events;
    tokio::pin!(shutdown);
    let mut watchdog = tokio::time::interval(watchdog_period());
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = watchdog.tick() => { let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]); }
            ev = events.recv() => match ev {
                Some(ev) => lamp.on_event(ev).await,
                None => break,
            },
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    lamp.goodbye(&mut events, inflight).await;
    link_task.abort();
    let Logic { led, store, mut summary, state, .. } = lamp;
    drop(led);
    drop(store);
    let _ = led_task.await;
    let _ = store_task.await;
    summary.final_state = state;
    info!(
        accepted = summary.accepted,
        rejected = summary.rejected,
        connects = summary.connects,
        "lamp stopped; LED off"
    );
    Ok(summary)
}

/// Half the systemd watchdog period, or a slow tick when there is no watchdog.
fn watchdog_period() -> Duration {
    sd_notify::watchdog_enabled().map_or(Duration::from_secs(3600), |d| (d / 2).max(Duration::from_millis(100)))
}

struct Logic {
    client: AsyncClient,
    topics: Topics,
    ha: Option<Ha>,
    state: State,
    gamma: f64,
    led: watch::Sender<fader::Target>,
    store: watch::Sender<(State, String)>,
    summary: Summary,
}

impl Logic {
    async fn on_event(&mut self, ev: LinkEvent) {
        match ev {
            LinkEvent::Connected => {
                self.summary.connects += 1;
                info!(connects = self.summary.connects, "connected to the broker; subscribing and announcing");
                let me = self.client_id();
                let r = async {
                    self.client.subscribe(&self.topics.set_config, QoS::AtLeastOnce).await?;
                    self.client.publish(&self.topics.connection, QoS::ExactlyOnce, true, "1").await?;
                    self.client
                        .publish(&self.topics.changed, QoS::AtLeastOnce, true, codec::encode_changed(&self.state, &me))
                        .await?;
                    match &self.ha {
                        Some(ha) => ha.connected(&self.client, &self.state).await,
                        None => Ok(()),
                    }
                }
                .await;
                if let Err(e) = r {
                    warn!("cannot queue the subscription and announcements: {e}");
                }
            }
            LinkEvent::Publish { topic, payload } if topic == self.topics.set_config => {
                self.on_set_config(&payload).await
            }
            LinkEvent::Publish { topic, payload } => self.on_other(&topic, &payload).await,
            LinkEvent::Oversized { topic, size, head } => self.on_oversized(&topic, size, &head),
            LinkEvent::UnsubAck | LinkEvent::Disconnected => {}
        }
    }

    fn client_id(&self) -> String {
        self.topics.connection.rsplit('/').nth(1).unwrap_or("lamp_service").to_string()
    }

    async fn on_set_config(&mut self, payload: &[u8]) {
        match codec::parse_command(payload) {
            Ok(cmd) => self.apply(cmd, None).await,
            Err(reason) => self.refuse("set_config", payload, &reason),
        }
    }

    /// Messages on Home Assistant's topics (when it is on); anything else is not ours.
    async fn on_other(&mut self, topic: &str, payload: &[u8]) {
        match self.ha.as_ref().and_then(|ha| ha.route(topic, payload)) {
            Some(Inbound::Command) => match ha_codec::parse_command(payload) {
                Ok(c) => self.apply(c.command, c.transition).await,
                Err(reason) => self.refuse("Home Assistant command", payload, &reason),
            },
            Some(Inbound::Online) => {
                info!("Home Assistant is online; publishing the discovery document and state again");
                if let Some(Err(e)) = self.announce_ha().await {
                    warn!("cannot queue the Home Assistant discovery document: {e}");
                }
            }
            Some(Inbound::Status) => debug!(status = %String::from_utf8_lossy(payload), "Home Assistant status"),
            None => debug!(%topic, "ignoring a message on an unexpected topic"),
        }
    }

    async fn announce_ha(&self) -> Option<Result<(), rumqttc::ClientError>> {
        Some(self.ha.as_ref()?.announce(&self.client, &self.state).await)
    }

    fn refuse(&mut self, what: &str, payload: &[u8], reason: &dyn std::fmt::Display) {
        self.summary.rejected += 1;
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(200)]).into_owned();
        warn!(payload = %shown, "ignored {what}: {reason}; nothing changed");
    }

    /// A payload too large for any command: refused by its size, whichever command topic it came on.
    fn on_oversized(&mut self, topic: &str, size: usize, head: &[u8]) {
        let what = if topic == self.topics.set_config {
            "set_config"
        } else if matches!(self.ha.as_ref().and_then(|ha| ha.route(topic, head)), Some(Inbound::Command)) {
            "Home Assistant command"
        } else {
            return debug!(%topic, size, "ignoring an oversized message on an unexpected topic");
        };
        self.refuse(what, head, &codec::BadCommand::TooLarge(size));
    }

    /// Applies a validated command (from LAMPI or Home Assistant) and tells both worlds; `fade` overrides
    /// `led.transition` for this change.
    async fn apply(&mut self, cmd: Command, fade: Option<Duration>) {
        self.summary.accepted += 1;
        self.state = self.state.apply(&cmd);
        let duties = colour::duties(&self.state, self.gamma);
        let transition = fade.map(|d| tracing::field::display(humantime::format_duration(d)));
        info!(client = %cmd.client, state = %self.state, %duties, transition, "set_config applied");
        self.led.send_replace(fader::Target { duties, fade });
        let changed = codec::encode_changed(&self.state, &cmd.client);
        self.store.send_replace((self.state, cmd.client));
        if let Err(e) = self.client.publish(&self.topics.changed, QoS::AtLeastOnce, true, changed).await {
            warn!("cannot queue lamp/changed: {e}");
        }
        if let Some(ha) = &self.ha {
            if let Err(e) = ha.publish_state(&self.client, &self.state).await {
                warn!("cannot queue the Home Assistant state: {e}");
            }
        }
    }

    /// Publishes `"0"` (QoS 2, retained) and disconnects only once the broker has completed it: a DISCONNECT while
    /// the QoS 2 exchange is open makes mosquitto drop the message, and a clean disconnect sends no will.
    ///
    /// Order on one connection is the proof: unsubscribing from `set_config` (a lamp that is leaving takes no more
    /// commands) is queued behind the `"0"`; when its UNSUBACK is back, the `"0"` has reached the broker, and when
    /// rumqttc has nothing in flight, its PUBCOMP is in too.
    async fn goodbye(&mut self, events: &mut mpsc::Receiver<LinkEvent>, mut inflight: watch::Receiver<u16>) {
        let queued = self.client.try_publish(&self.topics.connection, QoS::ExactlyOnce, true, "0").is_ok()
            && self.ha.as_ref().is_none_or(|ha| ha.leave(&self.client))
            && self.client.try_unsubscribe(&self.topics.set_config).is_ok();
        if !queued {
            return;
        }
        let deadline = tokio::time::Instant::now() + GOODBYE;
        let completed = tokio::time::timeout_at(deadline, async {
            loop {
                match events.recv().await {
                    Some(LinkEvent::UnsubAck) => break,
                    Some(LinkEvent::Disconnected) | None => return false,
                    Some(_) => {}
                }
            }
            inflight.wait_for(|n| *n == 0).await.is_ok()
        })
        .await
        .unwrap_or(false);
        if completed {
            let _ = self.client.try_disconnect();
            let _ = tokio::time::timeout_at(deadline, async {
                while let Some(ev) = events.recv().await {
                    if matches!(ev, LinkEvent::Disconnected) {
                        break;
                    }
                }
            })
            .await;
            info!("published \"0\" on {} and disconnected", self.topics.connection);
        } else {
            warn!("broker unreachable at shutdown; it will publish the last will \"0\" itself");
        }
    }
}
