//! The live counters a progress display reads while a run goes on; the recorders write
//! them, one padded slot per worker.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters the progress bar reads while the run goes on: one cache line per worker, each
/// written only by its own worker.
#[derive(Debug)]
pub struct Live {
    pub(super) slots: Vec<LiveSlot>,
}

#[derive(Debug, Default)]
#[repr(align(128))]
pub(super) struct LiveSlot {
    pub(super) ok: AtomicU64,
    pub(super) errors: AtomicU64,
    /// Recorded requests (ok + errors after the warm-up).
    pub(super) recorded: AtomicU64,
}

impl Live {
    /// Counters for `workers` workers.
    pub fn new(workers: usize) -> Live {
        Live {
            slots: (0..workers).map(|_| LiveSlot::default()).collect(),
        }
    }

    /// How many workers there are.
    pub fn workers(&self) -> usize {
        self.slots.len()
    }

    /// Recorded requests (after the warm-up) so far, all workers together.
    pub fn recorded(&self) -> u64 {
        self.slots
            .iter()
            .map(|s| s.recorded.load(Ordering::Relaxed))
            .sum()
    }

    /// Completed and failed requests so far, all workers together.
    pub fn totals(&self) -> (u64, u64) {
        self.slots.iter().fold((0, 0), |(ok, err), s| {
            (
                ok + s.ok.load(Ordering::Relaxed),
                err + s.errors.load(Ordering::Relaxed),
            )
        })
    }
}
