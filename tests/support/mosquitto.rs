//! A private mosquitto for one test: its own config and log in a temp dir, a free 127.0.0.1 port, readiness by a real
//! MQTT CONNECT/CONNACK handshake, restartable on the same port, killed on drop (its log printed if the test failed).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Mosquitto {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Extra config after the plain listener (more listeners, TLS, passwords), with `per_listener_settings` on.
    extra: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One MQTT 3.1.1 CONNECT -> CONNACK exchange; true when the broker accepted.
pub fn handshake(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(1000)));
    let connect = [0x10, 17, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 5, b'p', b'r', b'o', b'b', b'e'];
    let mut ack = [0u8; 4];
    let ok = s.write_all(&connect).is_ok() && s.read_exact(&mut ack).is_ok() && ack == [0x20, 2, 0, 0];
    let _ = s.write_all(&[0xE0, 0]);
    ok
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Self::start_on(free_port())
    }

    /// Starts on a given port (a test that first runs a lamp with the broker down picks the port itself).
    pub fn start_on(port: u16) -> Mosquitto {
        let mut m = Mosquitto { port, dir: tempfile::tempdir().unwrap(), child: None, extra: String::new() };
        m.spawn();
        m
    }

    /// Starts with further listeners: `extra(dir)` returns config text (files it names may be written into `dir`).
    /// The plain anonymous listener on `port()` stays, for probes and the readiness handshake.
    pub fn start_with(extra: impl FnOnce(&std::path::Path) -> String) -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let extra = extra(dir.path());
        let mut m = Mosquitto { port: free_port(), dir, child: None, extra };
        m.spawn();
        m
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn free_port() -> u16 {
        free_port()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "{}persistence false\nuser root\nlog_dest file {}\n\
                 log_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\n\
                 sys_interval 1\nmax_queued_messages 100000\nset_tcp_nodelay true\nlistener {} 127.0.0.1\n\
                 allow_anonymous true\n{}",
                if self.extra.is_empty() { "" } else { "per_listener_settings true\n" },
                self.log_path().display(),
                self.port,
                self.extra
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto not found: run scripts/test.sh (it installs Debian's mosquitto)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !handshake(self.port) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mosquitto exited ({status}) on port {}:\n{}", self.port, self.log());
            }
            assert!(Instant::now() < deadline, "mosquitto not ready on port {}:\n{}", self.port, self.log());
            std::thread::sleep(Duration::from_millis(20)); // polling interval while waiting for the handshake
        }
    }

    /// Kills the broker and waits until its port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            if !std::thread::panicking() {
                wait_refused(self.port);
            }
        }
    }

    /// Stops and starts again on the same port (retained messages are lost: persistence is off).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

/// Waits until nothing listens on 127.0.0.1:`port` any more (a killed server's port refuses connections), so a test
/// that stopped a server knows the outage has begun. Panics after 10 s.
pub fn wait_refused(port: u16) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            _ => assert!(
                Instant::now() < deadline,
                "port {port} still accepts connections 10 s after its server was stopped"
            ),
        }
        std::thread::sleep(Duration::from_millis(5)); // polling interval while the server's sockets close
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- mosquitto log (port {}) ---\n{}", self.port, self.log());
        }
    }
}
