//! [`Lane`]: one loop's share of an endpoint's request and byte counts, alone on its
//! cache lines so two loops counting at once never contend for one line. A per-core
//! loop owns its lane and adds with a relaxed load and store (one writer: no locked
//! instruction); the other drivers count in the endpoint's shared counters.
//! [`super::Stats::snapshot`] sums the lanes and those. A leaf: counts only.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Requests and bytes counted by one loop. 128-byte aligned: two 64-byte lines, as adjacent-line prefetching pairs
/// them.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Lane {
    requests: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// Adds `n` to a counter only one thread ever writes: a plain load and store (no
/// locked instruction); readers see the count, a moment late at worst.
fn owner_add(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

impl Lane {
    /// Adds `n` requests answered. Only the lane's single owner (its per-core loop) may
    /// call it: another thread writing the same lane at the same time would lose counts.
    pub(crate) fn owner_add_requests(&self, n: u64) {
        owner_add(&self.requests, n);
    }

    /// Adds `n` bytes received (the lane's single owner only).
    pub(crate) fn owner_add_bytes_in(&self, n: usize) {
        owner_add(&self.bytes_in, n as u64);
    }

    /// Adds `n` bytes sent (the lane's single owner only).
    pub(crate) fn owner_add_bytes_out(&self, n: usize) {
        owner_add(&self.bytes_out, n as u64);
    }

    /// `(requests, bytes_in, bytes_out)` now (each read once, relaxed).
    pub(crate) fn read(&self) -> (u64, u64, u64) {
        (
            self.requests.load(Relaxed),
            self.bytes_in.load(Relaxed),
            self.bytes_out.load(Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_sit_on_cache_lines_of_their_own() {
        assert_eq!(std::mem::align_of::<Lane>(), 128);
        let lanes: Vec<Lane> = (0..2).map(|_| Lane::default()).collect();
        let a = &lanes[0] as *const Lane as usize;
        let b = &lanes[1] as *const Lane as usize;
        assert!(b - a >= 128);
    }

    #[test]
    fn owner_adds_count() {
        let lane = Lane::default();
        lane.owner_add_requests(2);
        lane.owner_add_bytes_in(10);
        lane.owner_add_bytes_out(7);
        lane.owner_add_requests(1);
        assert_eq!(lane.read(), (3, 10, 7));
    }
}
