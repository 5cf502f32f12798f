//! The lamp's identity: its device id, from config or from a network interface's MAC (DESIGN section 2:
//! `device_id` = MAC of eth0 without colons, 12 lowercase hex digits). Reads /sys; say how the id was found.

use std::fmt;
use std::path::Path;

use crate::config::{self, Settings};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub device_id: String,
    /// How it was found: "config", "eth0 MAC", or a fallback.
    pub source: String,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.device_id, self.source)
    }
}

/// The MAC of an interface as a device id, read from `<sys>/class/net/<iface>/address`.
pub fn mac_id(sys: &Path, iface: &str) -> Option<String> {
    let mac = std::fs::read_to_string(sys.join("class/net").join(iface).join("address")).ok()?;
    let id: String = mac.trim().chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase();
    (config::is_device_id(&id) && id != "000000000000").then_some(id)
}

/// Finds the device id: config, else the configured interface's MAC, else the first interface with a real MAC
/// (a development machine without eth0), else all zeros. The last two are logged as warnings by the caller.
pub fn resolve(settings: &Settings) -> Identity {
    resolve_in(settings, Path::new("/sys"))
}

pub fn resolve_in(settings: &Settings, sys: &Path) -> Identity {
    if let Some(id) = &settings.device.id {
        return Identity { device_id: id.clone(), source: "config".into() };
    }
    let iface = &settings.device.interface;
    if let Some(id) = mac_id(sys, iface) {
        return Identity { device_id: id, source: format!("{iface} MAC") };
    }
    let mut names: Vec<String> = std::fs::read_dir(sys.join("class/net"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    for name in names.iter().filter(|n| *n != "lo") {
        if let Some(id) = mac_id(sys, name) {
            return Identity { device_id: id, source: format!("{name} MAC (no {iface})") };
        }
    }
    Identity { device_id: "000000000000".into(), source: format!("fallback (no {iface}, no interface with a MAC)") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys_with(ifaces: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, mac) in ifaces {
            let p = d.path().join("class/net").join(name);
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join("address"), format!("{mac}\n")).unwrap();
        }
        d
    }

    #[test]
    fn config_wins_then_eth0_then_another_interface() {
        let env = |_: &str| None;
        let sys =
            sys_with(&[("eth0", "B8:27:EB:08:45:1E"), ("wlan0", "b8:27:eb:00:00:01"), ("lo", "00:00:00:00:00:00")]);
        let s = Settings::from_toml("", "t", &env).unwrap();
        assert_eq!(
            resolve_in(&s, sys.path()),
            Identity { device_id: "b827eb08451e".into(), source: "eth0 MAC".into() }
        );
        let s2 = Settings::from_toml("[device]\nid = \"1e0000000007\"\n", "t", &env).unwrap();
        assert_eq!(resolve_in(&s2, sys.path()).device_id, "1e0000000007");
        let s3 = Settings::from_toml("[device]\ninterface = \"eth9\"\n", "t", &env).unwrap();
        let id = resolve_in(&s3, sys.path());
        assert_eq!(id.device_id, "b827eb08451e");
        assert!(id.source.contains("no eth9"), "{id}");
    }
}
