//! Charts from the optional parts of a run folder, each drawn only when its input is there: outage windows
//! (`summary.json` `outages`) as bands over every time chart, the connected lamps and connects per interval
//! (`connections.csv`), SLO limits as lines (`summary.json` `slos`), the per-lamp outliers of a merged run
//! (`lamps.csv`), and the hockey stick of a `--find-limit` run (`steps.csv`, `limit.json`). Pure: text in, charts
//! out; [`super::plot`] reads the files.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::draw::{Band, Chart};
use super::plot::BadLine;
use crate::metrics::Op;
use crate::rundir::csv::{sadf_blocks, sadf_time, split_csv_line};
use crate::slo::Slo;

fn rfc3339(v: &Value) -> Option<f64> {
    let t = OffsetDateTime::parse(v.as_str()?, &Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

/// Outage windows from `summary.json` as bands in seconds from `start` (Unix s). A window lasts to `recovered`,
/// else to `answered`, else to `end` (seconds from the start: the run ended inside the outage).
pub fn outages(summary: &Value, start: i64, end: f64) -> Vec<Band> {
    let list = summary["outages"].as_array().map(Vec::as_slice).unwrap_or_default();
    list.iter()
        .filter_map(|o| {
            let from = rfc3339(&o["start"])? - start as f64;
            let to = rfc3339(&o["recovered"]).or_else(|| rfc3339(&o["answered"])).map_or(end, |t| t - start as f64);
            let kind = o["kind"].as_str().unwrap_or("outage");
            let ttr = o["time_to_recover_s"]
                .as_f64()
                .map_or(", not recovered".into(), |s| format!(", recovered in {s:.1} s"));
            Some(Band { label: format!("{kind} outage{ttr}"), from, to: to.max(from) })
        })
        .collect()
}

/// The SLOs recorded in `summary.json` (`slos[].slo`), as parsed objectives.
pub fn slos(summary: &Value) -> Vec<Slo> {
    let list = summary["slos"].as_array().map(Vec::as_slice).unwrap_or_default();
    list.iter().filter_map(|v| Slo::parse(v["slo"].as_str()?).ok()).collect()
}

/// Limit lines of the latency SLOs that are about `op`: `(label, ms)`.
pub fn slo_lines(slos: &[Slo], op: &Op) -> Vec<(String, f64)> {
    slos.iter()
        .filter(|s| s.measure.is_latency() && s.matches(op))
        .map(|s| (format!("SLO {}", s.text), s.limit))
        .collect()
}

/// `connections.csv` (sadf framing: lamps_up, owners_up, connect_attempts, connect_refused, connack p50/p99):
/// the connected lamps and owners, connects per interval, and CONNACK latency. A merged run's file has a row per
/// lamp (host) and second: the counts are added per second (the fleet's lamps up), the CONNACK percentiles cannot
/// be, so the chart shows the slowest lamp's (labelled so when the file has more than one host).
pub fn connections(text: &str, start: i64) -> Result<Vec<Chart>, BadLine> {
    const COLUMNS: [(&str, usize, &str, bool); 6] = [
        ("lamps_up", 0, "lamps up", true),
        ("owners_up", 0, "owners up", true),
        ("connect_attempts", 1, "attempts", true),
        ("connect_refused", 1, "refused", true),
        ("connack_p50_ms", 2, "p50", false),
        ("connack_p99_ms", 2, "p99", false),
    ];
    let blocks = sadf_blocks(text).map_err(|(l, d)| ("connections.csv", l, d))?;
    // Per second: each column's sum (counts) or max (percentiles), in time order.
    let mut seconds: BTreeMap<i64, [Option<f64>; 6]> = BTreeMap::new();
    let mut hosts = BTreeSet::new();
    for b in &blocks {
        let Some(ts) = b.col("timestamp") else { return Err(("connections.csv", 1, "no timestamp column".into())) };
        for (n, row) in &b.rows {
            let Some(t) = sadf_time(&row[ts]) else {
                return Err(("connections.csv", *n, format!("timestamp {:?} is not YYYY-MM-DD HH:MM:SS UTC", row[ts])));
            };
            if let Some(h) = b.col("hostname").and_then(|i| row.get(i)) {
                hosts.insert(h.clone());
            }
            let cells = seconds.entry(t).or_default();
            for (slot, (col, _, _, summed)) in cells.iter_mut().zip(COLUMNS) {
                let Some(y) = b.col(col).and_then(|i| row.get(i)).and_then(|v| v.parse::<f64>().ok()) else { continue };
                *slot = Some(match *slot {
                    None => y,
                    Some(had) if summed => had + y,
                    Some(had) => had.max(y),
                });
            }
        }
    }
    let mut up = Chart::new("connections", "Connected lamps and owners", "connections");
    let mut attempts = Chart::new("connects", "Connects per interval", "connects");
    let mut connack = Chart::new("connack", "CONNACK latency", "ms (log scale)");
    connack.log_y = true;
    let slowest = if hosts.len() > 1 { ", slowest lamp" } else { "" };
    for (t, cells) in &seconds {
        let x = (t - start) as f64;
        let charts = [&mut up, &mut attempts, &mut connack];
        for (cell, (_, chart, label, summed)) in cells.iter().zip(COLUMNS) {
            if let Some(y) = cell {
                let label = if summed { label.to_string() } else { format!("{label}{slowest}") };
                charts[chart].push(&label, false, x, *y);
            }
        }
    }
    let mut all = vec![up, attempts, connack];
    all.retain(|c| !c.series.is_empty());
    Ok(all)
}

/// The most lamps a ranked chart shows.
pub const RANKED: usize = 50;

/// `lamps.csv` of a merged run: each operation's lamps ranked by p99, slowest first (up to [`RANKED`]), with the
/// fleet's p99 of all operations as a line.
pub fn lamps(text: &str) -> Result<Option<Chart>, BadLine> {
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else { return Ok(None) };
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(run), Some(kind), Some(name), Some(p99)) = (col("run"), col("type"), col("name"), col("lat_p99_ms"))
    else {
        return Err(("lamps.csv", 1, "not a lamps.csv header (run,host,type,name,...,lat_p99_ms,...)".into()));
    };
    let mut by_op: Vec<(String, Vec<f64>)> = Vec::new();
    let mut fleet = None;
    for (i, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let f = split_csv_line(line).ok_or(("lamps.csv", i + 1, "unclosed quote".to_string()))?;
        let Some(v) = f.get(p99).and_then(|v| v.parse::<f64>().ok()) else { continue };
        let op = format!("{} {}", f[kind], f[name]).trim().to_string();
        if f[run] == "(fleet)" {
            if f[name] == "Aggregated" {
                fleet = Some(v);
            }
            continue;
        }
        match by_op.iter_mut().find(|(o, _)| *o == op) {
            Some((_, vs)) => vs.push(v),
            None => by_op.push((op, vec![v])),
        }
    }
    if by_op.is_empty() {
        return Ok(None);
    }
    let mut c = Chart::new("lamps-ranked", "Per-lamp p99, slowest lamps first (lamps.csv)", "p99 ms (log scale)");
    c.log_y = true;
    c.x_label = Some("lamp rank (1 = slowest)".into());
    let most = by_op.iter().map(|(_, vs)| vs.len()).max().unwrap_or(1).min(RANKED);
    c.x_whole = Some(most.min(10));
    for (op, mut vs) in by_op {
        vs.sort_by(|a, b| b.total_cmp(a));
        for (rank, v) in vs.iter().take(RANKED).enumerate() {
            c.push(&op, false, (rank + 1) as f64, *v);
        }
    }
    if let Some(f) = fleet {
        c.limits.push(("fleet p99, all operations".into(), f));
    }
    Ok(Some(c))
}

/// One row of `steps.csv`.
#[derive(Debug, Clone, PartialEq)]
struct StepRow {
    offered: f64,
    achieved: f64,
    p50: Option<f64>,
    p99: Option<f64>,
}

fn steps(text: &str) -> Result<Vec<StepRow>, BadLine> {
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines.next().map(|(_, h)| h.split(',').collect()).unwrap_or_default();
    let col = |name: &str| header.iter().position(|c| *c == name);
    let (Some(o), Some(a), Some(p50), Some(p99)) =
        (col("offered_per_s"), col("achieved_per_s"), col("p50_ms"), col("p99_ms"))
    else {
        return Err((
            "steps.csv",
            1,
            "not a steps.csv header (step,...,offered_per_s,achieved_per_s,p50_ms,p99_ms,...)".into(),
        ));
    };
    let mut rows = Vec::new();
    for (i, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |c: usize| f.get(c).and_then(|v| v.parse::<f64>().ok());
        let (Some(offered), Some(achieved)) = (num(o), num(a)) else {
            return Err(("steps.csv", i + 1, "offered_per_s / achieved_per_s are not numbers".into()));
        };
        rows.push(StepRow { offered, achieved, p50: num(p50), p99: num(p99) });
    }
    Ok(rows)
}

/// The hockey stick of a `--find-limit` run: offered load against achieved throughput (with the ideal y = x
/// dashed) and against p50/p99 (log scale), the knee and the capacity marked. `limit` is `limit.json`.
pub fn limit(steps_text: &str, limit: Option<&Value>) -> Result<Vec<Chart>, BadLine> {
    let rows = steps(steps_text)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let x_label = Some("offered load (actions/s the schedule started)".to_string());
    let mut tp = Chart::new("limit-throughput", "Find-limit: offered load against achieved throughput", "actions/s");
    let mut lat = Chart::new("limit-latency", "Find-limit: offered load against latency", "ms (log scale)");
    lat.log_y = true;
    (tp.x_label, lat.x_label) = (x_label.clone(), x_label);
    for r in &rows {
        tp.push("achieved", false, r.offered, r.achieved);
        tp.push("offered (all of it achieved)", true, r.offered, r.offered);
        if let Some(v) = r.p50 {
            lat.push("p50", false, r.offered, v);
        }
        if let Some(v) = r.p99 {
            lat.push("p99", false, r.offered, v);
        }
    }
    let points: Vec<_> = rows.iter().map(|r| (r.offered, r.achieved, r.p99)).collect();
    let knee = crate::capacity::knee(&points);
    let capacity = limit.and_then(|l| l["capacity_step"].as_u64()).map(|s| s as usize - 1);
    for (label, step) in [("knee", knee), ("capacity (every SLO held)", capacity)] {
        if let Some(r) = step.and_then(|i| rows.get(i)) {
            let text = format!("{label}: {:.1}/s", r.offered);
            tp.marks.push((text.clone(), r.offered));
            lat.marks.push((text, r.offered));
        }
    }
    Ok(vec![tp, lat])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_windows_become_bands_and_an_open_one_lasts_to_the_end() {
        let summary = serde_json::json!({"outages": [
            {"kind": "broker", "start": "2026-11-27T14:48:40Z", "answered": "2026-11-27T14:48:45Z",
             "recovered": "2026-11-27T14:48:47Z", "time_to_recover_s": 7.0},
            {"kind": "site", "start": "2026-11-27T14:48:50Z", "answered": null, "recovered": null,
             "time_to_recover_s": null},
        ]});
        let bands = outages(&summary, 1_795_790_917, 60.0);
        assert_eq!(bands.len(), 2);
        assert_eq!((bands[0].from, bands[0].to), (3.0, 10.0));
        assert_eq!(bands[0].label, "broker outage, recovered in 7.0 s");
        assert_eq!((bands[1].from, bands[1].to), (13.0, 60.0));
        assert_eq!(bands[1].label, "site outage, not recovered");
        assert!(outages(&serde_json::json!({}), 0, 1.0).is_empty());
    }

    #[test]
    fn slo_lines_go_on_the_charts_of_their_operation() {
        let summary = serde_json::json!({"slos": [{"slo": "roundtrip p99 < 100ms"}, {"slo": "failures < 1%"},
            {"slo": "p99.9 < 2s"}]});
        let slos = slos(&summary);
        assert_eq!(slos.len(), 3);
        let rt = slo_lines(&slos, &Op::new("MQTT", "roundtrip"));
        assert_eq!(rt, [("SLO roundtrip p99 < 100ms".to_string(), 100.0), ("SLO p99.9 < 2s".to_string(), 2000.0)]);
        assert_eq!(slo_lines(&slos, &Op::new("GET", "/")).len(), 1, "only the all-operations one");
    }

    #[test]
    fn connections_csv_gives_the_connected_lamps_and_connects() {
        let text = "# hostname;interval;timestamp;lamps_up;owners_up;connect_attempts;connect_refused;connack_p50_ms;connack_p99_ms\n\
                    vm;1;2026-11-27 14:48:38 UTC;10;4;10;0;1.5;3.0\n\
                    vm;1;2026-11-27 14:48:39 UTC;0;0;12;12;;\n";
        let charts = connections(text, 1_795_790_917).unwrap();
        let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["connections", "connects", "connack"]);
        assert_eq!(charts[0].series[0].points, [(1.0, 10.0), (2.0, 0.0)]);
        assert_eq!(charts[1].series[1].name, "refused");
        assert_eq!(charts[2].series[0].points, [(1.0, 1.5)], "an empty connack cell is a gap");
        let err = connections("# hostname;interval;timestamp\nvm;1;yesterday\n", 0).unwrap_err();
        assert_eq!((err.0, err.1), ("connections.csv", 2));
    }

    #[test]
    fn a_merged_connections_csv_adds_the_lamps_per_second_and_shows_the_slowest_connack() {
        let text = "# hostname;interval;timestamp;lamps_up;owners_up;connect_attempts;connect_refused;connack_p50_ms;connack_p99_ms\n\
                    lamp-a;1;2026-11-27 14:48:38 UTC;1;1;2;0;1.5;3.0\n\
                    lamp-b;1;2026-11-27 14:48:38 UTC;1;0;1;1;2.5;2.0\n\
                    lamp-a;1;2026-11-27 14:48:39 UTC;0;0;0;0;;\n\
                    lamp-b;1;2026-11-27 14:48:39 UTC;1;0;0;0;;\n";
        let charts = connections(text, 1_795_790_917).unwrap();
        let series = |c: usize, name: &str| {
            charts[c].series.iter().find(|s| s.name == name).map(|s| s.points.clone()).unwrap_or_default()
        };
        assert_eq!(series(0, "lamps up"), [(1.0, 2.0), (2.0, 1.0)], "one point per second, the lamps added");
        assert_eq!(series(1, "attempts"), [(1.0, 3.0), (2.0, 0.0)]);
        assert_eq!(series(1, "refused"), [(1.0, 1.0), (2.0, 0.0)]);
        assert_eq!(series(2, "p50, slowest lamp"), [(1.0, 2.5)]);
        assert_eq!(series(2, "p99, slowest lamp"), [(1.0, 3.0)], "percentiles are not added");
    }

    #[test]
    fn lamps_are_ranked_slowest_first_with_the_fleet_line() {
        let text = format!(
            "{}\nrun-a,a,MQTT,roundtrip,5,0,0.00,1.0,3.0,4.0,2.0,0.5\nrun-b,b,MQTT,roundtrip,5,0,0.00,1.0,9.0,9.5,2.0,1.5\n\
             run-a,a,,Aggregated,5,0,0.00,1.0,3.0,4.0,2.0,0.5\n(fleet),fleet,,Aggregated,10,0,0.00,1.0,6.0,9.5,2.0,1.00\n",
            crate::rundir::merge::LAMPS_HEADER
        );
        let c = lamps(&text).unwrap().unwrap();
        assert_eq!(c.series[0].name, "MQTT roundtrip");
        assert_eq!(c.series[0].points, [(1.0, 9.0), (2.0, 3.0)]);
        assert_eq!(c.series[1].name, "Aggregated");
        assert_eq!(c.limits, [("fleet p99, all operations".to_string(), 6.0)]);
        assert!(lamps("run,host\n").is_err());
    }

    #[test]
    fn the_hockey_stick_marks_knee_and_capacity() {
        let text = format!(
            "{}\n1,1,10,0,12,10.0,10.0,2.0,5.0,1,0,false,PASS\n2,2,10,12,24,20.0,19.9,2.0,6.0,1,0,false,PASS\n\
             3,4,10,24,36,40.0,25.0,80.0,900.0,0,1,false,FAIL\n",
            crate::capacity::STEPS_HEADER
        );
        let record = serde_json::json!({"capacity_step": 2});
        let charts = limit(&text, Some(&record)).unwrap();
        assert_eq!(charts[0].id, "limit-throughput");
        assert_eq!(charts[0].series[0].points, [(10.0, 10.0), (20.0, 19.9), (40.0, 25.0)]);
        assert_eq!(
            charts[0].marks,
            [("knee: 20.0/s".to_string(), 20.0), ("capacity (every SLO held): 20.0/s".to_string(), 20.0)]
        );
        assert!(charts[1].log_y);
        assert_eq!(charts[1].series[1].points[2], (40.0, 900.0));
        assert!(limit("step,rate\n1,1\n", None).is_err());
    }
}
