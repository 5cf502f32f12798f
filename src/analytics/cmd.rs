//! `lampi-agent profile derive`: the I/O shell around [`derive`]: open the export, derive, write the profile.
//!
//! This is the edge: it opens files and (in [`profile_derive_cmd`]) reads the clock once for the header. The CLI
//! wires its flags to these functions; the flag names used in the recorded command are the CLI's.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::{derive, DeriveError, DeriveOptions, Derived, Format};
use crate::profile::{format_offset, Profile};

/// Why `profile derive` failed; each names the file. The CLI gives each its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("cannot open the export {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {source}", path.display())]
    Derive {
        path: PathBuf,
        #[source]
        source: Box<DeriveError>,
    },
    #[error("cannot write the profile to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the derived profile does not read back (a bug): {0}")]
    ReadBack(String),
}

/// The command line that reproduces a derivation, as recorded at the top of the written profile.
pub fn derive_command(input: &str, format: Format, opts: &DeriveOptions, output: Option<&str>) -> String {
    let (s, e) = opts.window;
    let mut cmd = format!(
        "lampi-agent profile derive --format {format} --window {s}-{e} --tz {} --gap {} --name {}",
        format_offset(opts.tz_offset_minutes),
        humantime::format_duration(opts.inactivity_gap),
        opts.name
    );
    if let Some(n) = opts.lamps {
        cmd.push_str(&format!(" --lamps {n}"));
    }
    cmd.push_str(&format!(" {input}"));
    if let Some(o) = output {
        cmd.push_str(&format!(" -o {o}"));
    }
    cmd
}

/// Derives a profile from the export at `input` and writes it to `output` (or to `stdout` when `None`). Returns a
/// short report for the terminal (stderr). Reads the wall clock once, for the header's derivation time.
pub fn profile_derive_cmd(
    input: &Path,
    format: Format,
    opts: &DeriveOptions,
    output: Option<&Path>,
    stdout: &mut dyn Write,
) -> Result<String, CmdError> {
    profile_derive_cmd_at(input, format, opts, output, stdout, OffsetDateTime::now_utc())
}

/// [`profile_derive_cmd`] with the derivation time given.
pub fn profile_derive_cmd_at(
    input: &Path,
    format: Format,
    opts: &DeriveOptions,
    output: Option<&Path>,
    stdout: &mut dyn Write,
    derived_at: OffsetDateTime,
) -> Result<String, CmdError> {
    let file = File::open(input).map_err(|source| CmdError::Open { path: input.to_path_buf(), source })?;
    let derived =
        derive(file, format, opts).map_err(|e| CmdError::Derive { path: input.to_path_buf(), source: Box::new(e) })?;
    let resolved = derived.report.format.parse().unwrap_or(format);
    let out_str = output.map(|o| o.display().to_string());
    let command = derive_command(&input.display().to_string(), resolved, opts, out_str.as_deref());
    let source = input.file_name().map_or_else(|| input.display().to_string(), |n| n.to_string_lossy().into_owned());
    let text = derived.to_toml(&source, &command, derived_at);
    Profile::from_toml(&text, "the derived profile").map_err(|e| CmdError::ReadBack(e.to_string()))?;
    let written = match output {
        Some(path) => write_atomically(path, &text),
        None => stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()),
    };
    written.map_err(|source| CmdError::Write { path: output.unwrap_or(Path::new("stdout")).to_path_buf(), source })?;
    Ok(report(&derived, output))
}

fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The terminal summary of a derivation.
pub fn report(d: &Derived, output: Option<&Path>) -> String {
    let r = &d.report;
    let p = &d.profile;
    let mut lines = vec![format!(
        "derived profile {:?} from a {} export ({} records, {} lamps over {} days): {} of {} sessions start in {}",
        p.name, r.format, r.records, r.lamps, r.days, r.sessions_window, r.sessions_total, p.window
    )];
    let rates: Vec<String> = p.window.hours().iter().zip(&p.rates).map(|(h, x)| format!("{h:02}h {x}")).collect();
    lines.push(format!("  sessions per lamp per hour: {}", rates.join(", ")));
    lines.push(format!(
        "  on average {:.2} messages per drag and {:.2} controls per session; median think time {:.2} s",
        r.mean_drag_messages,
        r.mean_controls_per_session,
        p.think.control.median()
    ));
    if r.bad > 0 {
        lines.push(format!("  {} malformed records tolerated, first: {}", r.bad, r.bad_examples.join("; ")));
    }
    if !r.unknown.is_empty() {
        let u: Vec<String> = r.unknown.iter().map(|(k, v)| format!("{k:?} {v}")).collect();
        lines.push(format!("  unknown event names (ignored): {}", u.join(", ")));
    }
    if r.unattributed > 0 {
        lines.push(format!("  {} UI events matched no lamp (ignored)", r.unattributed));
    }
    lines.extend(r.warnings.iter().map(|w| format!("  warning: {w}")));
    if let Some(o) = output {
        lines.push(format!("  wrote {}", o.display()));
    }
    lines.join("\n")
}
