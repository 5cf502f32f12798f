//! Test harness: runs the LAMPI-like Django site in `tests/django_site` under gunicorn on a free
//! loopback port. Everything it writes (sqlite DB, logs) lives in a temporary directory.
//!
//! Needs the test venv (`scripts/setup-test-venv.sh`, run by `scripts/test.sh`). Interpreter:
//! `$LAMPI_TEST_PYTHON`, else `$LAMPI_TEST_VENV/bin/python`, else
//! `$HOME/.cache/lampi-agent/venv/bin/python`.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long `start` waits for gunicorn to listen and answer before giving up.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// Polling interval while waiting for an event (a log line, a process exit, an HTTP answer).
const POLL: Duration = Duration::from_millis(20);
/// How long `stop` lets gunicorn shut down after SIGQUIT before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(10);
const LISTENING: &str = "Listening at: http://127.0.0.1:";

#[derive(Debug, Clone)]
pub struct SiteOptions {
    /// Load-test users `user_000000` .. (password = username reversed), each owning one lamp.
    pub users: usize,
    /// Site keeps the CSRF token in the session: no `csrftoken` cookie, the token is only in forms.
    pub csrf_use_sessions: bool,
    /// `(n, seconds)`: the n-th request (1-based, across the process) sleeps `seconds` first.
    /// The harness's own readiness probe is not counted.
    pub stall: Option<(u64, f64)>,
    /// Every request sleeps this many seconds first (`LAMPI_SITE_DELAY`).
    pub delay: Option<f64>,
    /// Every request sleeps this many seconds times the requests in flight (`LAMPI_SITE_SLOW`): the site serves
    /// at most 1/this requests a second, a known knee.
    pub slow_per_concurrent: Option<f64>,
}

impl Default for SiteOptions {
    fn default() -> Self {
        SiteOptions { users: 10, csrf_use_sessions: false, stall: None, delay: None, slow_per_concurrent: None }
    }
}

pub struct DjangoSite {
    child: Option<Child>,
    port: u16,
    log_path: PathBuf,
    python: PathBuf,
    db_path: PathBuf,
    opts: SiteOptions,
    /// The log went into a panic message already; Drop need not print it again.
    log_shown: bool,
    // Last field: dropped after the server is stopped.
    _dir: tempfile::TempDir,
}

fn site_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("django_site")
}

fn python() -> PathBuf {
    let path = if let Some(p) = std::env::var_os("LAMPI_TEST_PYTHON") {
        PathBuf::from(p)
    } else if let Some(v) = std::env::var_os("LAMPI_TEST_VENV") {
        PathBuf::from(v).join("bin").join("python")
    } else {
        let home = std::env::var_os("HOME").expect("HOME is not set");
        PathBuf::from(home).join(".cache/lampi-agent/venv/bin/python")
    };
    if !path.exists() {
        panic!(
            "test Python {} not found: run scripts/test.sh (or scripts/setup-test-venv.sh) to create \
             the test venv, or point LAMPI_TEST_PYTHON at a python with Django 5.2 and gunicorn",
            path.display()
        );
    }
    path
}

impl DjangoSite {
    /// Migrates a fresh database, creates the users, starts gunicorn and waits until
    /// `GET /login/` answers 200 with a CSRF form. Panics (with the server log) on failure.
    pub fn start(opts: SiteOptions) -> DjangoSite {
        let python = python();
        let dir = tempfile::Builder::new().prefix("lampi-django-").tempdir().expect("create tempdir");
        let log_path = dir.path().join("site.log");
        let db_path = dir.path().join("db.sqlite3");
        File::create(&log_path).expect("create site log");
        let mut site =
            DjangoSite { child: None, port: 0, log_path, python, db_path, opts, log_shown: false, _dir: dir };
        // Setup steps: synchronous, output into the log.
        let count = site.opts.users.to_string();
        for args in [
            &["manage.py", "migrate", "--noinput", "-v", "0"][..],
            &["manage.py", "create_lampi_users", "--count", &count][..],
        ] {
            let status = site
                .command(args)
                .stdout(site.append_log())
                .stderr(site.append_log())
                .status()
                .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", site.python.display()));
            if !status.success() {
                panic!("`python {}` failed ({status}); log:\n{}", args.join(" "), site.log());
            }
        }
        site.serve("127.0.0.1:0"); // the kernel picks a free port; learnt from the log
        site
    }

    /// Starts gunicorn again on the same port, with the same database (sessions and users survive), after
    /// [`DjangoSite::stop`]; waits until it serves the login form.
    pub fn restart(&mut self) {
        self.stop();
        let bind = format!("127.0.0.1:{}", self.port);
        self.serve(&bind);
    }

    /// A Python command in the site directory, with the site's environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.args(args)
            .current_dir(site_dir())
            .env_remove("LAMPI_SITE_CSRF_USE_SESSIONS")
            .env_remove("LAMPI_SITE_STALL")
            .env_remove("LAMPI_SITE_DELAY")
            .env_remove("LAMPI_SITE_SLOW")
            .env("LAMPI_SITE_DB", &self.db_path)
            .env("DJANGO_SETTINGS_MODULE", "lampi_site.settings")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null());
        if self.opts.csrf_use_sessions {
            cmd.env("LAMPI_SITE_CSRF_USE_SESSIONS", "1");
        }
        if let Some((nth, secs)) = self.opts.stall {
            cmd.env("LAMPI_SITE_STALL", format!("{nth}:{secs}"));
        }
        if let Some(secs) = self.opts.delay {
            cmd.env("LAMPI_SITE_DELAY", secs.to_string());
        }
        if let Some(secs) = self.opts.slow_per_concurrent {
            cmd.env("LAMPI_SITE_SLOW", secs.to_string());
        }
        cmd
    }

    fn append_log(&self) -> File {
        OpenOptions::new().append(true).open(&self.log_path).expect("open site log")
    }

    /// Starts gunicorn bound to `bind` and waits until it answers (its port is learnt from its log).
    fn serve(&mut self, bind: &str) {
        let site = site_dir();
        let skip = self.log().len(); // a restart's "Listening at" line comes after the first one
        let child = self
            .command(&[
                "-m",
                "gunicorn",
                "--chdir",
                site.to_str().expect("site dir is UTF-8"),
                "--bind",
                bind,
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "8",
                "--no-control-socket",
                "--error-logfile",
                "-",
                "lampi_site.wsgi:application",
            ])
            .stdout(self.append_log())
            .stderr(self.append_log())
            .process_group(0) // its own group, so stop() ends master and worker at once
            .spawn()
            .unwrap_or_else(|e| panic!("starting gunicorn with {}: {e}", self.python.display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        self.port = self.wait_for_port(deadline, skip);
        self.wait_until_ready(deadline);
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's output so far (gunicorn error log, Django warnings, setup command output).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    /// Stops gunicorn (SIGQUIT: quick shutdown of arbiter and worker; SIGKILL if that fails) and
    /// reaps it. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        // A test server needs no graceful stop (gunicorn's waits for keep-alive clients): kill the whole group.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
        if self.port != 0 && !thread::panicking() {
            super::wait_refused(self.port);
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        self.stop();
        self.log_shown = true;
        panic!("Django test site: {why}; server log:\n{}", self.log());
    }

    fn check_alive(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                self.fail(&format!("gunicorn exited early ({status})"));
            }
        }
    }

    /// Polls the log (from byte `skip` on) for gunicorn's "Listening at: http://127.0.0.1:PORT" line.
    fn wait_for_port(&mut self, deadline: Instant, skip: usize) -> u16 {
        loop {
            let log = self.log();
            let log = log.get(skip..).unwrap_or_default();
            if let Some(at) = log.find(LISTENING) {
                let digits: String = log[at + LISTENING.len()..].chars().take_while(|c| c.is_ascii_digit()).collect();
                match digits.parse::<u16>() {
                    Ok(port) if port != 0 => return port,
                    _ => self.fail("cannot parse gunicorn's listening port"),
                }
            }
            self.check_alive();
            if Instant::now() >= deadline {
                self.fail("gunicorn did not report its port in time");
            }
            thread::sleep(POLL);
        }
    }

    /// Readiness is a real HTTP exchange: `GET /login/` -> 200 with a CSRF form.
    fn wait_until_ready(&mut self, deadline: Instant) {
        loop {
            let last = match http_get(self.port, "/login/") {
                Ok(resp) if resp.starts_with("HTTP/1.1 200") && resp.contains("csrfmiddlewaretoken") => return,
                Ok(resp) => resp.lines().next().unwrap_or("").to_string(),
                Err(e) => e.to_string(),
            };
            self.check_alive();
            if Instant::now() >= deadline {
                self.fail(&format!("GET /login/ not ready in time (last: {last})"));
            }
            thread::sleep(POLL);
        }
    }
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         X-Lampi-Readiness-Probe: 1\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

impl Drop for DjangoSite {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() && !self.log_shown {
            eprintln!("---- Django test site log ({}) ----\n{}---- end of site log ----", self.base_url(), self.log());
        }
    }
}
