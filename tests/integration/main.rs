//! All integration tests, one binary (as ripgrep does): real mosquitto, the real Django test site, the real binary.

#[path = "../support/mod.rs"]
mod support;

mod cli_config;
mod fleet;
mod homeassistant;
mod loadtest;
mod loadtest_profile;
mod loadtest_replay;
mod locust;
mod profile_cli;
mod readme;
mod run_mode;
mod selftest;
mod systemd_unit;
mod tls;
mod web_client;
