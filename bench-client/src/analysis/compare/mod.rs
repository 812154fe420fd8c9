//! `compare`: runs side by side (req/s, p50, p90, p99, p99.9, p99.99, max, errors), each
//! with its ratio to the first run and a verdict (`better`, `worse`, `same` within noise).
//!
//! This module loads and pairs ([`load`], [`read_view`]); [`spread`] reads each run's noise
//! from its timeline, [`verdict`] judges a field against the baseline, [`table`] writes the
//! text and [`json`] the `wirebench.compare/v1` document. The `--fail-if` gates are
//! `analysis::gate`'s.
//!
//! Inputs are either report files, or matrix folders (a suite or nagle run: a
//! `summary.json` and one report per cell); folders are paired cell by cell by workload
//! and settings (command, client and server TCP_NODELAY, write modes), so a suite folder
//! and a nagle folder pair where their cells agree.
//!
//! Reports are read through a typed view of the fields compared (`view::ReportView`), so with
//! `force` a report of another schema version still compares as long as it has those
//! fields.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::summary::SUMMARY_SCHEMA;
use crate::report::{Report, ReportError};

use super::fields::Field;
use super::view::{CellView, ReportView, SummaryView};

mod error;
pub mod json;
pub mod spread;
pub mod table;
pub mod verdict;

pub use error::CompareError;

/// One run as compared: where it came from and the fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunView {
    /// The file (or `folder/cell`) it is shown as.
    pub name: String,
    /// The input it came from: the report file, or the folder of a cell.
    pub input: String,
    /// The cell's report in its folder, without `.json` (`None` for a report file).
    pub cell: Option<String>,
    /// The recorded length, s (`None`: the report does not say).
    pub duration_s: Option<f64>,
    /// The standard error of a field's value, from the per-second timeline
    /// ([`spread::of_report`]); absent where the timeline gives none.
    pub spread: BTreeMap<Field, spread::Spread>,
    /// Its schema.
    pub schema: String,
    /// Its workload.
    pub workload: String,
    /// Workload and settings, for pairing folder cells.
    pub key: String,
    /// The field values (missing fields are absent).
    pub values: BTreeMap<Field, f64>,
    /// True when the run was stopped early.
    pub interrupted: bool,
    /// The load settings that pairing does not look at (connections, pipeline, size,
    /// load model), as compact JSON, for notes when they differ.
    pub load: BTreeMap<&'static str, String>,
}

impl RunView {
    /// The value of `field`, if the report had it.
    pub fn get(&self, field: Field) -> Option<f64> {
        self.values.get(&field).copied()
    }
}

/// Runs that belong side by side: the first is the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// What the runs have in common (the workload, or the cell's settings).
    pub key: String,
    /// The runs, in the order given.
    pub runs: Vec<RunView>,
}

/// A whole comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Groups of runs compared.
    pub groups: Vec<Group>,
    /// Cells found in some folders only (not compared), as `folder/cell`.
    pub unpaired: Vec<String>,
    /// Things the reader should know: interrupted runs, runs whose load settings differ
    /// from the first of their group.
    pub notes: Vec<Note>,
}

/// A note on one run of one group, shown right under that group.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// The group, an index into [`Comparison::groups`].
    pub group: usize,
    /// The run, an index into that group's runs.
    pub run: usize,
    /// What to know, without the run's name (`was interrupted (stopped early)`).
    pub text: String,
}

/// The load settings compared for notes.
const LOAD_SETTINGS: [&str; 4] = ["connections", "pipeline", "size", "load"];

fn notes(groups: &[Group]) -> Vec<Note> {
    let mut out = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let base = &group.runs[0];
        for (n, run) in group.runs.iter().enumerate() {
            let mut note = |text: String| {
                out.push(Note {
                    group: g,
                    run: n,
                    text,
                })
            };
            if run.interrupted {
                note("was interrupted (stopped early)".to_owned());
            }
            if n == 0 {
                continue;
            }
            let differ: Vec<String> = LOAD_SETTINGS
                .iter()
                .filter(|k| run.load.get(*k) != base.load.get(*k))
                .map(|k| {
                    let show = |r: &RunView| r.load.get(k).cloned().unwrap_or_else(|| "?".into());
                    format!("{k} {} vs {}", show(run), show(base))
                })
                .collect();
            if !differ.is_empty() {
                note(format!(
                    "ran other settings than the baseline: {}",
                    differ.join(", ")
                ));
            }
        }
    }
    out
}

fn on_off(v: Option<bool>) -> &'static str {
    v.map_or("?", crate::report::summary::on_off)
}

/// Reads one report into a view, through the same reader and checks as `render` and
/// `export` ([`Report::read`]), so a report one refuses the other refuses too, with the
/// same message. `force` lets other schema versions through (read loosely: this
/// version's checks do not apply to them).
pub fn read_view(path: &Path, name: String, force: bool) -> Result<RunView, CompareError> {
    let bytes = crate::input::read_capped(path)?;
    let value = match Report::from_slice(path, &bytes) {
        // Through JSON, so a checked report and a forced one are read by the same view.
        Ok(report) => serde_json::to_value(&report).expect("reports serialise"),
        Err(ReportError::Schema { .. }) if force => {
            serde_json::from_slice(&bytes).map_err(|cause| CompareError::NotJson {
                path: path.to_owned(),
                cause,
            })?
        }
        Err(report @ ReportError::Schema { .. }) => {
            return Err(CompareError::OtherVersion { report });
        }
        Err(e) => return Err(e.into()),
    };
    let (duration_s, spread) = spread::of_report(&value);
    let view = ReportView::of_json(value);
    let values: BTreeMap<Field, f64> = Field::ALL
        .iter()
        .filter_map(|&field| field.of_report(&view).map(|v| (field, v)))
        .collect();
    if values.is_empty() {
        return Err(CompareError::NoFields {
            path: path.to_owned(),
        });
    }
    let workload = view
        .config
        .workload
        .clone()
        .unwrap_or_else(|| "?".to_owned());
    let config = &view.config;
    let load = [
        ("connections", &config.connections),
        ("pipeline", &config.pipeline),
        ("size", &config.size),
        ("load", &config.load),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v.to_string())))
    .collect();
    Ok(RunView {
        input: name.clone(),
        name,
        cell: None,
        duration_s,
        spread,
        interrupted: view.interrupted,
        load,
        key: settings_key(&view, &workload),
        schema: view.schema,
        workload,
        values,
    })
}

/// `framed echo, client nodelay on, server nodelay off, write split/split`.
fn settings_key(report: &ReportView, workload: &str) -> String {
    let mut key = workload.to_owned();
    let framed = workload == "framed";
    if framed {
        let cmd = report.config.cmd.as_deref().unwrap_or_default();
        let _ = write!(key, " {cmd}");
    }
    if workload != "udp-echo" {
        let client = report
            .socket
            .client
            .nodelay
            .or(report.config.socket.nodelay);
        let server = report
            .socket
            .server
            .nodelay
            .or(report.target.server.socket.nodelay);
        let _ = write!(
            key,
            ", client nodelay {}, server nodelay {}",
            on_off(client),
            on_off(server)
        );
    }
    if framed {
        let client = report.config.write_mode.as_deref().unwrap_or_default();
        let server = report.target.server.write_mode.as_deref();
        let _ = write!(key, ", write {client}/{}", server.unwrap_or("?"));
    }
    key
}

/// Loads the inputs: all report files, or all matrix folders.
pub fn load(paths: &[PathBuf], force: bool) -> Result<Comparison, CompareError> {
    if paths.len() < 2 {
        return Err(CompareError::TooFewInputs { got: paths.len() });
    }
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        return Err(CompareError::Missing {
            path: missing.clone(),
        });
    }
    let dirs = paths.iter().filter(|p| p.is_dir()).count();
    if dirs == 0 {
        let runs = paths
            .iter()
            .map(|p| read_view(p, p.display().to_string(), force))
            .collect::<Result<Vec<_>, _>>()?;
        check_same(&runs, force)?;
        let groups = vec![Group {
            key: runs[0].workload.clone(),
            runs,
        }];
        return Ok(Comparison {
            notes: notes(&groups),
            groups,
            unpaired: Vec::new(),
        });
    }
    if dirs != paths.len() {
        let file = paths.iter().find(|p| !p.is_dir()).expect("a file");
        return Err(CompareError::MixedInputs { file: file.clone() });
    }
    let folders = paths
        .iter()
        .map(|p| read_folder(p, force))
        .collect::<Result<Vec<_>, _>>()?;
    let mut groups: Vec<Group> = Vec::new();
    let mut unpaired = Vec::new();
    for run in &folders[0] {
        let mut group = vec![run.clone()];
        for other in &folders[1..] {
            if let Some(cell) = other.iter().find(|c| c.key == run.key) {
                group.push(cell.clone());
            }
        }
        if group.len() == folders.len() {
            check_same(&group, force)?;
            groups.push(Group {
                key: run.key.clone(),
                runs: group,
            });
        } else {
            unpaired.push(run.name.clone());
        }
    }
    for other in &folders[1..] {
        for cell in other {
            if !groups.iter().any(|g| g.key == cell.key) {
                unpaired.push(cell.name.clone());
            }
        }
    }
    if groups.is_empty() {
        return Err(CompareError::NothingPairs {
            first: paths[0].clone(),
        });
    }
    Ok(Comparison {
        notes: notes(&groups),
        groups,
        unpaired,
    })
}

/// The cells of a matrix folder, from its `summary.json`.
fn read_folder(dir: &Path, force: bool) -> Result<Vec<RunView>, CompareError> {
    let path = dir.join("summary.json");
    let bytes =
        crate::input::read_capped(&path).map_err(|cause| CompareError::NoSummary { cause })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|cause| CompareError::NotJson {
        path: path.clone(),
        cause,
    })?;
    let summary: SummaryView = serde_json::from_value(value).unwrap_or_default();
    if summary.schema != SUMMARY_SCHEMA && !force {
        return Err(CompareError::SummarySchema {
            path,
            found: summary.schema,
        });
    }
    let cells = summary
        .cells
        .ok_or_else(|| CompareError::NoCells { path: path.clone() })?;
    cells
        .into_iter()
        .map(|cell| {
            let file = CellView::of_json(cell)
                .report
                .ok_or_else(|| CompareError::CellWithoutReport { path: path.clone() })?;
            let cell = file.trim_end_matches(".json").to_owned();
            let name = format!("{}/{cell}", dir.display());
            let run = read_view(&dir.join(&file), name, force)?;
            Ok(RunView {
                input: dir.display().to_string(),
                cell: Some(cell),
                ..run
            })
        })
        .collect()
}

fn check_same(runs: &[RunView], force: bool) -> Result<(), CompareError> {
    if force {
        return Ok(());
    }
    let first = &runs[0];
    for run in &runs[1..] {
        if run.schema != first.schema {
            return Err(CompareError::SchemasDiffer {
                first: first.name.clone(),
                first_schema: first.schema.clone(),
                run: run.name.clone(),
                run_schema: run.schema.clone(),
            });
        }
        if run.workload != first.workload {
            return Err(CompareError::WorkloadsDiffer {
                first: first.name.clone(),
                first_workload: first.workload.clone(),
                run: run.name.clone(),
                run_workload: run.workload.clone(),
            });
        }
    }
    Ok(())
}

/// `run / base`, with 0/0 = 1 and x/0 = infinity.
pub fn ratio(run: f64, base: f64) -> f64 {
    if base == 0.0 {
        if run == 0.0 { 1.0 } else { f64::INFINITY }
    } else {
        run / base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_handle_zero_baselines() {
        assert_eq!(ratio(0.0, 0.0), 1.0);
        assert!(ratio(1.0, 0.0).is_infinite());
        assert_eq!(ratio(3.0, 2.0), 1.5);
    }
}
