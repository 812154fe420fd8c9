//! `compare`: runs side by side (req/s, p50, p90, p99, p99.9, p99.99, max, errors), each
//! with its ratio to the first run.
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

use crate::input::InputError;
use crate::report::summary::SUMMARY_SCHEMA;
use crate::report::{Report, ReportError};

use super::fields::Field;
use super::view::{CellView, ReportView, SummaryView};

/// One run as compared: where it came from and the fields.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    /// The file (or `folder/cell`) it is shown as.
    pub name: String,
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
    pub notes: Vec<String>,
}

/// The load settings compared for notes.
const LOAD_SETTINGS: [&str; 4] = ["connections", "pipeline", "size", "load"];

fn notes(groups: &[Group]) -> Vec<String> {
    let mut out = Vec::new();
    for group in groups {
        let base = &group.runs[0];
        for (n, run) in group.runs.iter().enumerate() {
            if run.interrupted {
                out.push(format!("{} was interrupted (stopped early)", run.name));
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
                out.push(format!(
                    "{} ran other settings than {}: {}",
                    run.name,
                    base.name,
                    differ.join(", ")
                ));
            }
        }
    }
    out
}

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

fn on_off(v: Option<bool>) -> &'static str {
    v.map_or("?", crate::report::summary::on_off)
}

/// Reads one report into a view, through the same reader and checks as `render` and
/// `export` ([`Report::read`]), so a report one refuses the other refuses too, with the
/// same message. `force` lets other schema versions through (read loosely: this
/// version's checks do not apply to them).
pub fn read_view(path: &Path, name: String, force: bool) -> Result<RunView, CompareError> {
    let bytes = crate::input::read_capped(path)?;
    let view = match Report::from_slice(path, &bytes) {
        // Through JSON, so a checked report and a forced one are read by the same view.
        Ok(report) => {
            ReportView::of_json(serde_json::to_value(&report).expect("reports serialise"))
        }
        Err(ReportError::Schema { .. }) if force => {
            let value: Value =
                serde_json::from_slice(&bytes).map_err(|cause| CompareError::NotJson {
                    path: path.to_owned(),
                    cause,
                })?;
            ReportView::of_json(value)
        }
        Err(report @ ReportError::Schema { .. }) => {
            return Err(CompareError::OtherVersion { report });
        }
        Err(e) => return Err(e.into()),
    };
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
        name,
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
            read_view(
                &dir.join(&file),
                format!("{}/{}", dir.display(), file.trim_end_matches(".json")),
                force,
            )
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
