//! Fades: the duties at a moment between two states. A pure function of (from, to, elapsed, total); the LED task
//! calls it on a tokio interval, so fades test under paused time.
//!
//! Interpolation is linear in duty space after gamma, which looks smooth because gamma has already made duty steps
//! perceptually even. A fade interrupted by a new target starts from wherever the LED is now, so it never jumps.

use std::time::Duration;

use super::colour::Duties;

/// How often the LED task updates duties while fading (50 Hz: smooth to the eye, cheap on a Pi Zero).
pub const STEP: Duration = Duration::from_millis(20);

/// The duties `elapsed` into a fade of `total` from `from` to `to`.
pub fn at(from: Duties, to: Duties, elapsed: Duration, total: Duration) -> Duties {
    if total.is_zero() || elapsed >= total {
        return to;
    }
    let t = elapsed.as_secs_f64() / total.as_secs_f64();
    let mut out = [0.0; 3];
    for (i, o) in out.iter_mut().enumerate() {
        *o = from.0[i] + (to.0[i] - from.0[i]) * t;
    }
    Duties(out)
}

/// The number of steps a fade of `total` takes at [`STEP`] (at least one: the final value).
pub fn steps(total: Duration) -> u32 {
    (total.as_nanos().div_ceil(STEP.as_nanos())).max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_from_ends_at_to_and_is_linear_between() {
        let (a, b) = (Duties([0.0, 1.0, 0.2]), Duties([1.0, 0.0, 0.2]));
        let total = Duration::from_secs(1);
        assert_eq!(at(a, b, Duration::ZERO, total), a);
        assert_eq!(at(a, b, total, total), b);
        assert_eq!(at(a, b, Duration::from_secs(5), total), b);
        let mid = at(a, b, Duration::from_millis(250), total);
        assert!((mid.0[0] - 0.25).abs() < 1e-12 && (mid.0[1] - 0.75).abs() < 1e-12 && (mid.0[2] - 0.2).abs() < 1e-12);
    }

    #[test]
    fn zero_length_fade_is_an_immediate_switch() {
        let b = Duties([0.3, 0.3, 0.3]);
        assert_eq!(at(Duties::OFF, b, Duration::ZERO, Duration::ZERO), b);
        assert_eq!(steps(Duration::ZERO), 1);
        assert_eq!(steps(Duration::from_secs(1)), 50);
        assert_eq!(steps(Duration::from_millis(1010)), 51);
    }
}
