//! `lampi-agent loadtest`: replays analytics-derived usage against the Django site and the broker from one or many
//! virtual lamps, and records what the device saw.
//!
//! The pipeline: profile -> seeded schedule (`crate::schedule`, pure) -> `runner` (dispatcher + one task per lamp,
//! `vlamp` for MQTT: the owner's page and the lamp, each connection one reconnecting task (`link`) on rumqttc's
//! packet codec (`conn`); `crate::web` for HTTP) -> samples (`sample`) -> one
//! recorder task (`live`) that takes every sample into its histograms and, every `--interval`, rolls them and takes
//! the fleet's connection counts (`fleet`) and the broker's latest figures (`broker_sys`) -> one writer thread
//! (`writer`) that does what blocks: it samples this device (`system`), writes every streamed file (`output`), finds
//! outage windows (`crate::metrics::outage`) and prints progress. The writer thread owns the run folder's files while
//! the run goes and hands them back at its end, when the recorder writes the summary; the executors only send
//! samples. A run lasts its `--duration` whatever its schedule holds; `stop` says how signals end it early.
//!
//! This module is the run itself: its options, the lamps, the start, the tasks and how it ended. Around it, each
//! in its own place: `dry_run` (`--dry-run`), `preflight` (the check before any load), `run_record` (`run.json` and
//! `profile.toml`), `summary` (the notes and `summary.json`), `request` (flags to [`Options`]).
//!
//! With `--replay EXPORT` the actions come from a recorded trace instead (`crate::analytics::replay`): any iterator
//! of actions in time order drives the same runner, and `--schedule-csv` logs whichever it is.
//!
//! Every queue on the way of a sample is bounded, each with its policy when full: a lamp's actions (1,024,
//! [`runner::ACTIONS`]: the dispatcher waits, later actions start late and their lateness is measured); a
//! connection's commands and its unacknowledged publishes (256 each, [`link::COMMANDS`], [`link::MAX_INFLIGHT`]: the
//! action fails at once as `client queue full`); the samples to the recorder (65,536: a connection holds the one
//! wake-up's samples in its outbox and waits before it reads its socket again; the broker's data waits in the
//! kernel); the intervals to the writer thread (8: the recorder waits). Nothing is dropped, and memory stays flat.
//!
//! Honest timing (DESIGN section 6): latency is measured from each action's intended start, service time from the
//! actual send, lateness is reported (and actions more than 100 ms late are counted), and the generator watches its
//! own CPU and says when it is the bottleneck.

pub mod broker_sys;
pub mod conn;
mod dry_run;
pub mod fleet;
mod heap;
pub mod limit;
pub mod link;
mod live;
pub mod output;
pub mod preflight;
mod request;
mod run_record;
pub mod runner;
pub mod sample;
pub mod stop;
mod summary;
pub mod system;
pub mod vlamp;
mod writer;

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::analytics::replay::{self, Replay};
use crate::config::Settings;
use crate::profile::Profile;
use crate::schedule::{self, Action, Schedule};
use fleet::Fleet;
pub use request::{parse_site, Broker, LimitFlags, Request, RequestError, Responder};
use runner::{Counters, LampId, Targets};
pub use stop::Stop;

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
    /// On SIGINT/SIGTERM, how long operations in flight get to complete (bounded by `timeout`).
    pub stop_grace: Duration,
    /// Reconnect backoff of every virtual connection: the first delay and the cap (full jitter in between).
    pub reconnect: (Duration, Duration),
    pub broker_sys: bool,
    pub preflight: bool,
    /// Wall-clock start (`--start-at`), if the fleet starts together.
    pub start_at: Option<SystemTime>,
    pub dry_run: bool,
    /// `--replay`: play this recorded trace instead of the profile's schedule.
    pub replay: Option<ReplaySource>,
    /// `--schedule-csv`: log every action the run dispatches (or the dry run walks) to this file.
    pub schedule_csv: Option<PathBuf>,
    /// Objectives judged at the end (`--slo`, `--slo-file`, the profile's `slo`); one failing ends `SloFailed`.
    pub slos: Vec<crate::slo::Slo>,
    /// `--find-limit`: search with this plan instead of one run.
    pub limit: Option<crate::capacity::Plan>,
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

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    Interrupted,
    /// Completed, but at least one SLO failed.
    SloFailed,
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

fn hostname() -> String {
    sysinfo::System::host_name().unwrap_or_else(|_| "localhost".into())
}

/// The default run folder: `lampi-loadtest-<host>-<UTC start>`.
pub fn default_out(start: time::OffsetDateTime) -> PathBuf {
    let stamp = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = start.to_offset(time::UtcOffset::UTC).format(stamp).unwrap_or_default();
    PathBuf::from(format!("lampi-loadtest-{}-{t}", hostname()))
}

/// Waits for `--start-at` and returns the run's start (monotonic and wall clock); right away without it. A lamp
/// that comes up after the fleet's start (a slow SSH session, a loaded host) joins the fleet's clock instead of
/// starting its own: its start is `--start-at`, so its intervals line up with the others' and the schedule it
/// missed is dispatched late and counted as late (open model), never shifted. Past the run's end, it is an error.
async fn start_together(start_at: Option<SystemTime>, duration: Duration) -> anyhow::Result<(Instant, SystemTime)> {
    let Some(at) = start_at else { return Ok((Instant::now(), SystemTime::now())) };
    match at.duration_since(SystemTime::now()) {
        Ok(lead) => {
            tracing::info!(
                "waiting {} for --start-at",
                humantime::format_duration(Duration::from_secs(lead.as_secs()))
            );
            tokio::time::sleep(lead).await;
            Ok((Instant::now(), at))
        }
        Err(passed) => {
            let behind = passed.duration();
            if behind >= duration {
                bail!(
                    "--start-at {} passed {} ago, longer than the run (--duration {})",
                    humantime::format_rfc3339_seconds(at),
                    humantime::format_duration(Duration::from_secs(behind.as_secs())),
                    humantime::format_duration(duration)
                );
            }
            tracing::warn!(behind = ?behind, "--start-at has passed: joining the fleet's clock; the actions missed start late");
            let start = Instant::now().checked_sub(behind).unwrap_or_else(Instant::now);
            Ok((start, at))
        }
    }
}

/// Runs a load test to the end (or until `stop`), writing every output; returns how it ended.
pub async fn run(settings: &Settings, opts: &Options, stop: watch::Receiver<Stop>) -> anyhow::Result<Ending> {
    let lamps = lamps(opts, settings);
    if opts.dry_run {
        return dry_run::run(opts, lamps.len());
    }
    // A bad trace or an unwritable --schedule-csv fails here, before any load is sent.
    let (schedule, replayed) = actions(opts)?;
    if opts.preflight {
        // Under a Locust master without --site, the site is the master's --host, known only at its first spawn.
        let site = !opts.locust.as_ref().is_some_and(|l| l.follow_host);
        if !site {
            tracing::info!(
                "preflight: the web site is not checked (the Locust master's --host, if it gives one, names it)"
            );
        }
        preflight::check(settings, opts.timeout, site).await?;
    }
    let (start, start_wall) = start_together(opts.start_at, opts.params.duration).await?;
    let start_odt = time::OffsetDateTime::from(start_wall);
    let out =
        output::Output::create(&opts.out, &hostname(), opts.interval.as_secs().max(1), start_odt, opts.broker_sys)
            .with_context(|| format!("cannot create the run folder {}", opts.out.display()))?;
    // Everything the console shows from here on is kept in the run folder too (and only there after a SIGHUP).
    if let Err(e) = crate::console::keep_in(&opts.out.join(CONSOLE_LOG)) {
        tracing::warn!("cannot keep the console's lines in {}: {e}", opts.out.join(CONSOLE_LOG).display());
    }
    let replay_format = replayed.as_ref().map(|p| p.lock().unwrap().format.clone());
    run_record::write(opts, settings, &lamps, start_odt, replay_format)?;

    let mut mqtt = crate::mqtt::options(&settings.mqtt, "lt", None)?;
    mqtt.set_keep_alive(Duration::from_secs(60));
    let fleet = Arc::new(Fleet::default());
    let endpoint = conn::Endpoint::new(&mqtt, Duration::from_secs(5))?;
    let (site_tx, site) = watch::channel(settings.web.url.clone());
    let targets = Targets {
        mqtt: Arc::new(endpoint),
        prefix: opts.topic_prefix.clone(),
        web: site,
        internal_responder: opts.internal_responder,
        timeout: opts.timeout,
        ramp_up: opts.params.ramp_up,
        end: start + opts.params.duration,
        hard_stop: start + opts.params.duration + opts.timeout,
        grace: opts.stop_grace.min(opts.timeout),
        reconnect: opts.reconnect,
        fleet: fleet.clone(),
    };
    let latest = Arc::new(Mutex::new(Default::default()));
    let watcher = opts.broker_sys.then(|| {
        let mut o = mqtt.clone();
        o.set_client_id(format!("lt-sys-{}", std::process::id()));
        broker_sys::watch(o, latest.clone())
    });
    let counters = Arc::new(Counters::default());
    let (samples, rx) = sample::Samples::channel(1 << 16);
    // Under a Locust master the master says how many lamps run and when the run ends; its statistics are tapped
    // from the same samples the recorder takes.
    let worker = Worker::join(opts, &stop, start, start_wall, site_tx);
    let run_stop = worker.as_ref().map_or_else(|| stop.clone(), |w| w.stop.clone());
    let active = worker.as_ref().map_or_else(|| watch::channel(u32::MAX).1, |w| w.lamps.clone());
    let runner =
        tokio::spawn(runner::run(schedule, lamps, targets, start, samples, counters.clone(), run_stop.clone(), active));
    let tap = worker.as_ref().map(|w| w.tap.clone());
    let mut live = live::Live::new(out, start, start_wall, opts, fleet, tap)?;
    let broker = (settings.mqtt.host.as_str(), &*latest);
    live.record(rx, runner, broker, run_stop).await?;
    if let Some(w) = watcher {
        w.abort();
    }
    if let Some(w) = worker {
        w.session.finish().await; // every sample is recorded: the last report holds the rest
    }
    let interrupted = *stop.borrow() != Stop::Running;
    let replayed = replayed.map(|p| p.lock().unwrap().clone());
    let held = live.finish(opts, &counters, interrupted, replayed.as_ref()).await?;
    crate::console::stop_keeping();
    Ok(match (interrupted, held) {
        (true, _) => Ending::Interrupted,
        (false, false) => Ending::SloFailed,
        (false, true) => Ending::Completed,
    })
}

/// This process as a Locust worker (`--locust-master`): the session with the master, the tap its statistics come
/// from, how many lamps the master wants running, and the run's stop: a signal here, or the master's `quit`.
struct Worker {
    session: crate::locust::Session,
    tap: crate::locust::Tap,
    lamps: watch::Receiver<u32>,
    stop: watch::Receiver<Stop>,
}

impl Worker {
    fn join(
        opts: &Options,
        signals: &watch::Receiver<Stop>,
        start: Instant,
        start_wall: SystemTime,
        site: watch::Sender<reqwest::Url>,
    ) -> Option<Worker> {
        let locust = opts.locust.as_ref()?;
        let tap = crate::locust::Tap::new(start, start_wall);
        let (lamps_tx, lamps) = watch::channel(0);
        let (stop_tx, stop) = watch::channel(*signals.borrow());
        let (quit_tx, mut quit) = watch::channel(false);
        let mut signals = signals.clone();
        // The run stops on a signal (as given: graceful, then at once) or when the master quits (graceful); it
        // never goes back to running. (`send_if_modified` holds the lock itself: no borrow may be alive across it.)
        let raise = move |to: Stop| {
            stop_tx.send_if_modified(|s| {
                let was = *s;
                *s = was.max(to);
                *s != was
            });
        };
        tokio::spawn(async move {
            let mut master = true;
            loop {
                tokio::select! {
                    r = signals.changed() => match r {
                        Ok(()) => { let to = *signals.borrow_and_update(); raise(to); }
                        Err(_) => break,
                    },
                    r = quit.changed(), if master => match r {
                        Ok(()) => { if *quit.borrow_and_update() { raise(Stop::Graceful); } }
                        Err(_) => master = false,
                    },
                }
            }
        });
        let session = crate::locust::start(locust, crate::locust::node_id(), tap.clone(), lamps_tx, quit_tx, site);
        Some(Worker { session, tap, lamps, stop })
    }
}

/// The run folder's copy of the console: progress lines, log events, the summary.
pub const CONSOLE_LOG: &str = "console.log";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lamp_that_comes_up_late_joins_the_fleets_clock() {
        let at = SystemTime::now() - Duration::from_secs(2);
        let (start, wall) = start_together(Some(at), Duration::from_secs(10)).await.unwrap();
        assert_eq!(wall, at, "the run's start is the fleet's");
        assert!(start.elapsed() >= Duration::from_secs(2), "the schedule counts from --start-at, not from now");
        let e = start_together(Some(at), Duration::from_secs(1)).await.unwrap_err().to_string();
        assert!(e.contains("--start-at") && e.contains("longer than the run"), "{e}");
        let (_, wall) = start_together(None, Duration::from_secs(1)).await.unwrap();
        assert!(wall.elapsed().unwrap() < Duration::from_secs(5));
    }

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
