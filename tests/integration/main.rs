//! All integration tests, one binary (as ripgrep does): real mosquitto, the real Django test site, the real binary.

#[path = "../support/mod.rs"]
mod support;

mod cli_config;
mod fleet;
mod run_mode;
mod selftest;
mod systemd_unit;
mod web_client;
