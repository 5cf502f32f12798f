//! lampi-agent: the LAMPI smart lamp's agent.
//!
//! One library, three modes behind a thin `main.rs`: `run` (the lamp daemon), `loadtest` (replays analytics-derived
//! usage against the Django site and the broker) and `selftest` (is this lamp fit?). Pure parts (config validation,
//! the lamp state and its codec, colour maths) are plain functions; I/O shells (MQTT, GPIO, files) are thin.

pub mod analytics;
pub mod app;
pub mod backoff;
pub mod capacity;
pub mod cli;
pub mod config;
pub mod console;
pub mod daemon;
#[cfg(feature = "demo-broker")]
pub mod demo;
pub mod exit;
pub mod homeassistant;
pub mod host;
pub mod identity;
pub mod lamp;
pub mod led;
pub mod loadtest;
pub mod locust;
pub mod metrics;
pub mod mqtt;
pub mod profile;
pub mod report;
pub mod rundir;
pub mod schedule;
pub mod selftest;
pub mod slo;
pub mod store;
pub mod web;
