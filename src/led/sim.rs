//! The simulated LED: keeps the duties it is given (and a bounded history of them) and logs each change, so a lamp
//! without GPIO runs the whole daemon and tests can read what the LED would have shown.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::{Channel, Led, LedError, COLOURS};
use crate::lamp::colour::Duties;

/// How many past duty settings the simulator remembers (bounded: the daemon runs for months).
pub const HISTORY: usize = 4096;

/// A simulated LED. Clones share the same record, so a test can keep one while the daemon owns another.
#[derive(Debug, Clone)]
pub struct Sim {
    pins: [u8; 3],
    record: Arc<Mutex<Record>>,
}

#[derive(Debug, Default)]
struct Record {
    current: Duties,
    history: VecDeque<Duties>,
}

impl Sim {
    pub fn new(pins: [u8; 3]) -> Sim {
        Sim { pins, record: Arc::default() }
    }

    /// Every duty setting so far, oldest first (at most [`HISTORY`]).
    pub fn history(&self) -> Vec<Duties> {
        self.record.lock().expect("sim LED lock").history.iter().copied().collect()
    }
}

impl Led for Sim {
    fn set(&mut self, duties: Duties) -> Result<(), LedError> {
        let mut r = self.record.lock().expect("sim LED lock");
        r.current = duties;
        if r.history.len() == HISTORY {
            r.history.pop_front();
        }
        r.history.push_back(duties);
        tracing::debug!(target: "lampi_agent::led::sim", "sim LED {duties}");
        Ok(())
    }

    fn current(&self) -> Duties {
        self.record.lock().expect("sim LED lock").current
    }

    fn name(&self) -> &'static str {
        "sim"
    }

    fn channels(&self) -> Vec<Channel> {
        COLOURS.iter().zip(self.pins).map(|(c, pin)| Channel { colour: c, pin, drive: "simulated".into() }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_record_and_history_is_bounded() {
        let sim = Sim::new([19, 26, 13]);
        let mut led: Box<dyn Led> = Box::new(sim.clone());
        for i in 0..HISTORY + 10 {
            led.set(Duties([i as f64 / 1e5, 0.0, 0.0])).unwrap();
        }
        led.off().unwrap();
        assert_eq!(sim.current(), Duties::OFF);
        let h = sim.history();
        assert_eq!(h.len(), HISTORY);
        assert_eq!(*h.last().unwrap(), Duties::OFF);
        assert_eq!(sim.channels()[1].pin, 26);
    }
}
