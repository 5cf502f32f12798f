//! One MQTT 3.1.1 connection of the load generator, on rumqttc's packet codec (`rumqttc::mqttbytes::v4`): the
//! socket (TCP, or TLS with a configuration built once per run), a read buffer that yields every packet one read
//! brought, a write buffer that every packet produced in one wake-up goes into and leaves in one write, and the
//! packet ids.
//!
//! Why not rumqttc's `EventLoop` here (the daemon uses it): it writes and flushes each request alone (one `writev`
//! per packet), hands requests over a channel and reports packet ids as events to be paired afterwards, and its
//! `poll` is not cancel-safe while it connects. A generator of thousands of connections paid for all of that on
//! every message (issue 11's profile: a fifth of its CPU in one write per packet, another fifth in threads waking
//! each other). Here the owner of a connection writes packets straight into its buffer, knows each packet id when
//! it sends, and `read` is cancel-safe (it only fills the buffer), so one `select!` can wait on the socket, the
//! commands and a timer without losing anything.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{Connect, Packet, PubAck, PubComp, PubRec, PubRel, Publish, Subscribe};
use rumqttc::mqttbytes::{self, QoS};
use rumqttc::tokio_rustls::rustls::pki_types::pem::PemObject;
use rumqttc::tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rumqttc::tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use rumqttc::tokio_rustls::{client::TlsStream, TlsConnector};
use rumqttc::{LastWill, MqttOptions, TlsConfiguration, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::mqtt::MAX_INCOMING_PACKET;

/// What these connections send at most (their own messages are about 100 bytes).
const MAX_OUTGOING_PACKET: usize = 64 * 1024;
/// The read buffer's first size: a few LAMPI messages; it grows for a big packet or a burst and is given back after.
const READ_CHUNK: usize = 1024;
/// The write buffer's first size: two LAMPI messages; it grows for a burst and is given back after it.
const WRITE_CHUNK: usize = 256;
/// A buffer that grew above this for a burst is given back when it is empty again: a lamp's connection lives the
/// whole run, and every burst it ever met would otherwise stay in its capacity (heaptrack: these buffers' capacity
/// grew all through a 2-minute run with nothing but bursts).
const KEEP_AT_MOST: usize = 4 * READ_CHUNK;

/// Why a connection failed or dropped: the failure name every operation waiting on it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing listens, or the broker said no (CONNACK with a refusal: a wrong password, a banned client id).
    Refused,
    /// No answer in time (connect, CONNACK, a write, a ping).
    Timeout,
    /// The broker closed or reset the connection.
    Lost,
    /// Anything else: a TLS failure, a packet that does not parse.
    Error,
}

impl Failure {
    pub fn name(self) -> &'static str {
        match self {
            Failure::Refused => "connection refused",
            Failure::Timeout => "timeout",
            Failure::Lost => "connection lost",
            Failure::Error => "connection error",
        }
    }

    fn of(e: &std::io::Error) -> Failure {
        use std::io::ErrorKind::*;
        match e.kind() {
            ConnectionRefused => Failure::Refused,
            TimedOut | WouldBlock => Failure::Timeout,
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected => Failure::Lost,
            _ => Failure::Error,
        }
    }
}

/// The setup failed (a TLS configuration that cannot be built): said once, before any load.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("MQTT TLS: {0}")]
    Tls(String),
    #[error("MQTT transport {0} is not supported by the load generator (TCP and TLS are)")]
    Transport(&'static str),
}

/// Where and how every connection of a run connects: built once (the TLS configuration included) and shared.
pub struct Endpoint {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    keep_alive: Duration,
    login: Option<(String, String)>,
    /// Connect, TLS handshake and CONNACK together, and any one write.
    pub io_timeout: Duration,
}

impl Endpoint {
    /// From rumqttc options (`crate::mqtt::options`, the configured broker): host, port, keep-alive, credentials,
    /// TLS.
    pub fn new(o: &MqttOptions, io_timeout: Duration) -> Result<Endpoint, SetupError> {
        let (host, port) = o.broker_address();
        let tls = match o.transport() {
            Transport::Tcp => None,
            Transport::Tls(cfg) => {
                let name = ServerName::try_from(host.clone()).map_err(|e| SetupError::Tls(format!("{host}: {e}")))?;
                Some((TlsConnector::from(tls_config(&cfg)?), name))
            }
            #[allow(unreachable_patterns)] // Unix and websockets, when rumqttc's features bring them
            _ => return Err(SetupError::Transport("other than TCP/TLS")),
        };
        let login = o.credentials().map(|l| (l.username, l.password));
        Ok(Endpoint { host, port, tls, keep_alive: o.keep_alive(), login, io_timeout })
    }

    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }

    /// Connects as `client_id` (clean session, with `will` if given) and waits for the CONNACK.
    pub async fn connect(&self, client_id: &str, will: Option<LastWill>) -> Result<Conn, Failure> {
        match tokio::time::timeout(self.io_timeout, self.handshake(client_id, will)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        }
    }

    async fn handshake(&self, client_id: &str, will: Option<LastWill>) -> Result<Conn, Failure> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| Failure::of(&e))?;
        tcp.set_nodelay(true).map_err(|e| Failure::of(&e))?;
        let stream = match &self.tls {
            None => Stream::Tcp(tcp),
            Some((connector, name)) => {
                Stream::Tls(Box::new(connector.connect(name.clone(), tcp).await.map_err(|e| Failure::of(&e))?))
            }
        };
        let mut conn = Conn::new(stream, self.io_timeout);
        let mut connect = Connect::new(client_id);
        connect.keep_alive = self.keep_alive.as_secs().min(u64::from(u16::MAX)) as u16;
        connect.clean_session = true;
        connect.last_will = will;
        if let Some((u, p)) = &self.login {
            connect.set_login(u.clone(), p.clone());
        }
        conn.put(&Packet::Connect(connect));
        conn.flush().await?;
        loop {
            if let Some(p) = conn.next_packet()? {
                return match p {
                    Packet::ConnAck(a) if a.code == mqttbytes::v4::ConnectReturnCode::Success => Ok(conn),
                    Packet::ConnAck(_) => Err(Failure::Refused),
                    _ => Err(Failure::Error),
                };
            }
            conn.read().await?;
        }
    }
}

/// The rustls configuration of `cfg`, as rumqttc builds it per connection (CA, optional client certificate and
/// key, ALPN); built once here.
fn tls_config(cfg: &TlsConfiguration) -> Result<Arc<ClientConfig>, SetupError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| SetupError::Tls(format!("{what}: {e}"));
    match cfg {
        TlsConfiguration::Simple { ca, alpn, client_auth } => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca) {
                roots.add(cert.map_err(|e| bad("the CA file", &e))?).map_err(|e| bad("the CA file", &e))?;
            }
            if roots.is_empty() {
                return Err(SetupError::Tls("the CA file holds no certificate".into()));
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let builder = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| bad("protocol versions", &e))?
                .with_root_certificates(roots);
            let mut config = match client_auth {
                Some((cert, key)) => {
                    let chain = CertificateDer::pem_slice_iter(cert)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| bad("the client certificate", &e))?;
                    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| bad("the client key", &e))?;
                    builder.with_client_auth_cert(chain, key).map_err(|e| bad("the client certificate", &e))?
                }
                None => builder.with_no_client_auth(),
            };
            if let Some(alpn) = alpn {
                config.alpn_protocols.extend_from_slice(alpn);
            }
            Ok(Arc::new(config))
        }
        TlsConfiguration::Rustls(config) => Ok(config.clone()),
    }
}

enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => std::pin::Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A connected MQTT session (after its CONNACK).
pub struct Conn {
    stream: Stream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    next_pkid: u16,
    io_timeout: Duration,
    /// When a packet last left: the keep-alive counts from it.
    pub last_write: Instant,
}

impl Conn {
    fn new(stream: Stream, io_timeout: Duration) -> Conn {
        Conn {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(WRITE_CHUNK),
            next_pkid: 0,
            io_timeout,
            last_write: Instant::now(),
        }
    }

    fn pkid(&mut self) -> u16 {
        self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
        self.next_pkid
    }

    fn put(&mut self, p: &Packet) {
        // Only our own packets go through here; one too large is a bug, and is left out rather than sent.
        if let Err(e) = p.write(&mut self.wbuf, MAX_OUTGOING_PACKET) {
            tracing::error!("an outgoing MQTT packet was not encoded: {e}");
        }
    }

    /// Queues a publish; its packet id (0 for QoS 0).
    pub fn publish(&mut self, topic: &str, qos: QoS, retain: bool, payload: impl Into<bytes::Bytes>) -> u16 {
        let mut p = Publish::from_bytes(topic, qos, payload.into());
        p.retain = retain;
        if qos != QoS::AtMostOnce {
            p.pkid = self.pkid();
        }
        let pkid = p.pkid;
        self.put(&Packet::Publish(p));
        pkid
    }

    /// Queues a subscription at QoS 1; its packet id.
    pub fn subscribe(&mut self, topic: &str) -> u16 {
        let mut s = Subscribe::new(topic, QoS::AtLeastOnce);
        s.pkid = self.pkid();
        let pkid = s.pkid;
        self.put(&Packet::Subscribe(s));
        pkid
    }

    /// Answers the protocol's part of an incoming packet (acks of incoming publishes, the QoS 2 exchange).
    pub fn acknowledge(&mut self, p: &Packet) {
        match p {
            Packet::Publish(p) if p.qos == QoS::AtLeastOnce => self.put(&Packet::PubAck(PubAck::new(p.pkid))),
            Packet::Publish(p) if p.qos == QoS::ExactlyOnce => self.put(&Packet::PubRec(PubRec::new(p.pkid))),
            Packet::PubRec(r) => self.put(&Packet::PubRel(PubRel::new(r.pkid))),
            Packet::PubRel(r) => self.put(&Packet::PubComp(PubComp::new(r.pkid))),
            _ => {}
        }
    }

    pub fn ping(&mut self) {
        self.put(&Packet::PingReq);
    }

    pub fn disconnect(&mut self) {
        self.put(&Packet::Disconnect);
    }

    /// The next whole packet already read, if any.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, Failure> {
        match Packet::read(&mut self.rbuf, MAX_INCOMING_PACKET) {
            Ok(p) => {
                if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_AT_MOST {
                    self.rbuf = BytesMut::with_capacity(READ_CHUNK); // a big packet's or a burst's buffer
                }
                Ok(Some(p))
            }
            Err(mqttbytes::Error::InsufficientBytes(n)) => {
                self.rbuf.reserve(n.max(READ_CHUNK));
                Ok(None)
            }
            Err(e) => {
                tracing::debug!("an MQTT packet from the broker does not parse: {e}");
                Err(Failure::Error)
            }
        }
    }

    /// Reads what the socket has (waits for something). Cancel-safe: it only appends to the read buffer.
    pub async fn read(&mut self) -> Result<(), Failure> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            self.rbuf.reserve(READ_CHUNK);
        }
        match self.stream.read_buf(&mut self.rbuf).await {
            Ok(0) => Err(Failure::Lost),
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::of(&e)),
        }
    }

    /// Writes every queued packet in one go.
    pub async fn flush(&mut self) -> Result<(), Failure> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.wbuf).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.io_timeout, write).await {
            Ok(Ok(())) => {
                self.wbuf.clear();
                if self.wbuf.capacity() > KEEP_AT_MOST {
                    self.wbuf = BytesMut::with_capacity(WRITE_CHUNK); // a burst's buffer
                }
                self.last_write = Instant::now();
                Ok(())
            }
            Ok(Err(e)) => Err(Failure::of(&e)),
            Err(_) => Err(Failure::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_read_across_partial_reads_and_several_in_one_read() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let mut c = Conn::new(Stream::Tcp(tcp), Duration::from_secs(1));
            let mut bytes = BytesMut::new();
            for k in 1..=3u16 {
                let mut p = Publish::new("devices/x/lamp/changed", QoS::AtLeastOnce, vec![b'x'; 100 * k as usize]);
                p.pkid = k;
                Packet::Publish(p).write(&mut bytes, 1 << 20).unwrap();
            }
            // Half of the first packet: nothing yet; the rest and two more: three packets.
            let half = 50;
            c.rbuf.extend_from_slice(&bytes[..half]);
            assert!(c.next_packet().unwrap().is_none());
            c.rbuf.extend_from_slice(&bytes[half..]);
            let ids: Vec<u16> = std::iter::from_fn(|| c.next_packet().unwrap())
                .map(|p| match p {
                    Packet::Publish(p) => p.pkid,
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(ids, [1, 2, 3]);
            // Queued packets share one buffer; packet ids count up from 1 and skip 0 when they wrap.
            let first = c.publish("t", QoS::AtLeastOnce, false, "a");
            let sub = c.subscribe("t");
            assert_eq!((first, sub), (1, 2));
            c.next_pkid = u16::MAX;
            assert_eq!(c.publish("t", QoS::AtLeastOnce, false, "a"), 1);
            assert_eq!(c.publish("t", QoS::AtMostOnce, false, "a"), 0, "QoS 0 takes no packet id");
            let mut queued = c.wbuf.clone();
            let mut kinds = Vec::new();
            while let Ok(p) = Packet::read(&mut queued, 1 << 20) {
                kinds.push(matches!(p, Packet::Publish(_)));
            }
            assert_eq!(kinds, [true, false, true, true]);
        });
    }

    #[test]
    fn a_packet_that_does_not_parse_is_an_error_not_a_wait() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        rt.block_on(async {
            let tcp = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let mut c = Conn::new(Stream::Tcp(tcp), Duration::from_secs(1));
            c.rbuf.extend_from_slice(&[0xF0, 0x00]); // packet type 15: reserved
            assert_eq!(c.next_packet().err(), Some(Failure::Error));
        });
    }
}
