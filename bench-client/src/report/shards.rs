//! The sharded-run parts of a report (documented in `docs/report-schema.md`): the
//! synchronised start every `--start-at` run records ([`StartTimes`]), and the `shards`
//! section of a merged report ([`ShardsSection`]): who took part, from where, with what
//! skew, and which shard could not keep its share. A shard's own identity is in its
//! `config.shard` ([`crate::shard::Shard`]). Leaf of `report`.

use serde::{Deserialize, Serialize};

/// When a `--start-at` run meant to start and when it did (wall clock, ns since the Unix
/// epoch), so the skew between shards is visible after the fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartTimes {
    /// The `--start-at` instant, RFC 3339 UTC.
    pub intended: String,
    /// The `--start-at` instant, ns since the epoch.
    pub intended_ns: u64,
    /// When the warm-up actually began, ns since the epoch.
    pub actual_ns: u64,
    /// `actual_ns - intended_ns` (positive: late).
    pub skew_ns: i64,
    /// `--start-tolerance`, ns: a later start refuses to run.
    pub tolerance_ns: u64,
}

/// A merged report's account of its shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardsSection {
    /// The run id every shard carried.
    pub run_id: String,
    /// N, the shard count the run was split into.
    pub count: u32,
    /// True when fewer than N shard reports were merged.
    pub partial: bool,
    /// The indices of the shards whose reports were missing.
    pub missing: Vec<u32>,
    /// Indices of the shards that achieved below 99% of their share of the rate: their
    /// generator could not keep up, so the merged rate is not the target's limit.
    pub generator_limited: Vec<u32>,
    /// The largest |start skew| of a shard, ns (0 without `--start-at`).
    pub max_start_skew_ns: u64,
    /// One entry per merged shard, by index.
    pub shards: Vec<ShardEntry>,
}

/// One shard of a merged report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Its index.
    pub index: u32,
    /// The host it ran on (a pod's name, in a Job).
    pub hostname: String,
    /// The address it sent load to.
    pub target: String,
    /// Its `started_at`.
    pub started_at: String,
    /// Its start skew, ns (None without `--start-at`).
    pub start_skew_ns: Option<i64>,
    /// Its recorded time, s.
    pub duration_s: f64,
    /// Its totals.
    pub requests: u64,
    /// Its successful requests.
    pub ok: u64,
    /// Its failed requests.
    pub error_count: u64,
    /// Its connections.
    pub connections: usize,
    /// Open loop: its share of the rate, req/s.
    pub target_rate: Option<f64>,
    /// Open loop: the rate it achieved, req/s.
    pub achieved_rate: Option<f64>,
    /// Achieved below 99% of its share.
    pub generator_limited: bool,
}
