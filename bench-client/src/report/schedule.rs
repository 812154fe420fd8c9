//! The open-loop part of a report: how well the schedule was kept, what it still owed when
//! the recorded part ended, the rate asked for and the rate achieved, and the verdict on
//! who could not keep up. Built from the merged recorder (`record::build`); the rest of the report is
//! [`crate::report`]'s.

use serde::{Deserialize, Serialize};

/// How well an open-loop schedule was kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Requests sent more than `late_threshold_ns` after their intended time.
    pub late: u64,
    /// The lateness that counts as late, ns.
    pub late_threshold_ns: u64,
    /// Of `late`: those that had waited for a free pipeline slot (the target's doing;
    /// the rest were late with a slot free: the generator's).
    #[serde(default)]
    pub late_held: u64,
    /// Requests the schedule called for in the recorded part that never went out because
    /// their connection failed first.
    pub unsent: u64,
    /// Requests of the recorded part still unsent when it ended (or was stopped): the
    /// schedule was behind. Each is in `latency` at its lower bound, end - intended.
    #[serde(default)]
    pub unfinished: u64,
    /// Warm-up requests still owed when recording started: dropped, never sent.
    #[serde(default)]
    pub warmup_dropped: u64,
    /// `--rate`, requests/s.
    #[serde(default)]
    pub target_rate: f64,
    /// Requests of the recorded part that completed (ok or failed) per second.
    #[serde(default)]
    pub achieved_rate: f64,
    /// Who could not keep up, if anyone.
    #[serde(default)]
    pub verdict: ScheduleVerdict,
}

/// Whether an open-loop schedule was kept, and if not, by whose fault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ScheduleVerdict {
    /// At most 1% of the scheduled requests were unfinished and at most 10% late.
    #[default]
    Ok,
    /// Most late or unfinished requests were waiting for a reply to free a pipeline slot.
    TargetBehind,
    /// Most late or unfinished requests had a free slot: the client's own threads were
    /// too busy to send them on time.
    GeneratorBehind,
}

impl ScheduleVerdict {
    /// The verdict from the counts: `late` and `unfinished` requests, `held` = those of
    /// them that waited for a free pipeline slot, `scheduled` = every request of the
    /// recorded part (completed + unfinished). A little lateness is jitter (a busy
    /// machine's wake-ups); a schedule that was not kept leaves requests unfinished or
    /// sends many late.
    pub fn judge(late: u64, unfinished: u64, held: u64, scheduled: u64) -> ScheduleVerdict {
        let behind = late + unfinished;
        if unfinished.saturating_mul(100) <= scheduled && late.saturating_mul(10) <= scheduled {
            ScheduleVerdict::Ok
        } else if held.saturating_mul(2) >= behind {
            ScheduleVerdict::TargetBehind
        } else {
            ScheduleVerdict::GeneratorBehind
        }
    }

    /// The verdict as the table says it.
    pub fn text(self) -> &'static str {
        match self {
            ScheduleVerdict::Ok => "schedule kept",
            ScheduleVerdict::TargetBehind => "target could not keep up",
            ScheduleVerdict::GeneratorBehind => "generator could not keep up",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_schedule_tolerates_jitter_but_not_a_backlog() {
        // 5% sent late, nothing unfinished: jitter.
        assert_eq!(ScheduleVerdict::judge(50, 0, 0, 1000), ScheduleVerdict::Ok);
        // 2% unfinished: behind, whoever is to blame.
        assert_ne!(ScheduleVerdict::judge(0, 20, 20, 1000), ScheduleVerdict::Ok);
        // 20% late: behind.
        assert_ne!(
            ScheduleVerdict::judge(200, 0, 200, 1000),
            ScheduleVerdict::Ok
        );
    }

    #[test]
    fn waiting_for_a_slot_blames_the_target_and_a_free_slot_the_generator() {
        assert_eq!(
            ScheduleVerdict::judge(300, 500, 800, 1000),
            ScheduleVerdict::TargetBehind
        );
        assert_eq!(
            ScheduleVerdict::judge(300, 500, 400, 1000),
            ScheduleVerdict::TargetBehind,
            "half held is the target's"
        );
        assert_eq!(
            ScheduleVerdict::judge(300, 500, 100, 1000),
            ScheduleVerdict::GeneratorBehind
        );
        assert_eq!(
            ScheduleVerdict::TargetBehind.text(),
            "target could not keep up"
        );
    }
}
