//! Embeds the build's date for `selftest`'s clock check (a clock before it is certainly wrong): `SOURCE_DATE_EPOCH`
//! when set (reproducible builds), else the date of the commit being built, else now. Deterministic for a commit.
//! It reruns only when this file or `SOURCE_DATE_EPOCH` changes, so a later commit may keep an earlier date: still
//! a valid lower bound, which is all the check needs.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .or_else(commit_date)
        .unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=LAMPI_BUILD_EPOCH={epoch}");
}

fn commit_date() -> Option<u64> {
    let out = Command::new("git").args(["log", "-1", "--format=%ct"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}
