//! `report merge`: many lamps' runs read as one.
//!
//! Intervals are aligned on the second their end falls in (runs started with `--start-at` share a start), and each
//! aligned interval's histograms are *added* (never percentiles averaged), so a fleet p99 is the p99 of every sample
//! every lamp took, to the histograms' 3 significant digits. The merged intervals are ordinary
//! [`IntervalReport`]s, written with the writers a single run uses: `latency.csv`, `lampi_stats.csv`,
//! `lampi_stats_history.csv`, `lampi_failures.csv`, `latency.hlog`, `summary.json`, `summary.txt`; plus `lamps.csv`,
//! one row per lamp and operation with its own percentiles and its p99 against the fleet's, to spot the outliers,
//! and `system.csv` / `broker.csv` / `connections.csv` with every lamp's rows (for `report plot`, which adds the
//! lamps' connection counts per second), and in `summary.json` every run's outage windows (`outages`, each with its
//! `run`; `report plot` draws them as bands).
//!
//! What the files of a run cannot give back: per-interval bytes (only run totals are recorded), so bytes appear in
//! the totals but not in the history's content-size column. (Start lateness is in the hlog as `late:` tags, so the
//! merged `late_*` columns are exact too; runs written before those tags existed merge with them empty.)

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use super::read::{op_of_tag, read_run, Run, Slot};
use super::{csv, read_text, Error};
use crate::metrics::hlog::{self, LATE_PREFIX, SERVICE_PREFIX};
use crate::metrics::stats::{add_histogram, histogram};
use crate::metrics::summary::{self, Summary};
use crate::metrics::{locust, ms, sadf, IntervalReport, Op, OpStats, Totals};

/// The `hostname` of merged `latency.csv` rows.
pub const FLEET_HOST: &str = "fleet";
/// `lamps.csv` header, pinned.
pub const LAMPS_HEADER: &str =
    "run,host,type,name,count,failures,fail_pct,lat_p50_ms,lat_p99_ms,lat_max_ms,svc_p99_ms,p99_vs_fleet";

/// One lamp's run in brief: what it measured, per operation.
#[derive(Debug, Clone)]
pub struct Lamp {
    pub dir: PathBuf,
    pub host: String,
    pub ops: Vec<(Op, OpStats)>,
}

/// The fleet view: aligned, added intervals, their totals, and each lamp's own figures.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub intervals: Vec<IntervalReport>,
    pub totals: Totals,
    pub lamps: Vec<Lamp>,
    /// Lamps simulated by all runs together (from each `run.json`), 0 if unknown.
    pub devices: u64,
    /// Every run's outage windows as its `summary.json` has them, each with `"run"`: the run's folder (kept from a
    /// merged folder's own); by start.
    pub outages: Vec<serde_json::Value>,
}

/// Adds `from` into `into`: histograms by tag, failures by tag, length the longer.
fn add_slot(into: &mut Slot, from: &Slot) {
    into.length = into.length.max(from.length);
    for (tag, h) in &from.tags {
        add_histogram(into.tags.entry(tag.clone()).or_insert_with(histogram), h);
    }
    for (tag, n) in &from.failures {
        *into.failures.entry(tag.clone()).or_default() += n;
    }
}

/// The stats of one operation in a slot.
fn op_stats(slot: &Slot, tag: &str) -> OpStats {
    let mut s = OpStats::new();
    if let Some(h) = slot.tags.get(tag) {
        s.latency = h.clone();
        s.count = h.len();
    }
    if let Some(h) = slot.tags.get(&format!("{SERVICE_PREFIX}{tag}")) {
        s.service = h.clone();
    }
    if let Some(h) = slot.tags.get(&format!("{LATE_PREFIX}{tag}")) {
        s.lateness = h.clone();
    }
    s.failures = slot.failures.get(tag).copied().unwrap_or(0).min(s.count);
    s
}

/// Every operation's figures over some intervals of a run (added exactly): what a part of a run did, for judging
/// SLOs over it (`--find-limit`'s steps) or comparing runs interval by interval.
pub fn ops_of<'a>(slots: impl IntoIterator<Item = &'a Slot>) -> Vec<(Op, OpStats)> {
    let mut all = Slot::default();
    for slot in slots {
        add_slot(&mut all, slot);
    }
    latency_tags(&all).filter_map(|t| Some((op_of_tag(t)?, op_stats(&all, t)))).collect()
}

/// Latency tags of a slot, in tag order.
fn latency_tags(slot: &Slot) -> impl Iterator<Item = &String> {
    slot.tags.keys().filter(|t| op_of_tag(t).is_some())
}

fn unix(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Merges runs read with [`read_run`]. Pure: no files.
pub fn merge(runs: &[Run]) -> Result<Fleet, Error> {
    let mut timeline: BTreeMap<i64, Slot> = BTreeMap::new();
    for run in runs {
        for (end, slot) in &run.slots {
            add_slot(timeline.entry(*end).or_default(), slot);
        }
    }
    let Some((&first_end, first)) = timeline.iter().next() else {
        return Err(Error::Empty(
            "no intervals in any of the runs (were they stopped before the first interval?)".into(),
        ));
    };
    // An operation has a row from the first interval it appears in (as in a single run).
    let mut seen: Vec<String> = Vec::new();
    let mut intervals = Vec::with_capacity(timeline.len());
    let mut totals = Totals::new(unix(first_end - first.length as i64));
    for (&end, slot) in &timeline {
        for tag in latency_tags(slot) {
            if !seen.contains(tag) {
                seen.push(tag.clone());
            }
        }
        let ops = seen.iter().filter_map(|t| Some((op_of_tag(t)?, op_stats(slot, t)))).collect();
        let length = Duration::from_secs(slot.length);
        let report = IntervalReport { start: unix(end) - length, length, ops, late_samples: 0 };
        totals.absorb(&report);
        intervals.push(report);
    }
    for run in runs {
        add_run_extras(&mut totals, run);
    }
    let lamps = runs.iter().map(lamp).collect();
    let mut outages: Vec<serde_json::Value> = runs
        .iter()
        .flat_map(|r| {
            r.outages.iter().cloned().map(|mut o| {
                if let Some(fields) = o.as_object_mut() {
                    // A merged folder merged again keeps the run each window came from.
                    fields.entry("run").or_insert_with(|| r.dir.display().to_string().into());
                }
                o
            })
        })
        .collect();
    // RFC 3339 UTC stamps of one format sort as text.
    outages.sort_by(|a, b| a["start"].as_str().cmp(&b["start"].as_str()));
    Ok(Fleet { intervals, totals, lamps, devices: runs.iter().filter_map(|r| r.devices).sum(), outages })
}

/// Bytes, late samples and failure tallies, which only run totals record.
fn add_run_extras(totals: &mut Totals, run: &Run) {
    totals.late_samples += run.late_samples;
    for (op, s) in totals.ops.iter_mut() {
        s.bytes += run.bytes.get(&hlog::tag(op)).copied().unwrap_or(0);
    }
    for (op, error, stat) in &run.tallies {
        let tag = hlog::tag(op);
        let Some((_, s)) = totals.ops.iter_mut().find(|(o, _)| hlog::tag(o) == tag) else {
            let mut s = OpStats::new();
            s.errors.insert(error.clone(), *stat);
            totals.ops.push((op.clone(), s));
            continue;
        };
        let known = s.errors.entry(error.clone()).or_insert(crate::metrics::FailureStat { occurrences: 0, ..*stat });
        known.occurrences += stat.occurrences;
        known.first_seen = known.first_seen.min(stat.first_seen);
        known.last_seen = known.last_seen.max(stat.last_seen);
    }
}

/// One run's own totals per operation.
fn lamp(run: &Run) -> Lamp {
    let mut all = Slot::default();
    for slot in run.slots.values() {
        add_slot(&mut all, slot);
    }
    let ops = latency_tags(&all).filter_map(|t| Some((op_of_tag(t)?, op_stats(&all, t)))).collect();
    Lamp { dir: run.dir.clone(), host: run.host.clone(), ops }
}

/// Reads every run, merges them and writes the fleet folder. Returns the fleet and its summary text.
pub fn merge_dirs(dirs: &[PathBuf], out: &Path) -> Result<(Fleet, String), Error> {
    if dirs.is_empty() {
        return Err(Error::Empty("no run folders given".into()));
    }
    let runs = dirs.iter().map(|d| read_run(d)).collect::<Result<Vec<_>, _>>()?;
    let fleet = merge(&runs)?;
    let text = write(&fleet, dirs, out)?;
    Ok((fleet, text))
}

/// Writes the fleet folder (see the module docs) and returns the summary text.
pub fn write(fleet: &Fleet, dirs: &[PathBuf], out: &Path) -> Result<String, Error> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let prefix = crate::metrics::locust::PREFIX;
    let (history_name, stats_name, failures_name) =
        (format!("{prefix}_stats_history.csv"), format!("{prefix}_stats.csv"), format!("{prefix}_failures.csv"));
    // Writers into memory cannot fail on I/O; an error here (a timestamp out of range) names the file anyway.
    let named = |name: &str| {
        let path = out.join(name);
        move |e: std::io::Error| Error::io(&path, e)
    };
    let mut lat = sadf::Writer::new(Vec::new(), FLEET_HOST).map_err(named("latency.csv"))?;
    let mut his = locust::History::new(Vec::new()).map_err(named(&history_name))?;
    let mut hl = hlog::Writer::new(Vec::new(), fleet.totals.start).map_err(named("latency.hlog"))?;
    let mut so_far = Totals::new(fleet.totals.start);
    for report in &fleet.intervals {
        so_far.absorb(report);
        lat.write(report).map_err(named("latency.csv"))?;
        his.write(report, &so_far, &so_far.aggregate(), fleet.devices).map_err(named(&history_name))?;
        hl.write(report).map_err(|e| named("latency.hlog")(std::io::Error::other(e)))?;
    }
    let (mut stats, mut failures) = (Vec::new(), Vec::new());
    locust::write_stats(&mut stats, &fleet.totals).map_err(named(&stats_name))?;
    locust::write_failures(&mut failures, &fleet.totals).map_err(named(&failures_name))?;
    let summary = summary::summarize(&fleet.totals);
    let doc = serde_json::json!({
        "merged_runs": dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        "lamps": fleet.lamps.len(),
        "devices": fleet.devices,
        "results": summary,
        "outages": fleet.outages,
    });
    let json = serde_json::to_string_pretty(&doc).map_err(|e| named("summary.json")(e.into()))? + "\n";
    let text = summary_text(fleet, &summary);
    let files: [(&str, Vec<u8>); 8] = [
        ("latency.csv", lat.into_inner()),
        (&history_name, his.into_inner()),
        ("latency.hlog", hl.into_inner()),
        (&stats_name, stats),
        (&failures_name, failures),
        ("summary.json", json.into_bytes()),
        ("summary.txt", text.clone().into_bytes()),
        ("lamps.csv", lamps_csv(fleet).into_bytes()),
    ];
    for (name, bytes) in files {
        std::fs::write(out.join(name), bytes).map_err(named(name))?;
    }
    join_sadf(dirs, "system.csv", &out.join("system.csv"))?;
    join_sadf(dirs, "broker.csv", &out.join("broker.csv"))?;
    join_sadf(dirs, "connections.csv", &out.join("connections.csv"))?;
    Ok(text)
}

/// `lamps.csv`: per lamp and operation (and `Aggregated`), then the fleet's own rows (`run` = `(fleet)`).
pub fn lamps_csv(fleet: &Fleet) -> String {
    let fleet_ops: Vec<(Op, OpStats)> =
        fleet.totals.ops.iter().cloned().chain([(Op::new("", "Aggregated"), fleet.totals.aggregate())]).collect();
    let fleet_p99 =
        |op: &Op| fleet_ops.iter().find(|(o, _)| o == op).filter(|(_, s)| !s.latency.is_empty()).map(|(_, s)| p99(s));
    let mut text = format!("{LAMPS_HEADER}\n");
    let mut row = |run: &str, host: &str, op: &Op, s: &OpStats| {
        let cells: Vec<String> =
            [run, host, &op.kind, &op.name].iter().map(|c| crate::metrics::csv_field(c).into_owned()).collect();
        let _ = write!(text, "{},{},{}", cells.join(","), s.count, s.failures);
        let pct = if s.count == 0 { 0.0 } else { 100.0 * s.failures as f64 / s.count as f64 };
        let _ = write!(text, ",{pct:.2}");
        if s.latency.is_empty() {
            text.push_str(",,,,,\n");
            return;
        }
        let h = &s.latency;
        let svc = if s.service.is_empty() { String::new() } else { ms(s.service.value_at_quantile(0.99)) };
        let ratio = fleet_p99(op).filter(|f| *f > 0).map(|f| format!("{:.2}", p99(s) as f64 / f as f64));
        let _ = writeln!(
            text,
            ",{},{},{},{svc},{}",
            ms(h.value_at_quantile(0.5)),
            ms(p99(s)),
            ms(h.max()),
            ratio.unwrap_or_default()
        );
    };
    for lamp in &fleet.lamps {
        let run = lamp.dir.display().to_string();
        let all = crate::metrics::stats::aggregate(lamp.ops.iter().map(|(_, s)| s));
        for (op, s) in lamp.ops.iter().chain([&(Op::new("", "Aggregated"), all)]) {
            row(&run, &lamp.host, op, s);
        }
    }
    for (op, s) in &fleet_ops {
        row("(fleet)", FLEET_HOST, op, s);
    }
    text
}

fn p99(s: &OpStats) -> u64 {
    s.latency.value_at_quantile(0.99)
}

/// The console summary plus one line per lamp (all operations together), slowest p99 first.
fn summary_text(fleet: &Fleet, summary: &Summary) -> String {
    let mut text = format!("fleet: {} run(s), {} lamp(s) simulated\n", fleet.lamps.len(), fleet.devices);
    text.push_str(&summary::table(summary));
    if !fleet.outages.is_empty() {
        text.push_str("\noutages the runs saw (summary.json `outages`):\n");
    }
    for o in &fleet.outages {
        let at = |k: &str| o[k].as_str().map(str::to_string);
        let end = match (at("recovered"), at("answered")) {
            (Some(r), _) => format!(", recovered at {r}"),
            (None, Some(a)) => format!(", answered again at {a}, not recovered"),
            (None, None) => ", not over when the run ended".to_string(),
        };
        let (kind, run, start) = (o["kind"].as_str().unwrap_or("?"), o["run"].as_str().unwrap_or("?"), at("start"));
        let _ = writeln!(text, "  {kind} outage seen by {run}: from {}{end}", start.unwrap_or_default());
    }
    text.push_str("\nper run (all operations, corrected latency, ms; lamps.csv has every operation):\n");
    let mut rows: Vec<(u64, String)> = fleet
        .lamps
        .iter()
        .map(|l| {
            let s = crate::metrics::stats::aggregate(l.ops.iter().map(|(_, s)| s));
            let (p50, p99_, max) = if s.latency.is_empty() {
                ("-".into(), "-".into(), "-".into())
            } else {
                (ms(s.latency.value_at_quantile(0.5)), ms(p99(&s)), ms(s.latency.max()))
            };
            let line = format!(
                "  {}  host {}  count {}  failures {}  p50 {p50}  p99 {p99_}  max {max}",
                l.dir.display(),
                l.host,
                s.count,
                s.failures
            );
            (if s.latency.is_empty() { 0 } else { p99(&s) }, line)
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    for (_, line) in rows {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// Joins a `sadf -d` file of every run into one: each block header once, then every run's rows of that block,
/// ordered by timestamp then host. Nothing is written if no run has the file.
fn join_sadf(dirs: &[PathBuf], name: &str, out: &Path) -> Result<(), Error> {
    let mut blocks: Vec<(Vec<String>, Vec<Vec<String>>)> = Vec::new();
    let mut any = false;
    for dir in dirs {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        any = true;
        let text = read_text(&path)?;
        for block in csv::sadf_blocks(&text).map_err(|(line, detail)| Error::parse(&path, line, detail))? {
            let rows = block.rows.into_iter().map(|(_, r)| r);
            match blocks.iter_mut().find(|(cols, _)| *cols == block.columns) {
                Some((_, mine)) => mine.extend(rows),
                None => blocks.push((block.columns, rows.collect())),
            }
        }
    }
    if !any {
        return Ok(());
    }
    let mut text = String::new();
    for (cols, mut rows) in blocks {
        rows.sort_by(|a, b| (a.get(2), a.first()).cmp(&(b.get(2), b.first())));
        rows.dedup();
        let _ = writeln!(text, "# {}", cols.join(";"));
        for r in rows {
            let _ = writeln!(text, "{}", r.join(";"));
        }
    }
    std::fs::write(out, text).map_err(|e| Error::io(out, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::tests::{ms as millis, recorder};
    use crate::metrics::{merge as exact, Outcome, Recorder};
    use std::time::Instant;

    #[test]
    fn merging_keeps_every_runs_outages_and_connection_rows() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = [tmp.path().join("a"), tmp.path().join("b")];
        lamp_run(&dirs[0], 1, 40);
        lamp_run(&dirs[1], 2, 40);
        let outage = |start: &str| {
            serde_json::json!({"kind": "broker", "start": start, "answered": null,
            "recovered": null, "time_to_recover_s": null})
        };
        for (dir, outages, up) in
            [(&dirs[0], vec![outage("2026-11-27T14:48:39Z")], 1), (&dirs[1], vec![outage("2026-11-27T14:48:38Z")], 2)]
        {
            let mut doc: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
            doc["outages"] = outages.into();
            std::fs::write(dir.join("summary.json"), doc.to_string()).unwrap();
            let rows = format!("# hostname;interval;timestamp;lamps_up;owners_up;connect_attempts;connect_refused;connack_p50_ms;connack_p99_ms\n\
                                lamp-{up};1;2026-11-27 14:48:38 UTC;{up};0;{up};0;1.0;2.0\n");
            std::fs::write(dir.join("connections.csv"), rows).unwrap();
        }
        let out = tmp.path().join("fleet");
        let (fleet, text) = merge_dirs(&dirs, &out).unwrap();
        assert!(
            text.contains(&format!("broker outage seen by {}: from 2026-11-27T14:48:38Z, not over", dirs[1].display())),
            "{text}"
        );
        let runs: Vec<String> = fleet.outages.iter().map(|o| o["run"].as_str().unwrap().to_string()).collect();
        assert_eq!(runs, [dirs[1].display().to_string(), dirs[0].display().to_string()], "every run's, by start");
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(doc["outages"].as_array().unwrap().len(), 2);
        assert_eq!(doc["outages"][0]["start"], "2026-11-27T14:48:38Z");
        let connections = std::fs::read_to_string(out.join("connections.csv")).unwrap();
        assert_eq!(connections.lines().filter(|l| l.starts_with("lamp-")).count(), 2, "{connections}");
        let again = merge(&[read_run(&out).unwrap()]).unwrap();
        let runs_again: Vec<String> = again.outages.iter().map(|o| o["run"].as_str().unwrap().to_string()).collect();
        assert_eq!(runs_again, runs, "merged again, each window keeps the run it came from");
    }

    /// A run folder as `loadtest` writes it (the files merge reads), from a recorder fed `seed`-shaped samples.
    fn lamp_run(dir: &Path, seed: u64, n: u64) -> Recorder {
        let (mut r, t0) = recorder();
        let ops = [r.op("MQTT", "roundtrip"), r.op("GET", "/lampi/device/[id]")];
        let mut csv = sadf::Writer::new(Vec::new(), &format!("lamp-{seed}")).unwrap();
        let mut log = hlog::Writer::new(Vec::new(), r.start()).unwrap();
        for interval in 0..4u64 {
            for i in 0..n {
                let op = ops[((i + seed) % 2) as usize];
                if interval == 2 && op == ops[1] {
                    continue; // an idle interval for one operation
                }
                let at: Instant = t0 + millis(interval * 1000 + i * 900 / n);
                let svc = Duration::from_micros((i * 7919 + seed * 104_729) % (1000 + seed * 3000) * 10 + 100);
                let outcome = if i % 13 == seed { Outcome::failure("timeout") } else { Outcome::success(20) };
                r.record(op, outcome, at, at + millis(seed), at + millis(seed) + svc);
            }
            let report = r.roll(t0 + millis((interval + 1) * 1000));
            csv.write(&report).unwrap();
            log.write(&report).unwrap();
        }
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("latency.csv"), csv.into_inner()).unwrap();
        std::fs::write(dir.join("latency.hlog"), log.into_inner()).unwrap();
        let mut failures = Vec::new();
        locust::write_failures(&mut failures, r.totals()).unwrap();
        std::fs::write(dir.join("lampi_failures.csv"), failures).unwrap();
        let doc = serde_json::json!({"results": summary::summarize(r.totals())});
        std::fs::write(dir.join("summary.json"), doc.to_string()).unwrap();
        std::fs::write(dir.join("run.json"), format!("{{\"devices\": {seed}}}")).unwrap();
        r
    }

    #[test]
    fn merging_two_runs_equals_their_histograms_added() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = [tmp.path().join("a"), tmp.path().join("b")];
        let (a, b) = (lamp_run(&dirs[0], 1, 400), lamp_run(&dirs[1], 2, 250));
        let mut expected = a.totals().clone();
        exact::totals(&mut expected, b.totals());

        let (fleet, text) = merge_dirs(&dirs, &tmp.path().join("fleet")).unwrap();
        assert_eq!(fleet.intervals.len(), 4, "the two runs share their four seconds");
        assert_eq!(fleet.totals.elapsed, Duration::from_secs(4));
        assert_eq!(fleet.devices, 3);
        for (op, e) in &expected.ops {
            let m = fleet.totals.get(op).unwrap_or_else(|| panic!("{op} missing"));
            assert_eq!((m.count, m.failures, m.bytes), (e.count, e.failures, e.bytes), "{op}");
            assert_eq!(m.errors["timeout"].occurrences, e.errors["timeout"].occurrences, "{op}");
            let first_second = e.errors["timeout"].first_seen.replace_nanosecond(0).unwrap();
            assert_eq!(m.errors["timeout"].first_seen, first_second, "{op}: the failures CSV keeps whole seconds");
            for (mh, eh) in [(&m.latency, &e.latency), (&m.service, &e.service), (&m.lateness, &e.lateness)] {
                for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
                    assert_eq!(mh.value_at_quantile(q), eh.value_at_quantile(q), "{op} q = {q}");
                }
            }
        }
        let (pa, pb) =
            (a.totals().ops[0].1.latency.value_at_quantile(0.99), b.totals().ops[0].1.latency.value_at_quantile(0.99));
        let merged_p99 = fleet.totals.get(&a.totals().ops[0].0).unwrap().latency.value_at_quantile(0.99);
        assert_ne!((pa + pb) / 2, merged_p99, "averaging percentiles would give a different, wrong answer");

        // Interval by interval too, idle operations keeping their row.
        let third = &fleet.intervals[2];
        let device = third.get(&Op::new("GET", "/lampi/device/[id]")).unwrap();
        assert_eq!(device.count, 0, "idle in both runs in the third second, still a row");
        assert_eq!(third.start, a.start() + Duration::from_secs(2));
        let counts: u64 = fleet.intervals.iter().map(|r| r.aggregate().count).sum();
        assert_eq!(counts, expected.aggregate().count);

        // Every file, in the formats of a single run.
        let out = tmp.path().join("fleet");
        for f in [
            "latency.csv",
            "lampi_stats.csv",
            "lampi_stats_history.csv",
            "lampi_failures.csv",
            "latency.hlog",
            "summary.json",
            "summary.txt",
            "lamps.csv",
        ] {
            assert!(out.join(f).is_file(), "{f}");
        }
        let latency = std::fs::read_to_string(out.join("latency.csv")).unwrap();
        assert_eq!(latency.lines().next().unwrap(), sadf::HEADER);
        assert_eq!(latency.lines().count(), 1 + 4 * 2);
        assert!(latency.lines().nth(1).unwrap().starts_with("fleet;1;2026-11-27 14:48:38 UTC;GET;/lampi/device/[id];"));
        let lamps = std::fs::read_to_string(out.join("lamps.csv")).unwrap();
        assert_eq!(lamps.lines().next().unwrap(), LAMPS_HEADER);
        assert_eq!(lamps.lines().count(), 1 + 3 * 3, "two ops and Aggregated for each lamp and the fleet");
        assert!(lamps.contains(",lamp-2,MQTT,roundtrip,"), "{lamps}");
        assert!(text.contains("fleet: 2 run(s), 3 lamp(s) simulated"), "{text}");

        // The merged folder is a run folder: merging it alone gives the same numbers back.
        let again = merge(&[read_run(&out).unwrap()]).unwrap();
        let op = &expected.ops[0].0;
        let (x, y) = (again.totals.get(op).unwrap(), fleet.totals.get(op).unwrap());
        assert_eq!((x.count, x.failures), (y.count, y.failures));
        assert_eq!(x.latency.value_at_quantile(0.99), y.latency.value_at_quantile(0.99));
    }

    #[test]
    fn errors_name_the_bad_run() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("good");
        lamp_run(&good, 1, 50);
        let bad = tmp.path().join("bad");
        lamp_run(&bad, 2, 50);
        std::fs::write(bad.join("latency.hlog"), "Tag=x,0.000,1.000,1.000,bm90IGEgaGlzdG9ncmFt\n").unwrap();
        let err = merge_dirs(&[good.clone(), bad.clone()], &tmp.path().join("out")).unwrap_err();
        assert!(err.to_string().starts_with(&bad.join("latency.hlog").display().to_string()), "{err}");
        std::fs::write(bad.join("latency.hlog"), "").unwrap();
        std::fs::write(bad.join("latency.csv"), format!("{}\nfleet;1;noon;MQTT;x;1;0\n", sadf::HEADER)).unwrap();
        let err = merge_dirs(&[good, bad.clone()], &tmp.path().join("out")).unwrap_err();
        assert!(err.to_string().starts_with(&format!("{}:2:", bad.join("latency.csv").display())), "{err}");
    }
}
