//! `render`: one self-contained HTML page (inline SVG drawn with plotters' SVG backend, no
//! scripts, no fonts or anything else from the network) with
//!
//! - the percentile spectrum of every run on one chart (latency against percentile on the
//!   usual HdrHistogram axis, 0% .. 99.9999%, log-spaced, with where each run's data
//!   ends), and for open-loop runs corrected, uncorrected and send-lag spectra overlaid;
//! - per run, its settings (workload, target, connections, pipeline, load, size,
//!   TCP_NODELAY on both sides, length, tool, host), then latency (p50, p99, max, log
//!   axis) and throughput over time, or "no successful requests" instead of charts;
//! - for several report files, a comparison table (ratios to the first run, coloured
//!   better or worse);
//! - for a matrix folder (suite, nagle), the matrix table with the stall verdicts;
//! - for an overhead folder, both legs' spectra, the overhead table and the rounds;
//! - for a sweep or search folder, latency against achieved throughput and achieved
//!   against offered rate, one point per run, and the runs' verdicts.
//!
//! Series have a colour-blind-safe colour and a dash pattern each; charts scale to the
//! page's width. The page is well-formed XML (XHTML syntax), so any XML parser can check
//! it; what a page looks like is in `docs/pages.md`.
//!
//! Owns: drawing and the page layout. Reads `report` types (loading goes through
//! `report`'s readers) and uses `analysis`' field table and ratios for the comparison;
//! must not touch matrices or the engine (the binary calls [`write_matrix_page`] /
//! [`write_overhead_page`] / [`write_curve_page`] after a matrix returns).

mod charts;
mod curve;
mod html;
mod overhead;
mod pages;
mod settings;
mod spectrum;
mod style;
mod timeline;
mod versus;

use std::path::{Path, PathBuf};

use crate::report::curve::{CurveSummary, is_curve_folder, read_curve_summary};
use crate::report::overhead::{OverheadSummary, read_summary};
use crate::report::summary::{Summary, read_matrix_summary};
use crate::report::{Report, ReportError, write_atomic};

pub use charts::RenderError;
use overhead::{LegReports, render_overhead};
use pages::{Page, render_page};
pub use settings::{run_label, settings, settings_label};
pub use spectrum::SPECTRUM_POINTS;
pub use versus::{NOISE, Verdict, verdict};

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
    write_page(
        dir,
        render_overhead(summary, leg_reports(dir, summary).as_ref()),
    )
}

/// The first round's reports of an overhead folder (`None` when either is missing or
/// unreadable: the page then goes without the settings).
fn leg_reports(dir: &Path, summary: &OverheadSummary) -> Option<LegReports> {
    let round = summary.rounds.first()?;
    Some(LegReports {
        direct: Report::read(&dir.join(&round.direct.report)).ok()?,
        proxied: Report::read(&dir.join(&round.proxied.report)).ok()?,
    })
}

/// The first run's report of a sweep or search folder, for the settings.
fn first_curve_report(dir: &Path, summary: &CurveSummary) -> Option<Report> {
    let point = summary.points.first()?;
    Report::read(&dir.join(&point.report)).ok()
}

/// Draws and writes `report.html` of a sweep or search folder; the result as for
/// [`write_matrix_page`].
pub fn write_curve_page(dir: &Path, summary: &CurveSummary) -> Result<Option<String>, ReportError> {
    let first = first_curve_report(dir, summary);
    write_page(dir, curve::render_curve(summary, first.as_ref()))
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
        compare: false,
    })
}

/// The names report files are shown under: each run's label (or one from its
/// settings); where two runs would share one, the file's stem follows it, and where
/// that is not enough either, the path.
fn names(paths: &[PathBuf], reports: &[Report]) -> Vec<String> {
    let unique = |names: &[String]| (1..names.len()).all(|i| !names[..i].contains(&names[i]));
    let labels: Vec<String> = reports.iter().map(run_label).collect();
    if unique(&labels) {
        return labels;
    }
    let stem = |p: &PathBuf| {
        p.file_stem().map_or_else(
            || p.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        )
    };
    let with_stem: Vec<String> = labels
        .iter()
        .zip(paths)
        .map(|(label, p)| format!("{label} ({})", stem(p)))
        .collect();
    if unique(&with_stem) {
        return with_stem;
    }
    labels
        .iter()
        .zip(paths)
        .map(|(label, p)| format!("{label} ({})", p.display()))
        .collect()
}

/// The page for report files: their spectra share one chart, and with two or more a
/// comparison table leads the page.
pub fn render_reports(paths: &[PathBuf]) -> Result<String, PageError> {
    let reports = paths
        .iter()
        .map(|p| Report::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let names = names(paths, &reports);
    let runs: Vec<(&str, &Report)> = names.iter().map(String::as_str).zip(&reports).collect();
    let title = match &names[..] {
        [one] => format!("wirebench: {one}"),
        many => format!("wirebench: {} runs", many.len()),
    };
    Ok(render_page(&Page {
        title: &title,
        runs: &runs,
        matrix: None,
        compare: true,
    })?)
}

/// The page for a folder: an overhead measurement (`overhead.json`), a sweep or search
/// (`summary.json` of the curve schema), or a suite or nagle matrix (`summary.json` and
/// the cells' reports).
pub fn render_folder(dir: &Path) -> Result<String, PageError> {
    if dir.join("overhead.json").is_file() {
        let summary = read_summary(dir)?;
        let legs = leg_reports(dir, &summary);
        return Ok(render_overhead(&summary, legs.as_ref())?);
    }
    if is_curve_folder(dir) {
        let summary = read_curve_summary(dir)?;
        let first = first_curve_report(dir, &summary);
        return Ok(curve::render_curve(&summary, first.as_ref())?);
    }
    let summary = read_matrix_summary(dir)?;
    let reports = summary
        .cells
        .iter()
        .map(|row| Report::read(&dir.join(&row.report)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(matrix_page(&summary, &reports)?)
}
