//! The Nagle + delayed-ACK verdict, computed from a latency histogram.
//!
//! A small write held back by Nagle's algorithm waits for the ACK of the previous
//! segment; when the peer delays that ACK (it has nothing to send until the whole request
//! or response has arrived), the write waits for the delayed-ACK timer: about 40 ms on
//! Linux, 200 ms on some other systems, and twice that when both directions stall in one
//! round trip. Requests that land in that band are the stall's share; a cell is flagged
//! when the share is at least [`FLAG_SHARE`]. Nothing here knows which settings a cell
//! had: the flag comes from the measured latencies only.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies at or above this are on the delayed-ACK plateau (Linux's timer is 40 ms; a
/// round trip that stalls once takes a little more).
pub const PLATEAU_LOW: Duration = Duration::from_millis(30);
/// ...and at or below this (200 ms timers, and two stalls per round trip, fit under it).
pub const PLATEAU_HIGH: Duration = Duration::from_millis(500);
/// The share of requests on the plateau that flags a cell.
pub const FLAG_SHARE: f64 = 0.01;
/// The verdict text of a flagged cell.
pub const STALL_TEXT: &str = "nagle+delayed-ack stall";

/// A cell's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// True when at least [`FLAG_SHARE`] of the requests sat on the plateau.
    pub stalled: bool,
    /// The share of requests (0..=1) whose latency was on the plateau.
    pub share: f64,
}

impl Verdict {
    /// Judges a latency histogram (ns).
    pub fn of(hist: &Histogram<u64>) -> Verdict {
        if hist.is_empty() {
            return Verdict {
                stalled: false,
                share: 0.0,
            };
        }
        let low = PLATEAU_LOW.as_nanos() as u64;
        let high = PLATEAU_HIGH.as_nanos() as u64;
        let on_plateau = hist.count_between(low, high);
        let share = on_plateau as f64 / hist.len() as f64;
        Verdict {
            stalled: share >= FLAG_SHARE,
            share,
        }
    }

    /// `nagle+delayed-ack stall (98.8%)` or `ok`.
    pub fn text(&self) -> String {
        if self.stalled {
            format!("{STALL_TEXT} ({:.1}%)", self.share * 100.0)
        } else {
            "ok".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[(u64, u64)]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for &(v, n) in values {
            h.record_n(v, n).unwrap();
        }
        h
    }

    #[test]
    fn a_forty_millisecond_plateau_is_flagged_with_its_share() {
        let v = Verdict::of(&hist(&[(50_000, 900), (41_000_000, 100)]));
        assert!(v.stalled);
        assert!((v.share - 0.1).abs() < 1e-9, "{}", v.share);
        assert_eq!(v.text(), "nagle+delayed-ack stall (10.0%)");
        // Two stalls in one round trip, and 200 ms timers, are on the plateau too.
        assert!(Verdict::of(&hist(&[(88_000_000, 10)])).stalled);
        assert!(Verdict::of(&hist(&[(204_000_000, 10)])).stalled);
    }

    #[test]
    fn microseconds_with_rare_millisecond_spikes_are_not_flagged() {
        let v = Verdict::of(&hist(&[(50_000, 10_000), (4_000_000, 50), (41_000_000, 5)]));
        assert!(!v.stalled, "{v:?}");
        assert_eq!(v.text(), "ok");
        assert!(!Verdict::of(&hist(&[])).stalled);
        // A server that is simply slow (a second per request) is not a Nagle stall.
        assert!(!Verdict::of(&hist(&[(1_000_000_000, 100)])).stalled);
    }
}
