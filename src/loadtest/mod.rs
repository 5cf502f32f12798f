//! `lampi-agent loadtest`: see the submodules.

pub mod broker_sys;
pub mod sample;
pub mod system;
pub mod vlamp;
