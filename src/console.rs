//! The process's console: every line a mode writes for a person (stdout, stderr, and the tracing log), written so
//! that a vanished terminal never stops the process.
//!
//! Two failure modes of a terminal matter here. A closed pipe (the reader went away: `lampi-agent loadtest | head`,
//! a dead SSH channel) makes every write fail with EPIPE; Rust's `println!` panics on that, and with
//! `panic = "abort"` in release the run or the daemon would die. A hang-up (SIGHUP, what a dropped SSH session sends)
//! means the terminal is gone, not that the work should stop. So: writes here never panic and ignore errors, and
//! after [`hang_up`] nothing more goes to the terminal at all. Lines can also be kept in a log file ([`keep_in`],
//! the run folder's `console.log`), which then holds everything the console showed, before and after a hang-up.
//!
//! It owns process-wide state (the tracing subscriber is process-wide too): whether the terminal is gone, and the
//! log file. It must not decide what to print; the modes do.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static HUNG_UP: AtomicBool = AtomicBool::new(false);
static LOG: Mutex<Option<File>> = Mutex::new(None);

/// Where a line goes on the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The terminal is gone (SIGHUP): from now on, lines go only to the log file, if one is kept.
pub fn hang_up() {
    HUNG_UP.store(true, Ordering::SeqCst);
}

/// Whether [`hang_up`] was called.
pub fn hung_up() -> bool {
    HUNG_UP.load(Ordering::SeqCst)
}

/// From now on, keep every console line (and every log event) in `path` as well (appended).
pub fn keep_in(path: &Path) -> io::Result<()> {
    let f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    *LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    Ok(())
}

/// Stops keeping lines in the log file (the run is over; its folder is complete).
pub fn stop_keeping() {
    *LOG.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Writes `bytes` to the terminal (unless hung up) and `log_bytes` to the log file (if kept); errors are ignored.
fn write(stream: Stream, bytes: &[u8], log_bytes: &[u8]) {
    if !hung_up() {
        let _ = match stream {
            Stream::Stdout => io::stdout().lock().write_all(bytes).and_then(|_| io::stdout().lock().flush()),
            Stream::Stderr => io::stderr().lock().write_all(bytes),
        };
    }
    if let Some(f) = LOG.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        let _ = f.write_all(log_bytes);
    }
}

/// One line (or several) on stdout, with a line break.
pub fn out(text: &str) {
    let line = format!("{text}\n");
    write(Stream::Stdout, line.as_bytes(), line.as_bytes());
}

/// One line on stderr, with a line break.
pub fn err(text: &str) {
    let line = format!("{text}\n");
    write(Stream::Stderr, line.as_bytes(), line.as_bytes());
}

/// A progress line on stderr: on a terminal it overwrites the previous one (`\r`), in the log file it is a line.
pub fn progress(text: &str, overwrite: bool) {
    let log = format!("{text}\n");
    if overwrite {
        write(Stream::Stderr, format!("\r\x1b[2K{text}").as_bytes(), log.as_bytes());
    } else {
        write(Stream::Stderr, log.as_bytes(), log.as_bytes());
    }
}

/// Ends an overwritten progress line on the terminal (nothing in the log file).
pub fn end_progress() {
    write(Stream::Stderr, b"\n", b"");
}

/// The tracing subscriber's writer: stderr as [`err`] writes it (never fails, silent after a hang-up, kept in the
/// log file).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write(Stream::Stderr, buf, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_in_the_log_and_a_hang_up_keeps_them_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.log");
        keep_in(&path).unwrap();
        out("first");
        progress("progress 1", true);
        let _ = Stderr.write(b"a log event\n").unwrap();
        hang_up();
        err("after the hang-up");
        stop_keeping();
        out("not kept");
        HUNG_UP.store(false, Ordering::SeqCst);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "first\nprogress 1\na log event\nafter the hang-up\n");
    }
}
