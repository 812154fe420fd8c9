//! Pacing: which request a connection sends next and when. Closed loop sends as soon as
//! the pipeline has room; open loop follows a per-connection schedule of intended send
//! times (uniform or Poisson) and never skips a due request: a connection behind its
//! schedule sends late, and what it never sent is counted as `unsent`.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::future;
use smol::Timer;

use crate::config::{Arrival, LoadModel, RunLength};
use crate::engine::Shared;
use crate::workload::Request;

/// An open-loop schedule for one connection.
#[derive(Debug)]
pub struct Schedule {
    next: Instant,
    mean_gap_ns: f64,
    /// Uniform arrivals: the gap in whole nanoseconds, the same in `advance` and
    /// `count_due`.
    gap_ns: u64,
    arrival: Arrival,
    rng: fastrand::Rng,
}

impl Schedule {
    /// Connection `index` of `connections` sharing `rate` requests/s from `start`.
    pub fn new(
        start: Instant,
        rate: f64,
        arrival: Arrival,
        index: usize,
        connections: usize,
    ) -> Schedule {
        let mean_gap_ns = 1e9 * connections as f64 / rate;
        let mut schedule = Schedule {
            next: start,
            mean_gap_ns,
            gap_ns: (mean_gap_ns.round() as u64).max(1),
            arrival,
            rng: fastrand::Rng::with_seed(0x5eed ^ index as u64),
        };
        match arrival {
            // Stagger the connections evenly over one gap.
            Arrival::Uniform => {
                schedule.next += nanos(mean_gap_ns * index as f64 / connections as f64);
            }
            Arrival::Poisson => schedule.advance(),
        }
        schedule
    }

    /// The intended time of the next request.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// Moves to the request after.
    pub fn advance(&mut self) {
        self.next += match self.arrival {
            Arrival::Uniform => Duration::from_nanos(self.gap_ns),
            // Inverse transform sampling of the exponential distribution.
            Arrival::Poisson => nanos(-(1.0 - self.rng.f64()).ln() * self.mean_gap_ns),
        };
    }

    /// How many intended times fall in `[from, until)` from the current one on: exact for
    /// uniform arrivals, the expected count for Poisson ones (computed, not walked, so a
    /// long high-rate schedule costs nothing).
    pub fn count_due(&self, from: Instant, until: Instant) -> u64 {
        if self.next.max(from) >= until {
            return 0;
        }
        match self.arrival {
            // Times next + k * gap (k = 0, 1, ...) in [from, until): integer arithmetic on
            // the same whole-nanosecond gap `advance` adds.
            Arrival::Uniform => {
                let gap = u128::from(self.gap_ns);
                let to_end = until.duration_since(self.next).as_nanos();
                let below_end = to_end.div_ceil(gap);
                let to_start = from.saturating_duration_since(self.next).as_nanos();
                let below_start = to_start.div_ceil(gap);
                below_end.saturating_sub(below_start) as u64
            }
            // The pending arrival counts when it falls in the window; after it (or after
            // `from`, arrivals being memoryless) one every mean gap is expected.
            Arrival::Poisson => {
                let pending = u64::from(self.next >= from);
                let rest_from = self.next.max(from);
                let span_ns = until.duration_since(rest_from).as_nanos() as f64;
                pending + (span_ns / self.mean_gap_ns).round() as u64
            }
        }
    }
}

fn nanos(ns: f64) -> Duration {
    Duration::from_nanos(ns.max(0.0) as u64)
}

/// A request that is due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The request.
    pub request: Request,
    /// Open loop: when it was due.
    pub intended: Option<Instant>,
    /// Whether it is measured (not warm-up).
    pub recorded: bool,
}

/// What a connection's writer does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send this request.
    Send(Due),
    /// Nothing to send before this time.
    WaitUntil(Instant),
    /// The run is over for this connection.
    Done,
}

/// Hands out a connection's requests.
#[derive(Debug)]
pub struct Source {
    next_id: u64,
    schedule: Option<Schedule>,
    rng: fastrand::Rng,
}

impl Source {
    /// The source for connection `index`.
    pub fn new(shared: &Shared, index: usize) -> Source {
        let schedule = match shared.config.load {
            LoadModel::Closed => None,
            LoadModel::Open { rate, arrival } => Some(Schedule::new(
                shared.start,
                rate,
                arrival,
                index,
                shared.config.connections,
            )),
        };
        Source {
            next_id: 0,
            schedule,
            rng: fastrand::Rng::with_seed(index as u64),
        }
    }

    /// The next step at time `now`.
    pub fn next(&mut self, shared: &Shared, now: Instant) -> Next {
        if shared.stop_requested() || shared.budget_spent() {
            return Next::Done;
        }
        let due = match &self.schedule {
            Some(s) => s.next(),
            None => now,
        };
        if let Some(end) = shared.end
            && (due >= end || now >= end)
        {
            return Next::Done;
        }
        if due > now {
            return Next::WaitUntil(due);
        }
        let recorded = due >= shared.record_start;
        if recorded && !shared.claim() {
            return Next::Done;
        }
        if let Some(s) = &mut self.schedule {
            s.advance();
        }
        let size = shared.config.size;
        let size = if size.min == size.max {
            size.min.as_usize()
        } else {
            self.rng.usize(size.min.as_usize()..=size.max.as_usize())
        };
        let request = Request {
            id: self.next_id,
            size,
        };
        self.next_id += 1;
        Next::Send(Due {
            request,
            intended: self.schedule.is_some().then_some(due),
            recorded,
        })
    }

    /// Open loop, duration runs: requests of the recorded part the schedule still calls
    /// for before `until`; they will never be sent.
    pub fn unsent(&self, shared: &Shared, until: Instant) -> u64 {
        match (&self.schedule, shared.config.length) {
            (Some(s), RunLength::Duration(_)) => s.count_due(shared.record_start, until),
            _ => 0,
        }
    }
}

/// Waits until the connection has room for one more request and its next request is due;
/// `None` once the run is over for it. Room comes first: a request is taken from the
/// schedule (and the budget) only when it can go out at once, so none is lost if the
/// connection fails while waiting, and none starts after the end or a stop.
///
/// `timer` and `stop` are the connection's own, reused for every wait. `stop` is polled
/// again only while no stop was asked for: once it resolves, the stop flag is set (before
/// the channel closes) and [`Source::next`] returns `Done` first.
pub async fn next_due<F: Future<Output = ()>>(
    shared: &Shared,
    source: &RefCell<Source>,
    room: &LocalNotify,
    has_room: impl Fn() -> bool,
    timer: &mut Timer,
    mut stop: Pin<&mut F>,
) -> Option<Due> {
    loop {
        room.wait_until(&has_room).await;
        let next = source.borrow_mut().next(shared, Instant::now());
        match next {
            Next::Done => return None,
            Next::Send(due) => return Some(due),
            Next::WaitUntil(at) => {
                timer.set_at(at);
                future::or(
                    async {
                        (&mut *timer).await;
                    },
                    stop.as_mut(),
                )
                .await;
            }
        }
    }
}

/// Wakes one waiting half of a connection task when the other half changed something it
/// waits for (room in the pipeline). Both halves run in the same task, so this is a
/// waker slot, not a lock.
#[derive(Default)]
pub struct LocalNotify {
    waker: Cell<Option<Waker>>,
}

impl std::fmt::Debug for LocalNotify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalNotify")
    }
}

impl LocalNotify {
    /// Wakes the waiter, if any.
    pub fn notify(&self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Resolves once `ready()` holds, re-checking after each notification.
    pub async fn wait_until(&self, ready: impl Fn() -> bool) {
        poll_fn(|cx| {
            if ready() {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(schedule: &mut Schedule, from: Instant, until: Instant) -> u64 {
        let mut count = 0;
        while schedule.next() < until {
            if schedule.next() >= from {
                count += 1;
            }
            schedule.advance();
        }
        count
    }

    #[test]
    fn uniform_unsent_count_matches_walking_the_schedule() {
        let start = Instant::now();
        for (rate, connections, index) in [
            (1000.0, 1, 0),
            (3.0, 1, 0),
            (7000.0, 3, 2),
            (300_000.0, 1, 0),
        ] {
            for (from_ms, until_ms) in [
                (0, 1000),
                (250, 1000),
                (1, 2),
                (333, 334),
                (0, 0),
                (0, 5000),
            ] {
                let schedule = Schedule::new(start, rate, Arrival::Uniform, index, connections);
                let from = start + Duration::from_millis(from_ms);
                let until = start + Duration::from_millis(until_ms);
                let counted = schedule.count_due(from, until);
                let mut walker = Schedule::new(start, rate, Arrival::Uniform, index, connections);
                let walked = walk(&mut walker, from, until);
                assert_eq!(counted, walked, "{rate} {from_ms}..{until_ms}");
            }
        }
    }

    #[test]
    fn poisson_unsent_count_is_the_expected_count() {
        let start = Instant::now();
        let until = start + Duration::from_secs(10);
        let (mut counted, mut walked) = (0, 0);
        for seed in 0..50 {
            let schedule = Schedule::new(start, 1000.0, Arrival::Poisson, seed, 1);
            counted += schedule.count_due(start, until);
            let mut walker = Schedule::new(start, 1000.0, Arrival::Poisson, seed, 1);
            walked += walk(&mut walker, start, until);
        }
        // 50 schedules of ~10,000 arrivals each: the expectation is within 1%.
        assert!(
            counted.abs_diff(walked) < walked / 100,
            "{counted} vs {walked}"
        );
    }

    #[test]
    fn poisson_gaps_average_the_rate() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start, 1000.0, Arrival::Poisson, 0, 1);
        let n = walk(&mut schedule, start, start + Duration::from_secs(100));
        assert!((95_000..=105_000).contains(&n), "{n}");
    }
}
