//! `compare`: runs side by side (req/s, p50, p90, p99, p99.9, p99.99, max, errors), each
//! with its ratio to the first run, and `--fail-if` thresholds for CI regression gates.
//!
//! Inputs are either report files, or matrix folders (a suite or nagle run: a
//! `summary.json` and one report per cell); folders are paired cell by cell by workload
//! and settings (command, client and server TCP_NODELAY, write modes), so a suite folder
//! and a nagle folder pair where their cells agree.
//!
//! Reports are read through a small view of the fields compared, so with `force` a report
//! of another schema version still compares as long as it has those fields.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::Value;

use bench_proto::units::{format_ns, parse_ns};

use crate::report::overhead::LegRow;
use crate::report::summary::SUMMARY_SCHEMA;
use crate::report::{Report, ReportError};

/// A summary field a comparison shows and a threshold can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// Successful requests per second.
    Rps,
    /// Median latency.
    P50,
    /// 90th percentile.
    P90,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// 99.99th percentile.
    P9999,
    /// Largest latency.
    Max,
    /// Smallest latency.
    Min,
    /// Mean latency.
    Mean,
    /// Standard deviation of the latency.
    Stdev,
    /// Failed requests.
    Errors,
    /// Successful requests.
    Ok,
}

/// The columns of the comparison table.
pub const COLUMNS: [Field; 9] = [
    Field::Rps,
    Field::P50,
    Field::P90,
    Field::P99,
    Field::P999,
    Field::P9999,
    Field::Max,
    Field::Errors,
    Field::Ok,
];

impl Field {
    /// Every field.
    pub const ALL: [Field; 12] = [
        Field::Rps,
        Field::P50,
        Field::P90,
        Field::P99,
        Field::P999,
        Field::P9999,
        Field::Max,
        Field::Min,
        Field::Mean,
        Field::Stdev,
        Field::Errors,
        Field::Ok,
    ];

    /// Its name in tables and thresholds.
    pub fn name(self) -> &'static str {
        match self {
            Field::Rps => "req/s",
            Field::P50 => "p50",
            Field::P90 => "p90",
            Field::P99 => "p99",
            Field::P999 => "p99.9",
            Field::P9999 => "p99.99",
            Field::Max => "max",
            Field::Min => "min",
            Field::Mean => "mean",
            Field::Stdev => "stdev",
            Field::Errors => "errors",
            Field::Ok => "ok",
        }
    }

    /// Where the value sits in a report.
    fn path(self) -> &'static [&'static str] {
        match self {
            Field::Rps => &["totals", "requests_per_s"],
            Field::P50 => &["latency", "p50_ns"],
            Field::P90 => &["latency", "p90_ns"],
            Field::P99 => &["latency", "p99_ns"],
            Field::P999 => &["latency", "p99_9_ns"],
            Field::P9999 => &["latency", "p99_99_ns"],
            Field::Max => &["latency", "max_ns"],
            Field::Min => &["latency", "min_ns"],
            Field::Mean => &["latency", "mean_ns"],
            Field::Stdev => &["latency", "stdev_ns"],
            Field::Errors => &["totals", "error_count"],
            Field::Ok => &["totals", "ok"],
        }
    }

    /// True for latencies (values in ns, thresholds with a time unit).
    pub fn is_latency(self) -> bool {
        !matches!(self, Field::Rps | Field::Errors | Field::Ok)
    }

    /// A value of this field for a table: `52.3us`, `80123`.
    pub fn show(self, v: f64) -> String {
        if self.is_latency() {
            format_ns(v.max(0.0).round() as u64)
        } else {
            format!("{v:.0}")
        }
    }
}

impl LegRow {
    /// The value of a field an overhead row has (NaN for the others).
    pub fn get(&self, field: Field) -> f64 {
        match field {
            Field::Rps => self.requests_per_s,
            Field::P50 => self.p50_ns as f64,
            Field::P90 => self.p90_ns as f64,
            Field::P99 => self.p99_ns as f64,
            Field::P999 => self.p99_9_ns as f64,
            Field::P9999 => self.p99_99_ns as f64,
            Field::Max => self.max_ns as f64,
            _ => f64::NAN,
        }
    }
}

impl FromStr for Field {
    type Err = String;

    fn from_str(s: &str) -> Result<Field, String> {
        Ok(match s {
            "req/s" | "rps" | "requests_per_s" | "throughput" => Field::Rps,
            "p50" | "median" => Field::P50,
            "p90" => Field::P90,
            "p99" => Field::P99,
            "p99.9" | "p999" => Field::P999,
            "p99.99" | "p9999" => Field::P9999,
            "max" => Field::Max,
            "min" => Field::Min,
            "mean" => Field::Mean,
            "stdev" => Field::Stdev,
            "errors" => Field::Errors,
            "ok" => Field::Ok,
            other => {
                return Err(format!(
                    "unknown field {other:?} (req/s, p50, p90, p99, p99.9, p99.99, max, min, \
                     mean, stdev, errors, ok)"
                ));
            }
        })
    }
}

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

/// Why runs cannot be compared.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CompareError(pub String);

fn err(text: String) -> CompareError {
    CompareError(text)
}

fn lookup<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn text_at(value: &Value, path: &[&str]) -> Option<String> {
    lookup(value, path)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

fn on_off(v: Option<bool>) -> &'static str {
    v.map_or("?", crate::report::summary::on_off)
}

/// Reads one report into a view, through the same reader and checks as `render` and
/// `export` ([`Report::read`]), so a report one refuses the other refuses too, with the
/// same message. `force` lets other schema versions through (read loosely: this
/// version's checks do not apply to them).
pub fn read_view(path: &Path, name: String, force: bool) -> Result<RunView, CompareError> {
    let bytes = crate::input::read_capped(path).map_err(|e| err(e.to_string()))?;
    let value: Value = match Report::from_slice(path, &bytes) {
        Ok(report) => serde_json::to_value(&report).expect("reports serialise"),
        Err(ReportError::Schema { .. }) if force => serde_json::from_slice(&bytes)
            .map_err(|e| err(format!("{}: not JSON: {e}", path.display())))?,
        Err(e @ ReportError::Schema { .. }) => {
            return Err(err(format!("{e} (--force to compare anyway)")));
        }
        Err(e) => return Err(err(e.to_string())),
    };
    let schema = text_at(&value, &["schema"]).unwrap_or_default();
    let workload = text_at(&value, &["config", "workload"]).unwrap_or_else(|| "?".to_owned());
    let mut values = BTreeMap::new();
    for field in Field::ALL {
        if let Some(v) = lookup(&value, field.path()).and_then(Value::as_f64) {
            values.insert(field, v);
        }
    }
    if values.is_empty() {
        return Err(err(format!(
            "{}: no totals or latency fields: not a wirebench report",
            path.display()
        )));
    }
    let load = LOAD_SETTINGS
        .iter()
        .filter_map(|&k| lookup(&value, &["config", k]).map(|v| (k, v.to_string())))
        .collect();
    Ok(RunView {
        name,
        interrupted: lookup(&value, &["interrupted"])
            .and_then(Value::as_bool)
            .unwrap_or(false),
        load,
        key: settings_key(&value, &workload),
        schema,
        workload,
        values,
    })
}

/// `framed echo, client nodelay on, server nodelay off, write split/split`.
fn settings_key(report: &Value, workload: &str) -> String {
    let mut key = workload.to_owned();
    let flag = |path: &[&str]| lookup(report, path).and_then(Value::as_bool);
    let framed = workload == "framed";
    if framed {
        let cmd = text_at(report, &["config", "cmd"]).unwrap_or_default();
        let _ = write!(key, " {cmd}");
    }
    if workload != "udp-echo" {
        let client =
            flag(&["socket", "client", "nodelay"]).or(flag(&["config", "socket", "nodelay"]));
        let server = flag(&["socket", "server", "nodelay"])
            .or(flag(&["target", "server", "socket", "nodelay"]));
        let _ = write!(
            key,
            ", client nodelay {}, server nodelay {}",
            on_off(client),
            on_off(server)
        );
    }
    if framed {
        let client = text_at(report, &["config", "write_mode"]).unwrap_or_default();
        let server = text_at(report, &["target", "server", "write_mode"]);
        let _ = write!(key, ", write {client}/{}", server.as_deref().unwrap_or("?"));
    }
    key
}

/// Loads the inputs: all report files, or all matrix folders.
pub fn load(paths: &[PathBuf], force: bool) -> Result<Comparison, CompareError> {
    if paths.len() < 2 {
        return Err(err(format!(
            "compare needs at least two reports or folders, got {}",
            paths.len()
        )));
    }
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        return Err(err(format!(
            "{}: no such file or folder",
            missing.display()
        )));
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
        return Err(err(format!(
            "{}: is a file, the other inputs are folders: give all reports or all folders",
            file.display()
        )));
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
        return Err(err(format!(
            "no cell of {} has a counterpart with the same workload and settings in every \
             other folder",
            paths[0].display()
        )));
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
    let bytes = crate::input::read_capped(&path)
        .map_err(|e| err(format!("{e} (a suite or nagle folder has one)")))?;
    let summary: Value = serde_json::from_slice(&bytes)
        .map_err(|e| err(format!("{}: not JSON: {e}", path.display())))?;
    let schema = text_at(&summary, &["schema"]).unwrap_or_default();
    if schema != SUMMARY_SCHEMA && !force {
        return Err(err(format!(
            "{}: schema {schema:?}, this tool reads {SUMMARY_SCHEMA:?} (--force to compare \
             anyway)",
            path.display()
        )));
    }
    let cells = summary
        .get("cells")
        .and_then(Value::as_array)
        .ok_or_else(|| err(format!("{}: no cells", path.display())))?;
    cells
        .iter()
        .map(|cell| {
            let file = text_at(cell, &["report"])
                .ok_or_else(|| err(format!("{}: a cell without a report", path.display())))?;
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
            return Err(err(format!(
                "{} has schema {:?} but {} has {:?}: refusing to compare (--force to compare \
                 anyway)",
                first.name, first.schema, run.name, run.schema
            )));
        }
        if run.workload != first.workload {
            return Err(err(format!(
                "{} runs {} but {} runs {}: refusing to compare (--force to compare anyway)",
                first.name, first.workload, run.name, run.workload
            )));
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

/// The comparison as text tables, one per group.
pub fn format(comparison: &Comparison) -> String {
    let mut out = String::new();
    for (i, group) in comparison.groups.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "== {}", group.key);
        let width = group
            .runs
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(3)
            .max(3);
        let _ = write!(out, "{:<width$}", "run");
        for field in COLUMNS {
            let _ = write!(out, " {:>16}", field.name());
        }
        out.push('\n');
        let base = &group.runs[0];
        for (n, run) in group.runs.iter().enumerate() {
            let _ = write!(out, "{:<width$}", run.name);
            for field in COLUMNS {
                let cell = match (run.get(field), base.get(field)) {
                    (Some(v), Some(b)) if n > 0 => {
                        format!("{} {:.2}x", field.show(v), ratio(v, b))
                    }
                    (Some(v), _) => field.show(v),
                    (None, _) => "-".to_owned(),
                };
                let _ = write!(out, " {cell:>16}");
            }
            out.push('\n');
        }
    }
    for note in &comparison.notes {
        let _ = writeln!(out, "note: {note}");
    }
    if !comparison.unpaired.is_empty() {
        let _ = writeln!(
            out,
            "\nnot compared (no cell with the same settings in every folder): {}",
            comparison.unpaired.join(", ")
        );
    }
    out
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Op {
    /// `a OP b`, with values within a relative 1e-9 of each other taken as equal (a
    /// limit applied to a baseline, `100 * 1.1`, is not exactly `110` in floating point).
    fn holds(self, a: f64, b: f64) -> bool {
        let tolerance = 1e-9 * a.abs().max(b.abs());
        if (a - b).abs() <= tolerance {
            return matches!(self, Op::Ge | Op::Le);
        }
        match self {
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

/// What a threshold compares with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// `+10%`: the change relative to the first run, as a fraction (0.10).
    Relative(f64),
    /// `+20us`, `-500`: the difference from the first run (ns for latencies).
    Delta(f64),
    /// `2ms`, `50000`: the value itself (ns for latencies), checked in every run.
    Absolute(f64),
}

/// A `--fail-if` threshold: `FIELD OP VALUE`, e.g. `p99>+10%`, `req/s<-5%`,
/// `p99.9>2ms`, `p50>+20us`, `errors>0`. The run fails the gate when the condition holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The text as given.
    pub text: String,
    /// The field tested.
    pub field: Field,
    /// The operator.
    pub op: Op,
    /// The limit.
    pub limit: Limit,
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Threshold, String> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let at = compact.find(['>', '<']).ok_or_else(|| {
            format!("{text:?}: expected FIELD>VALUE or FIELD<VALUE, e.g. p99>+10%")
        })?;
        let (field, rest) = compact.split_at(at);
        let (op, value) = match rest {
            r if r.starts_with(">=") => (Op::Ge, &r[2..]),
            r if r.starts_with("<=") => (Op::Le, &r[2..]),
            r if r.starts_with('>') => (Op::Gt, &r[1..]),
            r => (Op::Lt, &r[1..]),
        };
        let field: Field = field.parse().map_err(|e| format!("{text:?}: {e}"))?;
        if value.is_empty() {
            return Err(format!("{text:?}: no value after {}", op.text()));
        }
        let bad = |why: &str| format!("{text:?}: {value:?} {why}");
        let limit = if let Some(pct) = value.strip_suffix('%') {
            let v: f64 = pct
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| bad("is not a percentage like +10%"))?;
            Limit::Relative(v / 100.0)
        } else {
            let (sign, magnitude) = match value.as_bytes()[0] {
                b'+' => (Some(1.0), &value[1..]),
                b'-' => (Some(-1.0), &value[1..]),
                _ => (None, value),
            };
            let v = if field.is_latency() && magnitude != "0" {
                parse_ns(magnitude)
                    .ok_or_else(|| bad("is not a duration like 2ms, 150us or 800ns"))?
            } else {
                magnitude
                    .parse::<f64>()
                    .map_err(|_| bad("is not a number"))?
            };
            if !v.is_finite() {
                return Err(bad("is not finite"));
            }
            match sign {
                Some(s) => Limit::Delta(s * v),
                None => Limit::Absolute(v),
            }
        };
        Ok(Threshold {
            text: text.to_owned(),
            field,
            op,
            limit,
        })
    }
}

/// A threshold that held for a run: the gate fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The threshold as given.
    pub threshold: String,
    /// The run.
    pub run: String,
    /// What was found, in words.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FAIL {}: {}: {}", self.threshold, self.run, self.detail)
    }
}

/// Every run (and group) that trips a threshold. Relative and delta limits test each run
/// after the first against the first of its group; absolute limits test every run. A
/// run without the field trips the threshold (it cannot show it holds), and so does a
/// folder cell without a counterpart (a gate cannot pass over a cell that went missing).
pub fn check(comparison: &Comparison, thresholds: &[Threshold]) -> Vec<Violation> {
    let mut out = Vec::new();
    if !thresholds.is_empty() {
        for cell in &comparison.unpaired {
            out.push(Violation {
                threshold: thresholds
                    .iter()
                    .map(|t| t.text.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                run: cell.clone(),
                detail: "no cell with the same workload and settings in every folder".to_owned(),
            });
        }
    }
    for group in &comparison.groups {
        let base = &group.runs[0];
        for t in thresholds {
            let f = t.field;
            for (n, run) in group.runs.iter().enumerate() {
                let relative = !matches!(t.limit, Limit::Absolute(_));
                if relative && n == 0 {
                    continue;
                }
                let violation = |detail: String| Violation {
                    threshold: t.text.clone(),
                    run: run.name.clone(),
                    detail,
                };
                let Some(v) = run.get(f) else {
                    out.push(violation(format!("has no {}", f.name())));
                    continue;
                };
                let b = match (relative, base.get(f)) {
                    (false, _) => f64::NAN,
                    (true, Some(b)) => b,
                    (true, None) => {
                        let detail = format!("{} has no {}", base.name, f.name());
                        out.push(violation(detail));
                        continue;
                    }
                };
                let tripped = match t.limit {
                    Limit::Relative(limit) => {
                        let change = ratio(v, b) - 1.0;
                        // Against the limit applied to the baseline, so a change of
                        // exactly the limit does not trip a strict operator by rounding.
                        t.op.holds(v, b * (1.0 + limit)).then(|| {
                            format!(
                                "{} {} vs {} ({:+.1}%)",
                                f.name(),
                                f.show(v),
                                f.show(b),
                                change * 100.0
                            )
                        })
                    }
                    Limit::Delta(limit) => t.op.holds(v, b + limit).then(|| {
                        let sign = if v >= b { "+" } else { "-" };
                        format!(
                            "{} {} vs {} ({sign}{})",
                            f.name(),
                            f.show(v),
                            f.show(b),
                            f.show((v - b).abs())
                        )
                    }),
                    Limit::Absolute(limit) => {
                        t.op.holds(v, limit)
                            .then(|| format!("{} {}", f.name(), f.show(v)))
                    }
                };
                if let Some(detail) = tripped {
                    out.push(violation(detail));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::SCHEMA;

    fn view(name: &str, p99: f64, rps: f64) -> RunView {
        RunView {
            name: name.to_owned(),
            schema: SCHEMA.to_owned(),
            workload: "tcp-echo".to_owned(),
            key: "tcp-echo".to_owned(),
            values: BTreeMap::from([(Field::P99, p99), (Field::Rps, rps), (Field::Errors, 0.0)]),
            interrupted: false,
            load: BTreeMap::new(),
        }
    }

    #[test]
    fn thresholds_parse_relative_delta_and_absolute_limits() {
        let t: Threshold = "p99>+10%".parse().unwrap();
        assert_eq!(
            (t.field, t.op, t.limit),
            (Field::P99, Op::Gt, Limit::Relative(0.10))
        );
        let t: Threshold = "req/s < -5%".parse().unwrap();
        assert_eq!(
            (t.field, t.op, t.limit),
            (Field::Rps, Op::Lt, Limit::Relative(-0.05))
        );
        let t: Threshold = "p99.9>=2ms".parse().unwrap();
        assert_eq!(
            (t.field, t.op, t.limit),
            (Field::P999, Op::Ge, Limit::Absolute(2e6))
        );
        let t: Threshold = "p50>+20us".parse().unwrap();
        assert_eq!(t.limit, Limit::Delta(20_000.0));
        let t: Threshold = "errors>0".parse().unwrap();
        assert_eq!((t.field, t.limit), (Field::Errors, Limit::Absolute(0.0)));
        let t: Threshold = "p99>0".parse().unwrap();
        assert_eq!(t.limit, Limit::Absolute(0.0));
        for bad in [
            "p99", "p98>1ms", "p99>2", "p99>fast", "req/s<", "p99>+x%", "p99>nan%", "p99>inf%",
        ] {
            let e = bad.parse::<Threshold>().unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn checks_trip_only_where_the_condition_holds() {
        let comparison = Comparison {
            groups: vec![Group {
                key: "tcp-echo".to_owned(),
                runs: vec![view("a", 100_000.0, 1000.0), view("b", 115_000.0, 960.0)],
            }],
            unpaired: Vec::new(),
            notes: Vec::new(),
        };
        let ts = |s: &[&str]| {
            s.iter()
                .map(|t| t.parse().unwrap())
                .collect::<Vec<Threshold>>()
        };
        assert!(check(&comparison, &ts(&["p99>+20%", "req/s<-5%", "errors>0"])).is_empty());
        let v = check(&comparison, &ts(&["p99>+10%"]));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].run, "b");
        assert!(v[0].to_string().contains("+15.0%"), "{}", v[0]);
        // Absolute limits test the baseline too.
        let v = check(&comparison, &ts(&["p99>90us"]));
        assert_eq!(v.len(), 2);
        assert_eq!(check(&comparison, &ts(&["p99>+10us"])).len(), 1);
        assert_eq!(check(&comparison, &ts(&["req/s<-3%"])).len(), 1);
    }

    #[test]
    fn a_change_of_exactly_the_limit_does_not_trip_a_strict_operator() {
        let comparison = |p99: f64, rps: f64| Comparison {
            groups: vec![Group {
                key: "tcp-echo".to_owned(),
                runs: vec![view("a", 100.0, 100.0), view("b", p99, rps)],
            }],
            unpaired: Vec::new(),
            notes: Vec::new(),
        };
        let t = |s: &str| vec![s.parse::<Threshold>().unwrap()];
        assert!(check(&comparison(110.0, 100.0), &t("p99>+10%")).is_empty());
        assert_eq!(check(&comparison(110.0, 100.0), &t("p99>=+10%")).len(), 1);
        assert!(check(&comparison(100.0, 95.0), &t("req/s<-5%")).is_empty());
        assert_eq!(check(&comparison(100.0, 94.9), &t("req/s<-5%")).len(), 1);
        assert!(check(&comparison(110.0, 100.0), &t("p99>+10ns")).is_empty());
    }

    #[test]
    fn unpaired_cells_fail_a_gate() {
        let comparison = Comparison {
            groups: vec![Group {
                key: "tcp-echo".to_owned(),
                runs: vec![view("x/a", 100.0, 100.0), view("y/a", 100.0, 100.0)],
            }],
            unpaired: vec!["x/framed".to_owned()],
            notes: Vec::new(),
        };
        let v = check(&comparison, &["p99>+10%".parse().unwrap()]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].run, "x/framed");
        assert!(check(&comparison, &[]).is_empty());
    }

    #[test]
    fn ratios_handle_zero_baselines() {
        assert_eq!(ratio(0.0, 0.0), 1.0);
        assert!(ratio(1.0, 0.0).is_infinite());
        assert_eq!(ratio(3.0, 2.0), 1.5);
    }
}
