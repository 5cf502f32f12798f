//! Reconnect backoff: capped exponential with "full jitter" (AWS's recommendation), so a thousand lamps that lost the
//! broker together do not come back in lock-step. Pure: the random source is passed in.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max: max.max(min), attempt: 0 }
    }

    /// The ceiling for the current attempt: min * 2^attempt, capped at max.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// The next delay: uniform in [min, ceiling] (`unit` is a random number in [0, 1)), then the ceiling doubles.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        self.min + (ceiling - self.min).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Call on a successful connection.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let ceilings: Vec<_> = (0..9)
            .map(|_| {
                let c = b.ceiling();
                b.next_delay(0.0);
                c.as_millis()
            })
            .collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(500));
    }

    #[test]
    fn jitter_stays_between_min_and_the_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for _ in 0..3 {
            b.next_delay(0.5);
        }
        // attempt 3: ceiling 800 ms
        assert_eq!(b.next_delay(1.0), Duration::from_millis(800));
        assert_eq!(b.next_delay(0.0), Duration::from_millis(100));
        let mut c = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(c.next_delay(0.5), Duration::from_millis(100)); // first ceiling == min
        assert_eq!(c.next_delay(0.5), Duration::from_millis(150));
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..100 {
            b.next_delay(0.9);
        }
        assert_eq!(b.ceiling(), Duration::from_secs(60));
    }
}
