//! Why runs cannot be compared: [`CompareError`], one variant per broken rule.

use std::path::PathBuf;

use crate::input::InputError;
use crate::report::ReportError;
use crate::report::summary::SUMMARY_SCHEMA;

/// Why runs cannot be compared. Each variant names the broken rule; none carries a
/// `source`, so `{:#}` prints each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// Fewer than two inputs.
    #[error("compare needs at least two reports or folders, got {got}")]
    TooFewInputs {
        /// How many were given.
        got: usize,
    },
    /// An input that does not exist.
    #[error("{}: no such file or folder", path.display())]
    Missing {
        /// The input.
        path: PathBuf,
    },
    /// Files and folders mixed.
    #[error("{}: is a file, the other inputs are folders: give all reports or all folders", file.display())]
    MixedInputs {
        /// The first file among folders.
        file: PathBuf,
    },
    /// A file could not be read (or is larger than the input cap).
    #[error(transparent)]
    Input(#[from] InputError),
    /// A report that breaks its schema's rules (or could not be read).
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A report of another schema version, without `--force`.
    #[error("{report} (--force to compare anyway)")]
    OtherVersion {
        /// What the reader said (named `report`, not `source`, so it is printed once).
        report: ReportError,
    },
    /// With `--force`: a file that is not JSON at all.
    #[error("{}: not JSON: {cause}", path.display())]
    NotJson {
        /// The file.
        path: PathBuf,
        /// serde_json's description.
        cause: serde_json::Error,
    },
    /// With `--force`: JSON without any field a comparison shows.
    #[error("{}: no totals or latency fields: not a wirebench report", path.display())]
    NoFields {
        /// The file.
        path: PathBuf,
    },
    /// A folder without a readable `summary.json`.
    #[error("{cause} (a suite or nagle folder has one)")]
    NoSummary {
        /// Why it could not be read.
        cause: InputError,
    },
    /// A `summary.json` of another schema version, without `--force`.
    #[error("{}: schema {found:?}, this tool reads {SUMMARY_SCHEMA:?} (--force to compare anyway)", path.display())]
    SummarySchema {
        /// The file.
        path: PathBuf,
        /// What the file says.
        found: String,
    },
    /// A `summary.json` without an array of cells.
    #[error("{}: no cells", path.display())]
    NoCells {
        /// The file.
        path: PathBuf,
    },
    /// A cell that names no report.
    #[error("{}: a cell without a report", path.display())]
    CellWithoutReport {
        /// The `summary.json`.
        path: PathBuf,
    },
    /// No cell of the first folder pairs with a cell in every other folder.
    #[error("no cell of {} has a counterpart with the same workload and settings in every other folder", first.display())]
    NothingPairs {
        /// The first folder.
        first: PathBuf,
    },
    /// Runs of different schema versions, without `--force`.
    #[error(
        "{first} has schema {first_schema:?} but {run} has {run_schema:?}: refusing to compare (--force to compare anyway)"
    )]
    SchemasDiffer {
        /// The first run.
        first: String,
        /// Its schema.
        first_schema: String,
        /// The run that differs.
        run: String,
        /// Its schema.
        run_schema: String,
    },
    /// Runs of different workloads, without `--force`.
    #[error(
        "{first} runs {first_workload} but {run} runs {run_workload}: refusing to compare (--force to compare anyway)"
    )]
    WorkloadsDiffer {
        /// The first run.
        first: String,
        /// Its workload.
        first_workload: String,
        /// The run that differs.
        run: String,
        /// Its workload.
        run_workload: String,
    },
}
