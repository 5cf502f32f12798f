//! From lamp state to the three PWM duties: the LAMPI formula `rgb = hsv_to_rgb(h, s, 1) * brightness` when on,
//! all zero when off, then an optional gamma (`duty = level ^ gamma`). Gamma 1.0 reproduces the original lamp exactly.

use super::State;

/// Red, green and blue duty cycles, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Duties(pub [f64; 3]);

impl Duties {
    pub const OFF: Duties = Duties([0.0; 3]);

    pub fn red(&self) -> f64 {
        self.0[0]
    }
    pub fn green(&self) -> f64 {
        self.0[1]
    }
    pub fn blue(&self) -> f64 {
        self.0[2]
    }
}

impl std::fmt::Display for Duties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "r={:.4} g={:.4} b={:.4}", self.0[0], self.0[1], self.0[2])
    }
}

/// HSV to RGB, as Python's `colorsys.hsv_to_rgb` (which the original lamp used): h wraps at 1.0.
pub fn hsv_to_rgb(h: f64, s: f64, v: f64) -> [f64; 3] {
    if s == 0.0 {
        return [v, v, v];
    }
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match (i as i64).rem_euclid(6) {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// The duties for a state with the given gamma.
pub fn duties(state: &State, gamma: f64) -> Duties {
    if !state.on {
        return Duties::OFF;
    }
    let b = state.brightness.as_f64();
    let rgb = hsv_to_rgb(state.h.as_f64(), state.s.as_f64(), 1.0);
    Duties(rgb.map(|c| (c * b).clamp(0.0, 1.0).powf(gamma)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lamp::Level;

    fn st(h: f64, s: f64, b: f64, on: bool) -> State {
        let l = |x| Level::from_f64(x).unwrap();
        State { h: l(h), s: l(s), brightness: l(b), on }
    }

    fn close(a: Duties, b: [f64; 3]) -> bool {
        a.0.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    }

    #[test]
    fn matches_pythons_colorsys() {
        // Values from Python 3: colorsys.hsv_to_rgb(h, s, 1.0)
        assert_eq!(hsv_to_rgb(0.0, 1.0, 1.0), [1.0, 0.0, 0.0]);
        assert_eq!(hsv_to_rgb(1.0, 1.0, 1.0), [1.0, 0.0, 0.0]); // h = 1.0 wraps to red
        let g = hsv_to_rgb(1.0 / 3.0, 1.0, 1.0);
        assert!((g[0]).abs() < 1e-12 && (g[1] - 1.0).abs() < 1e-12 && g[2].abs() < 1e-12);
        let x = hsv_to_rgb(0.44, 0.5, 1.0); // colorsys: (0.5, 1.0, 0.82)
        assert!((x[0] - 0.5).abs() < 1e-9 && (x[1] - 1.0).abs() < 1e-9 && (x[2] - 0.82).abs() < 1e-9, "{x:?}");
        assert_eq!(hsv_to_rgb(0.7, 0.0, 1.0), [1.0, 1.0, 1.0]);
    }

    #[test]
    fn brightness_scales_and_off_is_dark() {
        assert!(close(duties(&st(0.0, 1.0, 0.5, true), 1.0), [0.5, 0.0, 0.0]));
        assert!(close(duties(&st(0.0, 1.0, 0.5, false), 1.0), [0.0, 0.0, 0.0]));
        assert!(close(duties(&State::default(), 1.0), [1.0, 0.0, 0.0]));
    }

    #[test]
    fn gamma_bends_the_middle_and_keeps_the_ends() {
        let d = duties(&st(0.0, 0.0, 0.5, true), 2.8);
        assert!((d.red() - 0.5f64.powf(2.8)).abs() < 1e-12);
        assert!(close(duties(&st(0.0, 0.0, 1.0, true), 2.8), [1.0, 1.0, 1.0]));
        assert!(close(duties(&st(0.0, 0.0, 0.0, true), 2.8), [0.0, 0.0, 0.0]));
    }
}
