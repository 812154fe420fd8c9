//! [`Shaper`]: one TCP direction's plan for the impairments that need the bytes in
//! user space (`latency`, `jitter`, `rate`, `slice`, `stall`, `close-slowly`), sans-IO:
//! it takes the bytes read and the time, and says how many bytes may be written now
//! or when to look again. Chunks wait in a bounded ring, each with its release time
//! (never before the chunk read before it, so jitter cannot reorder a stream); the
//! `rate` is a [`TokenBucket`]. No sockets and no clock: both models drive it, the
//! per-core loops through `per_core::shaped` (their timers) and the `async` model's
//! tasks through `shaped` (smol timers); the driver does the reads and writes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::proxy::impair::dice::Impairer;
use crate::proxy::impair::{Applied, WayImpairments};

/// Bytes one shaped direction holds at most (or `--buffer`, if larger): reading
/// stops while it is full, so memory stays bounded and the sender feels it.
pub(crate) const QUEUE_LIMIT: usize = 1 << 20;

/// Chunks one shaped direction holds at most (however small they are).
pub(crate) const MAX_CHUNKS: usize = 4096;

/// What the shaping did in one turn, added to the relay's counters once per turn.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Chunks held by `latency`/`jitter`, and their bytes.
    pub(crate) delayed: u64,
    pub(crate) delayed_bytes: u64,
    /// Waits for tokens.
    pub(crate) throttled: u64,
    /// Writes cut to the slice size.
    pub(crate) sliced: u64,
    /// Stalls begun.
    pub(crate) stalled: u64,
    /// FINs held back.
    pub(crate) closed_slowly: u64,
}

impl Tally {
    /// Each count with the counter it adds to.
    pub(crate) fn counts(&self) -> [(Applied, u64); 6] {
        [
            (Applied::Delayed, self.delayed),
            (Applied::DelayedBytes, self.delayed_bytes),
            (Applied::Throttled, self.throttled),
            (Applied::Sliced, self.sliced),
            (Applied::Stalled, self.stalled),
            (Applied::ClosedSlowly, self.closed_slowly),
        ]
    }
}

/// A token bucket in byte-nanoseconds (bytes x 1e9), so refills never lose a
/// fraction of a byte.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: u64,
    burst_bns: u128,
    credit_bns: u128,
    last: Instant,
}

const NS: u128 = 1_000_000_000;

impl TokenBucket {
    /// A full bucket of `burst` bytes, refilled at `rate` bytes per second.
    pub(crate) fn new(rate: u64, burst: u64, now: Instant) -> Self {
        let burst_bns = u128::from(burst.max(1)) * NS;
        TokenBucket {
            rate: rate.max(1),
            burst_bns,
            credit_bns: burst_bns,
            last: now,
        }
    }

    /// Whole bytes that may go at `now`.
    pub(crate) fn available(&mut self, now: Instant) -> usize {
        if now > self.last {
            let earned = now.duration_since(self.last).as_nanos() * u128::from(self.rate);
            self.credit_bns = (self.credit_bns + earned).min(self.burst_bns);
            self.last = now;
        }
        usize::try_from(self.credit_bns / NS).unwrap_or(usize::MAX)
    }

    /// Takes `n` bytes' worth of tokens.
    pub(crate) fn spend(&mut self, n: usize) {
        self.credit_bns = self.credit_bns.saturating_sub(n as u128 * NS);
    }

    /// When `n` bytes, capped at half the burst (at least 1 byte), will be available.
    /// Half, not all: a waiter woken late (a loop's timers round up to the millisecond)
    /// then finds the lateness in the other half, instead of losing it to a bucket that
    /// was already full, which would keep a backlogged direction below its rate.
    pub(crate) fn ready_at(&self, n: usize) -> Instant {
        let want = (n as u128 * NS).min(self.burst_bns / 2).max(NS);
        let ns = want
            .saturating_sub(self.credit_bns)
            .div_ceil(u128::from(self.rate));
        self.last + Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

/// A fixed ring of bytes: filled at the tail, written from the head.
#[derive(Debug)]
struct Ring {
    buf: Box<[u8]>,
    head: usize,
    len: usize,
}

impl Ring {
    fn new(cap: usize) -> Self {
        Ring {
            buf: vec![0u8; cap].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// The free space right after the tail (empty when full).
    fn tail_mut(&mut self) -> &mut [u8] {
        let cap = self.buf.len();
        let tail = (self.head + self.len) % cap;
        let end = if self.len == cap {
            tail
        } else if tail >= self.head {
            cap
        } else {
            self.head
        };
        &mut self.buf[tail..end]
    }

    /// The held bytes from the head up to the end of the buffer.
    fn front(&self) -> &[u8] {
        let end = (self.head + self.len).min(self.buf.len());
        &self.buf[self.head..end]
    }

    fn commit(&mut self, n: usize) {
        self.len += n;
    }

    fn consume(&mut self, n: usize) {
        self.head = (self.head + n) % self.buf.len();
        self.len -= n;
        if self.len == 0 {
            self.head = 0;
        }
    }
}

/// What a direction may do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Write at most this many bytes of [`Shaper::front`] now.
    Write(usize),
    /// Nothing may go before this instant.
    Wait(Instant),
    /// Nothing is held.
    Idle,
}

/// One direction's shaping state.
#[derive(Debug)]
pub(crate) struct Shaper {
    way: WayImpairments,
    /// For `jitter` (and `latency`): `None` without a hold.
    dice: Option<Impairer>,
    ring: Ring,
    /// The held chunks, oldest first: release time and bytes left.
    chunks: VecDeque<(Instant, usize)>,
    last_release: Option<Instant>,
    bucket: Option<TokenBucket>,
    /// A wait for tokens is under way (counted once).
    throttling: bool,
    /// Bytes written so far (for `stall=after:`).
    sent: u64,
    /// `Some` once the stall has begun: until when it lasts.
    stall_until: Option<Instant>,
    /// The end of the pause after a slice (`slice=...,gap=`).
    gap_until: Option<Instant>,
    /// When the FIN may go, once the source has closed.
    fin_at: Option<Instant>,
}

impl Shaper {
    /// A plan for `way` holding at most `limit` bytes; `dice` for its holds.
    pub(crate) fn new(
        way: WayImpairments,
        dice: Option<Impairer>,
        limit: usize,
        now: Instant,
    ) -> Self {
        let bucket = way
            .rate_bytes_per_s
            .zip(way.burst_bytes())
            .map(|(rate, burst)| TokenBucket::new(rate, burst, now));
        Shaper {
            way,
            dice: dice.filter(|_| way.has_delay()),
            ring: Ring::new(limit.max(1)),
            chunks: VecDeque::new(),
            last_release: None,
            bucket,
            throttling: false,
            sent: 0,
            stall_until: None,
            gap_until: None,
            fin_at: None,
        }
    }

    /// Where the next read may put its bytes; `None` while the queue is full.
    pub(crate) fn read_space(&mut self) -> Option<&mut [u8]> {
        if self.chunks.len() >= MAX_CHUNKS {
            return None;
        }
        let space = self.ring.tail_mut();
        (!space.is_empty()).then_some(space)
    }

    /// Takes in `n` bytes just read into [`Shaper::read_space`] at `now`.
    pub(crate) fn filled(&mut self, n: usize, now: Instant, tally: &mut Tally) {
        self.ring.commit(n);
        let hold = self.dice.as_mut().and_then(Impairer::hold).map(|(d, _)| d);
        let mut at = hold.map_or(now, |d| now + d);
        if let Some(last) = self.last_release {
            at = at.max(last);
        }
        if at > now {
            tally.delayed += 1;
            tally.delayed_bytes += n as u64;
        }
        self.last_release = Some(at);
        match self.chunks.back_mut() {
            Some((release, left)) if *release == at => *left += n,
            _ => self.chunks.push_back((at, n)),
        }
    }

    /// The source said EOF at `now`: the FIN may go once every byte is out and
    /// `close-slowly` has passed.
    pub(crate) fn closed(&mut self, now: Instant, tally: &mut Tally) {
        let slowly = Duration::from_micros(self.way.close_slowly_us);
        if !slowly.is_zero() {
            tally.closed_slowly += 1;
        }
        self.fin_at = Some(now + slowly);
    }

    /// When the FIN may go (`None` before EOF).
    pub(crate) fn fin_at(&self) -> Option<Instant> {
        self.fin_at
    }

    /// The held bytes a [`Next::Write`] writes from.
    pub(crate) fn front(&self) -> &[u8] {
        self.ring.front()
    }

    /// What may happen at `now`.
    pub(crate) fn next(&mut self, now: Instant, tally: &mut Tally) -> Next {
        let Some(&(at, left)) = self.chunks.front() else {
            return Next::Idle;
        };
        if let Some(until) = [Some(at), self.stall_until, self.gap_until]
            .into_iter()
            .flatten()
            .filter(|&t| t > now)
            .max()
        {
            return Next::Wait(until);
        }
        let mut n = left.min(self.ring.front().len());
        if let Some(slice) = self.way.slice {
            n = n.min(usize::try_from(slice).unwrap_or(usize::MAX));
        }
        if let (Some(after), None) = (self.way.stall_after, self.stall_until) {
            if self.sent >= after {
                let until = now + Duration::from_micros(self.way.stall_us);
                self.stall_until = Some(until);
                tally.stalled += 1;
                if until > now {
                    return Next::Wait(until);
                }
            } else {
                n = n.min(usize::try_from(after - self.sent).unwrap_or(usize::MAX));
            }
        }
        if let Some(bucket) = &mut self.bucket {
            let tokens = bucket.available(now);
            if tokens == 0 {
                if !self.throttling {
                    self.throttling = true;
                    tally.throttled += 1;
                }
                return Next::Wait(bucket.ready_at(n));
            }
            n = n.min(tokens);
        }
        Next::Write(n)
    }

    /// `n` bytes of a [`Next::Write`] went out at `now`.
    pub(crate) fn wrote(&mut self, n: usize, now: Instant, tally: &mut Tally) {
        self.ring.consume(n);
        if let Some(front) = self.chunks.front_mut() {
            front.1 -= n;
            if front.1 == 0 {
                self.chunks.pop_front();
            }
        }
        self.sent += n as u64;
        if let Some(bucket) = &mut self.bucket {
            bucket.spend(n);
            self.throttling = false;
        }
        if self.way.slice.is_some() {
            tally.sliced += 1;
            if self.way.slice_gap_us > 0 {
                self.gap_until = Some(now + Duration::from_micros(self.way.slice_gap_us));
            }
        }
    }
}

#[cfg(test)]
#[path = "shape_tests.rs"]
mod tests;
