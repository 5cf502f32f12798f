//! Process exit codes, for systemd, Ansible and scripts: 0 ok, 1 a check or run failed, 2 usage (clap, or a flag's
//! value), 78 configuration (EX_CONFIG; the unit has `RestartPreventExitStatus=78`, so a bad config is not restarted
//! in a loop), 130 a load run stopped by a signal. Reading analytics exports (`profile derive`, `loadtest --replay`)
//! adds sysexits.h codes: 65 bad data (EX_DATAERR: empty, truncated, not that format, no usable events, no session
//! in the window), 66 no input (EX_NOINPUT: the file or profile does not exist or cannot be opened), 73 the output
//! cannot be written (EX_CANTCREAT), 74 a read error part-way (EX_IOERR). A load run that completed but failed an
//! SLO (`--slo`) exits 99, as k6 does for failed thresholds, so CI and Ansible can gate on it.

pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const DATAERR: u8 = 65;
pub const NOINPUT: u8 = 66;
pub const CANTCREAT: u8 = 73;
pub const IOERR: u8 = 74;
pub const CONFIG: u8 = 78;
pub const SLO: u8 = 99;
pub const INTERRUPTED: u8 = 130;
