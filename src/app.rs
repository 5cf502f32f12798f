//! The edges of each mode: tracing set-up, the tokio runtime, signals, systemd notification, and turning library
//! results into exit codes. The modes' logic lives in their own modules; this file only wires them to the process.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::analytics::{replay::ReplayError, CmdError, DeriveError};
use crate::cli::{DemoArgs, ProfileCommand, SelftestArgs, EXIT_CONFIG, EXIT_FAILED, EXIT_OK};
use crate::cli::{EXIT_CANTCREAT, EXIT_DATAERR, EXIT_IOERR, EXIT_NOINPUT, EXIT_USAGE};
use crate::config::Settings;
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
            return ExitCode::from(if matches!(e, led::LedError::Unsupported) { EXIT_CONFIG } else { EXIT_FAILED });
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
        Ok(_) => ExitCode::from(EXIT_OK),
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// `lampi-agent loadtest`: flags and config into options, signals into a stop, the run, an exit code.
pub fn loadtest(mut settings: Settings, args: crate::cli::LoadtestArgs) -> ExitCode {
    use crate::loadtest::{self, Ending};
    if let Some(b) = &args.broker {
        match b.rsplit_once(':').map(|(h, p)| (h.to_string(), p.parse::<u16>())) {
            Some((h, Ok(p))) if !h.is_empty() => (settings.mqtt.host, settings.mqtt.port) = (h, p),
            _ => {
                eprintln!("lampi-agent: --broker {b:?}: expected HOST:PORT, e.g. broker.example.com:1883");
                return ExitCode::from(crate::cli::EXIT_USAGE);
            }
        }
    }
    if let Some(site) = &args.site {
        match reqwest::Url::parse(site) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => settings.web.url = u,
            _ => {
                eprintln!("lampi-agent: --site {site:?}: expected an http:// or https:// URL");
                return ExitCode::from(crate::cli::EXIT_USAGE);
            }
        }
    }
    let profile = match crate::profile::Profile::find(&args.profile) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("lampi-agent: profile error in {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut params = crate::schedule::Params::for_profile(&profile, args.devices, args.duration, seed);
    params.rate = args.rate;
    params.speed = args.speed;
    params.ramp_up = args.ramp_up;
    if let Some(h) = args.start_hour {
        params.start_hour = h;
    }
    if let Err(e) = crate::schedule::Schedule::new(&profile, &params) {
        eprintln!("lampi-agent: {e}");
        return ExitCode::from(crate::cli::EXIT_USAGE);
    }
    let now = time::OffsetDateTime::now_utc();
    let opts = loadtest::Options {
        profile,
        params,
        first_lamp: args.first_lamp.unwrap_or(0),
        this_lamp: args.devices == 1 && args.first_lamp.is_none(),
        user_pattern: args.user_pattern,
        internal_responder: match args.responder {
            Some(r) => r == crate::cli::ResponderArg::Internal,
            // This lamp's own daemon answers; a simulated fleet needs simulated lamps.
            None => !(args.devices == 1 && args.first_lamp.is_none()),
        },
        topic_prefix: args.topic_prefix,
        out: args.out.unwrap_or_else(|| loadtest::default_out(now)),
        interval: args.interval.max(std::time::Duration::from_secs(1)),
        timeout: args.timeout,
        stop_grace: args.stop_grace,
        reconnect: (args.reconnect_min, args.reconnect_max.max(args.reconnect_min)),
        broker_sys: args.broker_sys,
        preflight: !args.no_preflight,
        start_at: args.start_at,
        dry_run: args.dry_run,
        replay: args.replay.map(|path| loadtest::ReplaySource { path, format: args.replay_format.into() }),
        schedule_csv: args.schedule_csv,
    };
    match (&opts.replay, opts.dry_run) {
        (_, true) => {}
        (Some(r), false) => {
            tracing::info!(replay = %r.path.display(), devices = args.devices, out = %opts.out.display(), "load run")
        }
        (None, false) => {
            tracing::info!(seed, profile = %opts.profile.name, devices = args.devices, out = %opts.out.display(), "load run")
        }
    }
    let rt = runtime();
    let result = rt.block_on(async {
        // SIGINT/SIGTERM stop (a second one at once), SIGHUP silences the console: see loadtest::stop.
        let stop = loadtest::stop::signals().map_err(|e| anyhow::anyhow!("cannot install the signal handlers: {e}"))?;
        loadtest::run(&settings, &opts, stop).await
    });
    match result {
        Ok(Ending::Completed) => ExitCode::from(EXIT_OK),
        Ok(Ending::Interrupted) => ExitCode::from(130),
        Err(e) => {
            crate::console::err(&format!("lampi-agent loadtest: {e:#}"));
            let replay = e.chain().find_map(|c| c.downcast_ref::<ReplayError>());
            ExitCode::from(replay.map_or(EXIT_FAILED, replay_exit_code))
        }
    }
}

/// A trace that cannot be replayed: 66 not there, 65 bad data, 74 a read error, 2 a bad flag.
fn replay_exit_code(e: &ReplayError) -> u8 {
    match e {
        ReplayError::Open { .. } => EXIT_NOINPUT,
        ReplayError::Data { source, .. } => data_exit_code(source),
        ReplayError::Option(_) => EXIT_USAGE,
    }
}

/// Bad analytics data is 65 (EX_DATAERR); a read error part-way 74 (EX_IOERR); a bad option 2.
fn data_exit_code(e: &DeriveError) -> u8 {
    match e {
        DeriveError::Io(_) => EXIT_IOERR,
        DeriveError::Option { .. } => EXIT_USAGE,
        _ => EXIT_DATAERR,
    }
}

/// `lampi-agent profile derive|show`.
pub fn profile(cmd: ProfileCommand) -> ExitCode {
    match cmd {
        ProfileCommand::Derive(a) => profile_derive(a),
        ProfileCommand::Show(a) => profile_show(&a.profile),
    }
}

/// Derives and writes the profile (stdout without `-o`), the report on stderr. Exit 0, 66 the export cannot be
/// opened, 65 its data is bad (or no session starts in the window), 74 a read error, 73 the profile cannot be written.
fn profile_derive(a: crate::cli::DeriveArgs) -> ExitCode {
    let input = a.input.or(a.from).expect("clap requires EXPORT or --from");
    let opts = crate::analytics::DeriveOptions {
        name: a.name,
        window: a.window,
        tz_offset_minutes: a.tz,
        inactivity_gap: a.gap,
        lamps: a.lamps,
        ..Default::default()
    };
    let mut stdout = std::io::stdout().lock();
    match crate::analytics::profile_derive_cmd(&input, a.format.into(), &opts, a.output.as_deref(), &mut stdout) {
        Ok(report) => {
            eprintln!("{report}");
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            let (code, hint) = match &e {
                CmdError::Open { .. } => (EXIT_NOINPUT, ""),
                CmdError::Derive { source, .. } if matches!(**source, DeriveError::EmptyWindow { .. }) => {
                    (EXIT_DATAERR, " (choose another --window, or --tz)")
                }
                CmdError::Derive { source, .. } => (data_exit_code(source), ""),
                CmdError::Write { .. } => (EXIT_CANTCREAT, ""),
                CmdError::ReadBack(_) => (EXIT_FAILED, ""),
            };
            eprintln!("lampi-agent profile derive: {e}{hint}");
            ExitCode::from(code)
        }
    }
}

/// Prints a profile. Exit 0, 66 no such profile (or unreadable), 78 the profile is invalid.
fn profile_show(name: &str) -> ExitCode {
    let found = crate::profile::Profile::locate(name, &crate::profile::Profile::search_dirs());
    match crate::profile::profile_show_cmd(name) {
        Ok(text) => {
            print!("{text}");
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            eprintln!("lampi-agent profile show: {e:#}");
            let unreadable = matches!(e.downcast_ref(), Some(crate::config::ConfigError::Read { .. }));
            ExitCode::from(if found.is_none() || unreadable { EXIT_NOINPUT } else { EXIT_CONFIG })
        }
    }
}

/// `lampi-agent demo`.
pub fn demo(args: DemoArgs) -> ExitCode {
    #[cfg(feature = "demo-broker")]
    {
        match runtime().block_on(crate::demo::run(args)) {
            Ok(()) => ExitCode::from(EXIT_OK),
            Err(e) => {
                eprintln!("lampi-agent demo: {e:#}");
                ExitCode::from(EXIT_FAILED)
            }
        }
    }
    #[cfg(not(feature = "demo-broker"))]
    {
        let _ = args;
        eprintln!("lampi-agent demo: this build has no embedded broker (built without the `demo-broker` feature)");
        ExitCode::from(crate::cli::EXIT_USAGE)
    }
}

/// `lampi-agent selftest`: load the config (a bad one is a FAIL on `config` and exit 78, with every problem on
/// stderr too), run the chosen checks, print the table or the JSON, exit 0 when nothing failed, else 1.
pub fn selftest(config: Option<&Path>, args: SelftestArgs) -> ExitCode {
    let checks = selftest::select(&args.only, &args.skip);
    let (report, code) = match crate::cli::load_settings(config) {
        Err(e) => {
            let _ = crate::cli::config_error(&e);
            (selftest::config_failed(&e, config), EXIT_CONFIG)
        }
        Ok(settings) => {
            let opts = selftest::Options {
                checks,
                timeout: args.timeout.unwrap_or(settings.selftest.timeout),
                config_path: config.map(Path::to_path_buf),
            };
            tracing::debug!(bound = ?selftest::bound(&settings, &opts), "self-test starting");
            let report = runtime().block_on(selftest::run(&settings, &opts));
            let code = if report.ok() { EXIT_OK } else { EXIT_FAILED };
            (report, code)
        }
    };
    let mut out = std::io::stdout().lock();
    let written =
        if args.json { selftest::report::json(&report, &mut out) } else { selftest::report::table(&report, &mut out) };
    if let Err(e) = written.and_then(|_| out.flush()) {
        eprintln!("lampi-agent selftest: cannot write the report: {e}");
        return ExitCode::from(EXIT_FAILED);
    }
    ExitCode::from(code)
}

/// `lampi-agent report merge`: read every run, merge, write the fleet folder, print its summary.
pub fn report_merge(runs: &[std::path::PathBuf], out: &Path) -> ExitCode {
    match crate::report::merge::merge_dirs(runs, out) {
        Ok((_, text)) => {
            print!("{text}");
            println!("merged {} run(s) into {}", runs.len(), out.display());
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            eprintln!("lampi-agent report merge: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// `lampi-agent report plot`: one HTML page of charts for a run folder.
pub fn report_plot(run: &Path, out: Option<&Path>) -> ExitCode {
    let out = out.map_or_else(|| run.join(crate::report::plot::DEFAULT_FILE), Path::to_path_buf);
    match crate::report::plot::plot_dir(run, &out) {
        Ok(charts) => {
            println!("{} chart(s) in {}", charts, out.display());
            ExitCode::from(EXIT_OK)
        }
        Err(e) => {
            eprintln!("lampi-agent report plot: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
