//! The suite: the default matrix (tcp-echo and framed, each with TCP_NODELAY on and off on
//! both sides, and udp-echo) against the embedded server, one report per cell plus a
//! `summary.json` in `reports/<timestamp>/`, and the summary table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bench_proto::HumanDuration;
use serde::{Deserialize, Serialize};

use bench_server::WriteMode;

use crate::config::{EmbeddedServer, RunConfig, RunLength, Target, WorkloadKind};
use crate::engine::{Run, RunError, Stopper};
use crate::report::{Report, ReportError, file_stamp, rfc3339, write_atomic};
use crate::stall::Verdict;

/// The schema of `summary.json`.
pub const SUMMARY_SCHEMA: &str = "wirebench.suite/v1";

/// What a suite run varies.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteConfig {
    /// Recorded time per cell.
    pub duration: HumanDuration,
    /// Warm-up per cell.
    pub warmup: HumanDuration,
    /// Connections per cell.
    pub connections: usize,
    /// Client worker threads.
    pub threads: usize,
    /// Where the timestamped folder goes.
    pub out_dir: PathBuf,
}

impl Default for SuiteConfig {
    fn default() -> Self {
        SuiteConfig {
            duration: HumanDuration(Duration::from_secs(10)),
            warmup: HumanDuration(Duration::from_secs(1)),
            connections: 4,
            threads: bench_server::config::default_threads(),
            out_dir: PathBuf::from("reports"),
        }
    }
}

/// One cell of the matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// File stem and table name: `tcp-echo-nodelay-on`.
    pub name: String,
    /// The run.
    pub config: RunConfig,
}

/// The cells of the default matrix.
pub fn cells(suite: &SuiteConfig) -> Vec<Cell> {
    let base = RunConfig {
        connections: suite.connections,
        threads: suite.threads,
        length: RunLength::Duration(suite.duration),
        warmup: suite.warmup,
        ..RunConfig::default()
    };
    let mut cells = Vec::new();
    for workload in [WorkloadKind::TcpEcho, WorkloadKind::Framed] {
        for nodelay in [true, false] {
            let mut config = base.clone();
            config.workload = workload;
            config.socket.nodelay = nodelay;
            config.target = Target::Embedded(EmbeddedServer {
                nodelay,
                ..EmbeddedServer::default()
            });
            let name = format!("{}-nodelay-{}", workload.as_str(), on_off(nodelay));
            config.label = format!("suite {name}");
            cells.push(Cell { name, config });
        }
    }
    let mut udp = base;
    udp.workload = WorkloadKind::UdpEcho;
    udp.label = "suite udp-echo".to_owned();
    cells.push(Cell {
        name: "udp-echo".to_owned(),
        config: udp,
    });
    cells
}

pub(crate) fn on_off(flag: bool) -> &'static str {
    if flag { "on" } else { "off" }
}

/// Checks every cell's configuration (before anything runs or is written).
pub fn validate(suite: &SuiteConfig) -> Result<(), crate::config::ConfigError> {
    cells(suite)
        .iter()
        .try_for_each(|cell| cell.config.validate())
}

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
    /// Median latency, ns.
    pub p50_ns: u64,
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
            p50_ns: report.latency.p50_ns,
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

/// The table printed after a run or a suite.
pub fn format_table(rows: &[SummaryRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<8} {:>11} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "workload", "nodelay", "req/s", "p50", "p99", "p99.9", "max", "errors"
    );
    for row in rows {
        let nodelay = row.nodelay.map_or("-", on_off);
        let _ = writeln!(
            out,
            "{:<24} {:<8} {:>11.0} {:>10} {:>10} {:>10} {:>10} {:>8}",
            row.name,
            nodelay,
            row.requests_per_s,
            format_ns(row.p50_ns),
            format_ns(row.p99_ns),
            format_ns(row.p99_9_ns),
            format_ns(row.max_ns),
            row.errors
        );
        mark_interrupted(&mut out, row.interrupted);
    }
    out
}

/// Ends a table row with ` interrupted` when the stop came during its run.
pub fn mark_interrupted(out: &mut String, interrupted: bool) {
    if interrupted {
        out.pop();
        out.push_str("  interrupted\n");
    }
}

/// The line under a matrix table when the matrix was stopped early.
pub fn interrupted_footer(interrupted: bool) -> &'static str {
    if interrupted {
        "interrupted: stopped early; the interrupted cell covers its run until the stop, \
         later cells did not run\n"
    } else {
        ""
    }
}

/// `850ns`, `52.3us`, `41.2ms`, `1.50s`.
pub fn format_ns(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}us", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", v / 1e6)
    } else {
        format!("{:.2}s", v / 1e9)
    }
}

/// Why a suite could not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SuiteError {
    /// A cell could not start.
    // The cause is `source`, which `{:#}` prints after this: not in the message too.
    #[error("cell {cell}")]
    Run {
        /// The cell.
        cell: String,
        /// Why.
        source: RunError,
    },
    /// A file could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// What a finished suite left behind.
#[derive(Debug)]
pub struct SuiteOutcome {
    /// The timestamped folder.
    pub dir: PathBuf,
    /// The summary (also in `dir/summary.json`).
    pub summary: Summary,
    /// Why `report.html` could not be drawn (the runs themselves are complete).
    pub html_error: Option<String>,
}

/// Runs the suite's cells one after the other; `on_cell` sees each run before it starts
/// (for a progress display). Every cell's report is written as soon as the cell ends.
pub fn run_suite(
    suite: &SuiteConfig,
    stopper: &Stopper,
    on_cell: impl FnMut(&Cell, &Run),
) -> Result<SuiteOutcome, SuiteError> {
    run_matrix("suite", cells(suite), &suite.out_dir, stopper, on_cell)
}

/// Runs `cells` one after the other into a new time-stamped folder under `out_dir`: one
/// report per cell as soon as it ends, then `summary.json` (of `kind`) and `report.html`.
pub fn run_matrix(
    kind: &str,
    cells: Vec<Cell>,
    out_dir: &Path,
    stopper: &Stopper,
    mut on_cell: impl FnMut(&Cell, &Run),
) -> Result<SuiteOutcome, SuiteError> {
    let started = SystemTime::now();
    let dir = unique_dir(out_dir, &file_stamp(started))?;
    let mut summary = Summary {
        schema: SUMMARY_SCHEMA.to_owned(),
        kind: kind.to_owned(),
        started_at: rfc3339(started),
        interrupted: false,
        cells: Vec::new(),
    };
    let mut reports = Vec::new();
    for cell in cells {
        if stopper.is_stopped() {
            summary.interrupted = true;
            break;
        }
        let fail = |source| SuiteError::Run {
            cell: cell.name.clone(),
            source,
        };
        let run = Run::with_stopper(cell.config.clone(), stopper.clone())
            .map_err(|e| fail(RunError::Config(e)))?;
        on_cell(&cell, &run);
        let report = run.execute().map_err(fail)?;
        let file = format!("{}.json", cell.name);
        report.write(&dir.join(&file))?;
        summary.interrupted |= report.interrupted;
        summary
            .cells
            .push(SummaryRow::new(&cell.name, &file, &report));
        reports.push(report);
    }
    let json = serde_json::to_vec_pretty(&summary).expect("summaries serialise");
    write_atomic(&dir.join("summary.json"), &json)?;
    let runs: Vec<_> = summary
        .cells
        .iter()
        .zip(&reports)
        .map(|(row, report)| (row.name.as_str(), report))
        .collect();
    let page = crate::render::render_page(&crate::render::Page {
        title: &format!("wirebench {kind} {}", summary.started_at),
        runs: &runs,
        matrix: Some(&summary),
    });
    let html_error = crate::render::write_page(&dir, page)?;
    Ok(SuiteOutcome {
        dir,
        summary,
        html_error,
    })
}

/// Creates and returns `base/stamp`, or `base/stamp-2`, ... when that exists already
/// (see [`crate::output::unique_dir`], where it lives).
pub fn unique_dir(base: &Path, stamp: &str) -> Result<PathBuf, ReportError> {
    Ok(crate::output::unique_dir(base, stamp)?)
}
