//! The Nagle matrix: the framed workload with small requests over client TCP_NODELAY
//! on/off x server TCP_NODELAY on/off x write mode coalesced/split (client and embedded
//! server use the same write mode), one report per cell, a summary with a
//! [`Verdict`](crate::report::stall::Verdict) per cell, and `report.html`.
//!
//! With `target`, the server is somebody else's: its settings cannot be varied, so the
//! matrix is client nodelay x client write mode, and the server's TCP_NODELAY is read
//! back through the framed `stats` command when the server has it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bench_proto::HumanDuration;
use bench_server::WriteMode;

use crate::config::{ConfigError, EmbeddedServer, RunConfig, RunLength, SizeRange, Target};
use crate::config::{FramedCmd, WorkloadKind};
use crate::engine::{Run, Stopper};
use bench_proto::units::format_ns;

use crate::report::summary::{SummaryRow, on_off};

use super::{Cell, SuiteError, SuiteOutcome, run_matrix};

/// What a Nagle matrix run varies and keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct NagleConfig {
    /// Recorded time per cell.
    pub duration: HumanDuration,
    /// Warm-up per cell (it also takes the connections past the kernel's quick-ACK start).
    pub warmup: HumanDuration,
    /// Connections per cell.
    pub connections: usize,
    /// Request body size.
    pub size: u64,
    /// Client worker threads.
    pub threads: usize,
    /// A framed server somebody else runs; `None`: the embedded server.
    pub target: Option<SocketAddr>,
    /// Where the time-stamped folder goes.
    pub out_dir: PathBuf,
}

impl Default for NagleConfig {
    fn default() -> Self {
        NagleConfig {
            duration: HumanDuration(Duration::from_secs(5)),
            warmup: HumanDuration(Duration::from_secs(1)),
            connections: 4,
            size: 64,
            threads: bench_server::config::default_threads(),
            target: None,
            out_dir: PathBuf::from("reports"),
        }
    }
}

/// The cells: 8 on the embedded server, 4 against a target.
pub fn cells(nagle: &NagleConfig) -> Vec<Cell> {
    let base = RunConfig {
        workload: WorkloadKind::Framed,
        cmd: FramedCmd::Echo,
        connections: nagle.connections,
        threads: nagle.threads,
        length: RunLength::Duration(nagle.duration),
        warmup: nagle.warmup,
        size: SizeRange::fixed(nagle.size),
        ..RunConfig::default()
    };
    let server_settings: &[Option<bool>] = if nagle.target.is_some() {
        &[None]
    } else {
        &[Some(true), Some(false)]
    };
    let mut cells = Vec::new();
    for mode in [WriteMode::Coalesced, WriteMode::Split] {
        for client in [true, false] {
            for &server in server_settings {
                let mut config = base.clone();
                config.write_mode = mode;
                config.socket.nodelay = client;
                let mut name = format!("framed-{}-client-{}", mode.as_str(), on_off(client));
                config.target = match (nagle.target, server) {
                    (Some(addr), _) => Target::External { addr },
                    (None, server) => {
                        let server = server.unwrap_or(true);
                        let _ = write!(name, "-server-{}", on_off(server));
                        Target::Embedded(EmbeddedServer {
                            nodelay: server,
                            write_mode: mode,
                            ..EmbeddedServer::default()
                        })
                    }
                };
                config.label = format!("nagle {name}");
                cells.push(Cell { name, config });
            }
        }
    }
    cells
}

/// Checks every cell's configuration (before anything runs or is written).
pub fn validate(nagle: &NagleConfig) -> Result<(), ConfigError> {
    cells(nagle)
        .iter()
        .try_for_each(|cell| cell.config.validate())
}

/// Runs the matrix into `out_dir/<timestamp>/`; `on_cell` sees each run before it starts.
pub fn run_nagle(
    nagle: &NagleConfig,
    stopper: &Stopper,
    on_cell: impl FnMut(&Cell, &Run),
) -> Result<SuiteOutcome, SuiteError> {
    run_matrix("nagle", cells(nagle), &nagle.out_dir, stopper, on_cell)
}

/// The Nagle table: settings, p50, p75, p95, p99, p99.9, req/s, errors and the verdict
/// per cell. At most 120 columns, a stalled cell's verdict included (the `interrupted`
/// mark of a cell cut short comes on top); that leaves no room for bytes/s, which is
/// req/s times the fixed body size here anyway.
pub fn format_table(rows: &[SummaryRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:<6} {:<6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6}  verdict",
        "write", "client", "server", "p50", "p75", "p95", "p99", "p99.9", "req/s", "errors"
    );
    for row in rows {
        let flag = |v: Option<bool>| v.map_or("?", on_off);
        let verdict = row.verdict.map_or_else(|| "-".to_owned(), |v| v.text());
        let _ = writeln!(
            out,
            "{:<9} {:<6} {:<6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9.0} {:>6}  {verdict}",
            row.write_mode.map_or("-", WriteMode::as_str),
            flag(row.nodelay),
            flag(row.server_nodelay),
            format_ns(row.p50_ns),
            format_ns(row.p75_ns),
            format_ns(row.p95_ns),
            format_ns(row.p99_ns),
            format_ns(row.p99_9_ns),
            row.requests_per_s,
            row.errors,
        );
        super::mark_interrupted(&mut out, row.interrupted);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorkloadKind;
    use crate::report::stall::Verdict;

    /// The widest row there is: 7-character latencies, a stalled verdict at 100%.
    fn wide_row() -> SummaryRow {
        SummaryRow {
            name: "framed-coalesced-client-off-server-off".to_owned(),
            report: "framed-coalesced-client-off-server-off.json".to_owned(),
            workload: WorkloadKind::Framed,
            nodelay: Some(false),
            requests_per_s: 12_345_678.0,
            bytes_per_s: 790_123_392.0,
            p50_ns: 123_400,
            p75_ns: 456_700,
            p95_ns: 41_200_000,
            p99_ns: 999_900_000,
            p99_9_ns: 999_900_000,
            max_ns: 1_030_000_000,
            errors: 999_999,
            server_nodelay: Some(false),
            write_mode: Some(WriteMode::Coalesced),
            server_write_mode: Some(WriteMode::Coalesced),
            verdict: Some(Verdict {
                stalled: true,
                share: 1.0,
            }),
            interrupted: false,
        }
    }

    #[test]
    fn the_table_has_p75_and_p95_in_columns_that_line_up_within_120() {
        let table = format_table(&[wide_row()]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2, "{table}");
        let (header, row) = (lines[0], lines[1]);
        for line in &lines {
            assert!(line.len() <= 120, "{} columns: {line}", line.len());
        }
        // Each right-aligned column ends where its heading ends.
        for (heading, value) in [("p75", "456.7us"), ("p95", "41.2ms"), ("errors", "999999")] {
            let end = header.find(&format!(" {heading} ")).expect(heading) + 1 + heading.len();
            assert_eq!(
                row[..end].rsplit(' ').next(),
                Some(value),
                "{heading}:\n{table}"
            );
        }
        assert!(row.ends_with("nagle+delayed-ack stall (100.0%)"), "{row}");
    }

    #[test]
    fn the_embedded_matrix_has_eight_distinct_cells_and_a_target_four() {
        let embedded = cells(&NagleConfig::default());
        assert_eq!(embedded.len(), 8);
        let mut names: Vec<_> = embedded.iter().map(|c| c.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 8);
        let split_off = embedded
            .iter()
            .find(|c| c.name == "framed-split-client-off-server-off")
            .expect("cell");
        assert_eq!(split_off.config.write_mode, WriteMode::Split);
        assert!(!split_off.config.socket.nodelay);
        assert_eq!(
            split_off.config.target,
            Target::Embedded(EmbeddedServer {
                nodelay: false,
                write_mode: WriteMode::Split,
                ..EmbeddedServer::default()
            })
        );
        let external = cells(&NagleConfig {
            target: Some("127.0.0.1:9".parse().unwrap()),
            ..NagleConfig::default()
        });
        assert_eq!(external.len(), 4);
        assert!(
            external
                .iter()
                .all(|c| matches!(c.config.target, Target::External { .. }))
        );
        assert!(validate(&NagleConfig::default()).is_ok());
    }
}
