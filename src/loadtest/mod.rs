//! `lampi-agent loadtest`: replays analytics-derived usage against the Django site and the broker from one or many
//! virtual lamps, and records what the device saw.
//!
//! The pipeline: profile -> seeded schedule (`crate::schedule`, pure) -> `runner` (dispatcher + one task per lamp,
//! `vlamp` for MQTT, `crate::web` for HTTP) -> samples -> one recorder task that rolls an interval every
//! `--interval`, writes every output file (`output`), samples this device (`system`) and the broker (`broker_sys`),
//! and prints progress. The recorder task owns all the files; the executors only send samples.
//!
//! With `--replay EXPORT` the actions come from a recorded trace instead (`crate::analytics::replay`): any iterator
//! of actions in time order drives the same runner, and `--schedule-csv` logs whichever it is.
//!
//! Honest timing (DESIGN section 6): latency is measured from each action's intended start, service time from the
//! actual send, lateness is reported (and actions more than 100 ms late are counted), and the generator watches its
//! own CPU and says when it is the bottleneck.

pub mod broker_sys;
pub mod output;
mod request;
pub mod runner;
pub mod sample;
pub mod system;
pub mod vlamp;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::analytics::replay::{self, Replay};
use crate::config::Settings;
use crate::metrics::{self, OpId, Outcome, Recorder};
use crate::profile::{Interface, Profile};
use crate::schedule::{self, Action, Schedule};
pub use request::{parse_site, Broker, Request, RequestError, Responder};
use runner::{Counters, LampId, Targets};
use sample::Sample;

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Options {
    pub profile: Profile,
    pub params: schedule::Params,
    /// The first lamp's index in the course numbering (several hosts can simulate disjoint lamps).
    pub first_lamp: u32,
    /// `--devices 1` without `--first-lamp`: this lamp, with its own id and web credentials from config.
    pub this_lamp: bool,
    pub user_pattern: String,
    pub internal_responder: bool,
    pub topic_prefix: String,
    pub out: PathBuf,
    pub interval: Duration,
    pub timeout: Duration,
    pub broker_sys: bool,
    pub preflight: bool,
    /// Wall-clock start (`--start-at`), if the fleet starts together.
    pub start_at: Option<SystemTime>,
    pub dry_run: bool,
    /// `--replay`: play this recorded trace instead of the profile's schedule.
    pub replay: Option<ReplaySource>,
    /// `--schedule-csv`: log every action the run dispatches (or the dry run walks) to this file.
    pub schedule_csv: Option<PathBuf>,
    /// `--locust-master`: run as a Locust worker; the master says how many lamps run (see [`crate::locust`]).
    pub locust: Option<crate::locust::Options>,
}

/// How long a run under a Locust master lasts at most when `--duration` is not given: the master ends it.
pub const LOCUST_DURATION: Duration = Duration::from_secs(24 * 3600);

/// A recorded trace to replay, and how to read it.
#[derive(Debug, Clone)]
pub struct ReplaySource {
    pub path: PathBuf,
    pub format: crate::analytics::Format,
}

type Actions = Box<dyn Iterator<Item = Action> + Send>;

/// The run's actions: the recorded trace (`--replay`, with its running figures) or the profile's seeded schedule,
/// logged to `--schedule-csv` when asked.
fn actions(opts: &Options) -> anyhow::Result<(Actions, Option<replay::Progress>)> {
    let (actions, progress): (Actions, _) = match &opts.replay {
        Some(r) => {
            let p = &opts.params;
            let gap = crate::analytics::DeriveOptions::default().inactivity_gap;
            let o = replay::Options { speed: p.speed, lamps: p.lamps, duration: p.duration, gap };
            let replay = Replay::open(&r.path, r.format, &o)?;
            let progress = replay.progress();
            (Box::new(replay), Some(progress))
        }
        None => (Box::new(Schedule::new(&opts.profile, &opts.params)?), None),
    };
    let Some(path) = &opts.schedule_csv else { return Ok((actions, progress)) };
    let cannot = || format!("--schedule-csv {}: cannot create it", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(cannot)?; // e.g. inside the run folder, not made yet
    }
    let file = File::create(path).with_context(cannot)?;
    let logged = schedule::csv::Logged::new(actions, BufWriter::new(file), &path.display().to_string())?;
    Ok((Box::new(logged), progress))
}

/// `--dry-run`: what the run would do, counted (and logged to `--schedule-csv`), nothing sent.
fn dry_run(opts: &Options, lamps: usize) -> anyhow::Result<Ending> {
    let head = |what: &str| {
        println!("{what}, {lamps} lamp(s), {}", humantime::format_duration(opts.params.duration));
    };
    if opts.replay.is_some() {
        let (actions, progress) = actions(opts)?;
        let n = actions.count();
        head(&format!("Dry run of a replay: {n} actions"));
        println!("{}", progress.expect("a replay has progress").lock().unwrap());
        return Ok(Ending::Completed);
    }
    if opts.schedule_csv.is_some() {
        actions(opts)?.0.for_each(drop);
    }
    let summary = schedule::summary(&opts.profile, &opts.params)?;
    head(&format!("profile {} ({}), seed {}", opts.profile.name, opts.profile.origin, opts.params.seed));
    println!("{summary}");
    Ok(Ending::Completed)
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    Interrupted,
}

/// `user_%06d`-style patterns: `{i}` or `{i:06}` is replaced by the lamp index.
pub fn expand_user(pattern: &str, i: u32) -> String {
    if let Some(start) = pattern.find("{i") {
        if let Some(len) = pattern[start..].find('}') {
            let spec = &pattern[start + 2..start + len];
            let width = spec.strip_prefix(":0").and_then(|w| w.parse::<usize>().ok()).unwrap_or(0);
            return format!("{}{:0width$}{}", &pattern[..start], i, &pattern[start + len + 1..]);
        }
    }
    format!("{pattern}{i}")
}

/// The course's load-test lamp `i`: device `1e0000000000 + i`, owner from the pattern, password reversed.
pub fn course_lamp(i: u32, pattern: &str) -> LampId {
    let username = expand_user(pattern, i);
    LampId {
        index: i,
        device_id: format!("{:x}", 0x1e00_0000_0000u64 + u64::from(i)),
        password: username.chars().rev().collect(),
        username,
    }
}

fn lamps(opts: &Options, settings: &Settings) -> Vec<LampId> {
    if opts.this_lamp {
        let id = crate::identity::resolve(settings);
        let course = course_lamp(0, &opts.user_pattern);
        let username = settings.web.username.clone().unwrap_or(course.username);
        let password = settings.web.password.as_ref().map_or_else(|| username.chars().rev().collect(), |p| p.0.clone());
        return vec![LampId { index: 0, device_id: id.device_id, username, password }];
    }
    (0..opts.params.lamps).map(|k| course_lamp(opts.first_lamp + k, &opts.user_pattern)).collect()
}

/// Checks that the broker answers a CONNECT and the site serves its login form.
pub async fn preflight(settings: &Settings, timeout: Duration) -> anyhow::Result<()> {
    let mut o = crate::mqtt::options(&settings.mqtt, &format!("lt-preflight-{}", std::process::id()), None)?;
    o.set_keep_alive(Duration::from_secs(10));
    let (client, mut ev) = crate::mqtt::client(o, 4);
    let broker = format!("{}:{}", settings.mqtt.host, settings.mqtt.port);
    match tokio::time::timeout(timeout, ev.poll()).await {
        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_)))) => {}
        Ok(Ok(other)) => bail!("broker {broker}: unexpected first packet {other:?}"),
        Ok(Err(e)) => bail!("broker {broker} is not reachable: {e} (check mqtt.host/port, or --no-preflight)"),
        Err(_) => bail!("broker {broker} did not answer within {timeout:?}"),
    }
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_millis(200), ev.poll()).await;
    let web = crate::web::Session::new(&settings.web.url, timeout)?;
    web.login_form().await.with_context(|| {
        format!("web site {} is not serving /login/ (check web.url, or --no-preflight)", settings.web.url)
    })?;
    Ok(())
}

fn hostname() -> String {
    sysinfo::System::host_name().unwrap_or_else(|_| "localhost".into())
}

/// The default run folder: `lampi-loadtest-<host>-<UTC start>`.
pub fn default_out(start: time::OffsetDateTime) -> PathBuf {
    let stamp = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = start.to_offset(time::UtcOffset::UTC).format(stamp).unwrap_or_default();
    PathBuf::from(format!("lampi-loadtest-{}-{t}", hostname()))
}

struct Recording {
    rec: Recorder,
    ids: HashMap<sample::Op, OpId>,
    /// Under a Locust master: every sample recorded is reported there too.
    tap: Option<crate::locust::Tap>,
}

impl Recording {
    fn take(&mut self, s: Sample) {
        if let Some(tap) = &self.tap {
            tap.record(s.op.kind, s.op.name, s.intended, s.finished, s.outcome.as_ref().map(|b| *b).map_err(|e| &**e));
        }
        let id = *self.ids.entry(s.op.clone()).or_insert_with(|| self.rec.op(s.op.kind, s.op.name));
        let outcome = match s.outcome {
            Ok(bytes) => Outcome::success(bytes),
            Err(name) => Outcome::failure(name),
        };
        self.rec.record(id, outcome, s.intended.into_std(), s.started.into_std(), s.finished.into_std());
    }
}

/// Runs a load test to the end (or until `stop`), writing every output; returns how it ended.
pub async fn run(settings: &Settings, opts: &Options, stop: watch::Receiver<bool>) -> anyhow::Result<Ending> {
    let lamps = lamps(opts, settings);
    if opts.dry_run {
        return dry_run(opts, lamps.len());
    }
    // A bad trace or an unwritable --schedule-csv fails here, before any load is sent.
    let (schedule, replayed) = actions(opts)?;
    if opts.preflight {
        preflight(settings, opts.timeout).await?;
    }
    // Start together: at --start-at (wall clock), else right away.
    let lead = opts.start_at.and_then(|t| t.duration_since(SystemTime::now()).ok()).unwrap_or(Duration::ZERO);
    if lead > Duration::ZERO {
        tracing::info!("waiting {} for --start-at", humantime::format_duration(Duration::from_secs(lead.as_secs())));
    }
    tokio::time::sleep(lead).await;
    let start = Instant::now();
    let start_wall = SystemTime::now();
    let start_odt = time::OffsetDateTime::from(start_wall);
    let out =
        output::Output::create(&opts.out, &hostname(), opts.interval.as_secs().max(1), start_odt, opts.broker_sys)
            .with_context(|| format!("cannot create the run folder {}", opts.out.display()))?;
    let replay_format = replayed.as_ref().map(|p| p.lock().unwrap().format.clone());
    write_run_record(opts, settings, &lamps, start_odt, replay_format)?;

    let mut mqtt = crate::mqtt::options(&settings.mqtt, "lt", None)?;
    mqtt.set_keep_alive(Duration::from_secs(60));
    let targets = Targets {
        mqtt: mqtt.clone(),
        prefix: opts.topic_prefix.clone(),
        web: settings.web.url.clone(),
        internal_responder: opts.internal_responder,
        timeout: opts.timeout,
        ramp_up: opts.params.ramp_up,
        hard_stop: start + opts.params.duration + opts.timeout,
    };
    let latest = Arc::new(Mutex::new(Default::default()));
    let watcher = opts.broker_sys.then(|| {
        let mut o = mqtt.clone();
        o.set_client_id(format!("lt-sys-{}", std::process::id()));
        broker_sys::watch(o, latest.clone())
    });
    let counters = Arc::new(Counters::default());
    let (samples, mut rx) = sample::Samples::channel(1 << 16);
    let worker = Worker::join(opts, &stop, start, start_wall);
    let run_stop = worker.as_ref().map_or_else(|| stop.clone(), |w| w.stop.clone());
    let active = worker.as_ref().map_or_else(|| watch::channel(u32::MAX).1, |w| w.lamps.clone());
    let mut runner =
        tokio::spawn(runner::run(schedule, lamps, targets, start, samples, counters.clone(), run_stop, active));

    let tap = worker.as_ref().map(|w| w.tap.clone());
    let mut live = Live {
        recording: Recording { rec: Recorder::new(start.into_std(), start_wall), ids: HashMap::new(), tap },
        sampler: system::Sampler::new(),
        out,
        own: OwnUse::default(),
        saturated: 0,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
        tty: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        start,
        interval: opts.interval,
    };
    let mut tick = tokio::time::interval_at(start + opts.interval, opts.interval);
    loop {
        tokio::select! {
            s = rx.recv() => match s {
                Some(s) => live.recording.take(s),
                None => break,
            },
            r = &mut runner => {
                r.context("load runner")?;
                // Every lamp is done; take what they sent last.
                while let Ok(s) = rx.try_recv() { live.recording.take(s); }
                break;
            }
            _ = tick.tick() => {
                while let Ok(s) = rx.try_recv() { live.recording.take(s); }
                let broker = latest.lock().unwrap().clone();
                live.tick(counters.active.load(Ordering::Relaxed), Some((&settings.mqtt.host, &broker)))?;
            }
        }
    }
    if !runner.is_finished() {
        runner.await.context("load runner")?;
    }
    if let Some(w) = watcher {
        w.abort();
    }
    live.tick(0, None)?;
    if live.tty {
        eprintln!();
    }
    if let Some(w) = worker {
        w.session.finish().await; // every sample is recorded: the last report holds the rest
    }
    let interrupted = *stop.borrow();
    let replayed = replayed.map(|p| p.lock().unwrap().clone());
    live.finish(opts, &counters, interrupted, replayed.as_ref())?;
    Ok(if interrupted { Ending::Interrupted } else { Ending::Completed })
}

/// A run under a Locust master: the session, the number of lamps it asks for, and the run's stop (the signals' or
/// the master's `quit`).
struct Worker {
    session: crate::locust::Session,
    tap: crate::locust::Tap,
    lamps: watch::Receiver<u32>,
    stop: watch::Receiver<bool>,
}

impl Worker {
    fn join(opts: &Options, signals: &watch::Receiver<bool>, start: Instant, start_wall: SystemTime) -> Option<Worker> {
        let locust = opts.locust.as_ref()?;
        let tap = crate::locust::Tap::new(start, start_wall);
        let (lamps_tx, lamps) = watch::channel(0);
        let (stop_tx, stop) = watch::channel(*signals.borrow());
        let mut signals = signals.clone();
        let forward = stop_tx.clone();
        tokio::spawn(async move {
            while signals.changed().await.is_ok() {
                if *signals.borrow() {
                    let _ = forward.send(true);
                }
            }
        });
        let session = crate::locust::start(locust, crate::locust::node_id(), tap.clone(), lamps_tx, stop_tx);
        Some(Worker { session, tap, lamps, stop })
    }
}

/// The recorder task's state: what it has recorded, the files, and the generator's view of itself.
struct Live {
    recording: Recording,
    sampler: Option<system::Sampler>,
    out: output::Output,
    own: OwnUse,
    saturated: u32,
    cores: f64,
    tty: bool,
    start: Instant,
    interval: Duration,
}

impl Live {
    /// Closes an interval: roll the histograms, sample this device, write every file, print the progress line.
    fn tick(&mut self, users: u64, broker: Option<(&str, &BTreeMap<String, String>)>) -> anyhow::Result<()> {
        let report = self.recording.rec.roll(Instant::now().into_std());
        let sys = self.sampler.as_mut().map(|s| s.sample(self.interval.as_secs_f64())).unwrap_or_default();
        self.own.add(&sys);
        if sys.own_cpu > 90.0 * self.cores.min(2.0) {
            self.saturated += 1;
            tracing::warn!(
                "the load generator itself is saturated ({:.0}% CPU): figures now measure this host, not the target; \
                 use fewer --devices per host",
                sys.own_cpu
            );
        }
        self.out.interval(&report, self.recording.rec.totals(), users, &sys, broker)?;
        let line = metrics::summary::progress(self.start.elapsed(), &report, self.recording.rec.totals());
        if self.tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
        Ok(())
    }

    /// The end: the table and notes on stdout, the end-of-run files, `summary.json`.
    fn finish(
        self,
        opts: &Options,
        counters: &Counters,
        interrupted: bool,
        replayed: Option<&replay::Stats>,
    ) -> anyhow::Result<()> {
        let totals = self.recording.rec.totals();
        let summary = metrics::summary::summarize(totals);
        let own = &self.own;
        let mut notes = notes(counters, self.saturated, interrupted, replayed);
        notes.push(format!(
            "load generator: CPU mean {:.0}% (max {:.0}%) of one core, {} cores; RSS max {:.1} MB",
            own.cpu_mean(),
            own.cpu_max,
            self.cores,
            own.rss_max_kb as f64 / 1024.0
        ));
        let text = format!("{}\n{}", metrics::summary::table(&summary), notes.join("\n"));
        println!("{text}");
        println!("results in {}", opts.out.display());
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let sessions: serde_json::Map<String, serde_json::Value> =
            Interface::ALL.iter().map(|i| (i.key().to_string(), load(&counters.sessions[i.index()]).into())).collect();
        let actions: serde_json::Map<String, serde_json::Value> =
            runner::ACTION_NAMES.iter().zip(&counters.actions).map(|(n, c)| (n.to_string(), load(c).into())).collect();
        let json = serde_json::json!({
            "ending": if interrupted { "interrupted" } else { "completed" },
            "dispatched": load(&counters.dispatched),
            "not_started": load(&counters.not_started),
            "skipped_churn": load(&counters.skipped_churn),
            "inactive_lamp_actions": load(&counters.inactive),
            "sessions": sessions,
            "actions": actions,
            "late_actions": load(&counters.late),
            "late_threshold_ms": runner::LATE.as_millis() as u64,
            "max_action_lateness_ms": load(&counters.max_late_us) as f64 / 1000.0,
            "replay": replayed.map(replay_json),
            "generator_saturated_intervals": self.saturated,
            "generator": {
                "cpu_mean_pct": (own.cpu_mean() * 10.0).round() / 10.0,
                "cpu_max_pct": (own.cpu_max * 10.0).round() / 10.0,
                "rss_max_mb": (own.rss_max_kb as f64 / 102.4).round() / 10.0,
                "cores": self.cores,
            },
            "results": summary,
        });
        self.out.finish(totals, &text, &json)?;
        Ok(())
    }
}

/// The load generator's own CPU (percent of one core) and memory over the run.
#[derive(Default)]
struct OwnUse {
    n: u32,
    cpu_sum: f64,
    cpu_max: f64,
    rss_max_kb: u64,
}

impl OwnUse {
    fn cpu_mean(&self) -> f64 {
        self.cpu_sum / f64::from(self.n.max(1))
    }

    fn add(&mut self, i: &system::Interval) {
        self.n += 1;
        self.cpu_sum += i.own_cpu;
        self.cpu_max = self.cpu_max.max(i.own_cpu);
        self.rss_max_kb = self.rss_max_kb.max(i.own_rss_kb);
    }
}

/// The replay's figures in summary.json.
fn replay_json(s: &replay::Stats) -> serde_json::Value {
    let p = &s.played;
    serde_json::json!({
        "path": s.path, "format": s.format, "speed": s.speed, "records": s.records, "malformed": s.bad,
        "events": s.events, "recorded_lamps": s.recorded_lamps,
        "sessions": Interface::ALL.iter().map(|i| (i.key().to_string(), s.sessions[i.index()].into()))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "played": {"login": p.logins, "page": p.pages.iter().sum::<u64>(), "set_config": p.set_config,
            "device_changed": p.device_changed, "reconnect": p.reconnects, "session_end": p.session_ends},
        "state_changes_not_played": s.state_changes, "out_of_order": s.out_of_order, "offline_cut": s.offline_cut,
        "cut_by_duration": s.cut_by_duration, "error": s.error,
    })
}

fn notes(c: &Counters, saturated: u32, interrupted: bool, replayed: Option<&replay::Stats>) -> Vec<String> {
    let what = if replayed.is_some() { "replayed events (actions)" } else { "actions" };
    let mut n = vec![
        format!(
            "actions: {} dispatched, {} completed, {} not started",
            c.dispatched.load(Ordering::Relaxed),
            c.completed.load(Ordering::Relaxed),
            c.not_started.load(Ordering::Relaxed)
        ),
        format!(
            "late: {} {what} started more than {} ms after their intended start (the latest by {:.1} ms); late actions \
             are done late and measured from their intended start, never dropped",
            c.late.load(Ordering::Relaxed),
            runner::LATE.as_millis(),
            c.max_late_us.load(Ordering::Relaxed) as f64 / 1000.0
        ),
    ];
    if let Some(r) = replayed {
        n.push(r.to_string());
    }
    if interrupted {
        n.push(
            "the run was interrupted: every completed sample is in the files; actions not started are counted above"
                .into(),
        );
    }
    if saturated > 0 {
        n.push(format!("WARNING: the load generator was CPU-saturated in {saturated} interval(s); those figures describe this host"));
    }
    let inactive = c.inactive.load(Ordering::Relaxed);
    if inactive > 0 {
        n.push(format!("{inactive} action(s) of lamps not running (beyond the Locust master's target) not dispatched"));
    }
    let churn = c.skipped_churn.load(Ordering::Relaxed);
    if churn > 0 {
        n.push(format!(
            "{churn} connection-churn action(s) skipped: an external lamp's connection is not ours to drop"
        ));
    }
    n
}

fn write_run_record(
    opts: &Options,
    settings: &Settings,
    lamps: &[LampId],
    start: time::OffsetDateTime,
    replay_format: Option<String>,
) -> anyhow::Result<()> {
    let p = &opts.params;
    let profile = match &opts.replay {
        Some(_) => serde_json::Value::Null,
        None => serde_json::json!({"name": opts.profile.name, "origin": opts.profile.origin}),
    };
    let replay = opts.replay.as_ref().map(|r| serde_json::json!({"path": r.path, "format": replay_format}));
    let record = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "start": start.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "profile": profile, "replay": replay, "schedule_csv": opts.schedule_csv,
        "seed": p.seed, "devices": p.lamps, "first_lamp": opts.first_lamp, "this_lamp": opts.this_lamp,
        "duration_s": p.duration.as_secs_f64(), "rate": p.rate, "speed": p.speed, "start_hour": p.start_hour,
        "ramp_up_s": p.ramp_up.as_secs_f64(), "interval_s": opts.interval.as_secs_f64(), "timeout_s": opts.timeout.as_secs_f64(),
        "responder": if opts.internal_responder { "internal" } else { "external" },
        "topic_prefix": opts.topic_prefix, "user_pattern": opts.user_pattern,
        "broker": format!("{}:{}", settings.mqtt.host, settings.mqtt.port), "web": settings.web.url.as_str(),
        "config": settings.origin, "lamps_first_device": lamps.first().map(|l| l.device_id.clone()),
        "locust_master": opts.locust.as_ref().map(|l| l.master.to_string()),
    });
    std::fs::write(opts.out.join("run.json"), serde_json::to_string_pretty(&record)? + "\n")?;
    if opts.replay.is_some() {
        return Ok(());
    }
    std::fs::write(
        opts.out.join("profile.toml"),
        opts.profile.to_toml(&[format!("the profile of this run, as loaded from {}", opts.profile.origin)]),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_lamps_follow_the_course_data() {
        let l = course_lamp(7, "user_{i:06}");
        assert_eq!(l.username, "user_000007");
        assert_eq!(l.password, "700000_resu");
        assert_eq!(l.device_id, "1e0000000007");
        assert_eq!(course_lamp(4095, "user_{i:06}").device_id, "1e0000000fff");
        assert_eq!(expand_user("owner{i}", 12), "owner12");
        assert_eq!(expand_user("plain", 3), "plain3");
    }

    #[test]
    fn the_default_run_folder_names_host_and_utc_start() {
        let d = default_out(time::macros::datetime!(2026-11-27 19:05:09 +01:00)).display().to_string();
        assert!(d.starts_with("lampi-loadtest-") && d.ends_with("-20261127T180509Z"), "{d}");
    }
}
