//! `render`: one self-contained HTML page (inline SVG drawn with plotters' SVG backend, no
//! scripts, no fonts or anything else from the network) with
//!
//! - the percentile spectrum of every run on one chart (latency against percentile on the
//!   usual HdrHistogram axis, 0% .. 99.999%, log-spaced);
//! - per run, latency (p50, p99, max) over time and throughput over time, from the
//!   timeline;
//! - for a matrix folder (suite, nagle), the matrix table with the stall verdicts;
//! - for an overhead folder, both legs' spectra, the overhead table and the rounds;
//! - for a sweep or search folder, latency against achieved throughput and achieved
//!   against offered rate, one point per run, and the runs' verdicts.
//!
//! The page is well-formed XML (XHTML syntax), so any XML parser can check it.
//!
//! Owns: drawing and the page layout. Reads `report` types only (loading goes through
//! `report`'s readers); must not touch matrices, the engine or comparisons (the binary
//! calls [`write_matrix_page`] / [`write_overhead_page`] after a matrix returns).

mod charts;
mod curve;
mod html;
mod pages;

use std::path::{Path, PathBuf};

use crate::report::curve::{CurveSummary, is_curve_folder, read_curve_summary};
use crate::report::overhead::{OverheadSummary, read_summary};
use crate::report::summary::{Summary, read_matrix_summary};
use crate::report::{Report, ReportError, write_atomic};

pub use charts::{RenderError, SPECTRUM_POINTS};
use pages::{Page, render_overhead, render_page};

/// Why a page for files on disk could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// A file could not be read, or breaks its schema.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A chart could not be drawn.
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Writes a folder's `report.html`. A page that could not be drawn comes back as the
/// reason, for a warning: the measurements it would show are on disk already. Errors:
/// the page could not be written.
fn write_page(
    dir: &Path,
    page: Result<String, RenderError>,
) -> Result<Option<String>, ReportError> {
    match page {
        Ok(html) => {
            write_atomic(&dir.join("report.html"), html.as_bytes())?;
            Ok(None)
        }
        Err(e) => Ok(Some(e.to_string())),
    }
}

/// Draws and writes `report.html` of a suite or nagle folder that a matrix run just
/// filled (`reports` in the summary's order). `Ok(Some(reason))`: the page could not be
/// drawn, for a warning; `Err`: it could not be written.
pub fn write_matrix_page(
    dir: &Path,
    summary: &Summary,
    reports: &[Report],
) -> Result<Option<String>, ReportError> {
    write_page(dir, matrix_page(summary, reports))
}

/// Draws and writes `report.html` of an overhead folder; the result as for
/// [`write_matrix_page`].
pub fn write_overhead_page(
    dir: &Path,
    summary: &OverheadSummary,
) -> Result<Option<String>, ReportError> {
    write_page(dir, render_overhead(summary))
}

/// Draws and writes `report.html` of a sweep or search folder; the result as for
/// [`write_matrix_page`].
pub fn write_curve_page(dir: &Path, summary: &CurveSummary) -> Result<Option<String>, ReportError> {
    write_page(dir, curve::render_curve(summary))
}

fn matrix_page(summary: &Summary, reports: &[Report]) -> Result<String, RenderError> {
    let runs: Vec<(&str, &Report)> = summary
        .cells
        .iter()
        .map(|r| r.name.as_str())
        .zip(reports)
        .collect();
    render_page(&Page {
        title: &format!("wirebench {} {}", summary.kind, summary.started_at),
        runs: &runs,
        matrix: Some(summary),
    })
}

/// The page for report files (their spectra share one chart).
pub fn render_reports(paths: &[PathBuf]) -> Result<String, PageError> {
    let reports = paths
        .iter()
        .map(|p| Report::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let stem = |p: &PathBuf| {
        p.file_stem().map_or_else(
            || p.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        )
    };
    let stems: Vec<String> = paths.iter().map(stem).collect();
    // The same file name in two folders: show the paths, so the runs stay apart.
    let unique = (1..stems.len()).all(|i| !stems[..i].contains(&stems[i]));
    let names: Vec<String> = if unique {
        stems
    } else {
        paths.iter().map(|p| p.display().to_string()).collect()
    };
    let runs: Vec<(&str, &Report)> = names.iter().map(String::as_str).zip(&reports).collect();
    let title = match &names[..] {
        [one] => format!("wirebench {one}"),
        many => format!("wirebench: {} runs", many.len()),
    };
    Ok(render_page(&Page {
        title: &title,
        runs: &runs,
        matrix: None,
    })?)
}

/// The page for a folder: an overhead measurement (`overhead.json`), a sweep or search
/// (`summary.json` of the curve schema), or a suite or nagle matrix (`summary.json` and
/// the cells' reports).
pub fn render_folder(dir: &Path) -> Result<String, PageError> {
    if dir.join("overhead.json").is_file() {
        let summary = read_summary(dir)?;
        return Ok(render_overhead(&summary)?);
    }
    if is_curve_folder(dir) {
        let summary = read_curve_summary(dir)?;
        return Ok(curve::render_curve(&summary)?);
    }
    let summary = read_matrix_summary(dir)?;
    let reports = summary
        .cells
        .iter()
        .map(|row| Report::read(&dir.join(&row.report)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(matrix_page(&summary, &reports)?)
}
