//! The comparison table of a page with several runs: per field (throughput, p50, p90,
//! p99, p99.9, max, errors) each run's value and its ratio to the first run, coloured
//! better or worse by the field's direction when it differs by more than the noise
//! band. Names, values, ratios and which way is better come from `analysis` (its
//! `Field` table, `Field::higher_is_better` and `ratio`).

use std::fmt::Write as _;

use crate::analysis::{Field, ratio};
use crate::report::Report;

use super::html::escape;

/// The fields the table shows, in order.
const FIELDS: [Field; 7] = [
    Field::Rps,
    Field::P50,
    Field::P90,
    Field::P99,
    Field::P999,
    Field::Max,
    Field::Errors,
];

/// Ratios within this far of 1 are not coloured: on a shared machine runs differ by
/// about this much from one to the next (docs/measurement.md).
pub const NOISE: f64 = 0.10;

/// A field's value in a report.
fn value(field: Field, report: &Report) -> f64 {
    match field {
        Field::Rps => report.totals.requests_per_s,
        Field::Errors => report.totals.error_count as f64,
        Field::Ok => report.totals.ok as f64,
        // A run without samples has no latencies to compare (its summary says 0).
        _ if report.latency.count == 0 => f64::NAN,
        other => other.of_summary(&report.latency).unwrap_or(f64::NAN),
    }
}

/// How a run compares with the first on one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Better by more than [`NOISE`].
    Better,
    /// Worse by more than [`NOISE`].
    Worse,
    /// Within the noise band, or not comparable.
    Same,
}

/// The verdict of `ratio` (run / first) on `field`.
pub fn verdict(field: Field, ratio: f64) -> Verdict {
    if ratio.is_nan() || (ratio - 1.0).abs() <= NOISE {
        return Verdict::Same;
    }
    let Some(higher_is_better) = field.higher_is_better() else {
        return Verdict::Same;
    };
    if (ratio > 1.0) == higher_is_better {
        Verdict::Better
    } else {
        Verdict::Worse
    }
}

/// One table cell: the value, and for every run after the first the ratio to it.
fn cell(field: Field, run: f64, first: Option<f64>) -> (String, &'static str) {
    let shown = if run.is_nan() {
        "-".to_owned()
    } else {
        field.show(run)
    };
    let Some(first) = first else {
        return (shown, "");
    };
    // Nothing to compare (`0 1.00x` for no errors on either side says nothing).
    if run.is_nan() || first.is_nan() || (run == 0.0 && first == 0.0) {
        return (shown, "");
    }
    let r = ratio(run, first);
    let (word, class) = match verdict(field, r) {
        Verdict::Better => ("better", "better"),
        Verdict::Worse => ("worse", "worse"),
        Verdict::Same => ("", ""),
    };
    let ratio_text = if r.is_infinite() {
        "first was 0".to_owned()
    } else {
        format!("{r:.2}x")
    };
    let text = if word.is_empty() {
        format!("{shown} <span class=\"ratio\">{ratio_text}</span>")
    } else {
        format!("{shown} <span class=\"ratio\">{ratio_text} {word}</span>")
    };
    (text, class)
}

/// The comparison table of `runs` (name, report); nothing for fewer than two.
pub(super) fn comparison_table(out: &mut String, runs: &[(&str, &Report)]) {
    let [(_, first), ..] = runs else { return };
    if runs.len() < 2 {
        return;
    }
    let _ = writeln!(
        out,
        "<h2>Comparison</h2>\n<p class=\"note\">Each run against the first; ratios within \
         {:.0}% of 1 are not coloured (run-to-run noise). Throughput: higher is better; \
         latencies and errors: lower is better.</p>",
        NOISE * 100.0
    );
    out.push_str("<table class=\"comparison\">\n<tr><th>run</th>");
    for field in FIELDS {
        let _ = write!(out, "<th>{}</th>", escape(field.name()));
    }
    out.push_str("</tr>\n");
    for (i, (name, report)) in runs.iter().enumerate() {
        let _ = write!(out, "<tr><td>{}</td>", escape(name));
        for field in FIELDS {
            let base = (i > 0).then(|| value(field, first));
            let (text, class) = cell(field, value(field, report), base);
            if class.is_empty() {
                let _ = write!(out, "<td>{text}</td>");
            } else {
                let _ = write!(out, "<td class=\"{class}\">{text}</td>");
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_each_fields_direction_outside_the_noise() {
        assert_eq!(verdict(Field::Rps, 1.5), Verdict::Better);
        assert_eq!(verdict(Field::P99, 1.5), Verdict::Worse);
        assert_eq!(verdict(Field::P99, 0.5), Verdict::Better);
        assert_eq!(verdict(Field::Errors, f64::INFINITY), Verdict::Worse);
        assert_eq!(verdict(Field::P50, 1.05), Verdict::Same);
        assert_eq!(verdict(Field::P50, f64::NAN), Verdict::Same);
    }

    #[test]
    fn zero_errors_on_both_sides_read_as_the_same() {
        let (text, class) = cell(Field::Errors, 0.0, Some(0.0));
        assert_eq!((text.as_str(), class), ("0", ""));
        let (text, class) = cell(Field::Errors, 3.0, Some(0.0));
        assert_eq!(class, "worse");
        assert!(text.contains("first was 0"), "{text}");
    }
}
