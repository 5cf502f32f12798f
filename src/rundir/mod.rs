//! The run folder as input: one folder read back ([`read`]: the exact per-interval histograms of `latency.hlog`,
//! failures, totals), many merged into one fleet view ([`merge`], adding histograms, never averaging percentiles),
//! and the CSV framing both read ([`csv`]). Errors name the folder or file (and line) at fault.
//!
//! A core module: `report` (merge, plot, compare) and `loadtest --find-limit` (which reads its steps back and
//! merges them into one timeline) both use it; it knows nothing of either.

pub mod csv;
pub mod merge;
pub mod read;

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
