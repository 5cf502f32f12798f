//! All integration tests, one binary (as ripgrep does): real mosquitto, the real Django test site, the real binary.

#[path = "../support/mod.rs"]
mod support;

mod cli_config;
mod fleet;
mod homeassistant;
mod loadtest;
mod loadtest_outage;
mod loadtest_profile;
mod loadtest_replay;
mod locust;
mod profile_cli;
mod readme;
mod report_compare;
mod run_mode;
mod selftest;
mod slo_limit;
mod systemd_unit;
mod tls;
mod web_client;
