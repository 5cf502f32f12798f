//! The floor of HTTP load generation on this host (not a test: `benches/peers.sh` runs it beside the funnel and
//! prints its CPU per request). N sessions, each a kept-alive connection GETting one page after a think time drawn
//! evenly from P0-P100 seconds (default 0.5-1.5 s, as the funnel), the body read and dropped. No cookies, no form,
//! no schedule, no sample recorded, no files. Two stacks:
//!
//! - `hyper`: lampi-agent's own runtime (tokio, ONE worker thread) and client (hyper's `client::conn::http1`).
//!   What lampi-agent's funnel costs per request above this is its own work.
//! - `mio`: the cheapest client there is: one thread, one epoll set (mio), a timer heap, the request's bytes
//!   written once per session, the response framed by httparse and its Content-Length. No runtime, no tasks, no
//!   allocation per request. What this costs per request is what the host's kernel charges a generator whose
//!   users think (each request wakes a sleeping process); run with think 0,0 it is a process that never sleeps,
//!   as wrk is.
//!
//!     cargo bench --bench http_floor -- [--stack hyper|mio] [--think P0,P100] HOST:PORT SECONDS SESSIONS [PATH]
//!
//! Prints one line: `requests N failures F`. A failure (refused, reset, not HTTP, a status >= 400, no answer by
//! 5 s after the end) is counted and its session opens a new connection for the next request.

use std::time::Duration;

use rand::{Rng, SeedableRng};

/// What the command line asked for.
struct Args {
    stack: String,
    think: (f64, f64),
    addr: String,
    secs: u64,
    sessions: usize,
    path: String,
}

fn args() -> Result<Args, String> {
    // cargo bench appends `--bench`.
    let mut a = std::env::args().skip(1).filter(|a| a != "--bench").peekable();
    let (mut stack, mut think) = ("hyper".to_string(), (0.5, 1.5));
    let mut rest = Vec::new();
    while let Some(x) = a.next() {
        match x.as_str() {
            "--stack" => stack = a.next().ok_or("--stack needs hyper or mio")?,
            "--think" => {
                let v = a.next().ok_or("--think needs P0,P100")?;
                let (p0, p100) = v.split_once(',').ok_or("--think needs P0,P100")?;
                think = (
                    p0.parse().map_err(|_| "--think: P0 is not seconds")?,
                    p100.parse().map_err(|_| "--think: P100 is not seconds")?,
                );
                if !(0.0 <= think.0 && think.0 <= think.1) {
                    return Err("--think needs 0 <= P0 <= P100".into());
                }
            }
            _ => rest.push(x),
        }
    }
    if stack != "hyper" && stack != "mio" {
        return Err(format!("--stack {stack}: expected hyper or mio"));
    }
    let [addr, secs, sessions, path @ ..] = &rest[..] else { return Err("missing HOST:PORT SECONDS SESSIONS".into()) };
    Ok(Args {
        stack,
        think,
        addr: addr.clone(),
        secs: secs.parse().map_err(|_| format!("SECONDS {secs}: not a whole number"))?,
        sessions: sessions.parse().map_err(|_| format!("SESSIONS {sessions}: not a whole number"))?,
        path: path.first().cloned().unwrap_or_else(|| "/login/".to_string()),
    })
}

fn think(rng: &mut rand::rngs::SmallRng, (p0, p100): (f64, f64)) -> Duration {
    Duration::from_secs_f64(if p100 > p0 { rng.random_range(p0..p100) } else { p0 })
}

mod on_hyper {
    use super::*;
    use http_body_util::{BodyExt, Empty};
    use hyper::client::conn::http1;
    use tokio::time::Instant;

    type Sender = http1::SendRequest<Empty<bytes::Bytes>>;

    async fn connect(addr: &str) -> Option<Sender> {
        let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.set_nodelay(true).ok()?;
        let (sender, conn) = http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.ok()?;
        tokio::spawn(conn);
        Some(sender)
    }

    /// One request on the session's connection; false if it failed.
    async fn get(sender: &mut Sender, addr: &str, path: &str) -> bool {
        let Ok(req) = hyper::Request::get(path).header(hyper::header::HOST, addr).body(Empty::new()) else {
            return false;
        };
        match sender.send_request(req).await {
            Ok(resp) => {
                let ok = resp.status().as_u16() < 400;
                resp.into_body().collect().await.is_ok() && ok
            }
            Err(_) => false,
        }
    }

    /// One session until `end`: (requests, failures).
    async fn session(seed: u64, a: std::sync::Arc<Args>, end: Instant) -> (u64, u64) {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let (mut requests, mut failures) = (0, 0);
        let mut sender = None;
        loop {
            let think = think(&mut rng, a.think);
            if Instant::now() + think > end {
                return (requests, failures);
            }
            tokio::time::sleep(think).await;
            if sender.is_none() {
                sender = connect(&a.addr).await;
            }
            requests += 1;
            let ok = match sender.as_mut() {
                Some(s) => tokio::time::timeout_at(end + GRACE, get(s, &a.addr, &a.path)).await.unwrap_or(false),
                None => false,
            };
            if !ok {
                failures += 1;
                sender = None;
            }
        }
    }

    pub fn run(a: Args) -> (u64, u64) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let a = std::sync::Arc::new(a);
        rt.block_on(async {
            let end = Instant::now() + Duration::from_secs(a.secs);
            let tasks: Vec<_> = (0..a.sessions as u64).map(|i| tokio::spawn(session(i, a.clone(), end))).collect();
            let mut total = (0, 0);
            for t in tasks {
                let (r, f) = t.await.expect("a session panicked");
                total = (total.0 + r, total.1 + f);
            }
            total
        })
    }
}

/// How long after the end an outstanding request may still be answered.
const GRACE: Duration = Duration::from_secs(5);

mod on_mio {
    use super::*;
    use mio::{Events, Interest, Poll, Token};
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::io::{ErrorKind, Read, Write};
    use std::time::Instant;

    /// A complete response at the head of `buf`: its status, or None while more is to come.
    fn complete(buf: &[u8]) -> Result<Option<u16>, ()> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let head = match resp.parse(buf).map_err(|_| ())? {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => return Ok(None),
        };
        let len = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
            .ok_or(())?; // no Content-Length (chunked): not framed here, counted as a failure
        Ok((buf.len() >= head + len).then_some(resp.code.unwrap_or(0)))
    }

    struct Session {
        conn: Option<mio::net::TcpStream>,
        buf: Vec<u8>,
        waiting: bool,
    }

    pub fn run(a: Args) -> (u64, u64) {
        let Ok(addr) = a.addr.parse::<std::net::SocketAddr>() else {
            eprintln!("--stack mio needs IP:PORT, not {}", a.addr);
            std::process::exit(64);
        };
        let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", a.path, a.addr).into_bytes();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut poll = Poll::new().expect("epoll");
        let mut events = Events::with_capacity(256);
        let start = Instant::now();
        let end = start + Duration::from_secs(a.secs);
        let mut sessions: Vec<Session> = (0..a.sessions)
            .map(|_| Session { conn: None, buf: Vec::with_capacity(32 << 10), waiting: false })
            .collect();
        let mut due: BinaryHeap<Reverse<(Instant, usize)>> = (0..a.sessions)
            .map(|i| Reverse((start + think(&mut rng, a.think), i)))
            .filter(|Reverse((at, _))| *at <= end)
            .collect();
        let (mut requests, mut failures) = (0u64, 0u64);
        let mut next = |s: &mut Session, i: usize, ok: bool, due: &mut BinaryHeap<_>, rng: &mut _| {
            requests += 1;
            if !ok {
                failures += 1;
                s.conn = None; // dropped: deregistered as it closes
            }
            s.waiting = false;
            let at = Instant::now() + think(rng, a.think);
            if at <= end {
                due.push(Reverse((at, i)));
            }
        };
        loop {
            let now = Instant::now();
            while let Some(&Reverse((at, i))) = due.peek() {
                if at > now {
                    break;
                }
                due.pop();
                let s = &mut sessions[i];
                if s.conn.is_none() {
                    let conn = std::net::TcpStream::connect(addr).and_then(|c| {
                        c.set_nodelay(true)?;
                        c.set_nonblocking(true)?;
                        let mut c = mio::net::TcpStream::from_std(c);
                        poll.registry().register(&mut c, Token(i), Interest::READABLE)?;
                        Ok(c)
                    });
                    s.conn = conn.ok();
                }
                // A request this small fits an idle socket's buffer: a short write is a failure, not a wait.
                let sent = s.conn.as_mut().is_some_and(|c| c.write(&request).ok() == Some(request.len()));
                s.buf.clear();
                s.waiting = true;
                if !sent {
                    next(s, i, false, &mut due, &mut rng);
                }
            }
            let waiting = sessions.iter().any(|s| s.waiting);
            if due.is_empty() && (!waiting || Instant::now() > end + GRACE) {
                let late = sessions.iter().filter(|s| s.waiting).count() as u64;
                return (requests + late, failures + late);
            }
            let timeout = match due.peek() {
                Some(Reverse((at, _))) => at.saturating_duration_since(Instant::now()),
                None => (end + GRACE).saturating_duration_since(Instant::now()),
            };
            poll.poll(&mut events, Some(timeout)).expect("epoll_wait");
            for ev in events.iter() {
                let i = ev.token().0;
                let s = &mut sessions[i];
                let Some(conn) = s.conn.as_mut() else { continue };
                let mut closed = false;
                loop {
                    let len = s.buf.len();
                    if s.buf.capacity() - len < 4096 {
                        s.buf.reserve(16 << 10);
                    }
                    s.buf.resize(s.buf.capacity(), 0);
                    match conn.read(&mut s.buf[len..]) {
                        Ok(0) => {
                            s.buf.truncate(len);
                            closed = true;
                            break;
                        }
                        Ok(n) => s.buf.truncate(len + n),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            s.buf.truncate(len);
                            break;
                        }
                        Err(_) => {
                            s.buf.truncate(len);
                            closed = true;
                            break;
                        }
                    }
                }
                if !s.waiting {
                    if closed {
                        s.conn = None; // the site closed a kept-alive connection between requests
                    }
                    continue;
                }
                match complete(&s.buf) {
                    Ok(Some(status)) => next(s, i, status < 400, &mut due, &mut rng),
                    Ok(None) if !closed => {}
                    _ => next(s, i, false, &mut due, &mut rng),
                }
            }
        }
    }
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("http_floor: {e}\nusage: http_floor [--stack hyper|mio] [--think P0,P100] HOST:PORT SECONDS SESSIONS [PATH]");
            std::process::exit(64);
        }
    };
    let (requests, failures) = if a.stack == "mio" { on_mio::run(a) } else { on_hyper::run(a) };
    println!("requests {requests} failures {failures}");
}
