//! The shipped unit passes `systemd-analyze verify` and keeps its security exposure at or under 2.0.

use std::process::Command;

fn unit_with_our_binary(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/lampi-agent.service")).unwrap();
    let text = text.replace("/usr/local/bin/lampi-agent", crate::support::lamp::BIN);
    let path = dir.join("lampi-agent.service");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_with_our_binary(dir.path());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (scripts/test.sh installs systemd)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed:\n{err}");
    assert!(!err.contains("lampi-agent.service:"), "verify warned about the unit:\n{err}");

    let out = Command::new("systemd-analyze").args(["security", "--offline=yes"]).arg(&unit).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{text}"));
    let score: f64 = line.split(':').nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");

    let unit = std::fs::read_to_string(&unit).unwrap();
    for needle in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "RestartPreventExitStatus=78",
        "StateDirectory=",
        "SupplementaryGroups=gpio",
    ] {
        assert!(unit.contains(needle), "{needle} missing");
    }
}
