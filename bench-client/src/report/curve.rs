//! `summary.json` of a `sweep` or `search` folder (schema [`CURVE_SCHEMA`], kind `sweep`
//! or `search`): one [`CurvePoint`] per open-loop run (a sweep's step, a search's trial),
//! each pointing at its report, with its verdict against the SLOs; a search adds its
//! [`SearchOutcome`]. Written by `matrix::sweep` / `matrix::search`, drawn by `render`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::WorkloadKind;

use super::io::read_summary_file;
use super::run::{Report, ReportError};

/// The schema of a sweep's or a search's `summary.json`.
pub const CURVE_SCHEMA: &str = "wirebench.curve/v1";

/// A point's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointVerdict {
    /// Every SLO met, and the load was offered as scheduled.
    Pass,
    /// An SLO was broken (see `reasons`) while the load was offered as scheduled.
    Fail,
    /// The generator did not offer the load (see `reasons`): achieved below 99% of the
    /// offered rate, or the send lag's p99 beyond its bound. Says nothing of the target's
    /// limit; counts as failing.
    GeneratorLimited,
}

impl PointVerdict {
    /// `pass`, `fail`, `generator-limited`.
    pub fn as_str(self) -> &'static str {
        match self {
            PointVerdict::Pass => "pass",
            PointVerdict::Fail => "fail",
            PointVerdict::GeneratorLimited => "generator-limited",
        }
    }
}

/// One open-loop run of a sweep or a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// File stem: `step-03`, `trial-07`, `confirm`.
    pub name: String,
    /// Its report, relative to the folder.
    pub report: String,
    /// Search only: `exponential`, `bisect` or `confirm`.
    #[serde(default)]
    pub phase: Option<String>,
    /// `--rate` of the run, requests/s.
    pub offered_rate: f64,
    /// Requests completed (ok or failed) per second of the recorded part.
    pub achieved_rate: f64,
    /// Successful requests per second.
    pub requests_per_s: f64,
    /// Recorded seconds.
    pub duration_s: f64,
    /// Corrected latency (from the intended send time), ns: median.
    pub p50_ns: u64,
    /// 95th percentile, corrected, ns (0 in summaries written before it was added).
    #[serde(default)]
    pub p95_ns: u64,
    /// 99th percentile, corrected, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, corrected, ns.
    pub p99_9_ns: u64,
    /// 99th percentile from the write (not corrected), ns.
    pub uncorrected_p99_ns: Option<u64>,
    /// Send lag (write started - intended time), 99th percentile, ns.
    pub send_lag_p99_ns: Option<u64>,
    /// Requests completed (ok + errors).
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// The client's CPU per request, us.
    pub cpu_us_per_req: Option<f64>,
    /// The embedded server's CPU per request, us.
    pub server_cpu_us_per_req: Option<f64>,
    /// Against the SLOs and the generator's bounds.
    pub verdict: PointVerdict,
    /// Why it did not pass, one line each (empty when it passed).
    pub reasons: Vec<String>,
    /// The stop came during this run.
    pub interrupted: bool,
}

impl CurvePoint {
    /// The point of one report; the verdict is the caller's.
    pub fn new(name: &str, file: &str, offered_rate: f64, report: &Report) -> CurvePoint {
        let achieved_rate = report
            .schedule
            .as_ref()
            .map_or(report.totals.requests_per_s, |s| s.achieved_rate);
        let cpu = report.cpu.as_ref();
        CurvePoint {
            name: name.to_owned(),
            report: file.to_owned(),
            phase: None,
            offered_rate,
            achieved_rate,
            requests_per_s: report.totals.requests_per_s,
            duration_s: report.duration_s,
            p50_ns: report.latency.p50_ns,
            p95_ns: report.latency.p95_ns,
            p99_ns: report.latency.p99_ns,
            p99_9_ns: report.latency.p99_9_ns,
            uncorrected_p99_ns: report.latency_uncorrected.as_ref().map(|l| l.p99_ns),
            send_lag_p99_ns: report.send_lag.as_ref().map(|l| l.p99_ns),
            requests: report.totals.requests,
            errors: report.totals.error_count,
            cpu_us_per_req: cpu.and_then(|c| c.client.us_per_req),
            server_cpu_us_per_req: cpu.and_then(|c| c.server.and_then(|s| s.us_per_req)),
            verdict: PointVerdict::Pass,
            reasons: Vec::new(),
            interrupted: report.interrupted,
        }
    }

    /// Whether it counts as passing.
    pub fn passed(&self) -> bool {
        self.verdict == PointVerdict::Pass
    }
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchOutcome {
    /// The highest rate that passed every SLO, confirmed (`None`: even the start rate
    /// failed, or the confirmation failed and no lower rate was left).
    pub found_rate: Option<f64>,
    /// The highest passing rate tried.
    pub bracket_low: Option<f64>,
    /// The lowest failing rate tried (`None`: none failed up to the search's ceiling).
    pub bracket_high: Option<f64>,
    /// Whether the failure that bounds the bracket was the generator's (the target's
    /// limit may be higher: add connections, pipeline or threads).
    pub generator_limited: bool,
    /// `--precision`, relative.
    pub precision: f64,
    /// Whether the confirmation run passed (`None`: not run).
    pub confirmed: Option<bool>,
    /// The outcome in words.
    pub note: String,
}

/// A sweep's or a search's `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveSummary {
    /// Always [`CURVE_SCHEMA`].
    pub schema: String,
    /// `sweep` or `search`.
    pub kind: String,
    /// When it started, RFC 3339 UTC.
    pub started_at: String,
    /// True when it was stopped early.
    pub interrupted: bool,
    /// The workload.
    pub workload: WorkloadKind,
    /// Where the load went (`embedded` for the embedded server).
    pub target: String,
    /// The SLOs every point was judged against, as given.
    pub slos: Vec<String>,
    /// Every run, in the order run.
    pub points: Vec<CurvePoint>,
    /// Search only.
    #[serde(default)]
    pub search: Option<SearchOutcome>,
}

/// Reads a sweep or search folder's `summary.json`: at most the input cap, this schema
/// only.
pub fn read_curve_summary(dir: &Path) -> Result<CurveSummary, ReportError> {
    read_summary_file(
        dir.join("summary.json"),
        |cause| ReportError::NoMatrixSummary { cause },
        |path, cause| ReportError::NotMatrixSummary { path, cause },
        |s: &CurveSummary| &s.schema,
        CURVE_SCHEMA,
    )
}

/// Whether a folder's `summary.json` is a sweep's or a search's (its schema says so).
pub fn is_curve_folder(dir: &Path) -> bool {
    let Ok(bytes) = crate::input::read_capped(&dir.join("summary.json")) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_owned))
        .is_some_and(|s| s == CURVE_SCHEMA)
}
