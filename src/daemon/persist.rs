//! The store task: writes the latest lamp state atomically, off the logic loop. A burst of commands while a write is
//! in progress collapses into one write of the newest state (a `watch` channel keeps only the latest), so the
//! state file is at most one write behind, and `lamp/changed` never waits for an fsync.

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::lamp::State;
use crate::store::Store;

pub fn spawn(store: Store, initial: State, client: String) -> (watch::Sender<(State, String)>, JoinHandle<()>) {
    let (tx, rx) = watch::channel((initial, client));
    (tx, tokio::spawn(run(store, rx)))
}

async fn run(store: Store, mut rx: watch::Receiver<(State, String)>) {
    // `changed` reports a value sent just before the sender was dropped before it reports the close: the last
    // state is always written.
    while rx.changed().await.is_ok() {
        let (state, client) = rx.borrow_and_update().clone();
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.save(&state, &client)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("{e}"),
            Err(e) => warn!("state writer failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lamp::Level;
    use crate::store::Loaded;

    #[tokio::test]
    async fn the_last_state_sent_is_on_disk_after_the_sender_drops() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let (tx, task) = spawn(store.clone(), State::default(), "x".into());
        let mut last = State::default();
        for i in 0..50u8 {
            last = State { brightness: Level::from_hundredths(i).unwrap(), ..last };
            tx.send_replace((last, "t".into()));
        }
        drop(tx);
        task.await.unwrap();
        assert_eq!(store.load(0), Loaded::Restored(last));
    }
}
