//! The floor of lampi-agent's HTTP stack (not a test: `benches/peers.sh` runs it beside the funnel and prints its
//! CPU per request). The same runtime as the load generator (tokio, ONE worker thread) and the same client (hyper's
//! `client::conn::http1`, one kept-alive connection per session), and nothing else: N sessions, each a GET of one
//! page after a think time drawn evenly from 0.5-1.5 s, the body read and dropped. No cookies, no form, no
//! schedule, no sample recorded, no files. What lampi-agent's funnel costs per request above this is its own work.
//!
//!     cargo bench --bench http_floor -- HOST:PORT SECONDS SESSIONS [PATH]
//!
//! Prints one line: `requests N failures F`. A failure (refused, reset, not HTTP, a status >= 400) is counted and
//! its session opens a new connection for the next request.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use rand::{Rng, SeedableRng};
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
async fn session(seed: u64, addr: String, path: String, end: Instant) -> (u64, u64) {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let (mut requests, mut failures) = (0, 0);
    let mut sender = None;
    loop {
        let think = Duration::from_secs_f64(rng.random_range(0.5..1.5));
        if Instant::now() + think > end {
            return (requests, failures);
        }
        tokio::time::sleep(think).await;
        if sender.is_none() {
            sender = connect(&addr).await;
        }
        requests += 1;
        let ok = match sender.as_mut() {
            Some(s) => get(s, &addr, &path).await,
            None => false,
        };
        if !ok {
            failures += 1;
            sender = None;
        }
    }
}

fn main() {
    // cargo bench appends `--bench`.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let usage = "usage: http_floor HOST:PORT SECONDS SESSIONS [PATH]";
    let (Some(addr), Some(Ok(secs)), Some(Ok(sessions))) =
        (args.first(), args.get(1).map(|s| s.parse::<u64>()), args.get(2).map(|s| s.parse::<u64>()))
    else {
        eprintln!("{usage}");
        std::process::exit(64);
    };
    let path = args.get(3).cloned().unwrap_or_else(|| "/login/".to_string());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let (requests, failures) = rt.block_on(async {
        let end = Instant::now() + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..sessions).map(|i| tokio::spawn(session(i, addr.clone(), path.clone(), end))).collect();
        let mut total = (0, 0);
        for t in tasks {
            let (r, f) = t.await.expect("a session panicked");
            total = (total.0 + r, total.1 + f);
        }
        total
    });
    println!("requests {requests} failures {failures}");
}
