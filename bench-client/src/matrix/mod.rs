//! Matrices: many runs, one folder. The suite (the default matrix), the Nagle matrix,
//! the proxy overhead measurement, the rate sweep and the SLO search (`curve` holds what
//! the last two share) each run their cells one after the other into a new
//! time-stamped folder (one report per cell as soon as it ends, then the summary), and
//! return what they left behind.
//!
//! Owns: the folder layout ([`Cell`], [`run_matrix`], [`unique_dir`]), the outcome
//! types, the text tables printed after a matrix. Must not touch: pages (`render`; the
//! binary draws `report.html` after a matrix returns), sockets (it drives `engine::Run`).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::RunConfig;
use crate::engine::{Run, RunError, Stopper};
use crate::output::{file_stamp, rfc3339};
use crate::report::summary::{SUMMARY_SCHEMA, Summary, SummaryRow};
use crate::report::{Report, ReportError, write_atomic};

pub mod curve;
pub mod nagle;
pub mod overhead;
pub mod search;
pub mod suite;
pub mod sweep;

/// One cell of the matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// File stem and table name: `tcp-echo-nodelay-on`.
    pub name: String,
    /// The run.
    pub config: RunConfig,
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
    /// Every cell's report, in the summary's order (for the page the binary draws).
    pub reports: Vec<Report>,
}

/// Runs `cells` one after the other into a new time-stamped folder under `out_dir`: one
/// report per cell as soon as it ends, then `summary.json` (of `kind`). The page is the
/// caller's: [`crate::render::write_matrix_page`] with the outcome's summary and reports.
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
    Ok(SuiteOutcome {
        dir,
        summary,
        reports,
    })
}

/// Creates and returns `base/stamp`, or `base/stamp-2`, ... when that exists already
/// (see [`crate::output::unique_dir`], where it lives).
pub fn unique_dir(base: &Path, stamp: &str) -> Result<PathBuf, ReportError> {
    Ok(crate::output::unique_dir(base, stamp)?)
}
