//! Recording: each worker thread owns one [`Recorder`] (no locks or atomics read-modify-
//! write on the hot path), and the recorders are merged when the run ends. Latencies go
//! into HdrHistograms in nanoseconds, 1 ns to 60 s at 3 significant digits; a value above
//! 60 s is recorded as 60 s and counted in `out_of_range`, never dropped silently.

use std::sync::atomic::Ordering;

use std::time::{Duration, Instant};

use crate::report::{ErrorKind, HIST_HIGH_NS, KINDS, Latency, UdpCounters, new_histogram};

use super::live::Live;

use super::interval::{IntervalPart, StoredInterval};
use super::timeline::{CompressorHandle, CompressorLink};

/// An open-loop request sent more than this after its intended time counts as late.
pub const LATE_THRESHOLD: Duration = Duration::from_millis(1);
/// Length of one timeline interval.
pub const INTERVAL: Duration = Duration::from_secs(1);

impl UdpCounters {
    fn merge(&mut self, o: &UdpCounters) {
        self.sent += o.sent;
        self.received += o.received;
        self.lost += o.lost;
        self.late += o.late;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
    }
}

/// What one request's life looked like.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Open loop: when the schedule wanted it sent.
    pub intended: Option<Instant>,
    /// When its write started.
    pub sent: Instant,
    /// Whether it falls in the recorded part of the run.
    pub recorded: bool,
    /// Open loop: whether it waited for a free pipeline slot before it could go out.
    pub held: bool,
}

/// One worker's measurements.
#[derive(Debug)]
pub struct Recorder {
    /// Closed loop: reply received - write started. Open loop: reply received - intended
    /// send time (corrected for coordinated omission).
    pub latency: Latency,
    /// Open loop: reply received - write started.
    pub uncorrected: Option<Latency>,
    /// Open loop: write started - intended send time.
    pub send_lag: Option<Latency>,
    /// Successful requests.
    pub ok: u64,
    /// Failed requests by kind ([`ErrorKind::ALL`] order).
    pub errors: [u64; KINDS],
    /// The first message of each error kind.
    pub error_samples: [Option<String>; KINDS],
    /// Payload bytes of recorded requests sent.
    pub bytes_sent: u64,
    /// Payload bytes of recorded replies received.
    pub bytes_received: u64,
    /// Open loop: requests sent more than [`LATE_THRESHOLD`] after their intended time.
    pub late: u64,
    /// Open loop: requests the schedule called for that never went out because their
    /// connection failed first.
    pub unsent: u64,
    /// Open loop: requests of the recorded part still unsent when it ended (recorded in
    /// `latency` at their lower bound, end - intended).
    pub unfinished: u64,
    /// Of `unfinished`: those whose connection was waiting for a free pipeline slot.
    pub unfinished_held: u64,
    /// Of `late`: those that had waited for a free pipeline slot.
    pub late_held: u64,
    /// Open loop: warm-up requests still owed when recording started, dropped.
    pub warmup_dropped: u64,
    /// UDP reply accounting.
    pub udp: UdpCounters,
    /// The last recorded send or reply: where the load of a count run ended (the wait for
    /// replies that never come is not load).
    pub last_activity: Option<Instant>,
    intervals: Vec<StoredInterval>,
    current: IntervalPart,
    /// Where the current interval starts and ends (`None`: the last interval of a
    /// duration run, which takes every later reply).
    current_span: (Instant, Option<Instant>),
    compressor: Option<CompressorLink>,
    record_start: Instant,
    /// Duration runs: replies that arrive after the end (to requests sent before it)
    /// belong to the last interval, not to intervals past the run.
    last_interval: Option<u64>,
    live: std::sync::Arc<Live>,
    worker: usize,
    live_ok: u64,
    live_errors: u64,
    /// `bytes_received` when the current interval began (its bytes are the difference).
    bytes_at_interval: u64,
}

impl Recorder {
    /// A recorder for worker `worker`; intervals count from `record_start` (and stop at
    /// `record_end` for duration runs).
    pub fn new(
        open_loop: bool,
        record_start: Instant,
        record_end: Option<Instant>,
        live: std::sync::Arc<Live>,
        worker: usize,
    ) -> Self {
        let mut recorder = Recorder {
            latency: Latency::default(),
            uncorrected: open_loop.then(Latency::default),
            send_lag: open_loop.then(Latency::default),
            ok: 0,
            errors: [0; KINDS],
            error_samples: Default::default(),
            bytes_sent: 0,
            bytes_received: 0,
            late: 0,
            unsent: 0,
            unfinished: 0,
            unfinished_held: 0,
            late_held: 0,
            warmup_dropped: 0,
            udp: UdpCounters::default(),
            last_activity: None,
            intervals: Vec::new(),
            current: IntervalPart {
                index: 0,
                ok: 0,
                errors: 0,
                unfinished: 0,
                bytes_received: 0,
                latency: new_histogram(),
            },
            record_start,
            last_interval: record_end.map(|end| {
                let recorded = end.saturating_duration_since(record_start).as_nanos();
                (recorded.saturating_sub(1) / INTERVAL.as_nanos()) as u64
            }),
            live,
            worker,
            live_ok: 0,
            live_errors: 0,
            bytes_at_interval: 0,
            current_span: (record_start, None),
            compressor: None,
        };
        recorder.current_span = recorder.span(0);
        recorder
    }

    /// Hands finished intervals to a [`Compressor`] instead of compressing them inline.
    pub fn with_compressor(mut self, compressor: CompressorHandle) -> Self {
        self.compressor = CompressorLink::new(compressor);
        self
    }

    fn span(&self, index: u64) -> (Instant, Option<Instant>) {
        let start = self.record_start + INTERVAL * index as u32;
        let end = if self.last_interval == Some(index) {
            None
        } else {
            Some(start + INTERVAL)
        };
        (start, end)
    }

    /// A request went out `size` payload bytes long.
    #[inline]
    pub fn sent(&mut self, timing: &Timing, size: usize) {
        if !timing.recorded {
            return;
        }
        self.bytes_sent += size as u64;
        self.touch(timing.sent);
        if let (Some(intended), Some(lag)) = (timing.intended, self.send_lag.as_mut()) {
            let behind = timing.sent.saturating_duration_since(intended);
            lag.record(behind);
            if behind > LATE_THRESHOLD {
                self.late += 1;
                self.late_held += u64::from(timing.held);
            }
        }
    }

    /// A whole, verified reply of `reply_len` payload bytes arrived at `done`.
    #[inline]
    pub fn ok(&mut self, timing: &Timing, done: Instant, reply_len: usize) {
        self.live_ok += 1;
        self.live.slots[self.worker]
            .ok
            .store(self.live_ok, Ordering::Relaxed);
        if !timing.recorded {
            return;
        }
        self.ok += 1;
        self.touch(done);
        self.publish_recorded();
        let from = timing.intended.unwrap_or(timing.sent);
        let latency = done.saturating_duration_since(from);
        self.latency.record(latency);
        if let Some(uncorrected) = self.uncorrected.as_mut() {
            uncorrected.record(done.saturating_duration_since(timing.sent));
        }
        self.interval_at(done);
        // After the move to `done`'s interval: this reply's bytes are that interval's.
        self.bytes_received += reply_len as u64;
        self.current.ok += 1;
        let _ = self
            .current
            .latency
            .record(latency.as_nanos().min(HIST_HIGH_NS as u128) as u64);
    }

    #[inline]
    fn touch(&mut self, at: Instant) {
        if self.last_activity.is_none_or(|last| at > last) {
            self.last_activity = Some(at);
        }
    }

    /// Open loop: a request of the recorded part was still unsent when the recorded part
    /// ended at `until`, `lower_bound` after its intended time. It goes into the corrected
    /// histogram (and the last interval's) at that bound: its reply could not have come
    /// sooner, and leaving it out would hide exactly the overload it stands for.
    /// `count` such requests whose bounds the histogram does not tell apart are recorded
    /// at once.
    pub fn unfinished(&mut self, lower_bound: Duration, count: u64, until: Instant, held: bool) {
        self.unfinished += count;
        if held {
            self.unfinished_held += count;
        }
        self.latency.record_n(lower_bound, count);
        self.interval_at(until);
        self.current.unfinished += count;
        let ns = lower_bound.as_nanos().min(HIST_HIGH_NS as u128) as u64;
        let _ = self.current.latency.record_n(ns, count);
    }

    /// `count` requests failed with `kind` (`recorded`: they fall in the recorded part).
    pub fn failed(
        &mut self,
        kind: ErrorKind,
        count: u64,
        recorded: bool,
        message: impl FnOnce() -> String,
    ) {
        self.live_errors += count;
        self.live.slots[self.worker]
            .errors
            .store(self.live_errors, Ordering::Relaxed);
        if !recorded || count == 0 {
            return;
        }
        self.errors[kind.index()] += count;
        self.publish_recorded();
        let sample = &mut self.error_samples[kind.index()];
        if sample.is_none() {
            *sample = Some(message());
        }
        self.interval_at(Instant::now());
        self.current.errors += count;
    }

    fn publish_recorded(&self) {
        let recorded = self.ok + self.error_count();
        self.live.slots[self.worker]
            .recorded
            .store(recorded, Ordering::Relaxed);
    }

    /// Moves to the interval holding `at`, closing the current one if it is older.
    #[inline]
    fn interval_at(&mut self, at: Instant) {
        let (start, end) = self.current_span;
        if at >= start && end.is_none_or(|end| at < end) {
            return;
        }
        let index = (at.saturating_duration_since(self.record_start).as_nanos()
            / INTERVAL.as_nanos()) as u64;
        let index = self.last_interval.map_or(index, |last| index.min(last));
        if index != self.current.index {
            self.close_interval(index);
        }
    }

    fn close_interval(&mut self, next: u64) {
        if self.current.ok + self.current.errors + self.current.unfinished > 0 {
            // Compressing takes a fraction of a millisecond: the compressor thread does it,
            // so the replies waiting on this worker are not delayed by it.
            let fresh = match &self.compressor {
                Some(link) => link.fresh_histogram(),
                None => new_histogram(),
            };
            let done = IntervalPart {
                index: self.current.index,
                ok: self.current.ok,
                errors: self.current.errors,
                unfinished: self.current.unfinished,
                bytes_received: self.bytes_received - self.bytes_at_interval,
                latency: std::mem::replace(&mut self.current.latency, fresh),
            };
            self.bytes_at_interval = self.bytes_received;
            self.current.ok = 0;
            self.current.errors = 0;
            self.current.unfinished = 0;
            let unsent = match &self.compressor {
                Some(link) => link.send(done),
                None => Some(done),
            };
            if let Some(part) = unsent {
                self.intervals.push(part.store());
            }
        }
        self.current.index = next;
        if next != u64::MAX {
            self.current_span = self.span(next);
        }
    }

    /// Adds intervals compressed elsewhere (by the [`Compressor`]).
    pub fn add_intervals(&mut self, intervals: Vec<StoredInterval>) {
        self.intervals.extend(intervals);
    }

    /// Closes the last interval; call once the worker is done.
    pub fn finish(&mut self) {
        self.close_interval(u64::MAX);
        // Let the compressor finish once every worker is done.
        self.compressor = None;
    }

    /// Total failed requests.
    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Failed requests of one kind.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()]
    }

    /// Adds another (finished) worker's measurements into this one.
    pub fn merge(&mut self, other: Recorder) {
        self.latency.merge(&other.latency);
        merge_opt(&mut self.uncorrected, &other.uncorrected);
        merge_opt(&mut self.send_lag, &other.send_lag);
        self.ok += other.ok;
        for (i, n) in other.errors.iter().enumerate() {
            self.errors[i] += n;
        }
        for (mine, theirs) in self.error_samples.iter_mut().zip(other.error_samples) {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.late += other.late;
        self.unsent += other.unsent;
        self.unfinished += other.unfinished;
        self.unfinished_held += other.unfinished_held;
        self.late_held += other.late_held;
        self.warmup_dropped += other.warmup_dropped;
        self.udp.merge(&other.udp);
        if let Some(at) = other.last_activity {
            self.touch(at);
        }
        self.intervals.extend(other.intervals);
    }

    /// The timeline: worker parts of the same interval merged, in interval order.
    pub fn timeline(&self) -> Vec<IntervalPart> {
        super::timeline::merge(&self.intervals)
    }
}

fn merge_opt(mine: &mut Option<Latency>, theirs: &Option<Latency>) {
    if let (Some(m), Some(t)) = (mine.as_mut(), theirs.as_ref()) {
        m.merge(t);
    }
}
