//! lampi-agent: the LAMPI smart lamp's agent.
//!
//! One library, three modes behind a thin `main.rs`: `run` (the lamp daemon), `loadtest` (replays analytics-derived
//! usage against the Django site and the broker) and `selftest` (is this lamp fit?). Pure parts (config validation,
//! the lamp state and its codec, colour maths) are plain functions; I/O shells (MQTT, GPIO, files) are thin.

pub mod analytics;
pub mod config;
pub mod profile;
pub mod schedule;
