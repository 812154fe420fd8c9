//! [`Pacer`]: UDP `rate` for one flow and direction, a token bucket with a bounded
//! FIFO queue in front of it, as a router's shaped link does it. Sans-IO: it takes the
//! time and a datagram's length and says when the datagram may go (now, at a later
//! instant, or never: tail-dropped). A FIFO in front of a token bucket is
//! deterministic, so a datagram's departure is known when it arrives; the loops hold
//! it on their timers until then, the same way as a `latency` hold, and count.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::WayImpairments;

/// Nanoseconds per second: the bucket holds byte-nanoseconds (bytes x 1e9), so refills
/// never lose a fraction of a byte.
const NS: i128 = 1_000_000_000;

/// What to do with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paced {
    /// Its tokens are there and nothing waits before it: send it now.
    Now,
    /// It waits in the queue until then (counted as `throttled`).
    At(Instant),
    /// The queue is full: tail-dropped (counted as `rate_dropped`).
    Dropped,
}

/// One flow's token bucket and queue, for one direction.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Bytes per second (at least 1).
    rate: i128,
    /// The bucket's size, byte-nanoseconds.
    burst_bns: i128,
    /// Tokens at `last`, byte-nanoseconds; below zero after a datagram larger than the
    /// bucket went (a debt the refill pays first, so the long-run rate holds).
    credit_bns: i128,
    /// When `credit_bns` was true: now, or the departure of the last queued datagram.
    last: Instant,
    /// The most bytes waiting at once.
    queue_limit: u64,
    /// The datagrams waiting: departure and length, oldest first.
    waiting: VecDeque<(Instant, u64)>,
    /// Their bytes.
    waiting_bytes: u64,
}

impl Pacer {
    /// A full bucket of `burst` bytes refilled at `rate` bytes per second, with room
    /// for `queue_limit` bytes waiting for tokens (0: a policer, which drops what finds
    /// too few tokens).
    pub(crate) fn new(rate: u64, burst: u64, queue_limit: u64, now: Instant) -> Self {
        let burst_bns = i128::from(burst.max(1)) * NS;
        Pacer {
            rate: i128::from(rate.max(1)),
            burst_bns,
            credit_bns: burst_bns,
            last: now,
            queue_limit,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
        }
    }

    /// The pacer `way`'s `rate` asks for (`None` without one: the loops then pay one
    /// `if` per datagram), starting full at `now`.
    pub(crate) fn of(way: &WayImpairments, now: Instant) -> Option<Box<Self>> {
        let rate = way.rate_bytes_per_s?;
        let (burst, queue) = (way.burst_bytes()?, way.rate_queue_bytes()?);
        Some(Box::new(Pacer::new(rate, burst, queue, now)))
    }

    /// Takes a datagram of `len` bytes arriving at `now`. It goes once the bucket holds
    /// its length (or, for one larger than the bucket, a full bucket) and every datagram
    /// before it has gone. The order holds when the caller has sent every datagram due
    /// by `now` before it offers more at `now` (and holds ties in arrival order).
    pub(crate) fn offer(&mut self, now: Instant, len: usize) -> Paced {
        self.forget_departed(now);
        let (start, credit) = if now > self.last {
            let earned = now.duration_since(self.last).as_nanos() as i128 * self.rate;
            (now, (self.credit_bns + earned).min(self.burst_bns))
        } else {
            (self.last, self.credit_bns)
        };
        let len_bns = len as i128 * NS;
        let need = len_bns.min(self.burst_bns);
        let wait_ns = ((need - credit).max(0) + self.rate - 1) / self.rate;
        let departs = start + Duration::from_nanos(u64::try_from(wait_ns).unwrap_or(u64::MAX));
        let verdict = if departs <= now {
            Paced::Now
        } else if self.waiting_bytes + len as u64 > self.queue_limit {
            // Tail drop: the bucket and the queue stay as they were.
            return Paced::Dropped;
        } else {
            self.waiting.push_back((departs, len as u64));
            self.waiting_bytes += len as u64;
            Paced::At(departs)
        };
        self.credit_bns = credit + wait_ns * self.rate - len_bns;
        self.last = departs;
        verdict
    }

    /// Datagrams still waiting at `now` (those the loop holds; counted as dropped when
    /// their flow ends before they go).
    pub(crate) fn waiting(&mut self, now: Instant) -> usize {
        self.forget_departed(now);
        self.waiting.len()
    }

    /// Forgets the datagrams whose departure has come (their bytes leave the queue).
    fn forget_departed(&mut self, now: Instant) {
        while let Some(&(at, len)) = self.waiting.front() {
            if at > now {
                break;
            }
            self.waiting.pop_front();
            self.waiting_bytes -= len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_full_bucket_lets_its_burst_go_at_once_then_the_rate_spaces_datagrams() {
        let t0 = Instant::now();
        // 100,000 B/s: 1,000 B take 10 ms of tokens.
        let mut p = Pacer::new(100_000, 2_000, 64 * 1024, t0);
        assert_eq!(p.offer(t0, 1_000), Paced::Now);
        assert_eq!(p.offer(t0, 1_000), Paced::Now);
        assert_eq!(p.offer(t0, 1_000), Paced::At(t0 + 10 * MS));
        assert_eq!(p.offer(t0, 1_000), Paced::At(t0 + 20 * MS));
        assert_eq!(p.waiting(t0), 2);
        assert_eq!(p.waiting(t0 + 10 * MS), 1);
        // Idle past the queue: the bucket refills, but never above its size.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(p.waiting(later), 0);
        assert_eq!(p.offer(later, 1_000), Paced::Now);
        assert_eq!(p.offer(later, 1_000), Paced::Now);
        assert_eq!(p.offer(later, 1_000), Paced::At(later + 10 * MS));
    }

    #[test]
    fn a_datagram_that_would_overfill_the_queue_is_dropped_and_changes_nothing() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100_000, 1_000, 2_000, t0);
        assert_eq!(p.offer(t0, 1_000), Paced::Now);
        assert_eq!(p.offer(t0, 1_000), Paced::At(t0 + 10 * MS));
        assert_eq!(p.offer(t0, 1_000), Paced::At(t0 + 20 * MS));
        assert_eq!(p.offer(t0, 1_000), Paced::Dropped);
        assert_eq!(p.offer(t0, 1), Paced::Dropped);
        // The dropped ones took no tokens: the next after the queue drained still goes
        // right after the last queued one.
        assert_eq!(p.offer(t0 + 10 * MS, 1_000), Paced::At(t0 + 30 * MS));
    }

    #[test]
    fn a_zero_queue_polices_instead_of_shaping() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100_000, 1_000, 0, t0);
        assert_eq!(p.offer(t0, 1_000), Paced::Now);
        assert_eq!(p.offer(t0 + 5 * MS, 1_000), Paced::Dropped);
        assert_eq!(p.offer(t0 + 10 * MS, 1_000), Paced::Now);
    }

    #[test]
    fn datagrams_larger_than_the_bucket_go_with_a_full_one_and_the_rate_holds() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100_000, 500, 64 * 1024, t0);
        assert_eq!(p.offer(t0, 1_500), Paced::Now);
        // 1,000 B of debt plus 500 B of bucket: 15 ms until the next may go.
        assert_eq!(p.offer(t0, 1_500), Paced::At(t0 + 15 * MS));
        assert_eq!(p.offer(t0, 0), Paced::At(t0 + 25 * MS));
    }

    #[test]
    fn over_many_datagrams_the_departures_keep_to_the_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1_000_000, 4_096, u64::MAX, t0);
        let mut last = t0;
        for _ in 0..1_000 {
            if let Paced::At(at) = p.offer(t0, 1_000) {
                assert!(at >= last);
                last = at;
            }
        }
        // 1,000,000 B at 1 MB/s, less the 4,096 B the bucket held at the start.
        let took = last.duration_since(t0);
        assert!(took >= Duration::from_micros(995_000), "{took:?}");
        assert!(took <= Duration::from_micros(996_000), "{took:?}");
    }
}
