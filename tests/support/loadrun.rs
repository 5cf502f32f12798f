//! A real `lampi-agent loadtest` run against the harness's mosquitto and Django site, and readers for what it wrote.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::django::DjangoSite;
use super::lamp::run_cli;
use super::Mosquitto;

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
