//! The live counters a progress display reads while a run goes on; the recorders write
//! them, one padded slot per worker. When a display asks for them
//! ([`Live::watch_intervals`]), the timeline's compressor thread also folds every closed
//! interval in here, off the workers' hot path, for per-interval lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use hdrhistogram::Histogram;

use super::interval::IntervalPart;

/// Intervals kept for a display that has not taken them yet; older ones are dropped
/// (a display that stopped reading must not make the run grow).
const KEPT_INTERVALS: usize = 16;

/// One timeline interval (1 s of the recorded part) as far as the workers have closed it:
/// every worker's share once each has moved past it.
#[derive(Debug, Clone)]
pub struct LiveInterval {
    /// Interval number from the start of recording (interval `i` is `i..i+1` s).
    pub index: u64,
    /// Successful requests completed in it.
    pub ok: u64,
    /// Failed requests in it.
    pub errors: u64,
    /// Payload bytes of the verified replies completed in it.
    pub bytes_received: u64,
    /// Latencies of the requests completed in it, ns.
    pub latency: Histogram<u64>,
}

/// Counters the progress bar reads while the run goes on: one cache line per worker, each
/// written only by its own worker.
#[derive(Debug)]
pub struct Live {
    pub(super) slots: Vec<LiveSlot>,
    /// Closed intervals not yet taken; `None` while no display watches them.
    intervals: Mutex<Option<Vec<LiveInterval>>>,
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
            intervals: Mutex::new(None),
        }
    }

    /// From now on, keep the closed intervals for [`Live::take_intervals`] (the last
    /// 16 at most; without this call none are kept).
    pub fn watch_intervals(&self) {
        let mut kept = self
            .intervals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        kept.get_or_insert_with(Vec::new);
    }

    /// Adds one worker's share of a closed interval (the compressor thread calls this).
    pub(super) fn fold_interval(&self, part: &IntervalPart) {
        let mut kept = self
            .intervals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(kept) = kept.as_mut() else {
            return;
        };
        match kept.iter_mut().find(|i| i.index == part.index) {
            Some(into) => {
                into.ok += part.ok;
                into.errors += part.errors;
                into.bytes_received += part.bytes_received;
                let _ = into.latency.add(&part.latency);
            }
            None => {
                kept.push(LiveInterval {
                    index: part.index,
                    ok: part.ok,
                    errors: part.errors,
                    bytes_received: part.bytes_received,
                    latency: part.latency.clone(),
                });
                kept.sort_by_key(|i| i.index);
                if kept.len() > KEPT_INTERVALS {
                    kept.remove(0);
                }
            }
        }
    }

    /// Takes the kept intervals numbered below `before`, in order (`u64::MAX`: all).
    /// A worker closes an interval when it first records past it, so an interval is
    /// complete once a later one has appeared, or once the run has ended.
    pub fn take_intervals(&self, before: u64) -> Vec<LiveInterval> {
        let mut kept = self
            .intervals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(kept) = kept.as_mut() else {
            return Vec::new();
        };
        let split = kept.partition_point(|i| i.index < before);
        kept.drain(..split).collect()
    }

    /// The highest interval number kept so far.
    pub fn latest_interval(&self) -> Option<u64> {
        let kept = self
            .intervals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        kept.as_ref().and_then(|k| k.last()).map(|i| i.index)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn part(index: u64, ok: u64, bytes: u64, latency_ns: u64) -> IntervalPart {
        let mut latency = crate::report::new_histogram();
        latency.record_n(latency_ns, ok).unwrap();
        IntervalPart {
            index,
            ok,
            errors: 0,
            unfinished: 0,
            bytes_received: bytes,
            latency,
        }
    }

    #[test]
    fn workers_shares_of_an_interval_are_merged_and_taken_once() {
        let live = Live::new(2);
        live.fold_interval(&part(0, 5, 320, 1_000));
        assert_eq!(live.latest_interval(), None, "kept only when watched");
        live.watch_intervals();
        live.fold_interval(&part(0, 3, 192, 1_000));
        live.fold_interval(&part(1, 1, 64, 9_000));
        live.fold_interval(&part(0, 2, 128, 5_000));
        assert_eq!(live.latest_interval(), Some(1));
        let taken = live.take_intervals(1);
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].index, taken[0].ok), (0, 5));
        assert_eq!(taken[0].bytes_received, 320);
        assert_eq!(taken[0].latency.len(), 5);
        assert!(live.take_intervals(1).is_empty(), "taken once");
        assert_eq!(live.take_intervals(u64::MAX)[0].index, 1);
    }

    #[test]
    fn an_unread_display_keeps_a_bounded_number_of_intervals() {
        let live = Live::new(1);
        live.watch_intervals();
        for i in 0..40 {
            live.fold_interval(&part(i, 1, 1, 1_000));
        }
        let kept = live.take_intervals(u64::MAX);
        assert_eq!(kept.len(), KEPT_INTERVALS);
        assert_eq!(kept[0].index, 40 - KEPT_INTERVALS as u64);
    }
}
