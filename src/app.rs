//! The edges of each mode: tracing set-up, the tokio runtime, signals, systemd notification, and turning library
//! results into exit codes. The modes' logic lives in their own modules; this file only wires them to the process.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::cli::{DemoArgs, EXIT_CONFIG, EXIT_FAILED, EXIT_OK};
use crate::config::Settings;
use crate::{daemon, identity, led};

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
