//! The synchronised start (`--start-at`): every shard of a run waits for the same
//! wall-clock instant and begins its warm-up there; a shard that gets there after the
//! tolerance refuses to run rather than shift the schedule (a late shard would send its
//! stripe of the schedule late, and the merge would mistake its lag for the target's).
//!
//! Owns: mapping the wall-clock instant to the monotonic clock the schedule runs on, the
//! wait, the refusal. Must not touch: the schedule itself (`pace` starts it at the instant
//! this returns), reports (`record` copies [`StartTimes`]).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::output::rfc3339;
use crate::report::StartTimes;

use super::error::RunError;

/// When to start: a wall-clock instant and how late a start may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartAt {
    /// The instant every shard begins its warm-up.
    pub at: SystemTime,
    /// A start later than `at + tolerance` refuses to run.
    pub tolerance: Duration,
}

/// Nanoseconds since the Unix epoch (0 before it).
pub(crate) fn epoch_ns(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl StartAt {
    /// Refuses when `now` is already past the tolerance.
    pub(crate) fn check(&self, now: SystemTime) -> Result<(), RunError> {
        let late = now.duration_since(self.at).unwrap_or_default();
        if late > self.tolerance {
            return Err(RunError::StartMissed {
                at: rfc3339(self.at),
                late_ms: late.as_millis() as u64,
                tolerance: bench_proto::HumanDuration(self.tolerance),
            });
        }
        Ok(())
    }

    /// Waits for the instant, and returns the monotonic instant the schedule starts at
    /// (the intended one, mapped onto the monotonic clock: a start a little late keeps the
    /// common schedule instead of shifting it) and the times. It sleeps, never spins: the
    /// shards of a run on one machine wake at the same instant, and spinners would keep
    /// the late ones off the cores.
    pub(crate) fn wait(&self) -> Result<(Instant, SystemTime, StartTimes), RunError> {
        self.check(SystemTime::now())?;
        // Bounded: each sleep ends at or after the instant unless the clock was stepped.
        for _ in 0..1000 {
            match self.at.duration_since(SystemTime::now()) {
                Ok(left) if !left.is_zero() => std::thread::sleep(left),
                _ => break,
            }
        }
        let (wall, mono) = (SystemTime::now(), Instant::now());
        self.check(wall)?;
        let late = wall.duration_since(self.at).unwrap_or_default();
        let (intended_ns, actual_ns) = (epoch_ns(self.at), epoch_ns(wall));
        let times = StartTimes {
            intended: rfc3339(self.at),
            intended_ns,
            actual_ns,
            skew_ns: actual_ns as i64 - intended_ns as i64,
            tolerance_ns: self.tolerance.as_nanos() as u64,
        };
        Ok((mono.checked_sub(late).unwrap_or(mono), wall, times))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_past_the_tolerance_is_refused_in_one_line() {
        let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let start = StartAt {
            at,
            tolerance: Duration::from_secs(1),
        };
        assert!(start.check(at + Duration::from_millis(999)).is_ok());
        assert!(start.check(at - Duration::from_secs(60)).is_ok());
        let err = start.check(at + Duration::from_millis(1500)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--start-at 2027-01-15T08:00:00.000Z: started 1500ms late, beyond --start-tolerance 1s"
        );
    }

    #[test]
    fn the_wait_ends_at_the_instant_and_records_the_skew() {
        let at = SystemTime::now() + Duration::from_millis(30);
        let start = StartAt {
            at,
            tolerance: Duration::from_secs(5),
        };
        let (_, wall, times) = start.wait().unwrap();
        assert!(wall >= at);
        assert!(times.skew_ns >= 0);
        assert_eq!(
            times.actual_ns as i64 - times.intended_ns as i64,
            times.skew_ns
        );
    }
}
