//! The run folder: every file a load run writes, opened at the start and appended to each interval, so an
//! interrupted run (SIGINT, SIGTERM, even SIGKILL for the streamed files) keeps every completed interval.
//!
//! Streamed: `latency.csv` (sadf -d), `connections.csv` (sadf -d: the fleet's MQTT connections),
//! `lampi_stats_history.csv` (Locust), `latency.hlog` (HdrHistogram interval log), `system-{u,r,n,q}.csv` (sar
//! activities), `broker.csv` (with `--broker-sys`), `console.log` (what the console showed). Written at the end:
//! `lampi_stats.csv`, `lampi_failures.csv` (Locust), `system.csv` (the four activities joined), `summary.txt`,
//! `summary.json`. Written at the start: `run.json` (every parameter, the seed) and `profile.toml` (the exact profile).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::metrics::{self, IntervalReport, Totals};

use super::system;

type Out = BufWriter<File>;

const SYSTEM_PARTS: [&str; 4] = ["system-u.csv", "system-r.csv", "system-n.csv", "system-q.csv"];

pub struct Output {
    pub dir: PathBuf,
    host: String,
    interval_secs: u64,
    latency: metrics::sadf::Writer<Out>,
    history: metrics::locust::History<Out>,
    hlog: metrics::hlog::Writer<Out>,
    system: system::Writers<Out>,
    broker: Option<Out>,
    connections: metrics::connections::Writer<Out>,
}

fn create(dir: &Path, name: &str) -> io::Result<Out> {
    Ok(BufWriter::new(File::create(dir.join(name))?))
}

impl Output {
    pub fn create(
        dir: &Path,
        host: &str,
        interval_secs: u64,
        start: time::OffsetDateTime,
        broker: bool,
    ) -> io::Result<Output> {
        std::fs::create_dir_all(dir)?;
        let mut sys = system::Writers {
            cpu: create(dir, SYSTEM_PARTS[0])?,
            mem: create(dir, SYSTEM_PARTS[1])?,
            net: create(dir, SYSTEM_PARTS[2])?,
            load: create(dir, SYSTEM_PARTS[3])?,
        };
        sys.headers()?;
        let broker = match broker {
            true => {
                let mut b = create(dir, "broker.csv")?;
                writeln!(b, "{}", super::broker_sys::header())?;
                Some(b)
            }
            false => None,
        };
        Ok(Output {
            dir: dir.to_path_buf(),
            host: host.to_string(),
            interval_secs,
            latency: metrics::sadf::Writer::new(create(dir, "latency.csv")?, host)?,
            history: metrics::locust::History::new(create(
                dir,
                &format!("{}_stats_history.csv", metrics::locust::PREFIX),
            )?)?,
            hlog: metrics::hlog::Writer::new(create(dir, "latency.hlog")?, start).map_err(io::Error::other)?,
            system: sys,
            broker,
            connections: metrics::connections::Writer::new(create(dir, metrics::connections::FILE)?, host)?,
        })
    }

    /// Writes one closed interval everywhere (each writer flushes).
    pub fn interval(
        &mut self,
        report: &IntervalReport,
        (totals, total): (&Totals, &metrics::OpStats),
        users: u64,
        sys: &system::Interval,
        broker: Option<(&str, &std::collections::BTreeMap<String, String>)>,
        connections: &metrics::connections::Row,
    ) -> io::Result<()> {
        self.latency.write(report)?;
        self.connections.write(self.interval_secs, report.end(), connections)?;
        self.history.write(report, totals, total, users)?;
        self.hlog.write(report).map_err(io::Error::other)?;
        self.system.write(&self.host, self.interval_secs, report.end(), sys)?;
        if let (Some(b), Some((broker_host, latest))) = (self.broker.as_mut(), broker) {
            let line = super::broker_sys::row(
                broker_host,
                self.interval_secs,
                &metrics::sadf::timestamp(report.end()),
                latest,
            );
            super::broker_sys::write_row(b, &line)?;
        }
        Ok(())
    }

    /// The end-of-run files; `summary` is the whole `summary.json` document.
    pub fn finish(mut self, totals: &Totals, summary_text: &str, summary: &serde_json::Value) -> io::Result<()> {
        for w in [&mut self.system.cpu, &mut self.system.mem, &mut self.system.net, &mut self.system.load] {
            w.flush()?;
        }
        let mut stats = create(&self.dir, &format!("{}_stats.csv", metrics::locust::PREFIX))?;
        metrics::locust::write_stats(&mut stats, totals)?;
        stats.flush()?;
        let mut failures = create(&self.dir, &format!("{}_failures.csv", metrics::locust::PREFIX))?;
        metrics::locust::write_failures(&mut failures, totals)?;
        failures.flush()?;
        let parts: Vec<PathBuf> = SYSTEM_PARTS.iter().map(|p| self.dir.join(p)).collect();
        system::concat(&parts, &self.dir.join("system.csv"))?;
        std::fs::write(self.dir.join("summary.txt"), summary_text)?;
        std::fs::write(self.dir.join("summary.json"), serde_json::to_string_pretty(summary)? + "\n")
    }
}
