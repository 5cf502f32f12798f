//! The edges of each mode: tracing set-up, the tokio runtime, signals, systemd notification, which config file is
//! read, and turning library results into exit codes. The modes' logic lives in their own modules; this file only
//! wires them to the process. It takes each mode's own options (the command line in `cli` fills them), never clap
//! types: the direction is `main -> cli -> app -> modes`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::analytics::{replay::ReplayError, CmdError, DeriveError};
use crate::config::{self, ConfigError, Settings};
use crate::exit::{CANTCREAT, CONFIG, DATAERR, FAILED, INTERRUPTED, IOERR, NOINPUT, OK, SLO, USAGE};
use crate::{daemon, identity, led, selftest};

/// Structured logs to stderr (journald keeps them). `-v` raises the level; RUST_LOG overrides.
pub fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,lampi_agent={level},rumqttd=off")));
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Never std::io::stderr directly: a closed stderr (EPIPE) must not panic, and a hang-up silences it.
        .with_writer(crate::console::Stderr)
        .log_internal_errors(false)
        .with_ansi(!journald && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// The load generator's runtime: ONE worker thread, onto which the whole run is spawned (the calling thread only
/// waits for it), so thousands of connections and sessions wake each other on one thread, never across two (on two
/// workers a fifth of the generator's CPU went to futex wake-ups: issue 11), and a generator that keeps to one core
/// leaves the other to a broker or site on the same host. Nothing that blocks runs on it: the recorder's files are
/// written by its writer thread, and the web sessions' slow set-up (the CA store for `https://`) is made before the
/// runtime starts ([`crate::web::prepare`]). Not a current-thread runtime: measured there, kept-alive connections
/// came back to their session late and a gunicorn gthread site (a thread held per connection) stalled for seconds.
fn load_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio runtime")
}

/// Completes on SIGTERM or SIGINT. The handlers are installed when this is *called* (inside a runtime), not when the
/// future is first polled: a SIGTERM that arrives before the daemon's loop first polls it still stops the lamp
/// cleanly instead of killing it (under load that window was long enough for a test to hit it).
pub fn terminated() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
    }
}

/// `lampi-agent run`.
pub fn run_daemon(settings: Settings) -> ExitCode {
    let id = identity::resolve(&settings);
    if id.source != "config" && !id.source.ends_with(" MAC") {
        tracing::warn!("device id {id}: set device.id in the config if this is wrong");
    }
    let led = match led::open(&settings.led) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(if matches!(e, led::LedError::Unsupported) { CONFIG } else { FAILED });
        }
    };
    for ch in led.channels() {
        tracing::info!("LED {}: GPIO{} ({})", ch.colour, ch.pin, ch.drive);
    }
    let ready = || {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    };
    let rt = runtime();
    let stop = {
        let _in_runtime = rt.enter();
        terminated()
    };
    match rt.block_on(daemon::run(&settings, &id, led, ready, stop)) {
        Ok(_) => ExitCode::from(OK),
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(FAILED)
        }
    }
}

/// `lampi-agent loadtest`: the request resolved against config and profile, signals into a stop, the run, an exit
/// code (0 completed, 130 stopped by a signal, 78 a bad profile, 2 parameters the schedule refuses, 1 a failed run,
/// replay errors as sysexits codes).
pub fn loadtest(mut settings: Settings, request: crate::loadtest::Request) -> ExitCode {
    use crate::loadtest::{self, Ending, RequestError};
    let devices = request.devices;
    let opts = match request.resolve(&mut settings, time::OffsetDateTime::now_utc()) {
        Ok(o) => o,
        Err(e @ RequestError::Profile(_)) => {
            eprintln!("lampi-agent: {e}");
            return ExitCode::from(CONFIG);
        }
        Err(e @ (RequestError::Params(_) | RequestError::SloLine { .. } | RequestError::Limit(_))) => {
            eprintln!("lampi-agent: {e}");
            return ExitCode::from(USAGE);
        }
        Err(e @ RequestError::SloFile { .. }) => {
            eprintln!("lampi-agent: {e}");
            return ExitCode::from(NOINPUT);
        }
    };
    let seed = opts.params.seed;
    match (&opts.replay, opts.dry_run) {
        (_, true) => {}
        (Some(r), false) => {
            tracing::info!(replay = %r.path.display(), devices, out = %opts.out.display(), "load run")
        }
        (None, false) => {
            tracing::info!(seed, profile = %opts.profile.name, devices, out = %opts.out.display(), "load run")
        }
    }
    // Before the runtime: nothing slow on its one worker. On error each session then fails by this name.
    if !opts.dry_run {
        if let Err(e) = crate::web::prepare(&settings.web.url) {
            tracing::warn!("web sessions of {} cannot start: {e}", settings.web.url);
        }
    }
    let rt = load_runtime();
    let result = rt.block_on(async move {
        // SIGINT/SIGTERM stop (a second one at once), SIGHUP silences the console: see loadtest::stop.
        let stop = loadtest::stop::signals().map_err(|e| anyhow::anyhow!("cannot install the signal handlers: {e}"))?;
        // The run on the workers (see load_runtime), not on this thread.
        let run = tokio::spawn(async move {
            match &opts.limit {
                Some(plan) => loadtest::limit::find(&settings, &opts, plan, stop).await,
                None => loadtest::run(&settings, &opts, stop).await,
            }
        });
        run.await.map_err(|e| anyhow::anyhow!("the load run panicked: {e}"))?
    });
    match result {
        Ok(Ending::Completed) => ExitCode::from(OK),
        Ok(Ending::Interrupted) => ExitCode::from(INTERRUPTED),
        Ok(Ending::SloFailed) => ExitCode::from(SLO),
        Err(e) => {
            crate::console::err(&format!("lampi-agent loadtest: {e:#}"));
            let replay = e.chain().find_map(|c| c.downcast_ref::<ReplayError>());
            ExitCode::from(replay.map_or(FAILED, replay_exit_code))
        }
    }
}

/// A trace that cannot be replayed: 66 not there, 65 bad data, 74 a read error, 2 a bad flag.
fn replay_exit_code(e: &ReplayError) -> u8 {
    match e {
        ReplayError::Open { .. } => NOINPUT,
        ReplayError::Data { source, .. } => data_exit_code(source),
        ReplayError::Option(_) => USAGE,
    }
}

/// Bad analytics data is 65 (EX_DATAERR); a read error part-way 74 (EX_IOERR); a bad option 2.
fn data_exit_code(e: &DeriveError) -> u8 {
    match e {
        DeriveError::Io(_) => IOERR,
        DeriveError::Option { .. } => USAGE,
        _ => DATAERR,
    }
}

/// Derives and writes the profile (stdout without `-o`), the report on stderr. Exit 0, 66 the export cannot be
/// opened, 65 its data is bad (or no session starts in the window), 74 a read error, 73 the profile cannot be written.
pub fn profile_derive(
    input: &Path,
    format: crate::analytics::Format,
    opts: &crate::analytics::DeriveOptions,
    output: Option<&Path>,
) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match crate::analytics::profile_derive_cmd(input, format, opts, output, &mut stdout) {
        Ok(report) => {
            eprintln!("{report}");
            ExitCode::from(OK)
        }
        Err(e) => {
            let (code, hint) = match &e {
                CmdError::Open { .. } => (NOINPUT, ""),
                CmdError::Derive { source, .. } if matches!(**source, DeriveError::EmptyWindow { .. }) => {
                    (DATAERR, " (choose another --window, or --tz)")
                }
                CmdError::Derive { source, .. } => (data_exit_code(source), ""),
                CmdError::Write { .. } => (CANTCREAT, ""),
                CmdError::ReadBack(_) => (FAILED, ""),
            };
            eprintln!("lampi-agent profile derive: {e}{hint}");
            ExitCode::from(code)
        }
    }
}

/// Prints a profile. Exit 0, 66 no such profile (or unreadable), 78 the profile is invalid.
pub fn profile_show(name: &str) -> ExitCode {
    let found = crate::profile::Profile::locate(name, &crate::profile::Profile::search_dirs());
    match crate::profile::profile_show_cmd(name) {
        Ok(text) => {
            print!("{text}");
            ExitCode::from(OK)
        }
        Err(e) => {
            eprintln!("lampi-agent profile show: {e:#}");
            let unreadable = matches!(e.downcast_ref(), Some(crate::config::ConfigError::Read { .. }));
            ExitCode::from(if found.is_none() || unreadable { NOINPUT } else { CONFIG })
        }
    }
}

/// `lampi-agent demo`.
pub fn demo(transition: Option<std::time::Duration>) -> ExitCode {
    #[cfg(feature = "demo-broker")]
    {
        match runtime().block_on(crate::demo::run(crate::demo::Options { transition })) {
            Ok(()) => ExitCode::from(OK),
            Err(e) => {
                eprintln!("lampi-agent demo: {e:#}");
                ExitCode::from(FAILED)
            }
        }
    }
    #[cfg(not(feature = "demo-broker"))]
    {
        let _ = transition;
        eprintln!(
            "lampi-agent demo: this build has no embedded broker (built without the `demo-broker` feature, as the Pi \
             builds and the benchmarks' are); run the demo from a default build: `cargo run -- demo`"
        );
        ExitCode::from(USAGE)
    }
}

/// `lampi-agent selftest`: load the config (a bad one is a FAIL on `config` and exit 78, with every problem on
/// stderr too), run the chosen checks, print the table or the JSON, exit 0 when nothing failed, else 1.
pub fn selftest(config: Option<&Path>, request: selftest::Request) -> ExitCode {
    let (report, code) = match load_settings(config) {
        Err(e) => {
            let _ = config_error(&e);
            (selftest::config_failed(&e, config), CONFIG)
        }
        Ok(settings) => {
            let opts = selftest::Options {
                checks: request.checks,
                timeout: request.timeout.unwrap_or(settings.selftest.timeout),
                config_path: config.map(Path::to_path_buf),
            };
            tracing::debug!(bound = ?selftest::bound(&settings, &opts), "self-test starting");
            let report = runtime().block_on(selftest::run(&settings, &opts));
            let code = if report.ok() { OK } else { FAILED };
            (report, code)
        }
    };
    let mut out = std::io::stdout().lock();
    let written = if request.json {
        selftest::report::json(&report, &mut out)
    } else {
        selftest::report::table(&report, &mut out)
    };
    if let Err(e) = written.and_then(|_| out.flush()) {
        eprintln!("lampi-agent selftest: cannot write the report: {e}");
        return ExitCode::from(FAILED);
    }
    ExitCode::from(code)
}

/// `lampi-agent report merge`: read every run, merge, write the fleet folder, print its summary.
pub fn report_merge(runs: &[std::path::PathBuf], out: &Path) -> ExitCode {
    match crate::rundir::merge::merge_dirs(runs, out) {
        Ok((_, text)) => {
            print!("{text}");
            println!("merged {} run(s) into {}", runs.len(), out.display());
            ExitCode::from(OK)
        }
        Err(e) => {
            eprintln!("lampi-agent report merge: {e}");
            ExitCode::from(FAILED)
        }
    }
}

/// `lampi-agent report compare`: the text table on stdout, the page beside RUN_B (or at `--out`).
pub fn report_compare(a: &Path, b: &Path, out: Option<&Path>) -> ExitCode {
    let out = out.map_or_else(|| b.join(crate::report::compare::DEFAULT_FILE), Path::to_path_buf);
    match crate::report::compare::compare_dirs(a, b, &out) {
        Ok(text) => {
            print!("{text}");
            println!("page in {}", out.display());
            ExitCode::from(OK)
        }
        Err(e) => {
            eprintln!("lampi-agent report compare: {e}");
            ExitCode::from(FAILED)
        }
    }
}

/// `lampi-agent report plot`: one HTML page of charts for a run folder.
pub fn report_plot(run: &Path, out: Option<&Path>) -> ExitCode {
    let out = out.map_or_else(|| run.join(crate::report::plot::DEFAULT_FILE), Path::to_path_buf);
    match crate::report::plot::plot_dir(run, &out) {
        Ok(charts) => {
            println!("{} chart(s) in {}", charts, out.display());
            ExitCode::from(OK)
        }
        Err(e) => {
            eprintln!("lampi-agent report plot: {e}");
            ExitCode::from(FAILED)
        }
    }
}

/// Where settings come from: `--config`, else the default path if it exists, else the built-in defaults.
pub fn load_settings(explicit: Option<&Path>) -> Result<Settings, ConfigError> {
    let env = Settings::process_env;
    let settings = match explicit {
        Some(p) => Settings::load(p, &env)?,
        None if Path::new(config::DEFAULT_PATH).exists() => Settings::load(Path::new(config::DEFAULT_PATH), &env)?,
        None => {
            tracing::warn!("no {} found; using the built-in defaults", config::DEFAULT_PATH);
            Settings::defaults(&env)?
        }
    };
    tracing::info!("using config from {}", settings.origin);
    Ok(settings)
}

/// A bad config: every problem on stderr (key, value, expected), exit 78.
pub fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("lampi-agent: config error in {e}");
    ExitCode::from(CONFIG)
}

/// Runs `f` on the settings from `path` (see [`load_settings`]), or exits 78.
pub fn with_settings(path: Option<&Path>, f: impl FnOnce(Settings) -> ExitCode) -> ExitCode {
    match load_settings(path) {
        Ok(s) => f(s),
        Err(e) => config_error(&e),
    }
}

/// `lampi-agent config check [FILE]`: validate and print the settings it gives.
pub fn config_check(path: Option<&Path>) -> ExitCode {
    match load_settings(path) {
        Ok(s) => {
            println!("{}: OK", s.origin);
            println!("{s:#?}");
            ExitCode::from(OK)
        }
        Err(e) => config_error(&e),
    }
}

/// `lampi-agent config default`: the documented default file.
pub fn config_default() -> ExitCode {
    print!("{}", config::DEFAULT_TOML);
    ExitCode::from(OK)
}
