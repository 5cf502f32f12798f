//! How a load run is asked to stop, and the signals that ask.
//!
//! SIGINT or SIGTERM: stop the schedule; what is already in flight gets its grace ([`Stop::Graceful`]). A second
//! one: stop at once ([`Stop::Now`]), still writing every file. SIGHUP (a dropped SSH session): the terminal is gone,
//! not the operator's wish to measure: the run carries on to its `--duration` and the console goes quiet
//! ([`crate::console::hang_up`]); its lines stay in the run folder's `console.log`.

use tokio::sync::watch;

/// Where a run stands; it only ever moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    Running,
    /// Stop the schedule; operations in flight get the grace to complete.
    Graceful,
    /// Stop now: whatever is unanswered fails, and the files are written.
    Now,
}

/// Waits until the run is asked to stop; forever if nobody can ask any more (the sender is gone).
pub async fn requested(rx: &mut watch::Receiver<Stop>) {
    if rx.wait_for(|s| *s != Stop::Running).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Waits until the run is asked to stop at once; forever if nobody can ask any more.
pub async fn now(rx: &mut watch::Receiver<Stop>) {
    if rx.wait_for(|s| *s == Stop::Now).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Installs the SIGINT, SIGTERM and SIGHUP handlers (call inside a tokio runtime) and returns the stop they drive.
/// The handlers are in place when this returns, so no signal in between kills the run.
pub fn signals() -> std::io::Result<watch::Receiver<Stop>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = watch::channel(Stop::Running);
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => {
                    tracing::warn!("SIGHUP: the terminal is gone; the run carries on, its console lines go to console.log");
                    crate::console::hang_up();
                    continue;
                }
            };
            let next = match *tx.borrow() {
                Stop::Running => Stop::Graceful,
                _ => Stop::Now,
            };
            match next {
                Stop::Graceful => {
                    tracing::info!("{name}: stopping; operations in flight get their grace (again: at once)")
                }
                _ => tracing::info!("{name} again: stopping at once"),
            }
            tx.send_replace(next);
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stops_are_seen_in_order_and_a_gone_sender_asks_nothing() {
        let (tx, mut rx) = watch::channel(Stop::Running);
        let quiet = tokio::time::timeout(std::time::Duration::from_secs(5), requested(&mut rx)).await;
        assert!(quiet.is_err(), "nothing asked yet");
        tx.send_replace(Stop::Graceful);
        requested(&mut rx).await;
        assert!(tokio::time::timeout(std::time::Duration::from_secs(5), now(&mut rx)).await.is_err());
        tx.send_replace(Stop::Now);
        now(&mut rx).await;
        let (tx, mut rx) = watch::channel(Stop::Running);
        drop(tx);
        let gone = tokio::time::timeout(std::time::Duration::from_secs(5), requested(&mut rx)).await;
        assert!(gone.is_err(), "a dropped sender is not a stop");
    }
}
