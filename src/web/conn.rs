//! One plain TCP connection to the site speaking HTTP/1.1 through hyper's low-level client
//! ([`hyper::client::conn::http1`]), as a browser's tab uses it: kept alive for the session's next request, and its
//! [`Connection`] future driven inside the session's own task while a request is under way (polled alongside the
//! request and its body, never spawned; between requests it is simply not polled). No pool and no connection task:
//! a spawned connection task on a current-thread runtime hands its connection back late, which made a client open
//! extra connections and starved a gunicorn gthread site.
//!
//! What this module adds to hyper is only what the session's retry needs: how many bytes came from the peer (a
//! request that fails on a reused connection before any of its response came is sent again), and failures sorted
//! into socket failures and replies that are not HTTP ([`Failure`]).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How a request ended without a response.
#[derive(Debug)]
pub enum Failure {
    /// The socket failed (reset, refused, EOF as `UnexpectedEof`); `any` tells whether any response byte came.
    Io { err: io::Error, any: bool },
    /// The peer sent something that is not an HTTP/1.x response.
    Protocol(String),
}

/// One open connection to the site: hyper's two halves, and the count of bytes read from it.
pub struct Conn {
    send: SendRequest<Full<Bytes>>,
    /// `None` once the connection future has ended (the peer closed, or it failed): it is not polled again. Boxed:
    /// hyper's connection state is large and a session holds it between requests.
    conn: Option<Box<Connection<TokioIo<Counted>, Full<Bytes>>>>,
    read: Arc<AtomicU64>,
}

impl Conn {
    pub async fn open(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let read = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(Counted { stream, read: read.clone() });
        // The handshake of HTTP/1.1 only sets the two halves up: no byte is sent.
        let (send, conn) = http1::handshake(io).await.map_err(io::Error::other)?;
        Ok(Conn { send, conn: Some(Box::new(conn)), read })
    }

    /// Whether the connection may carry another request, as far as is known without polling it.
    pub fn usable(&self) -> bool {
        self.conn.is_some() && !self.send.is_closed()
    }

    /// Sends `req` and reads its final response with the whole body, driving the connection meanwhile. Before
    /// sending it lets the connection see what came while it was idle: a site that closed it meanwhile is an
    /// `UnexpectedEof` with no response byte.
    pub async fn exchange(&mut self, req: Request<Full<Bytes>>) -> Result<(Response<()>, Bytes), Failure> {
        let before = self.read.load(Ordering::Relaxed);
        let Conn { send, conn, read } = self;
        let any = || read.load(Ordering::Relaxed) != before;
        let Some(driven) = conn.as_mut() else { return Err(eof(false)) };
        let ready = tokio::select! {
            biased;
            ended = &mut *driven => Err(ended),
            ready = send.ready() => Ok(ready),
        };
        match ready {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(failure(&e, any())),
            Err(ended) => {
                *conn = None;
                return Err(ended.map_or_else(|e| failure(&e, any()), |()| eof(any())));
            }
        }
        let work = async {
            let (head, body) = send.send_request(req).await?.into_parts();
            Ok::<_, hyper::Error>((Response::from_parts(head, ()), body.collect().await?.to_bytes()))
        };
        let mut work = std::pin::pin!(work);
        let ended = tokio::select! {
            biased;
            done = &mut work => return done.map_err(|e| failure(&e, any())),
            ended = &mut *driven => ended,
        };
        // The connection is done (a `Connection: close` reply, or a failure): drop it, which ends the request's
        // channels, and take what the request got; the connection's own error names the cause best.
        *conn = None;
        match (work.await, ended) {
            (Ok(reply), _) => Ok(reply),
            (Err(_), Err(e)) | (Err(e), Ok(())) => Err(failure(&e, any())),
        }
    }
}

fn eof(any: bool) -> Failure {
    Failure::Io { err: io::ErrorKind::UnexpectedEof.into(), any }
}

/// Sorts hyper's error: a socket error under it, an EOF (hyper's "incomplete message", or a request the closed
/// connection never sent), or a reply that is not HTTP.
fn failure(e: &hyper::Error, any: bool) -> Failure {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return Failure::Io { err: io::Error::new(io.kind(), io.to_string()), any };
        }
        src = s.source();
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        eof(any)
    } else if e.is_parse() {
        Failure::Protocol(format!("not an HTTP/1.x response: {e}"))
    } else {
        Failure::Protocol(e.to_string())
    }
}

/// The TCP stream, counting the bytes read from it.
struct Counted {
    stream: TcpStream,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let had = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        let got = buf.filled().len() - had;
        if got > 0 {
            self.read.fetch_add(got as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
