//! [`ConnGuard`]: what an admitted connection holds while it lives, whichever driver
//! serves it: its slot in the endpoint's active count and the run's shutdown tracker.

use std::sync::Arc;

use crate::runtime::Tracker;
use crate::stats::Stats;

/// Decrements the active count and releases the shutdown tracker when a connection
/// ends, however it ends (a task dropped at the grace cut, a thread that panicked).
pub(crate) struct ConnGuard {
    stats: Arc<Stats>,
    _tracker: Tracker,
}

impl ConnGuard {
    /// A guard for a connection already counted with `Stats::connection_opened`.
    pub(crate) fn new(stats: Arc<Stats>, tracker: Tracker) -> Self {
        ConnGuard {
            stats,
            _tracker: tracker,
        }
    }

    /// The endpoint's counters.
    pub(crate) fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.stats.connection_closed();
    }
}
