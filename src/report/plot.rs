//! `report plot`: one self-contained HTML page for a run folder (a single lamp's, a merged fleet's or a
//! `--find-limit` search), with inline SVG charts drawn by `plotters` ([`super::draw`]) and a few lines of CSS, so
//! it opens anywhere without a network.
//!
//! Charts, each in a `<figure data-chart="ID">`: for a `--find-limit` run first `limit-throughput` and
//! `limit-latency` (the hockey stick: offered load against achieved throughput and p50/p99, knee and capacity
//! marked); then per operation `latency-<op>` (corrected p50/p99/max and raw service p50/p99 dashed over time, on a
//! log-scaled axis so one spike does not flatten the run) followed by `distribution-<op>` (latency by percentile to
//! 99.99 %, corrected and raw, from `latency.hlog`), both with the operation's latency SLOs as red dashed lines;
//! `throughput`, `errors`, `connections` / `connects` / `connack` (from `connections.csv`, when recorded), `cpu`,
//! `memory`, `broker-clients` / `broker-messages` (`broker.csv`), and `lamps-ranked` for a merged run
//! (`lamps.csv`). Outage windows from `summary.json` are shaded on every time chart. Time is seconds from the
//! run's start. [`charts`] is pure (text in, series out); [`super::extras`] and [`super::dist`] build the rest.

use std::path::Path;

use crate::rundir::csv::{sadf_blocks, sadf_time, Block};
use crate::rundir::{read_text, Error};

/// The page's name in the run folder when `--out` is not given.
pub const DEFAULT_FILE: &str = "report.html";

use super::draw::{html, svg};
pub use super::draw::{Chart, Series};
use crate::metrics::Op;

/// The sadf files of a run folder, as text (`None` when the file is absent).
#[derive(Debug, Default)]
pub struct Inputs {
    pub latency: String,
    pub system: Option<String>,
    pub broker: Option<String>,
}

/// A numeric field of a row, if it is there, not empty, and parses.
fn value(row: &[String], col: usize) -> Option<f64> {
    row.get(col).filter(|v| !v.is_empty()).and_then(|v| v.parse().ok())
}

fn push(chart: &mut Chart, name: &str, dashed: bool, t: f64, y: f64) {
    chart.push(name, dashed, t, y);
}

fn chart(id: &str, title: &str, y_label: &str) -> Chart {
    Chart::new(id, title, y_label)
}

/// An id fragment from an operation: `GET /lampi/device/[id]` -> `GET-lampi-device-id`.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The run's start (Unix seconds): the first interval's start in `latency.csv`.
fn start_of(latency: &[Block]) -> Option<i64> {
    latency
        .iter()
        .flat_map(|b| {
            let (ts, iv) = (b.col("timestamp"), b.col("interval"));
            b.rows.iter().filter_map(move |(_, r)| Some(sadf_time(&r[ts?])? - r[iv?].parse::<i64>().unwrap_or(0)))
        })
        .min()
}

/// Which input file is bad (`latency.csv`, ...), its 1-based line, and what is wrong.
pub type BadLine = (&'static str, usize, String);

/// Builds every chart the inputs allow, with the run's start (Unix seconds) if known.
pub fn charts(inputs: &Inputs) -> Result<(Option<i64>, Vec<Chart>), BadLine> {
    let latency = sadf_blocks(&inputs.latency).map_err(|(l, d)| ("latency.csv", l, d))?;
    let start = start_of(&latency);
    let t = |row: &[String], col: usize| sadf_time(&row[col]).map(|s| (s - start.unwrap_or(s)) as f64);
    let mut per_op: Vec<Chart> = Vec::new();
    let (mut throughput, mut errors) =
        (chart("throughput", "Throughput", "attempts/s"), chart("errors", "Errors", "failed attempts per interval"));
    for b in &latency {
        let need = ["timestamp", "type", "name", "rate/s", "failures"].map(|c| b.col(c));
        let [Some(ts), Some(kind), Some(name), Some(rate), Some(failed)] = need else {
            return Err(("latency.csv", 1, "not a latency.csv header".into()));
        };
        let cols = [
            ("p50", "lat_p50_ms", false),
            ("p99", "lat_p99_ms", false),
            ("max", "lat_max_ms", false),
            ("raw p50 (service)", "svc_p50_ms", true),
            ("raw p99 (service)", "svc_p99_ms", true),
        ];
        for (_, row) in &b.rows {
            let Some(x) = t(row, ts) else { continue };
            let op = format!("{} {}", row[kind], row[name]);
            let id = format!("latency-{}", slug(&op));
            if !per_op.iter().any(|c| c.id == id) {
                let mut c = chart(&id, &format!("Latency over time: {op}"), "ms (log scale)");
                c.log_y = true;
                per_op.push(c);
            }
            let c = per_op.iter_mut().find(|c| c.id == id).expect("just added");
            for (label, col, dashed) in cols {
                if let Some(y) = b.col(col).and_then(|i| value(row, i)) {
                    push(c, label, dashed, x, y);
                }
            }
            if let Some(y) = value(row, rate) {
                push(&mut throughput, &op, false, x, y);
            }
            if let Some(y) = value(row, failed) {
                push(&mut errors, &op, false, x, y);
            }
        }
    }
    let mut all = per_op;
    all.extend([throughput, errors]);
    if let Some(text) = &inputs.system {
        let blocks = sadf_blocks(text).map_err(|(l, d)| ("system.csv", l, d))?;
        let mut cpu = chart("cpu", "Device CPU busy (100 - %idle)", "%");
        let mut mem = chart("memory", "Device memory used", "%");
        for b in &blocks {
            let (Some(ts), Some(host)) = (b.col("timestamp"), b.col("hostname")) else { continue };
            let (idle, used) = (b.col("%idle"), b.col("%memused"));
            for (_, row) in &b.rows {
                let Some(x) = t(row, ts) else { continue };
                if let Some(y) = idle.and_then(|i| value(row, i)) {
                    push(&mut cpu, &row[host], false, x, 100.0 - y);
                }
                if let Some(y) = used.and_then(|i| value(row, i)) {
                    push(&mut mem, &row[host], false, x, y);
                }
            }
        }
        all.extend([cpu, mem]);
    }
    if let Some(text) = &inputs.broker {
        let blocks = sadf_blocks(text).map_err(|(l, d)| ("broker.csv", l, d))?;
        let mut clients = chart("broker-clients", "Broker: clients connected", "clients");
        let mut msgs = chart("broker-messages", "Broker: messages per minute (1-minute average)", "messages/min");
        for b in &blocks {
            let (Some(ts), Some(host)) = (b.col("timestamp"), b.col("hostname")) else { continue };
            for (_, row) in &b.rows {
                let Some(x) = t(row, ts) else { continue };
                if let Some(y) = b.col("clients_connected").and_then(|i| value(row, i)) {
                    push(&mut clients, &row[host], false, x, y);
                }
                for (col, what) in [("messages_received_1min", "received"), ("messages_sent_1min", "sent")] {
                    if let Some(y) = b.col(col).and_then(|i| value(row, i)) {
                        push(&mut msgs, &format!("{} {what}", row[host]), false, x, y);
                    }
                }
            }
        }
        all.extend([clients, msgs]);
    }
    all.retain(|c| !c.series.is_empty());
    Ok((start, all))
}

/// A run folder's optional file as text, `None` when absent.
fn optional(dir: &Path, name: &str) -> Result<Option<String>, Error> {
    let p = dir.join(name);
    if p.is_file() {
        read_text(&p).map(Some)
    } else {
        Ok(None)
    }
}

/// A run folder's optional JSON file, `Null` when absent.
fn optional_json(dir: &Path, name: &str) -> Result<serde_json::Value, Error> {
    let Some(text) = optional(dir, name)? else { return Ok(serde_json::Value::Null) };
    serde_json::from_str(&text).map_err(|e| Error::parse(&dir.join(name), e.line(), e.to_string()))
}

/// The operation a `latency-<op>` chart is about, from its title.
fn op_of_chart(c: &Chart) -> Option<Op> {
    let op = c.title.strip_prefix("Latency over time: ")?;
    let (kind, name) = op.split_once(' ').unwrap_or((op, ""));
    Some(Op::new(kind, name))
}

/// Every chart of a run folder, in page order: the hockey stick (a `--find-limit` run), each operation's latency
/// over time and by percentile (with its SLO lines), then throughput, errors, connections, device and broker
/// charts, and the per-lamp ranking (a merged run); outage windows shaded on every time chart.
fn all_charts(dir: &Path, inputs: &Inputs) -> Result<(Option<i64>, Vec<Chart>), Error> {
    let bad = |(file, line, detail): BadLine| Error::parse(&dir.join(file), line, detail);
    let (start, time_charts) = charts(inputs).map_err(bad)?;
    let summary = optional_json(dir, "summary.json")?;
    let slos = super::extras::slos(&summary);
    let dists = if dir.join("latency.hlog").is_file() { super::dist::read_dir(dir)? } else { Vec::new() };
    let mut out = Vec::new();
    if let Some(steps) = optional(dir, "steps.csv")? {
        out.extend(super::extras::limit(&steps, Some(&optional_json(dir, "limit.json")?)).map_err(bad)?);
    }
    let (mut per_op, mut rest): (Vec<Chart>, Vec<Chart>) =
        time_charts.into_iter().partition(|c| op_of_chart(c).is_some());
    let mut lamps_up = None;
    if let Some(text) = optional(dir, "connections.csv")? {
        let charts = super::extras::connections(&text, start.unwrap_or(0)).map_err(bad)?;
        lamps_up = charts.first().and_then(|c| c.series.iter().find(|s| s.name == "lamps up")).cloned();
        rest.extend(charts);
    }
    let end = per_op.iter().chain(&rest).flat_map(|c| c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let end = end.fold(0f64, f64::max);
    let bands = super::extras::outages(&summary, start.unwrap_or(0), end);
    for c in per_op.iter_mut().chain(rest.iter_mut()) {
        c.bands = bands.clone();
        if c.id != "connections" {
            c.secondary = lamps_up.clone();
        }
    }
    for mut c in per_op.drain(..) {
        let op = op_of_chart(&c).expect("partitioned on it");
        c.limits = super::extras::slo_lines(&slos, &op);
        let dist = dists.iter().find(|d| d.op == op).map(super::dist::op_chart);
        out.push(c);
        if let Some(mut d) = dist {
            d.limits = super::extras::slo_lines(&slos, &op);
            out.push(d);
        }
    }
    out.extend(rest);
    if let Some(text) = optional(dir, "lamps.csv")? {
        out.extend(super::extras::lamps(&text).map_err(bad)?);
    }
    Ok((start, out))
}

/// Reads a run folder and writes the page to `out`. Returns how many charts it drew.
pub fn plot_dir(dir: &Path, out: &Path) -> Result<usize, Error> {
    let latency_path = dir.join("latency.csv");
    if !latency_path.is_file() {
        return Err(Error::NotARun { dir: dir.to_path_buf(), missing: "latency.csv" });
    }
    let inputs = Inputs {
        latency: read_text(&latency_path)?,
        system: optional(dir, "system.csv")?,
        broker: optional(dir, "broker.csv")?,
    };
    let (start, charts) = all_charts(dir, &inputs)?;
    if charts.is_empty() {
        return Err(Error::Empty(format!("{}: no intervals to plot", latency_path.display())));
    }
    let start_text = start
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC")).ok()
        })
        .unwrap_or_else(|| "?".into());
    let x_label = format!("seconds from {start_text}");
    let mut drawn = Vec::new();
    for c in charts {
        let s = svg(&c, &x_label).map_err(|e| Error::parse(&latency_path, 0, format!("chart {}: {e}", c.id)))?;
        drawn.push((c, s));
    }
    let title = format!(
        "lampi-agent run {}",
        dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
    );
    let subtitle = format!(
        "{} — started {start_text}; latency is corrected (from the intended start), raw is service time",
        dir.display()
    );
    let summary = optional(dir, "summary.txt")?;
    let texts: Vec<(&str, &str)> = summary.as_deref().map(|t| ("Summary", t)).into_iter().collect();
    let page = html(&title, &subtitle, &texts, &drawn);
    std::fs::write(out, page).map_err(|e| Error::io(out, e))?;
    Ok(drawn.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LATENCY: &str = "# hostname;interval;timestamp;type;name;count;failures;rate/s;lat_min_ms;lat_mean_ms;lat_p50_ms;\
lat_p90_ms;lat_p95_ms;lat_p99_ms;lat_p999_ms;lat_max_ms;svc_min_ms;svc_mean_ms;svc_p50_ms;svc_p90_ms;svc_p95_ms;svc_p99_ms;\
svc_p999_ms;svc_max_ms;late_p99_ms;late_max_ms
vm;1;2026-11-27 14:48:38 UTC;MQTT;roundtrip;4;1;4.000;1;2;3;4;5;6;7;8;1;1;2;2;3;3;4;4;0.1;0.2
vm;1;2026-11-27 14:48:39 UTC;MQTT;roundtrip;0;0;0.000;;;;;;;;;;;;;;;;;;
vm;1;2026-11-27 14:48:39 UTC;GET;/lampi/device/[id];2;0;2.000;1;2;3;4;5;6;7;8;1;1;2;2;3;3;4;4;0.1;0.2
";
    const SYSTEM: &str = "# hostname;interval;timestamp;CPU;%user;%nice;%system;%iowait;%steal;%idle
vm;1;2026-11-27 14:48:38 UTC;-1;10.00;0.00;5.00;0.00;0.00;85.00
# hostname;interval;timestamp;kbmemfree;kbavail;kbmemused;%memused;kbbuffers;kbcached;kbcommit;%commit;kbactive;kbinact;kbdirty
vm;1;2026-11-27 14:48:38 UTC;1;1;1;42.50;1;1;1;1;1;1;1
";

    #[test]
    fn every_chart_is_built_from_the_run_files() {
        let inputs = Inputs { latency: LATENCY.into(), system: Some(SYSTEM.into()), broker: None };
        let (start, built) = charts(&inputs).unwrap();
        assert_eq!(start, Some(1_795_790_917));
        let ids: Vec<&str> = built.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            ["latency-MQTT-roundtrip", "latency-GET-lampi-device-id", "throughput", "errors", "cpu", "memory"]
        );
        let rt = &built[0];
        let p99 = rt.series.iter().find(|s| s.name == "p99").unwrap();
        assert_eq!(p99.points, [(1.0, 6.0)], "an idle interval is a gap in latency, not a zero");
        assert!(rt.series.iter().any(|s| s.name.starts_with("raw p99") && s.dashed));
        assert_eq!(built[2].series[0].points, [(1.0, 4.0), (2.0, 0.0)], "throughput drops to zero");
        assert_eq!(built[4].series[0].points, [(1.0, 15.0)], "CPU busy = 100 - %idle");
        assert_eq!(built[5].series[0].points, [(1.0, 42.5)]);
        let err = charts(&Inputs { latency: "vm;1\n".into(), ..Inputs::default() }).unwrap_err();
        assert_eq!((err.0, err.1), ("latency.csv", 1));
    }

    #[test]
    fn the_page_is_self_contained_html_with_inline_svg() {
        let inputs = Inputs { latency: LATENCY.into(), system: None, broker: None };
        let (_, built) = charts(&inputs).unwrap();
        let drawn: Vec<(Chart, String)> = built
            .into_iter()
            .map(|c| {
                let s = svg(&c, "s").unwrap();
                (c, s)
            })
            .collect();
        assert!(drawn[0].1.starts_with("<svg") && drawn[0].1.contains("Latency over time: MQTT roundtrip"));
        assert!(drawn[0].1.contains("<polyline") || drawn[0].1.contains("<path"), "lines are drawn");
        let page = html("run <x>", "sub", &[("Summary", "a < b")], &drawn);
        assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<title>run &lt;x&gt;</title>"));
        assert!(page.contains("<pre>a &lt; b</pre>"));
        assert_eq!(page.matches("<figure data-chart=").count(), 4);
        assert!(!page.contains("src=") && !page.contains("<link"), "nothing loaded from elsewhere");
        assert_eq!(slug("GET /lampi/device/[id]"), "GET-lampi-device-id");
    }
}
