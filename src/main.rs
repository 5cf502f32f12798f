//! The `lampi-agent` binary: parse the command line, set up logging, hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = lampi_agent::cli::Cli::parse();
    lampi_agent::app::init_tracing(cli.verbose, cli.quiet_logs());
    lampi_agent::cli::run(cli)
}
