//! [`Timers`]: one loop's deadlines (idle timeouts, frame deadlines, the end of a
//! `sleep`, accept back-off) in a heap the loop owns: scheduling and popping are plain
//! memory operations, never a timer syscall; the loop's wait timeout is the only clock
//! the kernel sees. Deletion is lazy: an entry that is no longer wanted stays until it
//! pops, and the caller checks on pop whether it is still due.
//!
//! To keep the heap from growing with lazy deletion, callers schedule a key only when
//! the new deadline is earlier than the one already scheduled for it (stored next to
//! the key's state); a later deadline waits for the earlier entry to pop, and is
//! scheduled then.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Deadlines keyed by `K` (a connection key, a listener index).
#[derive(Debug)]
pub struct Timers<K> {
    heap: BinaryHeap<Reverse<Entry<K>>>,
    /// Breaks ties between equal instants in insertion order.
    seq: u64,
}

/// One deadline; ordered by `(at, seq)` only, so `K` needs no `Ord`.
#[derive(Debug)]
struct Entry<K> {
    at: Instant,
    seq: u64,
    key: K,
}

impl<K> PartialEq for Entry<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<K> Eq for Entry<K> {}

impl<K> PartialOrd for Entry<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Entry<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<K: Copy + Eq> Default for Timers<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq> Timers<K> {
    /// No deadlines.
    pub fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Adds a deadline for `key` at `at`. An older one for the same key stays in the
    /// heap: callers check on pop whether it is still due (see the module docs).
    pub fn schedule(&mut self, at: Instant, key: K) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            key,
        }));
    }

    /// The earliest deadline, stale ones included.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// Pops one entry due at `now` (`at <= now`), earliest first; `None` when none is.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, K)> {
        if self.next_deadline()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| (e.at, e.key))
    }

    /// Entries in the heap, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether the heap holds no entry at all.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Drops every entry `keep` says is stale, in one pass (O(n)). Lazy deletion leaves
    /// an entry behind for each key that went away before its deadline (a closed
    /// connection's idle timeout): under connection churn the heap would hold
    /// minutes of them, so a loop calls this when the heap has grown well past its
    /// live keys (e.g. twice as many entries), which keeps the cost amortised.
    pub fn retain(&mut self, mut keep: impl FnMut(Instant, K) -> bool) {
        self.heap.retain(|Reverse(e)| keep(e.at, e.key));
    }

    /// The wait timeout from `now` until the next deadline, rounded UP to the next
    /// millisecond (epoll waits in milliseconds: rounding down would wake the loop
    /// just before the deadline, to spin until it), and capped by `cap`. `None`: no
    /// deadline and no cap (wait forever).
    pub fn timeout(&self, now: Instant, cap: Option<Duration>) -> Option<Duration> {
        let until = self.next_deadline().map(|at| {
            let left = at.saturating_duration_since(now);
            let ms = left.as_nanos().div_ceil(1_000_000);
            Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
        });
        match (until, cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_pop_in_time_order_then_insertion_order() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut timers = Timers::new();
        timers.schedule(ms(30), 'c');
        timers.schedule(ms(10), 'a');
        timers.schedule(ms(20), 'b');
        timers.schedule(ms(10), 'z');
        assert_eq!(timers.len(), 4);
        assert_eq!(timers.next_deadline(), Some(ms(10)));
        assert_eq!(timers.pop_due(ms(5)), None, "nothing due yet");
        assert_eq!(timers.pop_due(ms(20)), Some((ms(10), 'a')));
        assert_eq!(timers.pop_due(ms(20)), Some((ms(10), 'z')));
        assert_eq!(timers.pop_due(ms(20)), Some((ms(20), 'b')));
        assert_eq!(timers.pop_due(ms(20)), None, "c is due at 30");
        assert_eq!(timers.pop_due(ms(31)), Some((ms(30), 'c')));
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn a_replaced_deadline_stays_until_it_pops_and_the_caller_skips_it() {
        // The caller's rule: the deadline it wants is kept beside the key; an entry
        // that pops with another instant is stale and skipped.
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let mut wanted = t0 + Duration::from_secs(60);
        timers.schedule(wanted, 1u32);
        // An earlier deadline replaces it: scheduled, the old entry stays.
        wanted = t0 + Duration::from_secs(5);
        timers.schedule(wanted, 1);
        assert_eq!(timers.len(), 2);
        let mut fired = Vec::new();
        while let Some((at, key)) = timers.pop_due(t0 + Duration::from_secs(120)) {
            if at == wanted {
                fired.push((at, key));
            }
        }
        assert_eq!(fired, [(t0 + Duration::from_secs(5), 1)]);
        assert_eq!(timers.len(), 0, "the stale entry was dropped on pop");
    }

    #[test]
    fn retain_drops_stale_entries_and_keeps_the_order() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut timers = Timers::new();
        for k in 0..10u32 {
            timers.schedule(ms(u64::from(10 - k)), k);
        }
        timers.retain(|_, k| k % 2 == 0);
        assert_eq!(timers.len(), 5);
        let popped: Vec<u32> =
            std::iter::from_fn(|| timers.pop_due(ms(100)).map(|e| e.1)).collect();
        assert_eq!(popped, [8, 6, 4, 2, 0]);
    }

    #[test]
    fn the_timeout_rounds_up_to_whole_milliseconds_and_respects_the_cap() {
        let t0 = Instant::now();
        let mut timers = Timers::<u8>::new();
        assert_eq!(timers.timeout(t0, None), None, "no deadline: forever");
        assert_eq!(
            timers.timeout(t0, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
        timers.schedule(t0 + Duration::from_micros(1_200), 0);
        assert_eq!(timers.timeout(t0, None), Some(Duration::from_millis(2)));
        assert_eq!(
            timers.timeout(t0, Some(Duration::from_millis(1))),
            Some(Duration::from_millis(1))
        );
        // A passed deadline: do not wait at all.
        let late = t0 + Duration::from_secs(1);
        assert_eq!(timers.timeout(late, None), Some(Duration::ZERO));
    }
}
