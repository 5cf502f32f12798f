//! `lampi-agent report`: reading run folders back, merging many lamps' runs into one fleet view ([`merge`]) and
//! drawing a run as one self-contained HTML page ([`plot`]).
//!
//! This module owns the run folder as *input*: which files hold what, how to parse them and how to name the bad
//! file when one is damaged ([`run`], [`csv`]). The numbers themselves stay in [`crate::metrics`]: merged intervals
//! are built as [`crate::metrics::IntervalReport`]s from exactly added histograms and written with the same writers
//! a single run uses, so a merged folder has the same formats (and can itself be merged or plotted). It never
//! averages percentiles.

pub mod compare;
pub mod csv;
pub mod dist;
pub mod draw;
pub mod extras;
pub mod merge;
pub mod plot;
pub mod run;

use std::path::{Path, PathBuf};

/// What can go wrong reading, merging or plotting runs. Each names the file or folder at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The folder is not a load-test run folder (or was copied without its files): point at the folder that holds
    /// `latency.hlog` and `latency.csv`.
    #[error("{}: not a lampi-agent run folder (no {missing})", dir.display())]
    NotARun { dir: PathBuf, missing: &'static str },
    /// A file could not be read or written (permissions, disk full, removed while reading).
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A file is damaged or was not written by lampi-agent; `line` is 1-based (0: the whole file).
    #[error("{}:{line}: {detail}", path.display())]
    Parse { path: PathBuf, line: usize, detail: String },
    /// The run's histogram log is damaged: re-fetch it from the lamp, or leave the run out.
    #[error("{}: {source}", path.display())]
    Hlog { path: PathBuf, source: crate::metrics::Error },
    /// Nothing to merge or plot.
    #[error("{0}")]
    Empty(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn parse(path: &Path, line: usize, detail: impl Into<String>) -> Error {
        Error::Parse { path: path.to_path_buf(), line, detail: detail.into() }
    }
}

/// Reads a whole file, naming it on failure.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Reads a whole text file, naming it on failure.
pub(crate) fn read_text(path: &Path) -> Result<String, Error> {
    let bytes = read(path)?;
    String::from_utf8(bytes).map_err(|e| Error::parse(path, 0, format!("not UTF-8 text: {e}")))
}
