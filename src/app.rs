//! The edges of each mode: tracing set-up, the tokio runtime, signals, systemd notification, and turning library
//! results into exit codes. The modes' logic lives in their own modules; this file only wires them to the process.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::cli::{DemoArgs, SelftestArgs, EXIT_CONFIG, EXIT_FAILED, EXIT_OK};
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
        .with_writer(std::io::stderr)
        .with_ansi(!journald && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// Completes on SIGTERM or SIGINT.
pub async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
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
    match runtime().block_on(daemon::run(&settings, &id, led, ready, terminated())) {
        Ok(_) => ExitCode::from(EXIT_OK),
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(EXIT_FAILED)
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
