//! Wake-ups for notice delivery: per institution, the id of the last notice committed.
//!
//! The writer publishes after the commit (so a consumer woken by it finds the row), and a
//! consumer reads the rows themselves from the journal: the signal carries no payload, so a
//! slow consumer never makes anyone wait and a burst never overflows it — a consumer that
//! looks later sees the latest id and reads everything up to it.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// One `watch` per institution, created on first use by either side.
#[derive(Debug, Default)]
pub(crate) struct NoticeSignals {
    by_institution: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl NoticeSignals {
    fn sender(&self, institution: &str) -> watch::Sender<u64> {
        // A panic while holding the lock leaves a plain map behind; keep going.
        let mut map = self
            .by_institution
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.entry(institution.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .clone()
    }

    /// Receives the last committed notice id of `institution` (0 until one is committed
    /// while the gateway runs).
    pub(crate) fn watch(&self, institution: &str) -> watch::Receiver<u64> {
        self.sender(institution).subscribe()
    }

    /// Called by the writer once notice `id` of `institution` is committed.
    pub(crate) fn committed(&self, institution: &str, id: u64) {
        self.sender(institution).send_if_modified(|last| {
            let newer = id > *last;
            if newer {
                *last = id;
            }
            newer
        });
    }
}
