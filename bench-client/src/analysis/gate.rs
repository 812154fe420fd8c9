//! `--fail-if` gates: thresholds (`p99>+10%`, `req/s<-5%`, `p99.9>2ms`, `errors>0`)
//! parsed once, then checked against a [`Comparison`].

use std::str::FromStr;

use bench_proto::units::parse_ns;

use super::compare::{Comparison, ratio};
use super::fields::Field;

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
    pub(crate) fn holds(self, a: f64, b: f64) -> bool {
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

    pub(crate) fn text(self) -> &'static str {
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::analysis::compare::{Group, RunView};
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
            ..RunView::default()
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
}
