//! The session model: a Markov chain over what a person does in one session, one chain per interface.
//!
//! States are the things the load test can do ([`State`]): log in, view a page, toggle power, drag a slider, end.
//! A chain is a table of rows `from -> {to: probability}`; every session starts in `start` and stops at `end`. This
//! module owns the states, the interfaces, the chain's checks (rows sum to 1, pages only on the web, `end` reachable
//! from everywhere so no session runs forever) and sampling; the TOML reading lives in `profile::read`.

use rand::Rng;
use std::fmt;

/// Where a session comes from, which decides what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interface {
    /// The Django site in a browser: login, pages, then `set_config` over MQTT-over-websockets (full state).
    Web,
    /// A phone app (iOS in the analytics): `set_config` straight to the broker, only the changed field.
    App,
    /// The lamp's own touchscreen: the lamp publishes `lamp/changed` itself (device-originated traffic).
    LampUi,
}

impl Interface {
    pub const ALL: [Interface; 3] = [Interface::Web, Interface::App, Interface::LampUi];

    /// The name used in profiles.
    pub fn key(self) -> &'static str {
        match self {
            Interface::Web => "web",
            Interface::App => "app",
            Interface::LampUi => "lamp_ui",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One state of the session chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Start,
    Login,
    /// `GET /` (redirects to the lamp list).
    Root,
    /// `GET /lampi/`.
    List,
    /// `GET /lampi/device/<id>`.
    Detail,
    Power,
    Hue,
    Saturation,
    Brightness,
    End,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Start,
        State::Login,
        State::Root,
        State::List,
        State::Detail,
        State::Power,
        State::Hue,
        State::Saturation,
        State::Brightness,
        State::End,
    ];

    pub fn key(self) -> &'static str {
        match self {
            State::Start => "start",
            State::Login => "login",
            State::Root => "root",
            State::List => "list",
            State::Detail => "detail",
            State::Power => "power",
            State::Hue => "hue",
            State::Saturation => "saturation",
            State::Brightness => "brightness",
            State::End => "end",
        }
    }

    pub fn from_key(s: &str) -> Option<State> {
        State::ALL.iter().copied().find(|st| st.key() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// A page view (or the login, which is HTTP too): only web sessions have these.
    pub fn is_http(self) -> bool {
        matches!(self, State::Login | State::Root | State::List | State::Detail)
    }

    /// A slider drag.
    pub fn is_slider(self) -> bool {
        matches!(self, State::Hue | State::Saturation | State::Brightness)
    }

    /// A power toggle or a slider drag: what changes the lamp.
    pub fn is_control(self) -> bool {
        self == State::Power || self.is_slider()
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

const N: usize = State::ALL.len();

/// Transition weights `w[from][to]` as written (a row's probabilities are its weights over their sum); the `end`
/// row is empty. Kept as written so a profile survives read -> write -> read unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    w: [[f64; N]; N],
    total: [f64; N],
}

impl Chain {
    /// Builds from rows of weights (probabilities, or counts). Checks the shape for `interface`; the errors are
    /// `(row key, what was expected)`.
    pub fn new(rows: &[(State, Vec<(State, f64)>)], interface: Interface) -> Result<Chain, Vec<(String, String)>> {
        let mut w = [[0.0; N]; N];
        let mut problems = Vec::new();
        for (from, row) in rows {
            let total: f64 = row.iter().map(|(_, w)| w).sum();
            if *from == State::End {
                problems.push(("end".into(), "no row for end (a session stops there)".into()));
                continue;
            }
            if total <= 0.0 {
                problems.push((from.key().into(), "at least one next state with a probability above 0".into()));
                continue;
            }
            for (to, weight) in row {
                if *to == State::Start {
                    problems.push((format!("{from}.start"), "a next state other than start".into()));
                } else if interface != Interface::Web && to.is_http() {
                    problems.push((
                        format!("{from}.{to}"),
                        format!("no pages or login in {interface} sessions (only web sessions use the site)"),
                    ));
                }
                w[from.index()][to.index()] += weight;
            }
        }
        let total = w.map(|row| row.iter().sum());
        let chain = Chain { w, total };
        if problems.is_empty() {
            problems.extend(chain.check_reachability());
        }
        if problems.is_empty() {
            Ok(chain)
        } else {
            Err(problems)
        }
    }

    fn check_reachability(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.row_total(State::Start) == 0.0 {
            problems.push(("start".into(), "a row for start (where every session begins)".into()));
            return problems;
        }
        for s in self.reachable() {
            if s != State::End && self.row_total(s) == 0.0 {
                problems.push((s.key().into(), format!("a row for {s}, which the chain can reach")));
            } else if s != State::End && !self.reaches_end(s) {
                problems.push((s.key().into(), format!("a way from {s} to end (sessions would never stop)")));
            }
        }
        problems
    }

    fn row_total(&self, s: State) -> f64 {
        self.total[s.index()]
    }

    /// States reachable from `start`, in state order.
    pub fn reachable(&self) -> Vec<State> {
        let mut seen = [false; N];
        let mut stack = vec![State::Start];
        seen[State::Start.index()] = true;
        while let Some(s) = stack.pop() {
            for t in State::ALL {
                if self.w[s.index()][t.index()] > 0.0 && !seen[t.index()] {
                    seen[t.index()] = true;
                    stack.push(t);
                }
            }
        }
        State::ALL.into_iter().filter(|s| seen[s.index()]).collect()
    }

    fn reaches_end(&self, from: State) -> bool {
        let mut seen = [false; N];
        let mut stack = vec![from];
        while let Some(s) = stack.pop() {
            if s == State::End {
                return true;
            }
            for t in State::ALL {
                if self.w[s.index()][t.index()] > 0.0 && !seen[t.index()] {
                    seen[t.index()] = true;
                    stack.push(t);
                }
            }
        }
        false
    }

    /// The probability of going from `from` to `to`.
    pub fn prob(&self, from: State, to: State) -> f64 {
        match self.total[from.index()] {
            t if t > 0.0 => self.w[from.index()][to.index()] / t,
            _ => 0.0,
        }
    }

    /// The row of `from` as written (weights), non-zero entries in state order.
    pub fn row(&self, from: State) -> Vec<(State, f64)> {
        State::ALL.into_iter().map(|t| (t, self.w[from.index()][t.index()])).filter(|(_, w)| *w > 0.0).collect()
    }

    /// Draws the state after `from` (`end` for a state without a row).
    pub fn next(&self, from: State, rng: &mut impl Rng) -> State {
        let mut u: f64 = rng.random::<f64>() * self.total[from.index()];
        let row = &self.w[from.index()];
        let mut last = State::End;
        for t in State::ALL {
            let w = row[t.index()];
            if w > 0.0 {
                last = t;
                if u < w {
                    return t;
                }
                u -= w;
            }
        }
        last
    }

    /// Expected visits to each state in one session (start counts once), by solving the absorbing chain.
    pub fn expected_visits(&self) -> [f64; N] {
        // v = e_start + v * P over the transient states; Gauss-Seidel converges because end is reachable.
        let mut v = [0.0; N];
        for _ in 0..10_000 {
            let mut delta = 0.0f64;
            for t in State::ALL {
                let inflow: f64 = State::ALL.iter().map(|s| v[s.index()] * self.prob(*s, t)).sum();
                let new = if t == State::Start { 1.0 } else { inflow };
                delta = delta.max((new - v[t.index()]).abs());
                v[t.index()] = new;
            }
            if delta < 1e-12 {
                break;
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn lamp_chain() -> Chain {
        let actions =
            vec![(State::Power, 0.3), (State::Hue, 0.3), (State::Saturation, 0.15), (State::Brightness, 0.25)];
        let after: Vec<_> = actions.iter().map(|(s, p)| (*s, p * 0.55)).chain([(State::End, 0.45)]).collect();
        let mut rows = vec![(State::Start, actions.clone())];
        for s in [State::Power, State::Hue, State::Saturation, State::Brightness] {
            rows.push((s, after.clone()));
        }
        Chain::new(&rows, Interface::LampUi).unwrap()
    }

    #[test]
    fn expected_visits_match_a_geometric_session() {
        let v = lamp_chain().expected_visits();
        let actions: f64 =
            [State::Power, State::Hue, State::Saturation, State::Brightness].iter().map(|s| v[s.index()]).sum();
        assert!((actions - 1.0 / 0.45).abs() < 1e-6, "{actions}");
        assert!((v[State::End.index()] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn sampling_follows_the_row() {
        let c = lamp_chain();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let ends = (0..20_000).filter(|_| c.next(State::Hue, &mut rng) == State::End).count();
        assert!((ends as f64 / 20_000.0 - 0.45).abs() < 0.015, "{ends}");
    }

    #[test]
    fn shape_problems_are_named() {
        let rows = vec![(State::Start, vec![(State::List, 1.0)]), (State::List, vec![(State::Hue, 1.0)])];
        let err = Chain::new(&rows, Interface::App).unwrap_err();
        assert!(err.iter().any(|(k, why)| k == "start.list" && why.contains("no pages")), "{err:?}");
        let rows = vec![(State::Start, vec![(State::Hue, 1.0)]), (State::Hue, vec![(State::Hue, 1.0)])];
        let err = Chain::new(&rows, Interface::App).unwrap_err();
        assert!(err.iter().any(|(k, why)| k == "hue" && why.contains("never stop")), "{err:?}");
        let rows = vec![(State::Start, vec![(State::Hue, 1.0)])];
        let err = Chain::new(&rows, Interface::App).unwrap_err();
        assert!(err.iter().any(|(k, why)| k == "hue" && why.contains("a row for hue")), "{err:?}");
    }
}
