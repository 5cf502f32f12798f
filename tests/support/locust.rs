//! A real Locust 2.x master (from the test venv) on a free loopback port, with a minimal locustfile in a temp dir,
//! awaited by a real handshake (its ZeroMQ ROUTER's ZMTP greeting), killed on drop (its log printed if the test
//! failed); and `lampi-agent loadtest --locust-master` workers as children.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::lamp::BIN;
use super::mosquitto::Mosquitto;

/// The shipped locustfile (one placeholder User class: the master needs one to start; our workers run lamps
/// whatever the class), copied into the master's temp dir.
pub const LOCUSTFILE: &str = include_str!("../../deploy/locust/locustfile.py");

const START_DEADLINE: Duration = Duration::from_secs(60);

/// How the master runs: headless (`--expect-workers`, `-u`, `-r`, `-t`), or with its web UI for the test to drive.
#[derive(Debug, Clone)]
pub enum Mode {
    Headless { workers: u32, users: u32, rate: f64, run_time: String },
    Web,
}

pub struct LocustMaster {
    pub port: u16,
    pub web_port: u16,
    mode: Mode,
    dir: tempfile::TempDir,
    child: Option<Child>,
    starts: u32,
    /// More arguments for every start (e.g. `--host`).
    extra: Vec<String>,
}

fn locust_bin() -> PathBuf {
    let venv = match std::env::var_os("LAMPI_TEST_VENV") {
        Some(v) => PathBuf::from(v),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/lampi-agent/venv"),
    };
    let bin = venv.join("bin/locust");
    assert!(
        bin.exists(),
        "{} not found: run scripts/setup-test-venv.sh (tests/requirements.txt has locust)",
        bin.display()
    );
    bin
}

impl LocustMaster {
    pub fn start(mode: Mode) -> LocustMaster {
        LocustMaster::start_with(mode, &[])
    }

    /// As [`LocustMaster::start`], with `extra` arguments.
    pub fn start_with(mode: Mode, extra: &[&str]) -> LocustMaster {
        let dir = tempfile::Builder::new().prefix("lampi-locust-").tempdir().unwrap();
        std::fs::write(dir.path().join("locustfile.py"), LOCUSTFILE).unwrap();
        let (port, web_port) = (Mosquitto::free_port(), Mosquitto::free_port());
        let extra = extra.iter().map(|a| a.to_string()).collect();
        let mut m = LocustMaster { port, web_port, mode, dir, child: None, starts: 0, extra };
        m.spawn();
        m
    }

    /// The `--csv` prefix: `<prefix>_stats.csv` and the others.
    pub fn csv_prefix(&self) -> PathBuf {
        self.dir.path().join("master")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("master-{}.log", self.starts))
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path()).unwrap();
        let mut cmd = Command::new(locust_bin());
        cmd.current_dir(self.dir.path()).args(["-f", "locustfile.py", "--master", "--master-bind-host", "127.0.0.1"]);
        cmd.args(["--master-bind-port", &self.port.to_string(), "--csv", self.csv_prefix().to_str().unwrap()]);
        match &self.mode {
            Mode::Headless { workers, users, rate, run_time } => {
                cmd.args(["--headless", "--expect-workers", &workers.to_string(), "-u", &users.to_string()]);
                cmd.args(["-r", &rate.to_string(), "-t", run_time]);
            }
            Mode::Web => {
                cmd.args(["--web-host", "127.0.0.1", "--web-port", &self.web_port.to_string()]);
            }
        }
        cmd.args(&self.extra);
        let child = cmd
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting locust: {e}"));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Until the master's ROUTER greets a TCP connection with the ZMTP signature (0xFF ... 0x7F) and, in web mode,
    /// its web UI accepts connections.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("locust master exited ({st}) before listening:\n{}", self.log());
            }
            let web_up = || TcpStream::connect(("127.0.0.1", self.web_port)).is_ok();
            if zmtp_greeting(self.port) && (matches!(self.mode, Mode::Headless { .. }) || web_up()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "locust master not listening within {START_DEADLINE:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every log of this master (all its starts).
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.dir.path().join(format!("master-{n}.log"))).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n--- restarted ---\n")
    }

    pub fn wait_log(&self, needle: &str, within: Duration) {
        super::poll_until(within, &format!("master log line {needle:?}"), || self.log().contains(needle));
    }

    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        super::exit_within(self.child.as_mut().expect("running"), within)
            .unwrap_or_else(|| panic!("locust master still running after {within:?}:\n{}", self.log()))
    }

    /// SIGKILL: no goodbye to the workers.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A new master on the same port (and the same mode).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The web UI's `/stats/requests` JSON (web mode).
    pub fn requests(&self) -> serde_json::Value {
        let body = http(self.web_port, "GET", "/stats/requests", "");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/stats/requests: {e}: {body}"))
    }

    /// Start a swarm from the web UI.
    pub fn swarm(&self, users: u32, rate: f64) {
        let body = http(self.web_port, "POST", "/swarm", &format!("user_count={users}&spawn_rate={rate}"));
        assert!(body.contains("\"success\":true") || body.contains("\"success\": true"), "/swarm: {body}");
    }

    /// The web UI's stop button.
    pub fn stop_swarm(&self) {
        http(self.web_port, "POST", "/stop", "");
    }

    /// `<prefix>_stats.csv`: (Type, Name) -> (Request Count, Failure Count).
    pub fn stats(&self) -> HashMap<(String, String), (u64, u64)> {
        let path = format!("{}_stats.csv", self.csv_prefix().display());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}\n{}", self.log()));
        csv_counts(&text)
    }
}

/// (Type, Name) -> (Request Count, Failure Count) of a Locust-style `_stats.csv` (ours or the master's).
pub fn csv_counts(text: &str) -> HashMap<(String, String), (u64, u64)> {
    let mut rows = HashMap::new();
    for line in text.lines().skip(1) {
        let f = split_csv(line);
        rows.insert((f[0].clone(), f[1].clone()), (f[2].parse().unwrap(), f[3].parse().unwrap()));
    }
    rows
}

/// Python `csv` quoting: fields in double quotes may hold commas.
pub fn split_csv(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn zmtp_greeting(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut sig = [0u8; 10];
    s.read_exact(&mut sig).is_ok() && sig[0] == 0xff && sig[9] == 0x7f
}

/// A minimal HTTP/1.0 exchange; returns the body.
fn http(port: u16, method: &str, path: &str, form: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("web UI on {port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{form}",
        form.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").map_or(text.clone(), |(_, b)| b.to_string())
}

impl Drop for LocustMaster {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- locust master log ---\n{}", self.log());
        }
    }
}

/// A `lampi-agent loadtest --locust-master` child: its own config, run folder and log in `dir`.
pub struct Worker {
    pub out: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    stdout: PathBuf,
}

impl Worker {
    /// Starts a worker on `dir` against the harness's broker and site, with `args` after the common ones.
    pub fn start(dir: &Path, master: &LocustMaster, broker: u16, site: &str, args: &[&str]) -> Worker {
        Worker::launch(dir, master, broker, "", &[&["--site", site], args].concat())
    }

    /// A worker given no `--site`: its config's `[web] url` is `config_site`.
    pub fn without_site(dir: &Path, master: &LocustMaster, broker: u16, config_site: &str, args: &[&str]) -> Worker {
        Worker::launch(dir, master, broker, &format!("[web]\nurl = \"{config_site}\"\n"), args)
    }

    fn launch(dir: &Path, master: &LocustMaster, broker: u16, config: &str, args: &[&str]) -> Worker {
        std::fs::create_dir_all(dir).unwrap();
        let config_path = dir.join("lampi.toml");
        std::fs::write(&config_path, format!("[led]\nbackend = \"sim\"\n{config}")).unwrap();
        let out = dir.join("run");
        let (log, stdout) = (dir.join("worker.log"), dir.join("stdout.txt"));
        let child = Command::new(BIN)
            .args(["loadtest", "--config", config_path.to_str().unwrap(), "--broker", &format!("127.0.0.1:{broker}")])
            .args(["--responder", "internal", "--out", out.to_str().unwrap()])
            .args(["--locust-master", &format!("127.0.0.1:{}", master.port)])
            .args(args)
            .env("RUST_LOG", "warn,lampi_agent=info")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Worker { out, child: Some(child), log, stdout }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn wait_log(&self, needle: &str, within: Duration) {
        super::poll_until(within, &format!("worker log line {needle:?}"), || self.log().contains(needle));
    }

    /// The lamp targets the master gave, in order (from the worker's "Locust spawn" lines).
    pub fn spawns(&self) -> Vec<u32> {
        self.log()
            .lines()
            .filter(|l| l.contains("Locust spawn"))
            .filter_map(|l| l.split("Locust spawn: running ").nth(1)?.split(' ').next()?.parse().ok())
            .collect()
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.child.as_ref().unwrap().id() as i32, sig) };
    }

    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        super::exit_within(self.child.as_mut().expect("running"), within)
            .unwrap_or_else(|| panic!("worker still running after {within:?}:\n{}", self.log()))
    }

    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{}", self.log()))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- worker {} log ---\n{}", self.out.display(), self.log());
        }
    }
}
