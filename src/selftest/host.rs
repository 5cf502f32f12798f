//! Checks about this machine that need no network: the config in use, the lamp's identity, and the clock.
//!
//! Clock: synchronised by NTP (asked of `timedatectl show -p NTPSynchronized`, else read from the kernel with
//! `adjtimex`, which is where timedated gets it), and not before this build's date (a Pi has no real-time clock:
//! until NTP sets it, the time is wherever the last shutdown left it, and TLS certificates look invalid).

use time::macros::format_description;
use time::OffsetDateTime;

use super::{Ctx, Verdict};
use crate::config::{Backend, Settings};
use crate::identity::Identity;

/// The build's date as Unix seconds (the commit date, or `SOURCE_DATE_EPOCH`; set by build.rs): a lower bound on
/// any correct clock reading.
pub const BUILD_EPOCH: &str = env!("LAMPI_BUILD_EPOCH");

pub fn config(s: &Settings) -> Verdict {
    let tls = if s.mqtt.tls.is_some() { " (TLS)" } else { "" };
    let backend = match s.led.backend {
        Backend::Auto => "auto",
        Backend::Rppal => "rppal",
        Backend::Sim => "sim",
    };
    let [r, g, b] = s.led.pins;
    let summary =
        format!("broker {}:{}{tls}, web {}, LED {backend} on GPIO {r}/{g}/{b}", s.mqtt.host, s.mqtt.port, s.web.url);
    if s.origin == "built-in defaults" {
        return Verdict::warn(
            format!("no {} (running on the built-in defaults): {summary}", crate::config::DEFAULT_PATH),
            format!("install a config: `lampi-agent config default > {}`, then edit it", crate::config::DEFAULT_PATH),
        );
    }
    Verdict::pass(format!("{}: {summary}", s.origin))
}

pub fn identity(id: &Identity, interface: &str) -> Verdict {
    if id.device_id == "000000000000" {
        return Verdict::fail(
            format!("no device id: {}", id.source),
            format!(
                "set device.id = \"<12 hex digits>\" in the config, or device.interface to the interface whose MAC \
                 is the id (now {interface:?})"
            ),
        );
    }
    if id.source == "config" || id.source == format!("{interface} MAC") {
        return Verdict::pass(id.to_string());
    }
    Verdict::warn(
        id.to_string(),
        format!("{interface} has no MAC here; set device.id (or device.interface) if this id is not the lamp's"),
    )
}

/// What is known about NTP synchronisation, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sync {
    Yes(&'static str),
    No(&'static str),
    Unknown(String),
}

fn utc(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC")).ok())
        .unwrap_or_else(|| format!("{unix} (Unix time)"))
}

fn date(unix: i64) -> String {
    utc(unix).get(..10).unwrap_or_default().to_string()
}

/// The clock's verdict from the wall-clock time, the build date and the synchronisation status.
pub fn clock_verdict(now_unix: i64, build_unix: i64, sync: &Sync) -> Verdict {
    if now_unix < build_unix {
        return Verdict::fail(
            format!("the clock says {}, before this build ({})", utc(now_unix), date(build_unix)),
            "a Pi has no battery clock: NTP must set it after boot. `timedatectl set-ntp true`, check the network \
             and `timedatectl timesync-status`",
        );
    }
    let now = utc(now_unix);
    match sync {
        Sync::Yes(how) => Verdict::pass(format!("{now}, synchronised ({how})")),
        Sync::No(how) => Verdict::warn(
            format!("{now}, not synchronised ({how})"),
            "`timedatectl set-ntp true`; `systemctl status systemd-timesyncd`; is NTP (UDP 123) reachable?",
        ),
        Sync::Unknown(why) => Verdict::warn(
            format!("{now}, synchronisation unknown ({why})"),
            "install and enable systemd-timesyncd (or chrony) so NTP keeps the clock",
        ),
    }
}

/// `timedatectl show -p NTPSynchronized --value`: Some(true/false), or None when timedated cannot answer.
async fn timedatectl() -> Result<bool, String> {
    let out = tokio::process::Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("timedatectl: {e}"))?;
    match String::from_utf8_lossy(&out.stdout).trim() {
        "yes" if out.status.success() => Ok(true),
        "no" if out.status.success() => Ok(false),
        _ => {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(format!("timedatectl: {}", err.lines().next().unwrap_or("no answer").trim()))
        }
    }
}

/// The kernel's NTP status (`adjtimex`, read only): unsynchronised when STA_UNSYNC is set or the state is
/// TIME_ERROR, which is what timedated reports as NTPSynchronized.
fn kernel_synced() -> Result<bool, String> {
    // SAFETY: adjtimex with modes = 0 only reads into the zeroed struct we own.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(format!("adjtimex: {}", std::io::Error::last_os_error()));
    }
    Ok(state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0)
}

pub async fn clock(ctx: &Ctx<'_>) -> Verdict {
    ctx.stage("waiting for `timedatectl show -p NTPSynchronized`");
    let sync = match timedatectl().await {
        Ok(true) => Sync::Yes("timedatectl"),
        Ok(false) => Sync::No("timedatectl"),
        Err(why) => match kernel_synced() {
            Ok(true) => Sync::Yes("kernel NTP status; timedatectl unavailable"),
            Ok(false) => Sync::No("kernel NTP status; timedatectl unavailable"),
            Err(e) => Sync::Unknown(format!("{why}; {e}")),
        },
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    clock_verdict(now, BUILD_EPOCH.parse().unwrap_or(0), &sync)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::Status;

    #[test]
    fn a_clock_before_the_build_fails_whatever_ntp_says() {
        let build = 1_780_000_000; // 2026-05-28
        let v = clock_verdict(86_400, build, &Sync::Yes("timedatectl"));
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.detail, "the clock says 1970-01-02 00:00:00 UTC, before this build (2026-05-28)");
        assert!(v.hint.unwrap().contains("timedatectl set-ntp true"));
    }

    #[test]
    fn sync_status_decides_pass_or_warn() {
        let build = 1_700_000_000;
        let now = 1_780_000_000;
        let pass = clock_verdict(now, build, &Sync::Yes("timedatectl"));
        assert_eq!(
            (pass.status, pass.detail.as_str()),
            (Status::Pass, "2026-05-28 20:26:40 UTC, synchronised (timedatectl)")
        );
        let no = clock_verdict(now, build, &Sync::No("timedatectl"));
        assert_eq!(no.status, Status::Warn);
        assert!(no.hint.unwrap().contains("systemd-timesyncd"));
        assert_eq!(clock_verdict(now, build, &Sync::Unknown("x".into())).status, Status::Warn);
    }

    #[test]
    fn the_build_epoch_is_a_plausible_date() {
        let b: i64 = BUILD_EPOCH.parse().unwrap();
        assert!(b > 1_700_000_000, "{b}");
    }

    #[test]
    fn identity_from_config_or_mac_passes_a_fallback_warns_and_none_fails() {
        let id = |d: &str, s: &str| Identity { device_id: d.into(), source: s.into() };
        assert_eq!(identity(&id("b827eb08451e", "config"), "eth0").status, Status::Pass);
        assert_eq!(identity(&id("b827eb08451e", "eth0 MAC"), "eth0").status, Status::Pass);
        let w = identity(&id("b827eb000001", "wlan0 MAC (no eth0)"), "eth0");
        assert_eq!(w.status, Status::Warn);
        assert_eq!(w.detail, "b827eb000001 (from wlan0 MAC (no eth0))");
        let f = identity(&id("000000000000", "fallback (no eth0, no interface with a MAC)"), "eth0");
        assert_eq!(f.status, Status::Fail);
        assert!(f.hint.unwrap().contains("device.id"));
    }

    #[test]
    fn the_config_check_warns_on_built_in_defaults() {
        let env = |_: &str| None;
        let d = Settings::defaults(&env).unwrap();
        let v = config(&d);
        assert_eq!(v.status, Status::Warn);
        assert!(
            v.detail.contains("broker localhost:1883, web http://localhost:8000/, LED auto on GPIO 19/26/13"),
            "{}",
            v.detail
        );
        let f = Settings::from_toml("[led]\nbackend = \"sim\"\n", "/etc/x.toml", &env).unwrap();
        assert_eq!(config(&f).status, Status::Pass);
        assert!(config(&f).detail.starts_with("/etc/x.toml: broker"), "{}", config(&f).detail);
    }
}
