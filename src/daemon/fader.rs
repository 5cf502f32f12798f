//! The LED task: owns the LED, fades to each new target over the configured transition (or the target's own, as a
//! Home Assistant command may ask), turns the LED off when the daemon drops the sender. A new target mid-fade starts
//! from the duties shown now, so the light never jumps.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::lamp::colour::Duties;
use crate::lamp::transition;
use crate::led::Led;

/// What the LED should show, and over how long to get there (`None`: the configured `led.transition`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Target {
    pub duties: Duties,
    pub fade: Option<Duration>,
}

impl From<Duties> for Target {
    fn from(duties: Duties) -> Self {
        Target { duties, fade: None }
    }
}

pub fn spawn(led: Box<dyn Led>, fade: Duration) -> (watch::Sender<Target>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(Target::from(led.current()));
    (tx, tokio::spawn(run(led, rx, fade)))
}

fn set(led: &mut dyn Led, d: Duties) {
    if let Err(e) = led.set(d) {
        warn!("cannot set the LED: {e}");
    }
}

async fn run(mut led: Box<dyn Led>, mut rx: watch::Receiver<Target>, default_fade: Duration) {
    while rx.changed().await.is_ok() {
        let Target { duties: target, fade } = *rx.borrow_and_update();
        let fade = fade.unwrap_or(default_fade);
        if fade.is_zero() {
            set(led.as_mut(), target);
            continue;
        }
        let from = led.current();
        let start = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(transition::STEP);
        loop {
            tick.tick().await;
            let elapsed = start.elapsed();
            set(led.as_mut(), transition::at(from, target, elapsed, fade));
            if elapsed >= fade || rx.has_changed().unwrap_or(true) {
                break;
            }
        }
        if rx.has_changed().is_err() {
            break;
        }
    }
    if let Err(e) = led.off() {
        warn!("cannot turn the LED off: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::led::Sim;

    #[tokio::test(start_paused = true)]
    async fn fades_in_steps_and_turns_off_on_stop() {
        let sim = Sim::new([19, 26, 13]);
        let (tx, task) = spawn(Box::new(sim.clone()), Duration::from_millis(200));
        tx.send_replace(Duties([1.0, 0.0, 0.0]).into());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mid = sim.current();
        assert!(mid.red() > 0.3 && mid.red() < 0.7, "half-way through the fade: {mid}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(sim.current(), Duties([1.0, 0.0, 0.0]));
        let steps = sim.history().len();
        assert!((9..=13).contains(&steps), "about 200 ms / 20 ms steps, got {steps}");
        drop(tx);
        task.await.unwrap();
        assert_eq!(sim.current(), Duties::OFF);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_transition_the_target_is_set_at_once() {
        let sim = Sim::new([19, 26, 13]);
        let (tx, task) = spawn(Box::new(sim.clone()), Duration::ZERO);
        tx.send_replace(Duties([0.0, 0.5, 0.0]).into());
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(sim.history(), vec![Duties([0.0, 0.5, 0.0])]);
        drop(tx);
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_with_its_own_fade_overrides_the_configured_one() {
        let sim = Sim::new([19, 26, 13]);
        let (tx, task) = spawn(Box::new(sim.clone()), Duration::ZERO);
        tx.send_replace(Target { duties: Duties([0.0, 0.0, 1.0]), fade: Some(Duration::from_millis(400)) });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mid = sim.current();
        assert!(mid.blue() > 0.3 && mid.blue() < 0.7, "half-way through a 400 ms fade: {mid}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sim.current(), Duties([0.0, 0.0, 1.0]));
        // The next plain target takes the configured transition again: at once.
        tx.send_replace(Duties::OFF.into());
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(sim.current(), Duties::OFF);
        let steps = sim.history().len();
        drop(tx);
        task.await.unwrap();
        assert!(steps > 10, "the 400 ms fade went in 20 ms steps: {steps} settings");
    }
}
