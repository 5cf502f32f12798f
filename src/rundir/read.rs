//! One run folder read back for merging: the exact per-interval histograms of `latency.hlog`, each interval's
//! failure counts from `latency.csv`, the failure tallies of `lampi_failures.csv` and, from `summary.json` and
//! `run.json`, bytes, late samples, outage windows and the number of lamps simulated.
//!
//! Intervals are keyed by the Unix second of their *end*, truncated, which is the `timestamp` that `latency.csv`
//! (as sar) stamps a row with; runs started together with `--start-at` therefore line up second by second.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{csv, read, read_text, Error};
use crate::metrics::hlog::{self, LATE_PREFIX, SERVICE_PREFIX};
use crate::metrics::stats::{add_histogram, histogram};
use crate::metrics::{FailureStat, Op};

/// Histograms by hlog tag (`MQTT.roundtrip`, `svc:MQTT.roundtrip`).
pub type Tagged = BTreeMap<String, Histogram<u64>>;

/// One interval of one run (or of many, once merged).
#[derive(Debug, Clone, Default)]
pub struct Slot {
    /// Whole seconds.
    pub length: u64,
    pub tags: Tagged,
    /// Failed attempts by latency tag.
    pub failures: BTreeMap<String, u64>,
}

/// What [`read_run`] found in a run folder.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    /// The `hostname` column of `latency.csv` (the lamp or host that measured).
    pub host: String,
    /// Lamps simulated (`devices` in `run.json`), if recorded.
    pub devices: Option<u64>,
    /// Intervals by the Unix second of their end.
    pub slots: BTreeMap<i64, Slot>,
    /// `(operation, error, tally)` from `lampi_failures.csv`.
    pub tallies: Vec<(Op, String, FailureStat)>,
    /// Content bytes by latency tag, from `summary.json`.
    pub bytes: BTreeMap<String, u64>,
    pub late_samples: u64,
    /// The outage windows this run saw (`summary.json` `outages`, as written there).
    pub outages: Vec<serde_json::Value>,
}

/// The operation behind an hlog tag: `GET./lampi/` -> `("GET", "/lampi/")`; `None` for a `svc:` tag.
pub fn op_of_tag(tag: &str) -> Option<Op> {
    if tag.starts_with(SERVICE_PREFIX) || tag.starts_with(LATE_PREFIX) {
        return None;
    }
    let (kind, name) = tag.split_once('.').unwrap_or((tag, ""));
    Some(Op::new(kind, name))
}

/// Reads a run folder. `latency.hlog` and `latency.csv` are required; the failures file, `summary.json` and
/// `run.json` add detail when present.
pub fn read_run(dir: &Path) -> Result<Run, Error> {
    for required in ["latency.hlog", "latency.csv"] {
        if !dir.join(required).is_file() {
            return Err(Error::NotARun { dir: dir.to_path_buf(), missing: required });
        }
    }
    let mut run = Run {
        dir: dir.to_path_buf(),
        host: String::new(),
        devices: None,
        slots: BTreeMap::new(),
        tallies: Vec::new(),
        bytes: BTreeMap::new(),
        late_samples: 0,
        outages: Vec::new(),
    };
    read_hlog(&dir.join("latency.hlog"), &mut run.slots)?;
    let failures = read_latency_csv(&dir.join("latency.csv"), &mut run)?;
    place_failures(&mut run.slots, failures);
    let failures_csv = dir.join("lampi_failures.csv");
    if failures_csv.is_file() {
        run.tallies = read_failures(&failures_csv)?;
    }
    read_json_extras(dir, &mut run)?;
    Ok(run)
}

fn read_hlog(path: &Path, slots: &mut BTreeMap<i64, Slot>) -> Result<(), Error> {
    let bytes = read(path)?;
    let mut intervals = Vec::new();
    let start = hlog::read(&bytes, |i| intervals.push(i))
        .map_err(|source| Error::Hlog { path: path.to_path_buf(), source })?
        .unwrap_or(Duration::ZERO);
    for i in intervals {
        let end = (start + i.start + i.length).as_secs() as i64;
        let slot = slots.entry(end).or_default();
        slot.length = slot.length.max(i.length.as_secs_f64().round().max(1.0) as u64);
        let sum = slot.tags.entry(i.tag.unwrap_or_default()).or_insert_with(histogram);
        add_histogram(sum, &i.histogram);
    }
    Ok(())
}

/// Fills in the host and the timeline (idle intervals have rows in the CSV but no hlog lines) and returns the
/// failure counts by (end second, latency tag).
fn read_latency_csv(path: &Path, run: &mut Run) -> Result<HashMap<(i64, String), u64>, Error> {
    let text = read_text(path)?;
    let blocks = csv::sadf_blocks(&text).map_err(|(line, detail)| Error::parse(path, line, detail))?;
    let mut failures = HashMap::new();
    for block in &blocks {
        let cols = ["hostname", "interval", "timestamp", "type", "name", "failures"].map(|c| block.col(c));
        let [Some(host), Some(interval), Some(ts), Some(kind), Some(name), Some(failed)] = cols else {
            return Err(Error::parse(path, 1, "not a latency.csv header (hostname;interval;timestamp;type;name;...)"));
        };
        for (n, row) in &block.rows {
            let end = csv::sadf_time(&row[ts]).ok_or_else(|| {
                Error::parse(path, *n, format!("timestamp {:?} is not YYYY-MM-DD HH:MM:SS UTC", row[ts]))
            })?;
            let number = |col: usize| {
                row[col].parse::<u64>().map_err(|_| Error::parse(path, *n, format!("{:?} is not a count", row[col])))
            };
            let (length, failed) = (number(interval)?, number(failed)?);
            if run.host.is_empty() {
                run.host = row[host].clone();
            }
            let slot = run.slots.entry(end).or_default();
            slot.length = slot.length.max(length.max(1));
            if failed > 0 {
                *failures.entry((end, hlog::tag(&Op::new(&row[kind], &row[name])))).or_default() += failed;
            }
        }
    }
    Ok(failures)
}

/// Files each failure count under its interval. The CSV stamps the end to the microsecond before truncating, the
/// hlog to the millisecond: an end within a millisecond of a second boundary can land one second apart, so a count
/// whose second has no histogram for its operation goes to the neighbouring second that has one.
fn place_failures(slots: &mut BTreeMap<i64, Slot>, failures: HashMap<(i64, String), u64>) {
    for ((end, tag), n) in failures {
        let home = [end, end - 1, end + 1]
            .into_iter()
            .find(|e| slots.get(e).is_some_and(|s| s.tags.contains_key(&tag)))
            .unwrap_or(end);
        *slots.entry(home).or_default().failures.entry(tag).or_default() += n;
    }
}

fn read_failures(path: &Path) -> Result<Vec<(Op, String, FailureStat)>, Error> {
    let text = read_text(path)?;
    let mut tallies = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |detail: &str| Error::parse(path, i + 1, detail.to_string());
        let f = csv::split_csv_line(line).ok_or_else(|| bad("unclosed quote"))?;
        let [kind, name, error, occurrences, first, last] = f.as_slice() else {
            return Err(bad("expected Method,Name,Error,Occurrences,First Seen,Last Seen"));
        };
        let occurrences = occurrences.parse().map_err(|_| bad("Occurrences is not a count"))?;
        let (Some(first_seen), Some(last_seen)) = (csv::locust_time(first), csv::locust_time(last)) else {
            return Err(bad("First Seen / Last Seen are not YYYY-MM-DDTHH:MM:SSZ"));
        };
        tallies.push((Op::new(kind, name), error.clone(), FailureStat { occurrences, first_seen, last_seen }));
    }
    Ok(tallies)
}

/// Bytes and late samples from `summary.json` (`results`), lamps from `run.json`; both optional.
fn read_json_extras(dir: &Path, run: &mut Run) -> Result<(), Error> {
    let json = |name: &str| -> Result<Option<serde_json::Value>, Error> {
        let path = dir.join(name);
        if !path.is_file() {
            return Ok(None);
        }
        let v = serde_json::from_slice(&read(&path)?).map_err(|e| Error::parse(&path, e.line(), e.to_string()))?;
        Ok(Some(v))
    };
    if let Some(summary) = json("summary.json")? {
        let results = &summary["results"];
        run.late_samples = results["late_samples"].as_u64().unwrap_or(0);
        run.outages = summary["outages"].as_array().cloned().unwrap_or_default();
        for op in results["ops"].as_array().into_iter().flatten() {
            let (Some(kind), Some(name)) = (op["kind"].as_str(), op["name"].as_str()) else { continue };
            *run.bytes.entry(hlog::tag(&Op::new(kind, name))).or_default() += op["bytes"].as_u64().unwrap_or(0);
        }
    }
    if let Some(record) = json("run.json")? {
        run.devices = record["devices"].as_u64();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_their_operation() {
        assert_eq!(op_of_tag("GET./lampi/device/[id]"), Some(Op::new("GET", "/lampi/device/[id]")));
        assert_eq!(op_of_tag("MQTT.roundtrip"), Some(Op::new("MQTT", "roundtrip")));
        assert_eq!(op_of_tag("svc:MQTT.roundtrip"), None);
    }

    #[test]
    fn a_folder_without_the_histogram_log_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_run(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not a lampi-agent run folder (no latency.hlog)"), "{err}");
        assert!(err.to_string().starts_with(&dir.path().display().to_string()), "{err}");
    }

    #[test]
    fn failure_counts_find_their_interval_across_a_second_boundary() {
        let mut slots = BTreeMap::new();
        let mut slot = Slot { length: 1, ..Slot::default() };
        slot.tags.insert("GET./".to_string(), histogram());
        slots.insert(100, slot);
        let failures = HashMap::from([((101, "GET./".to_string()), 2), ((200, "GET./".to_string()), 1)]);
        place_failures(&mut slots, failures);
        assert_eq!(slots[&100].failures["GET./"], 2);
        assert_eq!(slots[&200].failures["GET./"], 1, "kept where the CSV put it when no histogram is near");
    }
}
