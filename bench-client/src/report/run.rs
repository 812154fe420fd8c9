//! The run report, schema `wirebench.report/v1` (documented field by field in
//! `docs/report-schema.md`): what ran, where, with which socket options read back from a
//! live socket, and the results with whole histograms as base64 of the V2+DEFLATE
//! encoding (`HISTFAAA...`), so any HdrHistogram implementation can read them and runs
//! can be compared or merged later without losing precision.
//!
//! Reading goes through one door, [`Report::read`]: a size cap (`input`) and the checks of
//! `check` (percentiles ordered, histograms that decode, totals that add up), so every
//! command refuses the same files with the same message.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use bench_server::{ServerConfig, SocketReadback};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;

use super::histogram::{HistogramError, Latency, decode_histogram, encode_histogram};
use super::kinds::ErrorKind;
use super::schedule::Schedule;
use super::shards::{ShardsSection, StartTimes};

/// The schema name and version every report carries.
pub const SCHEMA: &str = "wirebench.report/v1";

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The tool that wrote it.
    pub tool: Tool,
    /// `--label`, free text.
    pub label: String,
    /// When the run started (warm-up included), RFC 3339 UTC.
    pub started_at: String,
    /// Length of the recorded part in seconds (shorter than asked when interrupted).
    pub duration_s: f64,
    /// Length of the warm-up in seconds (not recorded).
    pub warmup_s: f64,
    /// True when SIGINT (or the caller) ended the run early.
    pub interrupted: bool,
    /// The machine the client ran on.
    pub host: Host,
    /// The complete effective configuration.
    pub config: RunConfig,
    /// Where the load went.
    pub target: TargetInfo,
    /// Socket options read back with getsockopt from live sockets.
    pub socket: SocketInfo,
    /// Request counts, errors, bytes and rates.
    pub totals: Totals,
    /// Closed loop: reply received - write started. Open loop: reply received - intended
    /// send time (corrected for coordinated omission).
    pub latency: LatencySummary,
    /// Open loop only: reply received - write started (not corrected).
    pub latency_uncorrected: Option<LatencySummary>,
    /// Open loop only: write started - intended send time.
    pub send_lag: Option<LatencySummary>,
    /// Open loop only: how well the schedule was kept.
    pub schedule: Option<Schedule>,
    /// udp-echo only: reply accounting.
    pub udp: Option<UdpCounters>,
    /// One entry per second of the recorded part.
    pub timeline: Vec<TimelineEntry>,
    /// `--start-at` runs: the intended and the actual start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartTimes>,
    /// Merged reports (`bench-client merge`): the shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<ShardsSection>,
    /// CPU time spent in the recorded window (`None`: not measured, e.g. not Linux, or
    /// the run ended before recording began).
    #[serde(default)]
    pub cpu: Option<super::cpu::CpuSection>,
}

/// The tool that wrote a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// `wirebench`.
    pub name: String,
    /// The bench-client crate version.
    pub version: String,
}

/// The client machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// `linux`, `macos`, ...
    pub os: String,
    /// `x86_64`, `aarch64`, ...
    pub arch: String,
    /// Kernel release (`/proc/sys/kernel/osrelease`), or `unknown`.
    pub kernel: String,
    /// Cores available to the process.
    pub cpus: usize,
    /// Host name (`/proc/sys/kernel/hostname`; a pod's name in Kubernetes).
    #[serde(default)]
    pub hostname: String,
}

impl Host {
    /// This machine.
    pub fn current() -> Host {
        Host {
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned()),
            cpus: bench_server::config::default_threads(),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
        }
    }
}

/// Where the load went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// The address connected to.
    pub addr: String,
    /// Whether the server ran inside the client process.
    pub embedded: bool,
    /// The embedded server's configuration.
    pub server: Option<ServerConfig>,
}

/// Socket options as the kernel reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketInfo {
    /// A client socket of the run, read after connecting and setting the options.
    pub client: Option<SocketReadback>,
    /// framed only: the server's side of a connection, read back by the server and
    /// returned by the `stats` command.
    pub server: Option<SocketReadback>,
}

/// Counts and rates over the recorded part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// ok + errors.
    pub requests: u64,
    /// Requests with a whole, verified reply.
    pub ok: u64,
    /// Failed requests, all kinds.
    pub error_count: u64,
    /// Failed requests by kind (every kind listed).
    pub errors: BTreeMap<ErrorKind, u64>,
    /// The first message of each kind that occurred.
    pub error_samples: BTreeMap<ErrorKind, String>,
    /// Payload bytes sent (bodies; framed headers not included).
    pub bytes_sent: u64,
    /// Payload bytes received in verified replies.
    pub bytes_received: u64,
    /// ok / duration_s.
    pub requests_per_s: f64,
    /// bytes_received / duration_s.
    pub bytes_per_s: f64,
}

/// A latency distribution: summary values in ns and the whole histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Smallest, ns.
    pub min_ns: u64,
    /// Mean, ns.
    pub mean_ns: f64,
    /// Standard deviation, ns.
    pub stdev_ns: f64,
    /// Median, ns.
    pub p50_ns: u64,
    /// 75th percentile, ns (0 in reports written before it was added).
    #[serde(default)]
    pub p75_ns: u64,
    /// 90th percentile, ns.
    pub p90_ns: u64,
    /// 95th percentile, ns (0 in reports written before it was added).
    #[serde(default)]
    pub p95_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p99_9_ns: u64,
    /// 99.99th percentile, ns.
    pub p99_99_ns: u64,
    /// Largest, ns (at the histogram's precision).
    pub max_ns: u64,
    /// Values above 60 s, recorded as 60 s.
    pub out_of_range: u64,
    /// The histogram, base64 of the V2+DEFLATE encoding.
    pub histogram: String,
}

impl LatencySummary {
    /// Summarises a histogram.
    pub fn new(latency: &Latency) -> LatencySummary {
        let h = &latency.hist;
        let empty = h.is_empty();
        let q = |q: f64| if empty { 0 } else { h.value_at_quantile(q) };
        LatencySummary {
            count: h.len(),
            min_ns: if empty { 0 } else { h.min() },
            mean_ns: if empty { 0.0 } else { h.mean() },
            stdev_ns: if empty { 0.0 } else { h.stdev() },
            p50_ns: q(0.5),
            p75_ns: q(0.75),
            p90_ns: q(0.9),
            p95_ns: q(0.95),
            p99_ns: q(0.99),
            p99_9_ns: q(0.999),
            p99_99_ns: q(0.9999),
            max_ns: if empty { 0 } else { h.max() },
            out_of_range: latency.out_of_range,
            histogram: encode_histogram(h),
        }
    }

    /// The histogram, decoded.
    pub fn decode(&self) -> Result<Histogram<u64>, ReportError> {
        Ok(decode_histogram(&self.histogram)?)
    }
}

/// One interval of the recorded part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Start of the interval, seconds from the start of recording.
    pub t_s: f64,
    /// Length of the interval, seconds.
    pub duration_s: f64,
    /// Requests completed successfully in it.
    pub ok: u64,
    /// Requests failed in it.
    pub errors: u64,
    /// Open loop, the last interval: requests unfinished when the recorded part ended
    /// (in `histogram` at their lower bound).
    #[serde(default)]
    pub unfinished: u64,
    /// ok / duration_s.
    pub requests_per_s: f64,
    /// Median latency of the requests completed in it, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// Largest, ns.
    pub max_ns: u64,
    /// The interval's histogram (same encoding as the summaries).
    pub histogram: String,
}

/// Why a report could not be read or written. Every message carries its cause once:
/// no variant exposes a `source()` besides the transparent ones (whose own errors have
/// none), so `{:#}` does not print a cause twice.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// File I/O.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        cause: io::Error,
    },
    /// Not JSON of this schema.
    #[error("{path}: not a {SCHEMA} report: {cause}")]
    Json {
        /// The file.
        path: PathBuf,
        /// serde_json's description.
        cause: serde_json::Error,
    },
    /// A schema this version does not read.
    #[error("{path}: schema {found:?}, this tool reads {SCHEMA:?}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// What the file says.
        found: String,
    },
    /// Parsed, but breaks a rule of the schema (percentiles out of order, a histogram that
    /// does not decode, totals that do not add up).
    #[error("{path}: {what}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The broken rule, naming the field.
        what: String,
    },
    /// A histogram string that does not decode (the message says why).
    #[error(transparent)]
    Histogram(#[from] HistogramError),
    /// `started_at` is not an RFC 3339 UTC time (the interval log needs its start).
    #[error("started_at {value:?} is not an RFC 3339 UTC time")]
    StartNotRfc3339 {
        /// What the report says.
        value: String,
    },
    /// `overhead.json` is not JSON of its schema.
    #[error("{path}: not an overhead summary: {cause}")]
    NotOverheadSummary {
        /// The file.
        path: PathBuf,
        /// serde_json's description.
        cause: serde_json::Error,
    },
    /// A folder's `summary.json` could not be read (or is larger than the input cap).
    #[error("{cause} (a suite or nagle folder has one)")]
    NoMatrixSummary {
        /// Why (named `cause`, not `source`, so it is printed once).
        cause: crate::input::InputError,
    },
    /// `summary.json` is not JSON of its schema.
    #[error("{path}: not a suite summary: {cause}")]
    NotMatrixSummary {
        /// The file.
        path: PathBuf,
        /// serde_json's description.
        cause: serde_json::Error,
    },
    /// `overhead.json` or `summary.json` of another schema version.
    #[error("{path}: schema {found:?}, this tool reads {expected:?}")]
    OtherSchema {
        /// The file.
        path: PathBuf,
        /// What the file says.
        found: String,
        /// The schema this tool reads.
        expected: &'static str,
    },
    /// The file could not be read (or is larger than the input cap).
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// The file could not be written.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

/// UDP reply accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpCounters {
    /// Datagrams sent (recorded requests).
    pub sent: u64,
    /// Replies that matched an outstanding request in time.
    pub received: u64,
    /// Requests whose reply never came (not within the timeout, nor later in the run).
    pub lost: u64,
    /// Replies that came after their request had timed out.
    pub late: u64,
    /// Replies for a request that had already been answered.
    pub duplicated: u64,
    /// Replies that came after a reply to a later request.
    pub reordered: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn histograms_survive_the_text_encoding() {
        let mut latency = Latency::default();
        for ns in [1, 50_000, 51_000, 40_000_000, 61_000_000_000] {
            latency.record(Duration::from_nanos(ns));
        }
        let summary = LatencySummary::new(&latency);
        assert!(
            summary.histogram.starts_with("HISTFAAA"),
            "{}",
            summary.histogram
        );
        assert_eq!(summary.decode().unwrap(), latency.hist);
        assert_eq!(summary.out_of_range, 1);
        assert_eq!(summary.count, 5);
    }
}
