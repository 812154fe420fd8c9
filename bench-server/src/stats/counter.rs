//! [`Counter`]: one count shared by the tasks of a run, added to with a relaxed atomic
//! (one instruction per request or per syscall, never a lock). A leaf: the server's
//! [`super::Stats`] and the relay's counters are made of them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A count that only its owner's snapshot reads; each read is relaxed, so a snapshot
/// of several counters is consistent enough for reports, not a transaction.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n` (a byte count from a read or a write).
    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Relaxed);
    }

    /// Adds one and returns the count before.
    pub(crate) fn incr(&self) -> u64 {
        self.0.fetch_add(1, Relaxed)
    }

    /// Takes one away (a connection closed).
    pub(crate) fn decr(&self) {
        self.0.fetch_sub(1, Relaxed);
    }

    /// The count now.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}
