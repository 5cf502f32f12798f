//! Test harness: real servers on free loopback ports (mosquitto, the Django test site), the real binary as a child,
//! and an MQTT probe client. Nothing is written into the working tree; everything lives in temp dirs.
#![allow(dead_code)]

pub mod django;
pub mod lamp;
pub mod loadrun;
pub mod mosquitto;
pub mod probe;

pub use lamp::Lamp;
pub use mosquitto::Mosquitto;
pub use probe::Probe;
