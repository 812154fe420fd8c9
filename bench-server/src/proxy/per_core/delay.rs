//! [`Delay`]: the datagrams one UDP loop holds back for `latency`, `jitter` or
//! `reorder`, each with its release time on the loop's own timers (the loop never
//! sleeps). Slots and their buffers are reused, so a steady delayed flow allocates
//! nothing once the queue has grown to its depth. The loop owns sending and counting.

use std::time::{Duration, Instant};

use crate::engine::slab::Key;
use crate::engine::timers::Timers;
use crate::proxy::stats::Way;

/// One held datagram.
#[derive(Debug, Default)]
pub(super) struct Held {
    /// Which way it goes.
    pub(super) way: Option<Way>,
    /// Its session.
    pub(super) key: Option<Key>,
    /// Its bytes (the buffer is kept for the next datagram in this slot).
    pub(super) bytes: Vec<u8>,
}

/// The held datagrams of one loop.
#[derive(Debug)]
pub(super) struct Delay {
    timers: Timers<usize>,
    slots: Vec<Held>,
    free: Vec<usize>,
}

impl Delay {
    /// Holds nothing yet.
    pub(super) fn new() -> Self {
        Delay {
            timers: Timers::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Holds a copy of `datagram` for session `key` until `at`.
    pub(super) fn hold(&mut self, at: Instant, way: Way, key: Key, datagram: &[u8]) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Held::default());
            self.slots.len() - 1
        });
        let held = &mut self.slots[slot];
        held.way = Some(way);
        held.key = Some(key);
        held.bytes.clear();
        held.bytes.extend_from_slice(datagram);
        self.timers.schedule(at, slot);
    }

    /// How long the loop may wait before the next release (`cap` when none is held).
    pub(super) fn timeout(&self, now: Instant, cap: Option<Duration>) -> Option<Duration> {
        self.timers.timeout(now, cap)
    }

    /// The next datagram due at `now`: its way, session and bytes; hand the bytes back
    /// with [`Delay::give_back`] once sent.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(usize, Way, Key, Vec<u8>)> {
        let (_, slot) = self.timers.pop_due(now)?;
        let held = &mut self.slots[slot];
        let (way, key) = (held.way.take()?, held.key.take()?);
        Some((slot, way, key, std::mem::take(&mut held.bytes)))
    }

    /// Returns slot `slot`'s buffer for reuse.
    pub(super) fn give_back(&mut self, slot: usize, bytes: Vec<u8>) {
        self.slots[slot].bytes = bytes;
        self.free.push(slot);
    }
}
