//! Building a [`Report`] from the merged [`Recorder`]: totals, summaries, the open-loop
//! [`Schedule`] and the timeline. Here, not in `report`, because `report` must not know
//! the recorder (record -> report, never back).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::config::{LoadModel, RunConfig, WorkloadKind};
use crate::output::rfc3339;
use crate::report::cpu::CpuSection;
use crate::report::{
    ErrorKind, Host, LatencySummary, Report, SCHEMA, Schedule, ScheduleVerdict, SocketInfo,
    StartTimes, TargetInfo, TimelineEntry, Tool, Totals, encode_histogram,
};

use super::interval::IntervalPart;
use super::recorder::{INTERVAL, LATE_THRESHOLD, Recorder};

/// Everything besides the recorder a report needs.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// The configuration that ran.
    pub config: RunConfig,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// Length of the recorded part.
    pub recorded: Duration,
    /// Whether the run was cut short.
    pub interrupted: bool,
    /// Where the load went.
    pub target: TargetInfo,
    /// Options read back.
    pub socket: SocketInfo,
    /// `--start-at` runs: the intended and actual start.
    pub start: Option<StartTimes>,
    /// CPU accounting of the recorded window.
    pub cpu: Option<CpuSection>,
}

impl Report {
    /// Builds the report from the merged recorder.
    pub(crate) fn new(facts: RunFacts, rec: &Recorder) -> Report {
        let secs = facts.recorded.as_secs_f64().max(1e-9);
        let errors: BTreeMap<ErrorKind, u64> = ErrorKind::ALL
            .iter()
            .map(|k| (*k, rec.errors_of(*k)))
            .collect();
        let error_samples = ErrorKind::ALL
            .iter()
            .zip(&rec.error_samples)
            .filter_map(|(k, s)| s.clone().map(|s| (*k, s)))
            .collect();
        let totals = Totals {
            requests: rec.ok + rec.error_count(),
            ok: rec.ok,
            error_count: rec.error_count(),
            errors,
            error_samples,
            bytes_sent: rec.bytes_sent,
            bytes_received: rec.bytes_received,
            requests_per_s: rec.ok as f64 / secs,
            bytes_per_s: rec.bytes_received as f64 / secs,
        };
        let open = facts.config.is_open_loop();
        Report {
            schema: SCHEMA.to_owned(),
            tool: Tool {
                name: "wirebench".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            label: facts.config.label.clone(),
            started_at: rfc3339(facts.started_at),
            duration_s: facts.recorded.as_secs_f64(),
            warmup_s: facts.config.warmup.0.as_secs_f64(),
            interrupted: facts.interrupted,
            host: Host::current(),
            target: facts.target,
            socket: facts.socket,
            totals,
            latency: LatencySummary::new(&rec.latency),
            latency_uncorrected: rec.uncorrected.as_ref().map(LatencySummary::new),
            send_lag: rec.send_lag.as_ref().map(LatencySummary::new),
            schedule: open.then(|| Schedule::new(&facts.config, rec, secs)),
            udp: (facts.config.workload == WorkloadKind::UdpEcho).then_some(rec.udp),
            timeline: timeline(rec, facts.recorded),
            start: facts.start,
            shards: None,
            cpu: facts.cpu,
            config: facts.config,
        }
    }
}

fn timeline(rec: &Recorder, recorded: Duration) -> Vec<TimelineEntry> {
    let step = INTERVAL.as_secs_f64();
    let end = recorded.as_secs_f64();
    // Replies (and timeouts) that came after the end or the stop count in the last
    // interval of the recorded part, not in intervals past it.
    let last = (recorded.as_nanos().saturating_sub(1) / INTERVAL.as_nanos()) as u64;
    let mut parts = rec.timeline();
    if let Some(cut) = parts.iter().position(|p| p.index > last) {
        let late: Vec<_> = parts.drain(cut..).collect();
        for part in late {
            match parts.last_mut() {
                Some(into) if into.index == last => {
                    into.ok += part.ok;
                    into.errors += part.errors;
                    into.unfinished += part.unfinished;
                    into.bytes_received += part.bytes_received;
                    into.latency.add(&part.latency).expect("same bounds");
                }
                _ => parts.push(IntervalPart {
                    index: last,
                    ..part
                }),
            }
        }
    }
    parts
        .into_iter()
        .map(|part| {
            let t_s = part.index as f64 * step;
            // The last interval is as long as the run lasted into it (replies that came
            // after the end are counted in it).
            let duration_s = (end - t_s).clamp(1e-3, step);
            let h = &part.latency;
            let q = |q: f64| {
                if h.is_empty() {
                    0
                } else {
                    h.value_at_quantile(q)
                }
            };
            TimelineEntry {
                t_s,
                duration_s,
                ok: part.ok,
                errors: part.errors,
                unfinished: part.unfinished,
                requests_per_s: part.ok as f64 / duration_s,
                p50_ns: q(0.5),
                p99_ns: q(0.99),
                max_ns: if h.is_empty() { 0 } else { h.max() },
                histogram: encode_histogram(h),
            }
        })
        .collect()
}

impl Schedule {
    /// The schedule's figures for a run of `config` recorded by `rec` over `secs`.
    pub(crate) fn new(config: &RunConfig, rec: &Recorder, secs: f64) -> Schedule {
        let completed = rec.ok + rec.error_count();
        let held = rec.late_held + rec.unfinished_held;
        let target_rate = match config.load {
            LoadModel::Open { rate, .. } => rate,
            LoadModel::Closed => 0.0,
        };
        Schedule {
            late: rec.late,
            late_held: rec.late_held,
            late_threshold_ns: LATE_THRESHOLD.as_nanos() as u64,
            unsent: rec.unsent,
            unfinished: rec.unfinished,
            warmup_dropped: rec.warmup_dropped,
            target_rate,
            achieved_rate: completed as f64 / secs,
            verdict: ScheduleVerdict::judge(
                rec.late,
                rec.unfinished,
                held,
                completed + rec.unfinished,
            ),
        }
    }
}
