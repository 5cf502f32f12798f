//! The real `lampi-agent` binary as a child process: its config and state dir in a temp dir, its log captured,
//! SIGTERM / SIGKILL on demand, killed on drop (log printed if the test failed).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_lampi-agent");

pub struct Lamp {
    pub dir: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    pub config: PathBuf,
}

/// A config for a lamp on a local broker, with `extra` TOML appended (sections not already used below).
pub fn config_text(port: u16, state_dir: &Path, extra: &str) -> String {
    format!(
        "[device]\nid = \"b827eb08451e\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nreconnect_min = \"50ms\"\n\
         reconnect_max = \"300ms\"\n[led]\nbackend = \"sim\"\n[state]\ndir = \"{}\"\n{extra}",
        state_dir.display()
    )
}

impl Lamp {
    /// Starts `lampi-agent run` with a config for the broker on `port`, in `dir` (state in `dir/state`).
    pub fn start(dir: &Path, port: u16) -> Lamp {
        Self::start_with(dir, &config_text(port, &dir.join("state"), ""), &[])
    }

    pub fn start_with(dir: &Path, config: &str, env: &[(&str, &str)]) -> Lamp {
        let config_path = dir.join("lampi.toml");
        std::fs::write(&config_path, config).unwrap();
        let n = std::fs::read_dir(dir).unwrap().count();
        let log = dir.join(format!("lamp-{n}.log"));
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "lampi_agent=debug")
            .env_remove("NOTIFY_SOCKET");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Lamp { dir: dir.to_path_buf(), child: Some(child), log, config: config_path }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits until the log has a line containing `needle` (the daemon logs each event it handles); returns it.
    pub fn wait_log(&self, needle: &str, within: Duration) -> String {
        let mut found = None;
        super::poll_until(within, &format!("a log line with {needle:?}"), || {
            found = self.log().lines().find(|l| l.contains(needle)).map(str::to_string);
            found.is_some()
        });
        found.unwrap()
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits for exit up to `within`; None if still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        super::exit_within(self.child.as_mut()?, within)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Lamp {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- lampi-agent log ---\n{}", self.log());
        }
    }
}

/// Runs the binary to completion with arguments; returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("NOTIFY_SOCKET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
