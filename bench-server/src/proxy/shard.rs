//! [`LoopCounters`]: one `per-core` loop's own share of the relay's counters, and
//! [`Way`], the direction bytes went. A leaf: [`super::stats::ProxyStats`] holds one
//! shard per loop and adds them up for a summary.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

/// Which way bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    /// Client -> upstream.
    ToUpstream = 0,
    /// Upstream -> client.
    ToClient = 1,
}

/// One `per-core` loop's own counts. Written by that loop's thread only, so an update is
/// a relaxed load and store (no locked instruction, no lost update); read by any thread
/// for a summary. Aligned so two loops never write the same cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct LoopCounters {
    bytes: [AtomicU64; 2],
    chunks: [AtomicU64; 2],
    datagrams: [AtomicU64; 2],
}

/// Adds `n` to a counter only one thread writes.
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

impl LoopCounters {
    /// `chunks` read from a leg (a chunk is counted once however many writes it
    /// takes) and `bytes` written to the other.
    pub(crate) fn moved(&self, way: Way, chunks: u64, bytes: u64) {
        bump(&self.chunks[way as usize], chunks);
        bump(&self.bytes[way as usize], bytes);
    }

    /// One datagram of `n` bytes relayed.
    pub(crate) fn datagram(&self, way: Way, n: usize) {
        bump(&self.datagrams[way as usize], 1);
        bump(&self.bytes[way as usize], n as u64);
    }
}

impl LoopCounters {
    /// Bytes written `way` so far.
    pub(crate) fn bytes(&self, way: Way) -> u64 {
        self.bytes[way as usize].load(Relaxed)
    }

    /// Chunks read `way` so far.
    pub(crate) fn chunks(&self, way: Way) -> u64 {
        self.chunks[way as usize].load(Relaxed)
    }

    /// Datagrams relayed `way` so far.
    pub(crate) fn datagrams(&self, way: Way) -> u64 {
        self.datagrams[way as usize].load(Relaxed)
    }
}
