//! Pacing: which request a connection sends next and when. Closed loop sends as soon as
//! the pipeline has room; open loop follows a per-connection schedule of intended send
//! times (uniform or Poisson) and never skips a due request of the recorded part: a
//! connection behind its schedule sends late; what is still owed when the recorded part
//! ends is `unfinished` (recorded at its lower bound, see [`Source::close_window`]), what a
//! failed connection never sent is `unsent`, and what the warm-up still owed when recording
//! started is dropped and counted as `warmup_dropped`.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::future;
use smol::Timer;

use super::shared::Shared;
use crate::config::{Arrival, LoadModel, RunLength};
use crate::record::Recorder;
use crate::shard::Lane;
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
    /// Connection `index` of `connections` sharing `rate` requests/s from `start`
    /// (unsharded).
    #[cfg(test)]
    pub fn new(
        start: Instant,
        rate: f64,
        arrival: Arrival,
        index: usize,
        connections: usize,
    ) -> Schedule {
        let config = crate::config::RunConfig {
            connections,
            load: LoadModel::Open { rate, arrival },
            ..Default::default()
        };
        Schedule::for_lane(start, arrival, Lane::of(&config, index))
    }

    /// The schedule of one connection's [`Lane`] (its offset, gap and seed; striped over
    /// the shards of a sharded run) from `start`.
    pub fn for_lane(start: Instant, arrival: Arrival, lane: Lane) -> Schedule {
        let mut schedule = Schedule {
            next: start,
            mean_gap_ns: lane.gap_ns,
            gap_ns: (lane.gap_ns.round() as u64).max(1),
            arrival,
            rng: fastrand::Rng::with_seed(lane.seed),
        };
        match arrival {
            // Connections (and shards) staggered over one gap.
            Arrival::Uniform => schedule.next += nanos(lane.first_ns),
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

    /// Skips every intended time before `at`; returns how many were skipped (for Poisson
    /// arrivals, walked: the backlog of a warm-up is bounded by rate x warm-up).
    pub fn skip_to(&mut self, at: Instant) -> u64 {
        if self.next >= at {
            return 0;
        }
        match self.arrival {
            Arrival::Uniform => {
                let gap = u128::from(self.gap_ns);
                let k = at.duration_since(self.next).as_nanos().div_ceil(gap);
                self.next += Duration::from_nanos((k * gap) as u64);
                k as u64
            }
            Arrival::Poisson => {
                let mut k = 0;
                while self.next < at {
                    self.advance();
                    k += 1;
                }
                k
            }
        }
    }

    /// Moves past every intended time before `until`, handing `f` each one's lower bound
    /// `until - intended` with a count: uniform arrivals whose bounds the report's
    /// histograms cannot tell apart come as one call, so a long overloaded run's backlog
    /// costs one record per histogram bucket, not one per request.
    pub fn drain_until(&mut self, until: Instant, mut f: impl FnMut(Duration, u64)) {
        while self.next < until {
            let n = self.same_bucket_run(until);
            f(until.duration_since(self.next), n);
            match n {
                1 => self.advance(),
                n => self.next += Duration::from_nanos(self.gap_ns.saturating_mul(n)),
            }
        }
    }

    /// From the current intended time on (before `until`), how many have lower bounds in
    /// the current one's histogram bucket. Poisson arrivals: 1 (their gaps vary).
    fn same_bucket_run(&self, until: Instant) -> u64 {
        static BUCKETS: OnceLock<hdrhistogram::Histogram<u64>> = OnceLock::new();
        if self.arrival == Arrival::Poisson {
            return 1;
        }
        let hist = BUCKETS.get_or_init(crate::report::new_histogram);
        let gap = self.gap_ns;
        let bound = u64::try_from(until.duration_since(self.next).as_nanos()).unwrap_or(u64::MAX);
        let remaining = bound.div_ceil(gap);
        let high = crate::report::HIST_HIGH_NS;
        let span = if bound > high {
            // Every value above the range is recorded at its top (and counted).
            bound - high - 1
        } else {
            bound - hist.lowest_equivalent(bound)
        };
        (span / gap + 1).min(remaining)
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
    /// Whether the connection had to wait for a free pipeline slot before it could send
    /// it (a late request that was held is the target's lateness, not the generator's).
    pub held: bool,
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
    /// Warm-up requests skipped when recording started (the warm-up's backlog).
    pub warmup_dropped: u64,
}

impl Source {
    /// The source for connection `index`.
    pub fn new(shared: &Shared, index: usize) -> Source {
        let schedule = match shared.config().load {
            LoadModel::Closed => None,
            LoadModel::Open { arrival, .. } => Some(Schedule::for_lane(
                shared.start(),
                arrival,
                Lane::of(shared.config(), index),
            )),
        };
        Source {
            next_id: 0,
            schedule,
            rng: fastrand::Rng::with_seed(index as u64),
            warmup_dropped: 0,
        }
    }

    /// The next step at time `now`. `on_time`: the connection slept until this very
    /// request's intended time, so it was keeping the schedule; such a request is sent
    /// even when the wake-up itself came a little after the end (timer slack), since the
    /// schedule put it inside the recorded part.
    pub fn next(&mut self, shared: &Shared, now: Instant, on_time: bool) -> Next {
        if shared.stop_requested() || shared.budget_spent() {
            return Next::Done;
        }
        let due = match &mut self.schedule {
            Some(s) => {
                // The warm-up's backlog: requests it still owed when recording started
                // are dropped (counted), so the recorded part starts on its own schedule
                // instead of spending itself on unrecorded warm-up requests.
                if s.next() < shared.record_start() && now >= shared.record_start() {
                    self.warmup_dropped += s.skip_to(shared.record_start());
                }
                s.next()
            }
            None => now,
        };
        if let Some(end) = shared.end()
            && (due >= end || (now >= end && !on_time))
        {
            return Next::Done;
        }
        if due > now {
            return Next::WaitUntil(due);
        }
        let recorded = due >= shared.record_start();
        if recorded && !shared.claim() {
            return Next::Done;
        }
        if let Some(s) = &mut self.schedule {
            s.advance();
        }
        let size = shared.config().size;
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
            held: false,
        })
    }

    /// Open loop, duration runs, once the connection's writer is done at the end of the
    /// recorded part (or at the stop, `until`): every request of the recorded part the
    /// schedule called for before `until` and that never went out is `unfinished`, recorded
    /// in the corrected histogram at its lower bound `until - intended` (its reply could
    /// not have come earlier). `held`: the writer was waiting for a free pipeline slot.
    /// Uniform arrivals are recorded a histogram bucket at a time
    /// ([`Schedule::drain_until`]).
    pub fn close_window(
        &mut self,
        shared: &Shared,
        until: Instant,
        held: bool,
        rec: &mut Recorder,
    ) {
        let (Some(s), RunLength::Duration(_)) = (&mut self.schedule, shared.config().length) else {
            return;
        };
        if until > shared.record_start() {
            self.warmup_dropped += s.skip_to(shared.record_start());
        }
        s.drain_until(until, |bound, n| rec.unfinished(bound, n, until, held));
    }

    /// Open loop, duration runs: requests of the recorded part the schedule still calls
    /// for before `until`; they will never be sent.
    pub fn unsent(&self, shared: &Shared, until: Instant) -> u64 {
        match (&self.schedule, shared.config().length) {
            (Some(s), RunLength::Duration(_)) => s.count_due(shared.record_start(), until),
            _ => 0,
        }
    }
}

/// Waits until the connection has room for one more request and its next request is due;
/// `None` once the run is over for it. Room comes first: a request is taken from the
/// schedule (and the budget) only when it can go out at once, so none is lost if the
/// connection fails while waiting, and none starts after the end or a stop.
///
/// `waits` holds the connection's own timers and stop future, reused for every wait: the
/// end timer is armed once, so a connection waiting for room (a stalled target) still
/// notices the end of the recorded part. `stop` is polled again only while no stop was
/// asked for: once it resolves, the stop flag is set (before the channel closes) and
/// [`Source::next`] returns `Done` first.
pub async fn next_due<F: Future<Output = ()>>(
    shared: &Shared,
    source: &RefCell<Source>,
    room: &LocalNotify,
    has_room: impl Fn() -> bool,
    waits: &mut Waits<'_, F>,
) -> Option<Due> {
    let mut on_time = false;
    loop {
        let held = !has_room();
        if held {
            let Waits { end, stop, .. } = waits;
            future::or(room.wait_until(&has_room), async {
                future::or(
                    async {
                        (&mut *end).await;
                    },
                    stop.as_mut(),
                )
                .await;
            })
            .await;
            on_time = false;
        }
        let next = source.borrow_mut().next(shared, Instant::now(), on_time);
        match next {
            Next::Done => {
                waits.held = held;
                return None;
            }
            Next::Send(due) => return Some(Due { held, ..due }),
            Next::WaitUntil(at) => {
                waits.timer.set_at(at);
                let timer = &mut waits.timer;
                let woke = future::or(
                    async {
                        (&mut *timer).await;
                        true
                    },
                    async {
                        waits.stop.as_mut().await;
                        false
                    },
                )
                .await;
                on_time = woke;
            }
        }
    }
}

/// The timers and stop future one connection's writer reuses for every wait.
pub struct Waits<'a, F> {
    /// Wakes at the next intended send time.
    pub timer: Timer,
    /// Wakes at the end of the recorded part (never, for count runs).
    pub end: Timer,
    /// Resolves when a stop is asked for.
    pub stop: Pin<&'a mut F>,
    /// Set when [`next_due`] returns `None`: whether the writer was waiting for a free
    /// pipeline slot when the run ended for it.
    pub held: bool,
}

impl<'a, F: Future<Output = ()>> Waits<'a, F> {
    /// The waits of a connection of `shared`'s run.
    pub fn new(shared: &Shared, stop: Pin<&'a mut F>) -> Self {
        Waits {
            timer: Timer::never(),
            end: shared.end().map_or_else(Timer::never, Timer::at),
            stop,
            held: false,
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
    fn skipping_drops_exactly_the_times_before_the_mark() {
        let start = Instant::now();
        for arrival in [Arrival::Uniform, Arrival::Poisson] {
            for (rate, connections, index) in [(1000.0, 1, 0), (7000.0, 3, 2), (3.0, 1, 0)] {
                let at = start + Duration::from_millis(777);
                let mut skipped = Schedule::new(start, rate, arrival, index, connections);
                let dropped = skipped.skip_to(at);
                let mut walker = Schedule::new(start, rate, arrival, index, connections);
                let walked = walk(&mut walker, start, at);
                assert_eq!(dropped, walked, "{arrival:?} {rate}");
                assert!(skipped.next() >= at);
                assert_eq!(skipped.next(), walker.next(), "the same next time");
                assert_eq!(skipped.skip_to(at), 0, "nothing left before the mark");
            }
        }
    }

    #[test]
    fn a_backlog_drained_a_bucket_at_a_time_records_the_same_histogram() {
        use crate::report::Latency;
        let start = Instant::now();
        // Long enough to pass the 60 s top of the range: those are counted, as one by one.
        for (rate, until_s) in [(300_000.0, 3), (50.0, 70), (7.0, 1)] {
            let until = start + Duration::from_secs(until_s);
            let (mut grouped, mut single) = (Latency::default(), Latency::default());
            let mut calls = 0;
            let mut s = Schedule::new(start, rate, Arrival::Uniform, 0, 1);
            s.drain_until(until, |bound, n| {
                grouped.record_n(bound, n);
                calls += 1;
            });
            let mut w = Schedule::new(start, rate, Arrival::Uniform, 0, 1);
            while w.next() < until {
                single.record(until.duration_since(w.next()));
                w.advance();
            }
            assert_eq!(grouped.hist, single.hist, "{rate}");
            assert_eq!(grouped.out_of_range, single.out_of_range);
            assert_eq!(s.next(), w.next());
            assert!(calls <= single.hist.len(), "{calls}");
        }
    }

    #[test]
    fn poisson_gaps_average_the_rate() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start, 1000.0, Arrival::Poisson, 0, 1);
        let n = walk(&mut schedule, start, start + Duration::from_secs(100));
        assert!((95_000..=105_000).contains(&n), "{n}");
    }
}
