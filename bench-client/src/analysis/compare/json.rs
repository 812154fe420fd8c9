//! `compare --json`: the whole comparison as one `wirebench.compare/v1` document (inputs,
//! groups, runs, every field with its value, standard error, ratio, verdict and rule,
//! notes, cells not compared, and the gates' violations). Documented in
//! `docs/report-schema.md`; the verdicts are [`super::verdict`]'s.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::fields::Field;
use crate::analysis::gate::Violation;

use super::table::label;
use super::verdict::{self, Verdict};
use super::{Comparison, Group};

/// The schema of the document.
pub const COMPARE_SCHEMA: &str = "wirebench.compare/v1";

/// The whole document.
#[derive(Debug, Serialize)]
pub struct CompareDoc {
    /// [`COMPARE_SCHEMA`].
    pub schema: &'static str,
    /// The inputs in order, the first is the baseline.
    pub inputs: Vec<InputDoc>,
    /// The constants of the verdict rule.
    pub rule: RuleDoc,
    /// The groups compared.
    pub groups: Vec<GroupDoc>,
    /// Cells found in some folders only, as `folder/cell`.
    pub unpaired: Vec<String>,
    /// The `--fail-if` gates.
    pub gate: GateDoc,
}

/// One input.
#[derive(Debug, Serialize)]
pub struct InputDoc {
    /// `A`, `B`, ...
    pub label: String,
    /// The file or folder as given.
    pub path: String,
}

/// The verdict rule ([`super::verdict`]).
#[derive(Debug, Serialize)]
pub struct RuleDoc {
    /// `same` within this many combined standard errors...
    pub spread_k: f64,
    /// ...and at least this share of the baseline.
    pub spread_floor: f64,
    /// Without a spread: `same` within this share of the baseline.
    pub fixed_relative: f64,
    /// Full seconds a run needs for a spread.
    pub min_intervals: usize,
    /// Lengths differing by more than this share compare counts per second.
    pub duration_tolerance: f64,
}

/// One group.
#[derive(Debug, Serialize)]
pub struct GroupDoc {
    /// Workload and settings.
    pub key: String,
    /// Counts (ok, errors) are compared per second: the runs' lengths differ.
    pub per_second: bool,
    /// The runs, the baseline first.
    pub runs: Vec<RunDoc>,
    /// Notes on its runs.
    pub notes: Vec<NoteDoc>,
}

/// One run of a group.
#[derive(Debug, Serialize)]
pub struct RunDoc {
    /// The input's label.
    pub label: String,
    /// `file` or `folder/cell`.
    pub name: String,
    /// The schema the report says it has.
    pub schema: String,
    /// The workload.
    pub workload: String,
    /// The recorded length, s.
    pub duration_s: Option<f64>,
    /// Stopped early.
    pub interrupted: bool,
    /// Every field the report has, by name.
    pub fields: BTreeMap<&'static str, FieldDoc>,
}

/// One field of one run.
#[derive(Debug, Serialize)]
pub struct FieldDoc {
    /// As read (ns for latencies, counts for ok and errors).
    pub value: f64,
    /// `value` per second of the run, when the group compares counts per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_s: Option<f64>,
    /// The standard error of the compared value (`per_s` when given), from the timeline.
    pub standard_error: Option<f64>,
    /// Compared value / the baseline's (`null`: the baseline, or a zero baseline).
    pub ratio: Option<f64>,
    /// `better`, `worse`, `same` (`null`: the baseline, or no direction).
    pub verdict: Option<&'static str>,
    /// `spread`, `separated` or `fixed` (`null`: the baseline).
    pub rule: Option<&'static str>,
}

/// A note.
#[derive(Debug, Serialize)]
pub struct NoteDoc {
    /// The run's label.
    pub run: String,
    /// What to know.
    pub text: String,
}

/// The gates.
#[derive(Debug, Serialize)]
pub struct GateDoc {
    /// The thresholds as given.
    pub thresholds: Vec<String>,
    /// Those that held, per run.
    pub violations: Vec<ViolationDoc>,
    /// No threshold held (`null` without thresholds).
    pub pass: Option<bool>,
}

/// A threshold that held.
#[derive(Debug, Serialize)]
pub struct ViolationDoc {
    /// As given.
    pub threshold: String,
    /// The run (`file` or `folder/cell`).
    pub run: String,
    /// What was found.
    pub detail: String,
}

fn group_doc(comparison: &Comparison, g: usize, group: &Group) -> GroupDoc {
    let fields: Vec<Field> = Field::ALL
        .into_iter()
        .filter(|f| group.runs.iter().any(|r| r.get(*f).is_some()))
        .collect();
    let columns = verdict::columns(group, &fields);
    let runs = group
        .runs
        .iter()
        .enumerate()
        .map(|(n, run)| RunDoc {
            label: label(n),
            name: run.name.clone(),
            schema: run.schema.clone(),
            workload: run.workload.clone(),
            duration_s: run.duration_s,
            interrupted: run.interrupted,
            fields: columns
                .iter()
                .filter_map(|&c| {
                    let judged = verdict::judge(group, n, c)?;
                    let doc = FieldDoc {
                        value: run.get(c.field)?,
                        per_s: c.per_s.then_some(judged.value),
                        standard_error: judged.standard_error,
                        ratio: judged.ratio,
                        verdict: judged.verdict.map(Verdict::word),
                        rule: judged.rule.map(|r| r.word()),
                    };
                    Some((c.field.name(), doc))
                })
                .collect(),
        })
        .collect();
    GroupDoc {
        key: group.key.clone(),
        per_second: verdict::per_second(group),
        runs,
        notes: comparison
            .notes
            .iter()
            .filter(|note| note.group == g)
            .map(|note| NoteDoc {
                run: label(note.run),
                text: note.text.clone(),
            })
            .collect(),
    }
}

/// The document for a comparison and its gates' outcome.
pub fn document(
    comparison: &Comparison,
    thresholds: &[String],
    violations: &[Violation],
) -> CompareDoc {
    let inputs = comparison.groups.first().map_or_else(Vec::new, |g| {
        g.runs
            .iter()
            .enumerate()
            .map(|(n, r)| InputDoc {
                label: label(n),
                path: r.input.clone(),
            })
            .collect()
    });
    CompareDoc {
        schema: COMPARE_SCHEMA,
        inputs,
        rule: RuleDoc {
            spread_k: verdict::SPREAD_K,
            spread_floor: verdict::SPREAD_FLOOR,
            fixed_relative: verdict::FIXED_RELATIVE,
            min_intervals: super::spread::MIN_INTERVALS,
            duration_tolerance: verdict::DURATION_TOLERANCE,
        },
        groups: comparison
            .groups
            .iter()
            .enumerate()
            .map(|(g, group)| group_doc(comparison, g, group))
            .collect(),
        unpaired: comparison.unpaired.clone(),
        gate: GateDoc {
            thresholds: thresholds.to_vec(),
            violations: violations
                .iter()
                .map(|v| ViolationDoc {
                    threshold: v.threshold.clone(),
                    run: v.run.clone(),
                    detail: v.detail.clone(),
                })
                .collect(),
            pass: (!thresholds.is_empty()).then_some(violations.is_empty()),
        },
    }
}

/// The document as pretty JSON text, with a final newline.
pub fn to_json(comparison: &Comparison, thresholds: &[String], violations: &[Violation]) -> String {
    let mut text = serde_json::to_string_pretty(&document(comparison, thresholds, violations))
        .expect("the document serialises");
    text.push('\n');
    text
}
