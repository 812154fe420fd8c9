//! Service-level objectives for `sweep` and `search`: `p99<1ms`, `p99.9<=5ms`,
//! `errors<0.1%`, `req/s>1000`, each a field of the [`Field`] table against an absolute
//! limit (an `errors` limit in `%` is a share of the requests). Parsed once, checked
//! against each run's report.

use std::str::FromStr;

use crate::report::Report;

use super::fields::Field;
use super::gate::{Limit, Op, Threshold};
use super::view::ReportView;

/// The SLO on errors that holds when none is given: a run with failures never passes
/// silently.
pub const DEFAULT_ERRORS_SLO: &str = "errors<0.1%";

/// One objective: `FIELD OP LIMIT`; a run meets it when the condition holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The text as given.
    pub text: String,
    /// The field tested.
    pub field: Field,
    /// The operator.
    pub op: Op,
    /// The limit: the field's value (ns for latencies), or for `errors` with `%`, a
    /// share of the requests (0.001 for 0.1%).
    pub limit: f64,
    /// Whether `limit` is a share of the requests.
    pub share: bool,
}

impl FromStr for Slo {
    type Err = String;

    fn from_str(text: &str) -> Result<Slo, String> {
        let t: Threshold = text.parse()?;
        let (limit, share) = match t.limit {
            Limit::Absolute(v) => (v, false),
            Limit::Relative(v) if t.field == Field::Errors => (v, true),
            _ => {
                return Err(format!(
                    "{text:?}: an SLO is an absolute limit (p99<1ms, errors<0.1%), not a \
                     change from a baseline"
                ));
            }
        };
        Ok(Slo {
            text: text.to_owned(),
            field: t.field,
            op: t.op,
            limit,
            share,
        })
    }
}

impl Slo {
    /// `None` when `report` meets it; otherwise why not, in one line
    /// (`p99<1ms: p99 was 3.2ms`).
    pub fn check(&self, report: &Report) -> Option<String> {
        let view = ReportView::of_json(serde_json::to_value(report).expect("reports serialise"));
        let Some(value) = self.field.of_report(&view) else {
            return Some(format!(
                "{}: the report has no {}",
                self.text,
                self.field.name()
            ));
        };
        let (value, shown) = if self.share {
            let share = value / (report.totals.requests.max(1) as f64);
            (share, format!("{:.3}%", share * 100.0))
        } else {
            (value, self.field.show(value))
        };
        (!self.op.holds(value, self.limit))
            .then(|| format!("{}: {} was {shown}", self.text, self.field.name()))
    }
}

/// The SLOs as given, plus [`DEFAULT_ERRORS_SLO`] when none of them is on `errors`.
pub fn with_default_errors(mut slos: Vec<Slo>) -> Vec<Slo> {
    if !slos.iter().any(|s| s.field == Field::Errors) {
        slos.push(DEFAULT_ERRORS_SLO.parse().expect("a valid SLO"));
    }
    slos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slos_are_absolute_limits_and_error_shares() {
        let p99: Slo = "p99<1ms".parse().unwrap();
        assert_eq!((p99.field, p99.limit, p99.share), (Field::P99, 1e6, false));
        let errors: Slo = "errors<0.1%".parse().unwrap();
        assert!(errors.share && (errors.limit - 0.001).abs() < 1e-12);
        assert!("p99<+10%".parse::<Slo>().unwrap_err().contains("absolute"));
        assert!("p42<1ms".parse::<Slo>().is_err());
        let slos = with_default_errors(vec![p99]);
        assert_eq!(slos.len(), 2);
        assert_eq!(slos[1].text, DEFAULT_ERRORS_SLO);
    }
}
