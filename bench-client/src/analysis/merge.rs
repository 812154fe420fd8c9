//! `merge`: the reports of a sharded run's shards as one report, losslessly. Counts and
//! errors are summed; the corrected, uncorrected and send-lag histograms are added with
//! `Histogram::add` (whole HdrHistograms, so every percentile of the merge is the
//! percentile of the union of the values); timelines are merged by wall-clock second; a
//! `shards` section keeps each shard's identity, host and start skew, and flags a shard
//! that achieved less than 99% of its share (`generator_limited`: its generator could
//! not keep up, so the merged rate is not the target's limit).
//!
//! Shards of different run ids, shard counts or global configs are refused, naming the
//! field. Fewer shards than N still merge, marked `partial`, with the missing indices.
//! Owns: those rules. Must not touch: files (the caller reads and writes), runs.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::config::RunConfig;
use crate::report::{
    Latency, LatencySummary, Report, Schedule, ScheduleVerdict, ShardEntry, ShardsSection,
    TimelineEntry, Tool, Totals, UdpCounters, encode_histogram, new_histogram,
};
use crate::shard::Shard;

/// A shard whose achieved rate is below this fraction of its share is generator-limited.
pub const GENERATOR_LIMITED_BELOW: f64 = 0.99;

/// Why shard reports cannot be merged; the message names the report and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no shard reports to merge")]
    NoReports,
    /// A report of an unsharded run (no `config.shard`).
    #[error("{name}: config.shard missing: not the report of a --shard run")]
    NotAShard {
        /// The report (its file name).
        name: String,
    },
    /// Two reports disagree on a field that must be equal across one run's shards.
    #[error("{name}: {field} differs from {first}'s ({theirs} vs {ours}): not the same run")]
    Mismatch {
        /// The report that disagrees.
        name: String,
        /// The first report, the reference.
        first: String,
        /// The field, as a path (`config.shard.run_id`, `config.size`).
        field: String,
        /// Its value in `first`.
        ours: String,
        /// Its value in `name`.
        theirs: String,
    },
    /// Two reports of the same shard index.
    #[error("{name}: config.shard.index {index} is also {other}'s")]
    DuplicateIndex {
        /// The second report.
        name: String,
        /// The first one with that index.
        other: String,
        /// The index.
        index: u32,
    },
    /// A histogram that does not decode.
    #[error("{name}: {field}: {reason}")]
    Histogram {
        /// The report.
        name: String,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
}

/// The merge and whether it is complete.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The merged report (its `shards` section says which shards it holds).
    pub report: Report,
}

impl Merged {
    /// Fewer shards than the run had.
    pub fn partial(&self) -> bool {
        self.report.shards.as_ref().is_some_and(|s| s.partial)
    }
}

/// Merges `reports` (each named, for messages) into one report of the whole run.
pub fn merge(reports: &[(String, Report)]) -> Result<Merged, MergeError> {
    let (first_name, first) = reports.first().ok_or(MergeError::NoReports)?;
    let shard_of = |name: &str, r: &Report| {
        r.config.shard.clone().ok_or_else(|| MergeError::NotAShard {
            name: name.to_owned(),
        })
    };
    let reference = shard_of(first_name, first)?;
    let global = Shard::global_config(&first.config);
    let mut by_index: BTreeMap<u32, (&str, &Report)> = BTreeMap::new();
    for (name, report) in reports {
        let shard = shard_of(name, report)?;
        same_run(first_name, &reference, &global, name, report, &shard)?;
        if let Some((other, _)) = by_index.insert(shard.index, (name, report)) {
            return Err(MergeError::DuplicateIndex {
                name: name.clone(),
                other: other.to_owned(),
                index: shard.index,
            });
        }
    }
    let shards: Vec<(&str, &Report)> = by_index.into_values().collect();
    let report = combine(&shards, &reference, global)?;
    Ok(Merged { report })
}

/// Refuses `report` unless it is a shard of the same run as the first.
fn same_run(
    first: &str,
    reference: &Shard,
    global: &RunConfig,
    name: &str,
    report: &Report,
    shard: &Shard,
) -> Result<(), MergeError> {
    let mismatch = |field: &str, ours: String, theirs: String| MergeError::Mismatch {
        name: name.to_owned(),
        first: first.to_owned(),
        field: field.to_owned(),
        ours,
        theirs,
    };
    if shard.run_id != reference.run_id {
        return Err(mismatch(
            "config.shard.run_id",
            reference.run_id.clone(),
            shard.run_id.clone(),
        ));
    }
    if shard.count != reference.count {
        return Err(mismatch(
            "config.shard.count",
            reference.count.to_string(),
            shard.count.to_string(),
        ));
    }
    let ours = serde_json::to_value(global).expect("configs serialise");
    let theirs =
        serde_json::to_value(Shard::global_config(&report.config)).expect("configs serialise");
    match first_difference(&ours, &theirs, "config") {
        Some((field, a, b)) => Err(mismatch(&field, a, b)),
        None => Ok(()),
    }
}

/// The first path at which two JSON values differ, with both values.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<(String, String, String)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                first_difference(va, vb, &format!("{path}.{k}"))
            })
        }
        _ if a == b => None,
        _ => Some((path.to_owned(), a.to_string(), b.to_string())),
    }
}

/// Wall-clock ns when a report's recorded part began: its measured start (`start`) if it
/// has one, else `started_at` (ms precision), plus the warm-up.
fn record_start_ns(report: &Report) -> f64 {
    let started = match &report.start {
        Some(s) => s.actual_ns as f64,
        None => super::hlog::parse_rfc3339(&report.started_at).unwrap_or(0.0) * 1e9,
    };
    started + report.warmup_s * 1e9
}

/// The merged report of `shards` (sorted by index, checked to be one run's).
fn combine(
    shards: &[(&str, &Report)],
    reference: &Shard,
    global: RunConfig,
) -> Result<Report, MergeError> {
    let (_, first) = shards[0];
    let base_ns = shards
        .iter()
        .map(|(_, r)| record_start_ns(r))
        .fold(f64::INFINITY, f64::min);
    let end_ns = shards
        .iter()
        .map(|(_, r)| record_start_ns(r) + r.duration_s * 1e9)
        .fold(f64::NEG_INFINITY, f64::max);
    let duration_s = ((end_ns - base_ns) / 1e9).max(0.0);
    let totals = sum_totals(shards, duration_s);
    let earliest = shards
        .iter()
        .min_by(|a, b| record_start_ns(a.1).total_cmp(&record_start_ns(b.1)))
        .expect("at least one shard");
    Ok(Report {
        schema: first.schema.clone(),
        tool: Tool {
            name: "wirebench".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        label: global.label.clone(),
        started_at: earliest.1.started_at.clone(),
        duration_s,
        warmup_s: first.warmup_s,
        interrupted: shards.iter().any(|(_, r)| r.interrupted),
        host: first.host.clone(),
        target: first.target.clone(),
        socket: first.socket.clone(),
        latency: add_summaries(shards, "latency", |r| Some(&r.latency))?
            .expect("every report has latency"),
        latency_uncorrected: add_summaries(shards, "latency_uncorrected", |r| {
            r.latency_uncorrected.as_ref()
        })?,
        send_lag: add_summaries(shards, "send_lag", |r| r.send_lag.as_ref())?,
        schedule: merge_schedule(shards, totals.requests, duration_s),
        udp: merge_udp(shards),
        timeline: merge_timelines(shards, base_ns)?,
        start: None,
        // Each shard's CPU is its own host's (and its own window's): not summed into one.
        cpu: None,
        shards: Some(section(shards, reference)),
        totals,
        config: global,
    })
}

fn sum_totals(shards: &[(&str, &Report)], duration_s: f64) -> Totals {
    let mut t = Totals {
        requests: 0,
        ok: 0,
        error_count: 0,
        errors: BTreeMap::new(),
        error_samples: BTreeMap::new(),
        bytes_sent: 0,
        bytes_received: 0,
        requests_per_s: 0.0,
        bytes_per_s: 0.0,
    };
    for (_, r) in shards {
        let s = &r.totals;
        t.requests += s.requests;
        t.ok += s.ok;
        t.error_count += s.error_count;
        t.bytes_sent += s.bytes_sent;
        t.bytes_received += s.bytes_received;
        for (kind, n) in &s.errors {
            *t.errors.entry(*kind).or_default() += n;
        }
        for (kind, sample) in &s.error_samples {
            t.error_samples
                .entry(*kind)
                .or_insert_with(|| sample.clone());
        }
    }
    let secs = duration_s.max(1e-9);
    t.requests_per_s = t.ok as f64 / secs;
    t.bytes_per_s = t.bytes_received as f64 / secs;
    t
}

/// The sum of one histogram field over the shards (None when no shard has it).
fn add_summaries(
    shards: &[(&str, &Report)],
    field: &str,
    get: impl Fn(&Report) -> Option<&LatencySummary>,
) -> Result<Option<LatencySummary>, MergeError> {
    let mut sum: Option<Latency> = None;
    for (name, report) in shards {
        let Some(part) = get(report) else { continue };
        let hist = part.decode().map_err(|e| MergeError::Histogram {
            name: (*name).to_owned(),
            field: format!("{field}.histogram"),
            reason: e.to_string(),
        })?;
        let into = sum.get_or_insert_with(Latency::default);
        into.hist.add(&hist).expect("the report's bounds");
        into.out_of_range += part.out_of_range;
    }
    Ok(sum.as_ref().map(LatencySummary::new))
}

fn merge_schedule(shards: &[(&str, &Report)], completed: u64, secs: f64) -> Option<Schedule> {
    let parts: Vec<&Schedule> = shards
        .iter()
        .filter_map(|(_, r)| r.schedule.as_ref())
        .collect();
    let first = *parts.first()?;
    let worst = |v: ScheduleVerdict| match v {
        ScheduleVerdict::GeneratorBehind => 2,
        ScheduleVerdict::TargetBehind => 1,
        _ => 0,
    };
    Some(Schedule {
        late: parts.iter().map(|s| s.late).sum(),
        late_held: parts.iter().map(|s| s.late_held).sum(),
        late_threshold_ns: first.late_threshold_ns,
        unsent: parts.iter().map(|s| s.unsent).sum(),
        unfinished: parts.iter().map(|s| s.unfinished).sum(),
        warmup_dropped: parts.iter().map(|s| s.warmup_dropped).sum(),
        target_rate: parts.iter().map(|s| s.target_rate).sum(),
        achieved_rate: completed as f64 / secs.max(1e-9),
        verdict: parts
            .iter()
            .map(|s| s.verdict)
            .max_by_key(|v| worst(*v))
            .unwrap_or_default(),
    })
}

fn merge_udp(shards: &[(&str, &Report)]) -> Option<UdpCounters> {
    let mut any = false;
    let mut sum = UdpCounters::default();
    for u in shards.iter().filter_map(|(_, r)| r.udp.as_ref()) {
        any = true;
        sum.sent += u.sent;
        sum.received += u.received;
        sum.lost += u.lost;
        sum.late += u.late;
        sum.duplicated += u.duplicated;
        sum.reordered += u.reordered;
    }
    any.then_some(sum)
}

/// One merged second: the sums of the shards' intervals that began in it.
struct Second {
    ok: u64,
    errors: u64,
    unfinished: u64,
    duration_s: f64,
    hist: Histogram<u64>,
}

/// Timelines by wall-clock second: an interval of a shard lands in the second (counted
/// from the earliest shard's start of recording) in which it began, so shards started a
/// few ms apart add up second by second.
fn merge_timelines(
    shards: &[(&str, &Report)],
    base_ns: f64,
) -> Result<Vec<TimelineEntry>, MergeError> {
    let mut seconds: BTreeMap<u64, Second> = BTreeMap::new();
    for (name, report) in shards {
        let offset_s = (record_start_ns(report) - base_ns) / 1e9;
        for (i, entry) in report.timeline.iter().enumerate() {
            let hist = crate::report::decode_histogram(&entry.histogram).map_err(|e| {
                MergeError::Histogram {
                    name: (*name).to_owned(),
                    field: format!("timeline[{i}].histogram"),
                    reason: e.reason,
                }
            })?;
            let at = ((offset_s + entry.t_s) + 1e-6).floor().max(0.0) as u64;
            let second = seconds.entry(at).or_insert_with(|| Second {
                ok: 0,
                errors: 0,
                unfinished: 0,
                duration_s: 0.0,
                hist: new_histogram(),
            });
            second.ok += entry.ok;
            second.errors += entry.errors;
            second.unfinished += entry.unfinished;
            second.duration_s = second.duration_s.max(entry.duration_s);
            second.hist.add(&hist).expect("the report's bounds");
        }
    }
    Ok(seconds
        .into_iter()
        .map(|(at, s)| {
            let h = &s.hist;
            let q = |q: f64| {
                if h.is_empty() {
                    0
                } else {
                    h.value_at_quantile(q)
                }
            };
            TimelineEntry {
                t_s: at as f64,
                duration_s: s.duration_s,
                ok: s.ok,
                errors: s.errors,
                unfinished: s.unfinished,
                requests_per_s: s.ok as f64 / s.duration_s.max(1e-3),
                p50_ns: q(0.5),
                p99_ns: q(0.99),
                max_ns: if h.is_empty() { 0 } else { h.max() },
                histogram: encode_histogram(h),
            }
        })
        .collect())
}

/// The `shards` section: each shard's identity, host, skew and rates; the missing ones.
fn section(shards: &[(&str, &Report)], reference: &Shard) -> ShardsSection {
    let entries: Vec<ShardEntry> = shards.iter().map(|(_, r)| entry(r)).collect();
    let present: std::collections::BTreeSet<u32> = entries.iter().map(|e| e.index).collect();
    let missing: Vec<u32> = (0..reference.count)
        .filter(|i| !present.contains(i))
        .collect();
    ShardsSection {
        run_id: reference.run_id.clone(),
        count: reference.count,
        partial: !missing.is_empty(),
        missing,
        generator_limited: entries
            .iter()
            .filter(|e| e.generator_limited)
            .map(|e| e.index)
            .collect(),
        max_start_skew_ns: entries
            .iter()
            .filter_map(|e| e.start_skew_ns)
            .map(i64::unsigned_abs)
            .max()
            .unwrap_or(0),
        shards: entries,
    }
}

fn entry(r: &Report) -> ShardEntry {
    let index = r.config.shard.as_ref().map_or(0, |s| s.index);
    let (target_rate, achieved_rate) = match &r.schedule {
        Some(s) => (Some(s.target_rate), Some(s.achieved_rate)),
        None => (None, None),
    };
    let generator_limited = match (target_rate, achieved_rate) {
        (Some(want), Some(got)) => got < GENERATOR_LIMITED_BELOW * want,
        _ => false,
    };
    ShardEntry {
        index,
        hostname: r.host.hostname.clone(),
        target: r.target.addr.clone(),
        started_at: r.started_at.clone(),
        start_skew_ns: r.start.as_ref().map(|s| s.skew_ns),
        duration_s: r.duration_s,
        requests: r.totals.requests,
        ok: r.totals.ok,
        error_count: r.totals.error_count,
        connections: r.config.connections,
        target_rate,
        achieved_rate,
        generator_limited,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_difference_names_the_field() {
        let a = serde_json::json!({"load": {"rate": 1.0, "kind": "open"}, "size": 64});
        let b = serde_json::json!({"load": {"rate": 2.0, "kind": "open"}, "size": 64});
        assert_eq!(
            first_difference(&a, &b, "config"),
            Some((
                "config.load.rate".to_owned(),
                "1.0".to_owned(),
                "2.0".to_owned()
            ))
        );
        assert_eq!(first_difference(&a, &a, "config"), None);
    }
}
