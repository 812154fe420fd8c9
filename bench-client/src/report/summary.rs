//! `summary.json` of a matrix folder (schema [`SUMMARY_SCHEMA`], kind `suite` or
//! `nagle`): one row per cell, pointing at the cell's report, with the stall verdict.

use std::path::Path;

use bench_server::WriteMode;
use serde::{Deserialize, Serialize};

use crate::config::WorkloadKind;

use super::io::read_summary_file;
use super::run::{Report, ReportError};
use super::stall::Verdict;

/// The schema of `summary.json`.
pub const SUMMARY_SCHEMA: &str = "wirebench.suite/v1";

/// `summary.json`: one row per cell, pointing at the cell's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Always [`SUMMARY_SCHEMA`].
    pub schema: String,
    /// Which matrix: `suite` or `nagle`.
    #[serde(default = "suite_kind")]
    pub kind: String,
    /// When the suite started, RFC 3339 UTC.
    pub started_at: String,
    /// True when the suite was stopped early (the interrupted cell is marked, later cells
    /// did not run).
    pub interrupted: bool,
    /// The cells that ran, in order.
    pub cells: Vec<SummaryRow>,
}

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// The cell's name.
    pub name: String,
    /// Its report, relative to the suite folder.
    pub report: String,
    /// Workload.
    pub workload: WorkloadKind,
    /// Client TCP_NODELAY as read back from the socket (`None` for UDP).
    pub nodelay: Option<bool>,
    /// Successful requests per second.
    pub requests_per_s: f64,
    /// Verified reply payload bytes received per second (`totals.bytes_per_s`; 0 in
    /// summaries written before it was added).
    #[serde(default)]
    pub bytes_per_s: f64,
    /// Median latency, ns.
    pub p50_ns: u64,
    /// 75th percentile, ns (0 in summaries written before it was added).
    #[serde(default)]
    pub p75_ns: u64,
    /// 95th percentile, ns (0 in summaries written before it was added).
    #[serde(default)]
    pub p95_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p99_9_ns: u64,
    /// Largest, ns.
    pub max_ns: u64,
    /// Failed requests.
    pub errors: u64,
    /// Server TCP_NODELAY: read back through the framed `stats` command when the target
    /// speaks framed, else the embedded server's setting (`None`: UDP, or not known).
    #[serde(default)]
    pub server_nodelay: Option<bool>,
    /// framed: how the client wrote requests.
    #[serde(default)]
    pub write_mode: Option<WriteMode>,
    /// framed on the embedded server: how it wrote responses.
    #[serde(default)]
    pub server_write_mode: Option<WriteMode>,
    /// TCP workloads: the Nagle + delayed-ACK verdict from the latency histogram.
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// The stop came during this cell: its report covers it until the stop.
    #[serde(default)]
    pub interrupted: bool,
}

fn suite_kind() -> String {
    "suite".to_owned()
}

impl SummaryRow {
    /// The row for one report.
    pub fn new(name: &str, report_file: &str, report: &Report) -> SummaryRow {
        let framed = report.config.workload == WorkloadKind::Framed;
        let tcp = report.config.workload != WorkloadKind::UdpEcho;
        let embedded = report.target.server.as_ref();
        let server_nodelay = report
            .socket
            .server
            .and_then(|s| s.nodelay)
            .or_else(|| embedded.filter(|_| tcp).map(|s| s.socket.nodelay));
        let verdict = if tcp {
            // An undecodable histogram is judged as empty: the report was written by us.
            report.latency.decode().ok().map(|h| Verdict::of(&h))
        } else {
            None
        };
        SummaryRow {
            name: name.to_owned(),
            report: report_file.to_owned(),
            workload: report.config.workload,
            nodelay: report.socket.client.and_then(|s| s.nodelay),
            requests_per_s: report.totals.requests_per_s,
            bytes_per_s: report.totals.bytes_per_s,
            p50_ns: report.latency.p50_ns,
            p75_ns: report.latency.p75_ns,
            p95_ns: report.latency.p95_ns,
            p99_ns: report.latency.p99_ns,
            p99_9_ns: report.latency.p99_9_ns,
            max_ns: report.latency.max_ns,
            errors: report.totals.error_count,
            server_nodelay,
            write_mode: framed.then_some(report.config.write_mode),
            server_write_mode: embedded.filter(|_| framed).map(|s| s.write_mode),
            verdict,
            interrupted: report.interrupted,
        }
    }
}

/// `on` / `off`, as tables and pages show a boolean setting.
pub(crate) fn on_off(flag: bool) -> &'static str {
    if flag { "on" } else { "off" }
}

/// Reads a suite or nagle folder's `summary.json`: at most the input cap, this schema
/// only. The cells' reports are read by the caller ([`Report::read`]).
pub fn read_matrix_summary(dir: &Path) -> Result<Summary, ReportError> {
    read_summary_file(
        dir.join("summary.json"),
        |cause| ReportError::NoMatrixSummary { cause },
        |path, cause| ReportError::NotMatrixSummary { path, cause },
        |s: &Summary| &s.schema,
        SUMMARY_SCHEMA,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_before_p75_p95_and_bytes_read_as_zero() {
        let old = r#"{"name": "tcp-echo-nodelay-on", "report": "tcp-echo-nodelay-on.json",
            "workload": "tcp-echo", "nodelay": true, "requests_per_s": 1000.0,
            "p50_ns": 10, "p99_ns": 20, "p99_9_ns": 30, "max_ns": 40, "errors": 0}"#;
        let row: SummaryRow = serde_json::from_str(old).expect("an old row parses");
        assert_eq!((row.p75_ns, row.p95_ns, row.bytes_per_s), (0, 0, 0.0));
        assert_eq!(row.p99_ns, 20);
        let json = serde_json::to_value(&row).expect("rows serialise");
        for key in ["p75_ns", "p95_ns", "bytes_per_s"] {
            assert!(json.get(key).is_some(), "{key} is written: {json}");
        }
    }
}
