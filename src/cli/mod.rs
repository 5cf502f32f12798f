//! The command line: one clap-derived enum of subcommands, the flags' value parsers, and one dispatch `match`
//! ([`run`]) that turns each subcommand's flags into that mode's own options and hands them to `app`, the process
//! edge. Nothing else imports this module: modes never see clap types, and a bad flag value is a clap usage error
//! (exit 2) that names the flag, testable with `try_parse_from`. Exit codes: [`crate::exit`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::app;
use crate::loadtest::{Broker, LimitFlags, ReplaySource, Request, Responder};

#[derive(Debug, Parser)]
#[command(
    name = "lampi-agent",
    version,
    about = "The LAMPI smart lamp's agent: run the lamp, load-test the fleet's services, self-test a lamp"
)]
pub struct Cli {
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output (warnings and errors only).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Config file [default: /etc/lampi-agent/lampi.toml, else the built-in defaults]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the lamp: drive the LED, obey lamp/set_config, publish lamp/changed (the systemd service)
    Run,
    /// Show the lamp working on this machine: in-process broker, simulated LED, a scripted client
    Demo(DemoArgs),
    /// Configuration tools
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Replay analytics-derived usage against the Django site and the broker, and record latency
    Loadtest(Box<LoadtestArgs>),
    /// Check that this lamp is ready: config, identity, LED, lamp service, broker, web site, clock, disk
    Selftest(SelftestArgs),
    /// Usage profiles: derive one from an analytics export, show one
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Merge many lamps' load-test runs into one fleet view; plot a run as one HTML page
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Combine run folders (one per lamp, started together with --start-at) into one: exact fleet-wide
    /// percentiles from the histogram logs, intervals aligned on timestamps, the single-run CSV formats, lamps.csv
    Merge {
        /// Run folders written by `lampi-agent loadtest`
        #[arg(required = true, value_name = "RUN_DIR")]
        runs: Vec<PathBuf>,
        /// Folder to write the merged run into (created if missing)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Draw a run (or a merged run) as one self-contained HTML file with inline SVG charts
    Plot {
        /// A run folder (from `loadtest` or `report merge`)
        #[arg(value_name = "RUN_DIR")]
        run: PathBuf,
        /// Where to write the page [default: RUN_DIR/report.html]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Compare two runs per operation (count, failures, p50/p99/max, throughput), saying which changes are beyond
    /// the runs' own interval-to-interval noise: a text table on stdout and one HTML page
    Compare {
        /// The baseline run folder
        #[arg(value_name = "RUN_A")]
        a: PathBuf,
        /// The run compared with it
        #[arg(value_name = "RUN_B")]
        b: PathBuf,
        /// Where to write the page [default: RUN_B/compare.html]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResponderArg {
    /// A responder inside the run answers each virtual lamp's set_config as `lampi-agent run` would
    Internal,
    /// Real lamps (running `lampi-agent run`) answer
    External,
}

/// An analytics export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Mixpanel raw export: one JSON event a line
    Mixpanel,
    /// Keen.io extraction: one JSON object keyed by collection
    Keen,
    /// Tell from the first bytes
    Auto,
}

impl From<ResponderArg> for Responder {
    fn from(r: ResponderArg) -> Self {
        match r {
            ResponderArg::Internal => Responder::Internal,
            ResponderArg::External => Responder::External,
        }
    }
}

impl From<FormatArg> for crate::analytics::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Mixpanel => crate::analytics::Format::Mixpanel,
            FormatArg::Keen => crate::analytics::Format::Keen,
            FormatArg::Auto => crate::analytics::Format::Auto,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Derive a usage profile for one time-of-day window from a Mixpanel or Keen analytics export
    Derive(DeriveArgs),
    /// Describe a profile: arrivals, session chains, think times, drags, churn
    Show(ShowArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("export").required(true).args(["input", "from"])))]
pub struct DeriveArgs {
    /// The analytics export: a Mixpanel raw export (one event a line) or a Keen.io extraction
    #[arg(value_name = "EXPORT")]
    pub input: Option<PathBuf>,
    /// The export, as a flag (the same as EXPORT)
    #[arg(long, value_name = "EXPORT")]
    pub from: Option<PathBuf>,
    /// The export's format
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    /// Hours of the day whose sessions count, START-END: 18-23 or 18:00-23:00 (22-2 wraps midnight, 0-24 all day)
    #[arg(long, default_value = "18-23", value_parser = window_arg, value_name = "START-END")]
    pub window: (u8, u8),
    /// Profile time = UTC + this offset, +HH:MM or -HH:MM (the window's hours are profile time)
    #[arg(long, default_value = "+00:00", value_parser = tz_arg, allow_hyphen_values = true, value_name = "OFFSET")]
    pub tz: i32,
    /// A lamp's silence longer than this ends its session (at least 1s)
    #[arg(long, default_value = "2m", value_parser = gap_arg, value_name = "DURATION")]
    pub gap: std::time::Duration,
    /// The fleet size rates are per lamp of [default: the lamps seen in the export]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub lamps: Option<u32>,
    /// The profile's name: letters, digits, '-' or '_'
    #[arg(long, default_value = "derived", value_parser = name_arg)]
    pub name: String,
    /// Write the profile to this file (atomically) [default: stdout]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A profile name (NAME.toml in /etc/lampi-agent/profiles, then config/profiles, then built in) or a path
    pub profile: String,
}

/// `18-23` or `18:00-23:00` (whole hours) -> `(18, 23)`.
fn window_arg(s: &str) -> Result<(u8, u8), String> {
    let expected =
        || format!("{s:?}: expected START-END hours such as 18-23 or 18:00-23:00 (0-23 and 1-24; 22-2 wraps midnight)");
    let hour = |h: &str| match h.trim().split_once(':') {
        Some((h, "00")) => Ok(h.to_string()),
        Some(_) => Err(format!("{s:?}: a window is whole hours (18:00-23:00 or 18-23)")),
        None => Ok(h.trim().to_string()),
    };
    let (a, b) = s.split_once('-').ok_or_else(expected)?;
    crate::analytics::parse_window(&format!("{}-{}", hour(a)?, hour(b)?)).map_err(|_| expected())
}

fn tz_arg(s: &str) -> Result<i32, String> {
    match s {
        "UTC" | "Z" | "0" => Ok(0),
        _ => crate::profile::parse_offset(s)
            .ok_or_else(|| format!("{s:?}: expected an offset from UTC such as +00:00 or -05:30")),
    }
}

fn gap_arg(s: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d < std::time::Duration::from_secs(1) => Err(format!("{s:?}: expected at least 1s")),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{s:?}: {e} (e.g. 2m, 90s)")),
    }
}

fn name_arg(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then(|| s.to_string()).ok_or_else(|| format!("{s:?}: expected letters, digits, '-' or '_'"))
}

#[derive(Debug, Args)]
pub struct LoadtestArgs {
    /// Profile: a name (/etc/lampi-agent/profiles/NAME.toml, then config/profiles/, then built in) or a path
    #[arg(long, default_value = "evening")]
    pub profile: String,
    /// Virtual lamps to simulate. 1 (the default) is this lamp, with its device id and web login from config
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub devices: u32,
    /// Number the virtual lamps from this course index (hosts simulating disjoint parts of a fleet)
    #[arg(long, value_name = "INDEX")]
    pub first_lamp: Option<u32>,
    /// How long to run (the run always ends) [default: 60s; under --locust-master 24h, the master ends it sooner]
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub duration: Option<std::time::Duration>,
    /// Seed of the schedule; the same seed repeats the same run [default: random, printed and saved in run.json]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Multiply the profile's session arrival rates
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Profile hours per wall hour (60: an evening's hour in a minute); think times and drags keep their pace.
    /// With --replay: recorded seconds per wall second, everything compressed
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Grow arrivals (and lamp connections) linearly from zero over this long
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub ramp_up: std::time::Duration,
    /// Time of day (profile time, e.g. 19.5 for 19:30) the run starts at [default: the profile window's start]
    #[arg(long, value_name = "HOUR")]
    pub start_hour: Option<f64>,
    /// Start at this wall-clock time (RFC 3339, e.g. 2026-11-27T19:00:00Z), so a fleet starts together
    #[arg(long, value_parser = humantime::parse_rfc3339_weak, value_name = "TIME")]
    pub start_at: Option<std::time::SystemTime>,
    /// Print the schedule summary (with --replay: the trace's counts) and exit
    #[arg(long)]
    pub dry_run: bool,
    /// Replay this recorded analytics export (Mixpanel or Keen) event for event instead of a profile's schedule:
    /// recorded lamp k plays on virtual lamp k mod --devices, time compressed by --speed
    #[arg(long, value_name = "EXPORT", conflicts_with_all = ["profile", "rate", "start_hour", "ramp_up", "seed"])]
    pub replay: Option<PathBuf>,
    /// The --replay export's format
    #[arg(long, value_enum, default_value = "auto", value_name = "FORMAT", requires = "replay")]
    pub replay_format: FormatArg,
    /// Write every action of the run (or of the dry run) to this CSV file, one row each (see README, Profiles)
    #[arg(long, value_name = "FILE")]
    pub schedule_csv: Option<PathBuf>,
    /// Skip checking that the broker and the site answer before starting
    #[arg(long)]
    pub no_preflight: bool,
    /// Who answers set_config [default: external for this lamp (--devices 1), internal when simulating many]
    #[arg(long, value_enum)]
    pub responder: Option<ResponderArg>,
    /// Run folder [default: lampi-loadtest-<host>-<UTC start time>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Length of one reporting interval (rows in every CSV)
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
    /// Request, publish and round-trip timeout (a slower answer is a failure)
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// On SIGINT/SIGTERM, how long operations already sent get to complete (at most --timeout); a second signal
    /// stops at once
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub stop_grace: std::time::Duration,
    /// First reconnect delay of every virtual lamp and owner connection after the broker goes away (doubling, with
    /// full jitter, up to --reconnect-max)
    #[arg(long, default_value = "100ms", value_parser = positive_duration)]
    pub reconnect_min: std::time::Duration,
    /// The longest reconnect delay
    #[arg(long, default_value = "3s", value_parser = positive_duration)]
    pub reconnect_max: std::time::Duration,
    /// Record the broker's $SYS load figures in broker.csv (mosquitto)
    #[arg(long)]
    pub broker_sys: bool,
    /// Broker to load, overriding mqtt.host/port from config
    #[arg(long, value_name = "HOST:PORT")]
    pub broker: Option<Broker>,
    /// Django site to load, overriding web.url from config
    #[arg(long, value_name = "URL", value_parser = crate::loadtest::parse_site)]
    pub site: Option<reqwest::Url>,
    /// Topic prefix of the lamps on the broker ({device_id} is replaced)
    #[arg(long, default_value = "devices/{device_id}/")]
    pub topic_prefix: String,
    /// Owner user names for the virtual lamps ({i} or {i:06} is the lamp index); passwords are the names reversed
    #[arg(long, default_value = "user_{i:06}")]
    pub user_pattern: String,
    /// An objective the run must keep, e.g. 'roundtrip p99 < 100ms', 'failures < 1%', 'POST /login/ p95 <
    /// 500ms' (repeat for more; see README, SLOs). A failed one makes the run exit 99
    #[arg(long, value_parser = parse_slo, value_name = "SLO")]
    pub slo: Vec<crate::slo::Slo>,
    /// Read SLOs from this file, one a line (`#` comments)
    #[arg(long, value_name = "FILE")]
    pub slo_file: Option<PathBuf>,
    /// Search for the limit: run steps of growing load until an SLO fails or this host saturates, and report the
    /// capacity (the highest step that held every SLO). Needs at least one SLO
    #[arg(long)]
    pub find_limit: bool,
    /// --find-limit: multiply --rate by this each step [default: 2, unless --step-devices is given]
    #[arg(long, value_name = "FACTOR", requires = "find_limit", conflicts_with = "step_devices")]
    pub step_rate: Option<f64>,
    /// --find-limit: add this many --devices each step
    #[arg(long, value_name = "N", requires = "find_limit")]
    pub step_devices: Option<u32>,
    /// --find-limit: how long each step is judged for (after its settle)
    #[arg(long, default_value = "20s", value_parser = positive_duration, requires = "find_limit")]
    pub step_duration: std::time::Duration,
    /// --find-limit: the start of each step that is recorded but not judged (lamps connect, queues fill)
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration, requires = "find_limit")]
    pub settle: std::time::Duration,
    /// --find-limit: stop after this many steps even if every SLO still holds
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100), requires = "find_limit")]
    pub max_steps: u32,
    /// Run as a worker of this Locust master (default port 5557): it says how many of the --devices lamps run,
    /// and its UI shows our requests (see README, "Running under a Locust master")
    #[arg(long, value_name = "HOST[:PORT]", conflicts_with_all = ["start_at", "replay", "dry_run"])]
    pub locust_master: Option<crate::locust::Master>,
    /// Under --locust-master: stop the load after this long without a word from the master
    #[arg(long, default_value = "60s", value_parser = positive_duration, value_name = "DURATION", requires = "locust_master")]
    pub locust_silence: std::time::Duration,
}

fn parse_slo(s: &str) -> Result<crate::slo::Slo, String> {
    crate::slo::Slo::parse(s).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Fade between colours over this long (e.g. "300ms"); the lamp's default is no fade
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub transition: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// Print one JSON document (for Ansible) instead of the table
    #[arg(long)]
    pub json: bool,
    /// Run only these checks (comma separated or repeated): config, identity, led, service, broker, web, clock, disk
    #[arg(long, value_delimiter = ',', value_parser = crate::selftest::Check::parse, value_name = "CHECKS")]
    pub only: Vec<crate::selftest::Check>,
    /// Leave these checks out (comma separated or repeated)
    #[arg(long, value_delimiter = ',', value_parser = crate::selftest::Check::parse, value_name = "CHECKS")]
    pub skip: Vec<crate::selftest::Check>,
    /// Time limit for each check (e.g. "2s") [default: selftest.timeout from the config, 5s]
    #[arg(long, value_parser = positive_duration, value_name = "DURATION")]
    pub timeout: Option<std::time::Duration>,
}

fn positive_duration(s: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be more than 0".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file (default: the one `run` would use) and print the settings it gives
    Check {
        /// The file to check
        file: Option<PathBuf>,
    },
    /// Print the documented default config file
    Default,
}

impl Cli {
    /// Logging by default: `info`, except `selftest`, whose table is the output (`warn` unless `-v`).
    pub fn quiet_logs(&self) -> bool {
        self.quiet || (self.verbose == 0 && matches!(self.command, Command::Selftest(_)))
    }
}

impl LoadtestArgs {
    /// The flags as the load mode's request (the profile and the config are read when it is resolved).
    pub fn into_request(self) -> Request {
        Request {
            profile: self.profile,
            devices: self.devices,
            first_lamp: self.first_lamp,
            duration: self.duration.unwrap_or(if self.locust_master.is_some() {
                crate::loadtest::LOCUST_DURATION
            } else {
                std::time::Duration::from_secs(60)
            }),
            seed: self.seed,
            rate: self.rate,
            speed: self.speed,
            ramp_up: self.ramp_up,
            start_hour: self.start_hour,
            start_at: self.start_at,
            dry_run: self.dry_run,
            replay: self.replay.map(|path| ReplaySource { path, format: self.replay_format.into() }),
            schedule_csv: self.schedule_csv,
            preflight: !self.no_preflight,
            responder: self.responder.map(Responder::from),
            out: self.out,
            interval: self.interval,
            timeout: self.timeout,
            stop_grace: self.stop_grace,
            reconnect_min: self.reconnect_min,
            reconnect_max: self.reconnect_max,
            broker_sys: self.broker_sys,
            broker: self.broker,
            site: self.site,
            topic_prefix: self.topic_prefix,
            user_pattern: self.user_pattern,
            slos: self.slo,
            slo_file: self.slo_file,
            find_limit: self.find_limit.then_some(LimitFlags {
                step_rate: self.step_rate,
                step_devices: self.step_devices,
                step_duration: self.step_duration,
                settle: self.settle,
                max_steps: self.max_steps,
            }),
            locust_master: self.locust_master,
            locust_silence: self.locust_silence,
        }
    }
}

impl DeriveArgs {
    /// The export, its format, the derive options and where the profile goes.
    fn into_parts(self) -> (PathBuf, crate::analytics::Format, crate::analytics::DeriveOptions, Option<PathBuf>) {
        let input = self.input.or(self.from).expect("clap requires EXPORT or --from");
        let opts = crate::analytics::DeriveOptions {
            name: self.name,
            window: self.window,
            tz_offset_minutes: self.tz,
            inactivity_gap: self.gap,
            lamps: self.lamps,
            ..Default::default()
        };
        (input, self.format.into(), opts, self.output)
    }
}

impl SelftestArgs {
    fn into_request(self) -> crate::selftest::Request {
        crate::selftest::Request {
            checks: crate::selftest::select(&self.only, &self.skip),
            timeout: self.timeout,
            json: self.json,
        }
    }
}

/// Runs the chosen subcommand and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Run => app::with_settings(config, app::run_daemon),
        Command::Demo(args) => app::demo(args.transition),
        Command::Config(ConfigCommand::Check { file }) => app::config_check(file.as_deref().or(config)),
        Command::Config(ConfigCommand::Default) => app::config_default(),
        Command::Loadtest(args) => app::with_settings(config, |s| app::loadtest(s, args.into_request())),
        Command::Selftest(args) => app::selftest(config, args.into_request()),
        Command::Profile(ProfileCommand::Derive(a)) => {
            let (input, format, opts, output) = a.into_parts();
            app::profile_derive(&input, format, &opts, output.as_deref())
        }
        Command::Profile(ProfileCommand::Show(a)) => app::profile_show(&a.profile),
        Command::Report(ReportCommand::Merge { runs, out }) => app::report_merge(&runs, &out),
        Command::Report(ReportCommand::Plot { run, out }) => app::report_plot(&run, out.as_deref()),
        Command::Report(ReportCommand::Compare { a, b, out }) => app::report_compare(&a, &b, out.as_deref()),
    }
}

#[cfg(test)]
mod tests;
