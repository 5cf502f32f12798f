//! The worker's I/O shell: one task that owns the ZeroMQ connection to the master, feeds the [`Worker`] state machine
//! its frames and ticks, and carries out its effects (send, set the number of lamps, report, reconnect, quit).
//!
//! The connection is a DEALER whose identity is this worker's node id (the master's ROUTER drops frames without
//! one). The `zeromq` crate's DEALER does not reconnect by itself, so a dead link (nothing for
//! [`super::worker::LINK_TIMEOUT`], or the reader seeing the connection end) or the master's `reconnect` gets a new socket
//! with the same identity, after a capped, jittered backoff while the master is unreachable. Frames the master
//! sends that we cannot read are logged and ignored. Sends are bounded by [`SEND_TIMEOUT`]: a master that is gone
//! never holds up the worker.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zeromq::{DealerRecvHalf, DealerSendHalf, DealerSocket, Socket, SocketOptions, SocketRecv, SocketSend};

use super::wire::{self, ToMaster};
use super::worker::{Effect, Worker};
use super::{Options, Tap};
use crate::backoff::Backoff;

/// The most a send to the master may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(1);
/// The most a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A running session; [`Session::finish`] ends it.
pub struct Session {
    done: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Session {
    /// The run is over: send the last report (and `quit`, unless the master asked for it), then close.
    pub async fn finish(self) {
        let _ = self.done.send(());
        let _ = tokio::time::timeout(SEND_TIMEOUT * 4, self.task).await;
    }
}

/// Joins the master as `node_id`: `lamps` receives how many lamps to run, `end` turns true when the master quits,
/// `site` the master's `--host` (when [`Options::follow_host`]: else it keeps the site this worker was given).
pub fn start(
    opts: &Options,
    node_id: String,
    tap: Tap,
    lamps: watch::Sender<u32>,
    end: watch::Sender<bool>,
    site: watch::Sender<reqwest::Url>,
) -> Session {
    let (done, done_rx) = oneshot::channel();
    let shell = Shell {
        worker: Worker::new(opts.capacity, opts.silence, Instant::now()),
        endpoint: format!("tcp://{}", opts.master),
        node_id,
        tap,
        lamps,
        end,
        site,
        follow_host: opts.follow_host,
        link: None,
        quitting: false,
        cpu: Cpu::new(),
    };
    tracing::info!(master = %opts.master, node_id = %shell.node_id, "joining the Locust master");
    Session { done, task: tokio::spawn(shell.run(done_rx)) }
}

/// A live connection: the send half here, frames from the reader task on `frames`.
struct Link {
    tx: DealerSendHalf,
    frames: mpsc::Receiver<Vec<u8>>,
    reader: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

type Connecting = JoinHandle<Result<(DealerSendHalf, DealerRecvHalf), String>>;

struct Shell {
    worker: Worker,
    endpoint: String,
    node_id: String,
    tap: Tap,
    lamps: watch::Sender<u32>,
    end: watch::Sender<bool>,
    site: watch::Sender<reqwest::Url>,
    follow_host: bool,
    link: Option<Link>,
    quitting: bool,
    cpu: Cpu,
}

async fn connect(endpoint: String, node_id: String) -> Result<(DealerSendHalf, DealerRecvHalf), String> {
    let mut o = SocketOptions::default();
    let id = zeromq::util::PeerIdentity::try_from(node_id.into_bytes()).map_err(|e| e.to_string())?;
    o.peer_identity(id).connect_timeout(CONNECT_TIMEOUT);
    let mut socket = DealerSocket::with_options(o);
    socket.connect(&endpoint).await.map_err(|e| e.to_string())?;
    Ok(socket.split())
}

/// Forwards every frame until the connection fails; multi-part messages are not Locust's and are dropped.
async fn read(mut rx: DealerRecvHalf, frames: mpsc::Sender<Vec<u8>>) {
    loop {
        match rx.recv().await {
            Ok(m) if m.len() == 1 => {
                let frame = m.into_vec().remove(0).to_vec();
                if frames.send(frame).await.is_err() {
                    return;
                }
            }
            Ok(m) => tracing::warn!(parts = m.len(), "a multi-part message from the Locust master ignored"),
            Err(e) => {
                tracing::info!("the connection to the Locust master ended: {e}");
                return;
            }
        }
    }
}

impl Shell {
    async fn run(mut self, mut done: oneshot::Receiver<()>) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        let mut retry_at = Instant::now();
        let mut connecting: Option<Connecting> = None;
        let mut failures = 0u32;
        loop {
            if self.link.is_none() && connecting.is_none() && Instant::now() >= retry_at {
                connecting = Some(tokio::spawn(connect(self.endpoint.clone(), self.node_id.clone())));
            }
            let wake = if self.link.is_none() && connecting.is_none() {
                self.worker.next_tick().min(retry_at)
            } else {
                self.worker.next_tick()
            };
            let effects = tokio::select! {
                _ = &mut done => break,
                r = async { connecting.as_mut().expect("guarded").await }, if connecting.is_some() => {
                    connecting = None;
                    match r.map_err(|e| e.to_string()).and_then(|r| r) {
                        Ok((tx, rx)) => {
                            if failures > 0 {
                                tracing::info!("connected to the Locust master after {failures} failed attempt(s)");
                            }
                            failures = 0;
                            backoff.reset();
                            let (ftx, frames) = mpsc::channel(256);
                            self.link = Some(Link { tx, frames, reader: tokio::spawn(read(rx, ftx)) });
                            self.worker.connected(Instant::now())
                        }
                        Err(e) => {
                            if failures == 0 {
                                tracing::warn!("cannot reach the Locust master at {}: {e}; retrying", self.endpoint);
                            }
                            failures += 1;
                            retry_at = Instant::now() + backoff.next_delay(rand::random());
                            Vec::new()
                        }
                    }
                }
                f = async { self.link.as_mut().expect("guarded").frames.recv().await }, if self.link.is_some() => {
                    match f {
                        Some(frame) => self.frame(&frame),
                        None => {
                            self.link = None;
                            retry_at = Instant::now() + backoff.next_delay(rand::random());
                            Vec::new()
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => self.worker.on_tick(Instant::now()),
            };
            for e in effects {
                if e == Effect::Reconnect {
                    self.link = None;
                    if let Some(c) = connecting.take() {
                        c.abort();
                    }
                    retry_at = retry_at.max(Instant::now());
                } else {
                    self.apply(e).await;
                }
            }
        }
        if let Some(c) = connecting {
            c.abort();
        }
        // The run is over: everything it recorded goes in one last report.
        self.report().await;
        if !self.quitting {
            self.send(&ToMaster::Quit).await;
        }
    }

    fn frame(&mut self, frame: &[u8]) -> Vec<Effect> {
        match wire::decode(frame) {
            Ok((_, node)) if node != self.node_id => {
                tracing::warn!(node, "a Locust message for another node ignored");
                Vec::new()
            }
            Ok((msg, _)) => self.worker.on_message(msg, Instant::now()),
            Err(e) => {
                tracing::warn!(bytes = frame.len(), "a malformed message from the Locust master ignored: {e}");
                Vec::new()
            }
        }
    }

    async fn apply(&mut self, e: Effect) {
        match e {
            Effect::Send(m) => self.send(&m).await,
            Effect::Heartbeat(state) => {
                let (cpu_percent, memory_bytes) = self.cpu.sample();
                self.send(&ToMaster::Heartbeat { state, cpu_percent, memory_bytes }).await;
            }
            Effect::Report => self.report().await,
            Effect::Lamps(n) => {
                let _ = self.lamps.send(n);
            }
            Effect::Host(host) => self.host(host).await,
            Effect::Quit if self.quitting => {} // the master may send `quit` up to three times
            Effect::Quit => {
                tracing::info!("the Locust master quit: ending the run");
                self.quitting = true;
                let _ = self.lamps.send(0);
                let _ = self.end.send(true);
                // The master waits half a second for last reports: send what we have at once.
                self.report().await;
            }
            Effect::Reconnect => {}
        }
    }

    /// The master's `--host` as the web site of the sessions that begin from now on (Locust's users take the
    /// master's host the same way), unless this worker was given `--site`; one that is not an http(s) URL is
    /// logged and changes nothing.
    async fn host(&mut self, host: String) {
        let now = self.site.borrow().clone();
        if !self.follow_host {
            tracing::info!("the Locust master's --host {host} not followed: this worker's --site {now} was given");
            return;
        }
        let url = match reqwest::Url::parse(&host) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => u,
            _ => {
                tracing::warn!(
                    "the Locust master's --host {host:?} is not an http:// or https:// URL: the web site stays {now}"
                );
                return;
            }
        };
        if url == now {
            return;
        }
        // An https site's TLS set-up reads the CA store: not on the load's one runtime worker.
        let prepare = url.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || crate::web::prepare(&prepare)).await {
            tracing::warn!("web sessions of {url} cannot start: {e}");
        }
        tracing::info!("web sessions go to the Locust master's --host {url} (was {now})");
        self.site.send_replace(url);
    }

    async fn report(&mut self) {
        let report = Box::new(self.tap.take());
        self.send(&ToMaster::Stats { report, classes: self.worker.classes().clone() }).await;
    }

    async fn send(&mut self, m: &ToMaster) {
        let Some(link) = self.link.as_mut() else { return };
        let frame = wire::encode(m, &self.node_id);
        match tokio::time::timeout(SEND_TIMEOUT, link.tx.send(frame.into())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!("cannot send to the Locust master: {e}"),
            Err(_) => tracing::debug!("a send to the Locust master timed out"),
        }
    }
}

/// This process's CPU (percent of one core) and resident memory, for heartbeats.
struct Cpu {
    sys: Option<(sysinfo::System, sysinfo::Pid)>,
}

impl Cpu {
    fn new() -> Cpu {
        let sys = sysinfo::System::new_with_specifics(sysinfo::RefreshKind::nothing()).ok();
        Cpu { sys: sys.zip(sysinfo::get_current_pid().ok()) }
    }

    fn sample(&mut self) -> (f64, u64) {
        let Some((sys, pid)) = self.sys.as_mut() else { return (0.0, 0) };
        sys.refresh_processes_specifics(
            sysinfo::ProcessesToUpdate::Some(&[*pid]),
            false,
            sysinfo::ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        sys.process(*pid).map_or((0.0, 0), |p| (f64::from(p.cpu_usage()), p.memory()))
    }
}
