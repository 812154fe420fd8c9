//! The run report, schema `wirebench.report/v1` (documented field by field in
//! `docs/report-schema.md`): what ran, where, with which socket options read back from a
//! live socket, and the results with whole histograms as base64 of the V2+DEFLATE
//! encoding (`HISTFAAA...`), so any HdrHistogram implementation can read them and runs
//! can be compared or merged later without losing precision.
//!
//! Reading goes through one door, [`Report::read`]: a size cap (`input`) and the checks of
//! `check` (percentiles ordered, histograms that decode, totals that add up), so every
//! command refuses the same files with the same message.

mod check;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bench_server::{ServerConfig, SocketReadback};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::recorder::{ErrorKind, INTERVAL, Latency, Recorder, UdpCounters};
pub use crate::schedule::{Schedule, ScheduleVerdict};

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
    /// 90th percentile, ns.
    pub p90_ns: u64,
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
            p90_ns: q(0.9),
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
        decode_histogram(&self.histogram)
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
    /// A histogram string that does not decode (the message says why), or another value
    /// that cannot be used.
    #[error("{0}")]
    Histogram(String),
    /// The file could not be read (or is larger than the input cap).
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// The file could not be written.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

/// Base64 of the V2+DEFLATE encoding of `hist`.
pub fn encode_histogram(hist: &Histogram<u64>) -> String {
    BASE64.encode(encode_histogram_bytes(hist))
}

/// The V2+DEFLATE encoding of `hist`.
pub fn encode_histogram_bytes(hist: &Histogram<u64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(hist, &mut bytes)
        .expect("serialising into memory");
    bytes
}

/// Reads a V2 (or V2+DEFLATE) encoded histogram.
pub fn decode_histogram_bytes(bytes: &[u8]) -> Result<Histogram<u64>, ReportError> {
    check::decode_bytes(bytes).map_err(|e| ReportError::Histogram(format!("histogram: {e}")))
}

/// Reads a base64 histogram string (`HISTFAAA...`).
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, ReportError> {
    check::decode(text).map_err(|e| ReportError::Histogram(format!("histogram: {e}")))
}

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
}

impl Report {
    /// Builds the report from the merged recorder.
    pub fn new(facts: RunFacts, rec: &Recorder) -> Report {
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
            udp: (facts.config.workload == crate::config::WorkloadKind::UdpEcho).then_some(rec.udp),
            timeline: timeline(rec, facts.recorded),
            config: facts.config,
        }
    }

    /// Writes the report as pretty JSON by the output rules of [`crate::output::write`]
    /// (atomic for a file, so a reader never sees half a report; `-` is stdout).
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        let json = serde_json::to_vec_pretty(self).expect("reports serialise");
        write_atomic(path, &json)
    }

    /// Reads and validates a report: at most [`crate::input::max_input`] bytes, this
    /// schema only, every required field, and the rules of [`Report::from_slice`].
    pub fn read(path: &Path) -> Result<Report, ReportError> {
        let bytes = crate::input::read_capped(path)?;
        Report::from_slice(path, &bytes)
    }

    /// Parses and validates a report read from `path`: the schema first (so another
    /// version is named as such), then every field, then the rules (percentiles ordered,
    /// histograms that decode and hold `count` values, totals that add up).
    pub fn from_slice(path: &Path, bytes: &[u8]) -> Result<Report, ReportError> {
        #[derive(Deserialize)]
        struct Head {
            schema: Option<serde_json::Value>,
        }
        let json = |cause| ReportError::Json {
            path: path.to_owned(),
            cause,
        };
        let head: Head = serde_json::from_slice(bytes).map_err(json)?;
        let found = head.schema.as_ref().and_then(|s| s.as_str()).unwrap_or("");
        if found != SCHEMA {
            return Err(ReportError::Schema {
                path: path.to_owned(),
                found: found.to_owned(),
            });
        }
        let report: Report = serde_json::from_slice(bytes).map_err(json)?;
        check::validate(&report).map_err(|what| ReportError::Invalid {
            path: path.to_owned(),
            what,
        })?;
        Ok(report)
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
                    into.latency.add(&part.latency).expect("same bounds");
                }
                _ => parts.push(crate::timeline::IntervalPart {
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

/// Writes `bytes` to `path` by the output rules ([`crate::output::write`]): atomically
/// for a file, through a symlink, directly into a FIFO or device, `-` for stdout. The
/// folder must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    Ok(crate::output::write(path, bytes)?)
}

/// `2026-11-25T13:45:07.123Z`.
pub fn rfc3339(at: SystemTime) -> String {
    let (date, secs, millis) = civil(at);
    format!(
        "{date}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `2026-11-25T13-45-07Z`: a time stamp that is a valid file name everywhere.
pub fn file_stamp(at: SystemTime) -> String {
    let (date, secs, _) = civil(at);
    format!(
        "{date}T{:02}-{:02}-{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// (`YYYY-MM-DD`, seconds into the day, milliseconds), UTC.
fn civil(at: SystemTime) -> (String, u64, u32) {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let days = (since.as_secs() / 86_400) as i64;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        since.as_secs() % 86_400,
        since.subsec_millis(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_613_107_123);
        assert_eq!(rfc3339(at), "2026-11-25T13:25:07.123Z");
        assert_eq!(file_stamp(UNIX_EPOCH), "1970-01-01T00-00-00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

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
