//! The disk and resources check: the state directory takes a write (a probe file written, fsynced and removed, as
//! the lamp's own state writes are), free space there, available memory, and the CPU temperature where /sys has it.
//! Readings are gathered off the async threads (a hung disk must not stall the timeout); verdicts are pure.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{ms, Ctx, Verdict};

/// Below this much free space under the state directory: WARN.
pub const LOW_DISK: u64 = 50 * 1000 * 1000;
/// Below this much available memory: WARN.
pub const LOW_MEMORY: u64 = 50 * 1000 * 1000;
/// Above this CPU temperature (°C): WARN (a Pi throttles from 80 °C).
pub const HOT: f64 = 80.0;
pub const THERMAL_ZONE: &str = "/sys/class/thermal/thermal_zone0/temp";

/// What the state directory did with a probe write.
#[derive(Debug)]
pub enum Probe {
    Written(Duration),
    Missing,
    NotADirectory,
    Failed(io::Error),
}

/// Everything the check reads.
#[derive(Debug)]
pub struct Readings {
    pub dir: PathBuf,
    pub probe: Probe,
    pub free: Result<u64, String>,
    /// (available, total) bytes.
    pub memory: Option<(u64, u64)>,
    /// °C.
    pub temperature: Option<f64>,
}

/// Writes, fsyncs and removes a probe file in `dir`.
pub fn probe(dir: &Path) -> Probe {
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => return Probe::NotADirectory,
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Probe::Missing,
        Err(e) => return Probe::Failed(e),
    }
    let path = dir.join(format!(".lampi-selftest-{}.probe", std::process::id()));
    let t0 = Instant::now();
    let written = File::create(&path).and_then(|mut f| {
        f.write_all(b"lampi-agent selftest\n")?;
        f.sync_all()
    });
    let removed = fs::remove_file(&path);
    match written.and(removed) {
        Ok(()) => Probe::Written(t0.elapsed()),
        Err(e) => Probe::Failed(e),
    }
}

/// Free bytes for an unprivileged writer on the file system holding `path` (or its nearest existing ancestor).
pub fn free_bytes(path: &Path) -> Result<u64, String> {
    let existing = path.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/"));
    let c = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: statvfs writes into the zeroed struct we own; `c` is a valid NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(format!("statvfs {}: {}", existing.display(), io::Error::last_os_error()));
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

fn memory() -> Option<(u64, u64)> {
    let m = crate::host::meminfo(&fs::read_to_string("/proc/meminfo").ok()?);
    Some((*m.get("MemAvailable")? * 1024, *m.get("MemTotal")? * 1024))
}

fn temperature(path: &Path) -> Option<f64> {
    let milli: f64 = fs::read_to_string(path).ok()?.trim().parse().ok()?;
    Some(milli / 1000.0)
}

pub fn read(dir: &Path) -> Readings {
    Readings {
        dir: dir.to_path_buf(),
        probe: probe(dir),
        free: free_bytes(dir),
        memory: memory(),
        temperature: temperature(Path::new(THERMAL_ZONE)),
    }
}

/// "12.3 GB", "45.0 MB" (decimal units, as `df -H`).
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else {
        format!("{:.1} MB", b / 1e6)
    }
}

pub fn verdict(r: &Readings) -> Verdict {
    let dir = r.dir.display();
    let state = match &r.probe {
        Probe::Written(d) => Verdict::pass(format!("state dir {dir} writable (write+fsync {})", ms(*d))),
        Probe::Missing => Verdict::warn(
            format!("state dir {dir} does not exist yet"),
            format!(
                "`lampi-agent run` creates it (systemd: StateDirectory=lampi-agent), or `install -d -o lampi {dir}`"
            ),
        ),
        Probe::NotADirectory => Verdict::fail(
            format!("state dir {dir} is not a directory"),
            "set state.dir to a directory the service user owns (or leave it unset: systemd's StateDirectory)",
        ),
        Probe::Failed(e) => Verdict::fail(
            format!("state dir {dir} is not writable: {e}"),
            format!("the lamp cannot save its state: `chown -R lampi: {dir}`, check the mount (`findmnt -T {dir}`)"),
        ),
    };
    let space = match &r.free {
        Ok(free) if *free < LOW_DISK => Verdict::warn(
            format!("only {} free", size(*free)),
            "free some space (`journalctl --vacuum-size=50M`, `apt-get clean`)",
        ),
        Ok(free) => Verdict::pass(format!("{} free", size(*free))),
        Err(e) => Verdict::warn(e.clone(), "check the file system under state.dir"),
    };
    let memory = match r.memory {
        Some((avail, total)) if avail < LOW_MEMORY => Verdict::warn(
            format!("memory: only {} available of {}", size(avail), size(total)),
            "something is using the memory: `ps aux --sort=-rss | head`",
        ),
        Some((avail, total)) => Verdict::pass(format!("memory {} available of {}", size(avail), size(total))),
        None => Verdict::pass("memory: no /proc/meminfo"),
    };
    let temp = match r.temperature {
        Some(t) if t > HOT => Verdict::warn(
            format!("CPU {t:.1} °C"),
            "the Pi throttles above 80 °C: give it air or a heat sink, check `vcgencmd get_throttled`",
        ),
        Some(t) => Verdict::pass(format!("CPU {t:.1} °C")),
        None => Verdict::pass("CPU temperature skipped (no thermal_zone0)"),
    };
    Verdict::combine(vec![state, space, memory, temp])
}

pub async fn check(ctx: &Ctx<'_>) -> Verdict {
    let dir = ctx.settings.state.dir.clone();
    ctx.stage(format!("waiting for a probe write in {}", dir.display()));
    match tokio::task::spawn_blocking(move || read(&dir)).await {
        Ok(r) => verdict(&r),
        Err(e) => Verdict::fail(format!("the disk check crashed: {e}"), "report this as a bug"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::Status;

    fn readings(probe: Probe) -> Readings {
        Readings {
            dir: "/var/lib/lampi-agent".into(),
            probe,
            free: Ok(8_000_000_000),
            memory: Some((600_000_000, 1_000_000_000)),
            temperature: Some(47.2),
        }
    }

    #[test]
    fn a_healthy_lamp_passes_with_every_reading_shown() {
        let v = verdict(&readings(Probe::Written(Duration::from_micros(2500))));
        assert_eq!(v.status, Status::Pass);
        assert_eq!(
            v.detail,
            "state dir /var/lib/lampi-agent writable (write+fsync 2.5 ms); 8.0 GB free; memory 600.0 MB available \
             of 1.0 GB; CPU 47.2 °C"
        );
        assert_eq!(v.hint, None);
    }

    #[test]
    fn thresholds_warn_and_an_unwritable_dir_fails() {
        let mut r = readings(Probe::Written(Duration::ZERO));
        r.free = Ok(LOW_DISK - 1);
        r.temperature = Some(81.0);
        r.memory = Some((LOW_MEMORY - 1, 1_000_000_000));
        let v = verdict(&r);
        assert_eq!(v.status, Status::Warn);
        assert!(v.detail.contains("only 50.0 MB free") && v.detail.contains("CPU 81.0 °C"), "{}", v.detail);
        assert_eq!(v.hint.unwrap().matches("; ").count(), 2, "three hints");
        r.temperature = None;
        r.probe = Probe::Failed(io::ErrorKind::PermissionDenied.into());
        let f = verdict(&r);
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("CPU temperature skipped"), "{}", f.detail);
        assert!(f.hint.unwrap().contains("chown -R lampi: /var/lib/lampi-agent"));
        assert_eq!(verdict(&readings(Probe::Missing)).status, Status::Warn);
    }

    #[test]
    fn the_probe_leaves_nothing_behind_and_fails_where_nothing_can_be_written() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(probe(dir.path()), Probe::Written(_)));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(matches!(probe(&file), Probe::NotADirectory));
        assert!(matches!(probe(&file.join("state")), Probe::Failed(_)), "ENOTDIR under a file");
        assert!(matches!(probe(&dir.path().join("nope")), Probe::Missing));
        assert!(free_bytes(&dir.path().join("nope/deeper")).unwrap() > 0);
    }
}
