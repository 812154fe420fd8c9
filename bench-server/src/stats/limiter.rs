//! [`LogLimiter`]: at most one warning line per second for one kind of event (refused
//! connections, failed accepts), with the number of lines held back since the last one,
//! so a flood of refusals does not become a flood of log lines.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// How often a limited warning may be logged.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(1);

/// Lets one event per [`LOG_EVERY`] through and counts the others. Lock-free: two
/// atomics, touched only on the warning path.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    origin: Instant,
    /// When the next line may go out, in nanoseconds since `origin`.
    next_ns: AtomicU64,
    /// Events held back since the last line.
    suppressed: AtomicU64,
}

impl LogLimiter {
    /// A limiter whose first event is let through.
    pub(crate) fn new(origin: Instant) -> Self {
        LogLimiter {
            origin,
            next_ns: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether an event at `now` may be logged: `Some(n)` with the `n` events held back
    /// since the last line (say so in the line), `None` when it is held back (counted).
    pub(crate) fn allow(&self, now: Instant) -> Option<u64> {
        let now_ns = u64::try_from(now.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX);
        let next = self.next_ns.load(Relaxed);
        let after = now_ns.saturating_add(LOG_EVERY.as_nanos() as u64);
        if now_ns >= next
            && self
                .next_ns
                .compare_exchange(next, after, Relaxed, Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Relaxed));
        }
        self.suppressed.fetch_add(1, Relaxed);
        None
    }
}

/// The tail of a limited line: empty, or ` (N similar lines suppressed)`.
pub(crate) fn suppressed_note(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} similar lines suppressed)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_second_with_the_count_of_the_rest() {
        let t0 = Instant::now();
        let limiter = LogLimiter::new(t0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(limiter.allow(at(0)), Some(0));
        // 1,000 refusals within the same second: all held back.
        for i in 0..1000 {
            assert_eq!(limiter.allow(at(1 + i % 998)), None);
        }
        // The next second's first event goes out, carrying the count.
        assert_eq!(limiter.allow(at(1000)), Some(1000));
        assert_eq!(limiter.allow(at(1500)), None);
        assert_eq!(limiter.allow(at(2600)), Some(1));
        assert_eq!(limiter.allow(at(5000)), Some(0));
    }

    #[test]
    fn the_note_says_how_many_were_held_back() {
        assert_eq!(suppressed_note(0), "");
        assert_eq!(suppressed_note(7), " (7 similar lines suppressed)");
    }
}
