//! A real `lampi-agent loadtest` run against the harness's mosquitto and Django site, and readers for what it wrote.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::django::DjangoSite;
use super::lamp::run_cli;
use super::Mosquitto;

/// The smoke profile, the base of the test profiles.
pub const SMOKE: &str = include_str!("../../config/profiles/smoke.toml");

/// Web sessions only, one page view every ~0.1 s, no controls: a steady stream of HTTP requests.
pub fn pages_profile(dir: &Path) -> PathBuf {
    let start = SMOKE.find("[chain.web]").unwrap();
    let end = SMOKE.find("[chain.app]").unwrap();
    let web = "[chain.web]\nstart = { login = 1 }\nlogin = { list = 1 }\nlist = { detail = 1 }\ndetail = { list = 0.98, end = 0.02 }\n\n";
    let text = format!("{}{}{}", &SMOKE[..start], web, &SMOKE[end..])
        .replace("web = 0.5\napp = 0.25\nlamp_ui = 0.25", "web = 1\napp = 0\nlamp_ui = 0")
        .replace("page = { p0 = 0.05, p50 = 0.2, p100 = 0.5 }", "page = { p0 = 0.09, p50 = 0.1, p100 = 0.11 }")
        .replace("max_actions = 20", "max_actions = 400")
        .replace("per_hour = 180", "per_hour = 0");
    let p = dir.join("pages.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// One finished load run: exit code, console output, how long it took, and its run folder.
pub struct LoadRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
    pub out: PathBuf,
}

/// Runs `lampi-agent loadtest` with `args`, against `broker` and `site`, into `dir/run`, with a config of its own.
pub fn loadtest(dir: &Path, broker: &Mosquitto, site: &DjangoSite, args: &[&str]) -> LoadRun {
    let config = dir.join("lampi.toml");
    std::fs::write(&config, "[led]\nbackend = \"sim\"\n").unwrap();
    let out = dir.join("run");
    let broker = format!("127.0.0.1:{}", broker.port());
    let site = site.base_url();
    let mut argv: Vec<&str> = vec!["-q", "loadtest", "--config", config.to_str().unwrap(), "--broker", &broker];
    argv.extend(["--site", &site, "--responder", "internal", "--out", out.to_str().unwrap()]);
    argv.extend(args);
    let t0 = Instant::now();
    let (code, stdout, stderr) = run_cli(&argv, &[]);
    LoadRun { code, stdout, stderr, took: t0.elapsed(), out }
}

impl LoadRun {
    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{}", self.stderr))
    }

    pub fn json(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.file(name)).unwrap()
    }

    /// `lampi_stats.csv`: (Type, Name) -> (Request Count, Failure Count).
    pub fn stats(&self) -> HashMap<(String, String), (u64, u64)> {
        let text = self.file("lampi_stats.csv");
        let mut rows = HashMap::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let unquote = |s: &str| s.trim_matches('"').to_string();
            rows.insert((unquote(f[0]), unquote(f[1])), (f[2].parse().unwrap(), f[3].parse().unwrap()));
        }
        rows
    }

    /// set_config and lamp/changed publishes, list and detail page views, from `lampi_stats.csv`.
    pub fn sent(&self) -> Sent {
        Sent {
            set_config: self.count("MQTT", "publish set_config"),
            changed: self.count("MQTT", "publish changed"),
            list: self.count("GET", "/lampi/"),
            detail: self.count("GET", "/lampi/device/[id]"),
        }
    }

    /// Request count of one operation (0 when it never ran).
    pub fn count(&self, kind: &str, name: &str) -> u64 {
        self.stats().get(&(kind.to_string(), name.to_string())).map_or(0, |r| r.0)
    }
}

/// One row of a `--schedule-csv` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub at: f64,
    pub lamp: u32,
    pub session: u64,
    pub interface: String,
    pub action: String,
}

pub fn schedule_rows(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("at_s,lamp,session,interface,action,h,s,brightness,on,offline_s"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Row {
                at: f[0].parse().unwrap(),
                lamp: f[1].parse().unwrap(),
                session: f[2].parse().unwrap(),
                interface: f[3].to_string(),
                action: f[4].to_string(),
            }
        })
        .collect()
}

/// The counts a replay check compares: set_config publishes, lamp/changed publishes, list and detail views.
#[derive(Debug, Default, PartialEq)]
pub struct Sent {
    pub set_config: u64,
    pub changed: u64,
    pub list: u64,
    pub detail: u64,
}

/// Starts `lampi-agent loadtest` as a child (for tests that act on the run while it runs), with the same arguments
/// as [`loadtest`] but the broker's port and the site's URL given directly; stdout and stderr are pipes.
pub fn spawn(dir: &Path, broker_port: u16, site: &str, args: &[&str]) -> (std::process::Child, PathBuf) {
    let config = dir.join("lampi.toml");
    std::fs::write(&config, "[led]\nbackend = \"sim\"\n").unwrap();
    let out = dir.join("run");
    let child = std::process::Command::new(super::lamp::BIN)
        .args(["loadtest", "--config", config.to_str().unwrap(), "--broker", &format!("127.0.0.1:{broker_port}")])
        .args(["--site", site, "--out", out.to_str().unwrap()])
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    (child, out)
}

/// One row of `connections.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Connections {
    pub timestamp: String,
    pub lamps_up: u64,
    pub owners_up: u64,
    pub attempts: u64,
    pub refused: u64,
}

/// `connections.csv` so far (empty while it does not exist); checks the header and every row's field count.
pub fn connections(out: &Path) -> Vec<Connections> {
    let text = std::fs::read_to_string(out.join("connections.csv")).unwrap_or_default();
    // A line still being written is not a row yet.
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    let mut lines = complete.lines();
    if let Some(h) = lines.next() {
        assert_eq!(
            h,
            "# hostname;interval;timestamp;lamps_up;owners_up;connect_attempts;connect_refused;connack_p50_ms;connack_p99_ms"
        );
    }
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            assert_eq!(f.len(), 9, "connections.csv row: {l}");
            Connections {
                timestamp: f[2].to_string(),
                lamps_up: f[3].parse().unwrap(),
                owners_up: f[4].parse().unwrap(),
                attempts: f[5].parse().unwrap(),
                refused: f[6].parse().unwrap(),
            }
        })
        .collect()
}

/// `latency.csv` rows of one operation: (interval end as Unix seconds, count, failures).
pub fn latency_of(out: &Path, kind: &str, name: &str) -> Vec<(i64, u64, u64)> {
    let text = std::fs::read_to_string(out.join("latency.csv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(';').collect::<Vec<_>>())
        .filter(|f| f[3] == kind && f[4] == name)
        .map(|f| (sadf_secs(f[2]), f[5].parse().unwrap(), f[6].parse().unwrap()))
        .collect()
}

/// `2026-11-27 14:48:37 UTC` (sadf) as Unix seconds.
pub fn sadf_secs(s: &str) -> i64 {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::PrimitiveDateTime::parse(s, f).unwrap().assume_utc().unix_timestamp()
}

/// An RFC 3339 time (summary.json, run.json) as Unix seconds with fractions.
pub fn rfc3339_secs(s: &str) -> f64 {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    t.unix_timestamp_nanos() as f64 / 1e9
}

/// Waits for the child to exit (at most `within`); its exit code, and what it wrote on stdout and stderr.
pub fn finish(mut child: std::process::Child, within: Duration) -> (i32, String, String) {
    let read = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = read(child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let err = read(child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let mut status = None;
    super::poll_until(within, "the load run to exit", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    (status.unwrap().code().unwrap_or(-1), out.join().unwrap(), err.join().unwrap())
}
