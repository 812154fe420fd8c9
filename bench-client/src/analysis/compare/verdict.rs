//! The verdict on one field of one run against the baseline (the first run of its group):
//! `better`, `worse` or `same` (within noise), from the field's direction
//! ([`Field::higher_is_better`]) and, where both runs' timelines give one, their spread.
//!
//! The rule ([`decide`]): a difference is `same` when it is at most
//! - where both runs have [`super::spread::MIN_INTERVALS`] or more full seconds and the
//!   field is in the timeline (req/s, p50, p99, ok, errors: [`super::spread`]):
//!   [`SPREAD_K`] times the combined standard error `sqrt(se_base² + se_run²)` of the
//!   per-second values, and at least [`SPREAD_FLOOR`] of the baseline (histograms keep 3
//!   significant digits); but when the runs' per-second values do not overlap at all
//!   (every second of one run above every second of the other) only the floor counts, so
//!   one outlying second cannot hide a shift every second shows;
//! - otherwise [`FIXED_RELATIVE`] of the baseline (a zero baseline: any difference counts).
//!
//! Otherwise it is `better` or `worse` by the field's direction (none for a field without
//! one). Counts (ok, errors) are compared per second when the runs' lengths differ
//! ([`per_second`]). Leaves the text to `table` and the document to `json`.

use crate::analysis::fields::Field;

use super::spread::Spread;
use super::{Group, RunView};

/// A difference within this many combined standard errors is noise.
pub const SPREAD_K: f64 = 3.0;
/// ... and within this share of the baseline (histogram precision), whatever the spread.
pub const SPREAD_FLOOR: f64 = 0.01;
/// Without a spread: a difference within this share of the baseline is noise.
pub const FIXED_RELATIVE: f64 = 0.05;
/// Runs whose lengths differ by more than this share compare counts per second.
pub const DURATION_TOLERANCE: f64 = 0.02;

/// How a run compares with the baseline on one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Better by more than the noise.
    Better,
    /// Worse by more than the noise.
    Worse,
    /// Within the noise.
    Same,
}

impl Verdict {
    /// `better`, `worse`, `same`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Same => "same",
        }
    }
}

/// Which noise rule decided a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// [`SPREAD_K`] × the combined standard error (at least [`SPREAD_FLOOR`]).
    Spread,
    /// The per-second values do not overlap: [`SPREAD_FLOOR`] only.
    Separated,
    /// [`FIXED_RELATIVE`] of the baseline.
    Fixed,
}

impl Rule {
    /// `spread`, `fixed`.
    pub fn word(self) -> &'static str {
        match self {
            Rule::Spread => "spread",
            Rule::Separated => "separated",
            Rule::Fixed => "fixed",
        }
    }
}

/// Decides a verdict: `base` and `run` values, the fields' direction, and the two runs'
/// spreads when both have one.
pub fn decide(
    higher_is_better: Option<bool>,
    base: f64,
    run: f64,
    noise: Option<(Spread, Spread)>,
) -> (Option<Verdict>, Rule) {
    let diff = run - base;
    let floor = SPREAD_FLOOR * base.abs();
    let (limit, rule) = match noise {
        Some((b, r)) if r.low > b.high || r.high < b.low => (floor, Rule::Separated),
        Some((b, r)) => (
            (SPREAD_K * b.standard_error.hypot(r.standard_error)).max(floor),
            Rule::Spread,
        ),
        None => (FIXED_RELATIVE * base.abs(), Rule::Fixed),
    };
    if diff.abs() <= limit {
        return (Some(Verdict::Same), rule);
    }
    let verdict = higher_is_better.map(|higher| {
        if (diff > 0.0) == higher {
            Verdict::Better
        } else {
            Verdict::Worse
        }
    });
    (verdict, rule)
}

/// A field as a group shows it: as read, or (ok, errors) per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The field.
    pub field: Field,
    /// Shown per second of the run.
    pub per_s: bool,
}

impl Column {
    /// `p99`, `errors/s`.
    pub fn name(self) -> String {
        if self.per_s {
            format!("{}/s", self.field.name())
        } else {
            self.field.name().to_owned()
        }
    }

    /// The run's value as shown (`None`: it does not have it).
    pub fn value(self, run: &RunView) -> Option<f64> {
        let v = run.get(self.field)?;
        if self.per_s {
            run.duration_s.map(|d| v / d)
        } else {
            Some(v)
        }
    }

    /// The spread of [`Column::value`], where the timeline gives one.
    pub fn spread(self, run: &RunView) -> Option<Spread> {
        let spread = *run.spread.get(&self.field)?;
        if self.per_s {
            run.duration_s.map(|d| spread.scaled(1.0 / d))
        } else {
            Some(spread)
        }
    }

    /// A value for a table: the field's own format, rates with two significant decimals
    /// below 10 (`0.50`), `0` for nothing.
    pub fn show(self, v: f64) -> String {
        if !self.per_s {
            return self.field.show(v);
        }
        match v.abs() {
            0.0 => "0".to_owned(),
            a if a < 10.0 => format!("{v:.2}"),
            a if a < 100.0 => format!("{v:.1}"),
            _ => format!("{v:.0}"),
        }
    }
}

/// True when the runs' lengths differ by more than [`DURATION_TOLERANCE`] (or one does not
/// say): then counts are compared per second.
pub fn per_second(group: &Group) -> bool {
    let durations: Vec<Option<f64>> = group.runs.iter().map(|r| r.duration_s).collect();
    let Some(Some(base)) = durations.first().copied() else {
        return false;
    };
    durations
        .iter()
        .any(|d| d.is_none_or(|d| (d - base).abs() > DURATION_TOLERANCE * base))
}

/// The columns for `fields` in `group`: counts per second when [`per_second`].
pub fn columns(group: &Group, fields: &[Field]) -> Vec<Column> {
    let per_s = per_second(group);
    fields
        .iter()
        .map(|&field| Column {
            field,
            per_s: per_s && matches!(field, Field::Ok | Field::Errors),
        })
        .collect()
}

/// One cell of a comparison: a run's value of a column, its ratio and verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    /// The value as shown.
    pub value: f64,
    /// Its standard error, where the timeline gives one.
    pub standard_error: Option<f64>,
    /// `value / baseline` (`None` for the baseline itself, or a zero baseline).
    pub ratio: Option<f64>,
    /// Against the baseline (`None` for the baseline, a baseline without the field, or a
    /// field with no direction that changed).
    pub verdict: Option<Verdict>,
    /// The rule that decided (`None` for the baseline).
    pub rule: Option<Rule>,
}

/// Judges run `n` of `group` on `column` (`None`: the run does not have it).
pub fn judge(group: &Group, n: usize, column: Column) -> Option<Judged> {
    let run = &group.runs[n];
    let value = column.value(run)?;
    let spread = column.spread(run);
    let mut judged = Judged {
        value,
        standard_error: spread.map(|s| s.standard_error),
        ratio: None,
        verdict: None,
        rule: None,
    };
    let base_run = &group.runs[0];
    let Some(base) = column.value(base_run).filter(|_| n > 0) else {
        return Some(judged);
    };
    judged.ratio = (base != 0.0).then(|| value / base);
    let noise = column.spread(base_run).zip(spread);
    let (verdict, rule) = decide(column.field.higher_is_better(), base, value, noise);
    judged.verdict = verdict;
    judged.rule = Some(rule);
    Some(judged)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A run with `values` and, per `spread` field, that standard error and per-second
    /// values 5 standard errors either side of the value.
    fn run(values: &[(Field, f64)], spread: &[(Field, f64)], duration_s: f64) -> RunView {
        let values: BTreeMap<Field, f64> = values.iter().copied().collect();
        let spread = spread
            .iter()
            .map(|&(field, se)| {
                let v = values[&field];
                let s = Spread {
                    standard_error: se,
                    low: v - 5.0 * se,
                    high: v + 5.0 * se,
                };
                (field, s)
            })
            .collect();
        RunView {
            name: "r".to_owned(),
            duration_s: Some(duration_s),
            values,
            spread,
            ..RunView::default()
        }
    }

    fn group(runs: Vec<RunView>) -> Group {
        Group {
            key: "tcp-echo".to_owned(),
            runs,
        }
    }

    fn verdict(g: &Group, field: Field) -> (Option<Verdict>, Option<Rule>) {
        let column = columns(g, &[field])[0];
        let judged = judge(g, 1, column).expect("the run has the field");
        (judged.verdict, judged.rule)
    }

    #[test]
    fn a_difference_within_k_standard_errors_is_the_same() {
        // p99 100us +- 2us against 110us +- 2us: 10us against 3 * 2.83us = 8.5us: worse.
        let g = group(vec![
            run(&[(Field::P99, 100e3)], &[(Field::P99, 2e3)], 5.0),
            run(&[(Field::P99, 110e3)], &[(Field::P99, 2e3)], 5.0),
        ]);
        assert_eq!(
            verdict(&g, Field::P99),
            (Some(Verdict::Worse), Some(Rule::Spread))
        );
        // The same 10% with a noisier timeline (+- 5us: 21us) is within noise.
        let g = group(vec![
            run(&[(Field::P99, 100e3)], &[(Field::P99, 5e3)], 5.0),
            run(&[(Field::P99, 110e3)], &[(Field::P99, 5e3)], 5.0),
        ]);
        assert_eq!(
            verdict(&g, Field::P99),
            (Some(Verdict::Same), Some(Rule::Spread))
        );
    }

    #[test]
    fn per_second_values_that_do_not_overlap_are_a_change_whatever_the_error() {
        // One slow second in the run makes its standard error large, yet every second
        // of it is slower than every second of the baseline.
        let base = Spread {
            standard_error: 0.5,
            low: 31.0,
            high: 34.0,
        };
        let run = Spread {
            standard_error: 720.0,
            low: 199.0,
            high: 3137.0,
        };
        assert_eq!(
            decide(Some(false), 32.6, 304.9, Some((base, run))),
            (Some(Verdict::Worse), Rule::Separated)
        );
        let overlapping = Spread { low: 30.0, ..run };
        assert_eq!(
            decide(Some(false), 32.6, 304.9, Some((base, overlapping))),
            (Some(Verdict::Same), Rule::Spread)
        );
        // Separated but within the 1% floor: the same.
        assert_eq!(
            decide(Some(false), 1000.0, 1005.0, Some((base, run))),
            (Some(Verdict::Same), Rule::Separated)
        );
    }

    #[test]
    fn direction_makes_a_change_better_or_worse() {
        let g = group(vec![
            run(&[(Field::Rps, 1000.0), (Field::P50, 50e3)], &[], 5.0),
            run(&[(Field::Rps, 1200.0), (Field::P50, 40e3)], &[], 5.0),
        ]);
        assert_eq!(
            verdict(&g, Field::Rps),
            (Some(Verdict::Better), Some(Rule::Fixed))
        );
        assert_eq!(verdict(&g, Field::P50).0, Some(Verdict::Better));
        let g = group(vec![
            run(&[(Field::Rps, 1000.0)], &[], 5.0),
            run(&[(Field::Rps, 900.0)], &[], 5.0),
        ]);
        assert_eq!(verdict(&g, Field::Rps).0, Some(Verdict::Worse));
        // Without a spread: 5% is the line.
        let g = group(vec![
            run(&[(Field::Rps, 1000.0)], &[], 5.0),
            run(&[(Field::Rps, 960.0)], &[], 5.0),
        ]);
        assert_eq!(
            verdict(&g, Field::Rps),
            (Some(Verdict::Same), Some(Rule::Fixed))
        );
        // No direction, a change: no verdict.
        assert_eq!(decide(None, 1.0, 2.0, None), (None, Rule::Fixed));
    }

    #[test]
    fn zero_baselines_have_no_ratio_and_zero_errors_are_the_same() {
        let g = group(vec![
            run(&[(Field::Errors, 0.0)], &[], 5.0),
            run(&[(Field::Errors, 0.0)], &[], 5.0),
        ]);
        let column = columns(&g, &[Field::Errors])[0];
        let judged = judge(&g, 1, column).unwrap();
        assert_eq!(judged.ratio, None, "0 errors are shown as 0, not 0 1.00x");
        assert_eq!(judged.verdict, Some(Verdict::Same));
        assert_eq!(column.show(judged.value), "0");
        let g = group(vec![
            run(&[(Field::Errors, 0.0)], &[], 5.0),
            run(&[(Field::Errors, 3.0)], &[], 5.0),
        ]);
        let judged = judge(&g, 1, columns(&g, &[Field::Errors])[0]).unwrap();
        assert_eq!((judged.ratio, judged.verdict), (None, Some(Verdict::Worse)));
        // The baseline itself has a value and nothing else.
        let base = judge(&g, 0, columns(&g, &[Field::Errors])[0]).unwrap();
        assert_eq!((base.ratio, base.verdict, base.rule), (None, None, None));
    }

    #[test]
    fn counts_are_compared_per_second_when_lengths_differ() {
        let g = group(vec![
            run(&[(Field::Ok, 10_000.0), (Field::Errors, 10.0)], &[], 10.0),
            run(&[(Field::Ok, 5_000.0), (Field::Errors, 5.0)], &[], 5.0),
        ]);
        let cols = columns(&g, &[Field::Ok, Field::Errors, Field::P99]);
        assert_eq!(
            cols.iter().map(|c| c.name()).collect::<Vec<_>>(),
            ["ok/s", "errors/s", "p99"]
        );
        let ok = judge(&g, 1, cols[0]).unwrap();
        assert_eq!(
            (ok.value, ok.ratio, ok.verdict),
            (1000.0, Some(1.0), Some(Verdict::Same))
        );
        assert_eq!(cols[1].show(judge(&g, 1, cols[1]).unwrap().value), "1.00");
        // Lengths within 2% of each other: counts as read.
        let g = group(vec![
            run(&[(Field::Ok, 100.0)], &[], 10.0),
            run(&[(Field::Ok, 100.0)], &[], 10.1),
        ]);
        assert!(!per_second(&g));
    }
}
