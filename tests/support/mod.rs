//! Test harness: real servers on free loopback ports (mosquitto, the Django test site), the real binary as a child,
//! and an MQTT probe client. Nothing is written into the working tree; everything lives in temp dirs.
#![allow(dead_code)]

pub mod django;
pub mod lamp;
pub mod loadrun;
pub mod locust;
pub mod mosquitto;
pub mod probe;

pub use lamp::Lamp;
pub use mosquitto::{wait_refused, Mosquitto};
pub use probe::Probe;

/// Waits until `ready()` holds, checking every few milliseconds, for at most `within`; panics naming `what`.
/// For events the tests cannot subscribe to (a file the daemon writes, a log line): the wait ends on the event,
/// never on the clock, and the interval only sets how promptly it is seen.
pub fn poll_until(within: std::time::Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Waits for `child` to exit, at most `within`: its status, or None if it still runs. Ends on the exit (std has no
/// wait with a timeout), the interval only sets how promptly it is seen.
pub fn exit_within(child: &mut std::process::Child, within: std::time::Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}
