//! The power-loss-safe state file: the last lamp state, written atomically so a power cut at any moment leaves either
//! the old file or the new one, never a torn one.
//!
//! Write: a temp file in the same directory, fsync it, rename over `lamp-state.json`, fsync the directory. Read: a
//! missing file gives the defaults; an unreadable or corrupt one is moved aside (`lamp-state.json.bad-<unix time>`)
//! with a warning, and the defaults are used. The format is the `lamp/changed` JSON (client = who last changed it).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::lamp::{codec, State};

pub const FILE_NAME: &str = "lamp-state.json";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write the lamp state to {path}: {source} (is the state directory writable by the service user?)")]
    Write { path: PathBuf, source: io::Error },
}

/// What loading found, so the caller can log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    Restored(State),
    Missing,
    /// The file was bad; it was moved to `aside` (or could not be, `aside` = None) and defaults are used.
    Corrupt {
        reason: String,
        aside: Option<PathBuf>,
    },
}

impl Loaded {
    pub fn state(&self) -> State {
        match self {
            Loaded::Restored(s) => *s,
            _ => State::default(),
        }
    }
}

/// The state file in one directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the saved state; never fails (a lamp must light up), but reports what it found.
    pub fn load(&self, now_unix: u64) -> Loaded {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Missing,
            Err(e) => return Loaded::Corrupt { reason: format!("unreadable: {e}"), aside: None },
        };
        match codec::parse_state(&bytes) {
            Ok((state, _client)) => Loaded::Restored(state),
            Err(e) => {
                let aside = self.dir.join(format!("{FILE_NAME}.bad-{now_unix}"));
                let aside = fs::rename(&path, &aside).ok().map(|_| aside);
                Loaded::Corrupt { reason: e.to_string(), aside }
            }
        }
    }

    /// Saves a state atomically and durably.
    pub fn save(&self, state: &State, client: &str) -> Result<(), StoreError> {
        let path = self.path();
        let err = |source| StoreError::Write { path: path.clone(), source };
        fs::create_dir_all(&self.dir).map_err(err)?;
        let tmp = self.dir.join(format!(".{FILE_NAME}.tmp"));
        let mut f = File::create(&tmp).map_err(err)?;
        f.write_all(&codec::encode_changed(state, client)).map_err(err)?;
        f.write_all(b"\n").map_err(err)?;
        f.sync_all().map_err(err)?;
        drop(f);
        fs::rename(&tmp, &path).map_err(err)?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lamp::Level;

    #[test]
    fn save_then_load_restores_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("sub"));
        assert_eq!(store.load(0), Loaded::Missing);
        let st = State { h: Level::from_f64(0.3).unwrap(), s: Level::ZERO, brightness: Level::FULL, on: false };
        store.save(&st, "lamp_ui").unwrap();
        assert_eq!(store.load(0), Loaded::Restored(st));
        assert!(!dir.path().join("sub").join(format!(".{FILE_NAME}.tmp")).exists());
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_defaults_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        fs::write(store.path(), b"{\"color\": {\"h\": 0.5").unwrap();
        let loaded = store.load(1234);
        let Loaded::Corrupt { aside: Some(aside), .. } = &loaded else { panic!("{loaded:?}") };
        assert!(aside.ends_with("lamp-state.json.bad-1234"));
        assert!(aside.exists() && !store.path().exists());
        assert_eq!(loaded.state(), State::default());
    }

    #[test]
    fn an_unwritable_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"x").unwrap();
        let err = Store::new(&file).save(&State::default(), "x").unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
