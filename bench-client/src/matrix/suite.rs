//! The suite: the default matrix (tcp-echo and framed, each with TCP_NODELAY on and off on
//! both sides, and udp-echo) against the embedded server, one report per cell plus a
//! `summary.json` in `reports/<timestamp>/`, and the summary table.

use std::path::PathBuf;
use std::time::Duration;

use bench_proto::HumanDuration;

use crate::config::{EmbeddedServer, RunConfig, RunLength, Target, WorkloadKind};
use crate::engine::{Run, Stopper};

use crate::report::summary::on_off;

use super::{Cell, SuiteError, SuiteOutcome, run_matrix};

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

/// Checks every cell's configuration (before anything runs or is written).
pub fn validate(suite: &SuiteConfig) -> Result<(), crate::config::ConfigError> {
    cells(suite)
        .iter()
        .try_for_each(|cell| cell.config.validate())
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
