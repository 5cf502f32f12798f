//! `lampi-agent loadtest` (being assembled).

pub mod broker_sys;
pub mod output;
pub mod sample;
pub mod system;
pub mod vlamp;
