//! The noise of a run, from its per-second timeline: for each field the timeline has
//! (req/s, p50, p99, and ok and errors as counts), the standard error of the run's value
//! and the range of the per-second values ([`Spread`]), which [`super::verdict`] weighs a
//! difference against. Leaves the verdict itself to `verdict`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::analysis::fields::Field;

/// Fewer intervals than this give no spread (the verdict falls back to a fixed threshold).
pub const MIN_INTERVALS: usize = 3;

/// An interval shorter than this (the last one of a run) is left out: its rate is noisy.
const FULL_INTERVAL_S: f64 = 0.5;

/// One timeline entry, as far as the spread needs it.
#[derive(Debug, Clone, Copy, Default)]
struct Interval {
    duration_s: f64,
    ok: f64,
    errors: f64,
    p50_ns: f64,
    p99_ns: f64,
}

impl Interval {
    fn of_json(entry: &Value) -> Option<Interval> {
        let num = |k: &str| entry.get(k).and_then(Value::as_f64);
        Some(Interval {
            duration_s: num("duration_s")?,
            ok: num("ok").unwrap_or(0.0),
            errors: num("errors").unwrap_or(0.0),
            p50_ns: num("p50_ns").unwrap_or(0.0),
            p99_ns: num("p99_ns").unwrap_or(0.0),
        })
    }
}

/// How much a field's per-second values vary over a run, in the field's own unit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spread {
    /// The standard error of their mean (sample standard deviation / sqrt(n)).
    pub standard_error: f64,
    /// The lowest per-second value.
    pub low: f64,
    /// The highest.
    pub high: f64,
}

impl Spread {
    /// The spread of `values`, or `None` below [`MIN_INTERVALS`] values.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let n = values.len();
        if n < MIN_INTERVALS {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        Some(Spread {
            standard_error: (var / n as f64).sqrt(),
            low: values.iter().copied().fold(f64::INFINITY, f64::min),
            high: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// Every figure times `k` (a rate's spread as a count's: `k` is the run's length).
    pub fn scaled(self, k: f64) -> Spread {
        Spread {
            standard_error: self.standard_error * k,
            low: self.low * k,
            high: self.high * k,
        }
    }
}

/// The run's recorded length (`duration_s`) and the spread of each field its timeline
/// gives one for, in the field's own unit (ok and errors as counts: the per-second rates'
/// spread times the run's length). Intervals with no completions are absent from
/// a timeline; they count as zero for the rates and not at all for the percentiles.
pub fn of_report(report: &Value) -> (Option<f64>, BTreeMap<Field, Spread>) {
    let duration = report
        .get("duration_s")
        .and_then(Value::as_f64)
        .filter(|d| d.is_finite() && *d > 0.0);
    let mut spread = BTreeMap::new();
    let (Some(duration), Some(timeline)) =
        (duration, report.get("timeline").and_then(Value::as_array))
    else {
        return (duration, spread);
    };
    let intervals: Vec<Interval> = timeline
        .iter()
        .filter_map(Interval::of_json)
        .filter(|i| i.duration_s >= FULL_INTERVAL_S)
        .collect();
    // The full 1-second slots of the run, present in the timeline or not.
    let slots = (0..duration.ceil() as usize)
        .filter(|&k| (duration - k as f64).min(1.0) >= FULL_INTERVAL_S)
        .count();
    let rates = |count: fn(&Interval) -> f64| -> Vec<f64> {
        let mut out: Vec<f64> = intervals.iter().map(|i| count(i) / i.duration_s).collect();
        out.resize(slots.max(out.len()), 0.0);
        out
    };
    if let Some(s) = Spread::of(&rates(|i| i.ok)) {
        spread.insert(Field::Rps, s);
        spread.insert(Field::Ok, s.scaled(duration));
    }
    if let Some(s) = Spread::of(&rates(|i| i.errors)) {
        spread.insert(Field::Errors, s.scaled(duration));
    }
    let served: Vec<&Interval> = intervals.iter().filter(|i| i.ok > 0.0).collect();
    for (field, read) in [
        (
            Field::P50,
            (|i: &Interval| i.p50_ns) as fn(&Interval) -> f64,
        ),
        (Field::P99, |i: &Interval| i.p99_ns),
    ] {
        let values: Vec<f64> = served.iter().map(|i| read(i)).collect();
        if let Some(s) = Spread::of(&values) {
            spread.insert(field, s);
        }
    }
    (Some(duration), spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t_s: f64, ok: u64, errors: u64, p99_ns: u64) -> Value {
        serde_json::json!({"t_s": t_s, "duration_s": 1.0, "ok": ok, "errors": errors,
            "p50_ns": p99_ns / 2, "p99_ns": p99_ns})
    }

    #[test]
    fn the_spread_is_the_standard_error_of_the_per_second_values() {
        let report = serde_json::json!({"duration_s": 4.0, "timeline": [
            entry(0.0, 100, 0, 1000), entry(1.0, 110, 0, 1200),
            entry(2.0, 90, 0, 800), entry(3.0, 100, 0, 1000)]});
        let (duration, spread) = of_report(&report);
        assert_eq!(duration, Some(4.0));
        // sd of 100, 110, 90, 100 is sqrt(200/3); / sqrt(4).
        let se = (200.0_f64 / 3.0).sqrt() / 2.0;
        let rps = spread[&Field::Rps];
        assert!((rps.standard_error - se).abs() < 1e-9, "{spread:?}");
        assert_eq!((rps.low, rps.high), (90.0, 110.0));
        assert!((spread[&Field::Ok].standard_error - se * 4.0).abs() < 1e-9);
        assert_eq!(spread[&Field::Ok].high, 440.0);
        assert_eq!(spread[&Field::Errors], Spread::default());
        // p99 1000, 1200, 800, 1000: twenty times the deviations of ok.
        assert!((spread[&Field::P99].standard_error - se * 20.0).abs() < 1e-9);
    }

    #[test]
    fn a_missing_interval_counts_as_zero_and_short_runs_have_no_spread() {
        let report = serde_json::json!({"duration_s": 3.0, "timeline": [
            entry(0.0, 100, 0, 1000), entry(2.0, 100, 0, 1000)]});
        let (_, spread) = of_report(&report);
        assert_eq!(spread[&Field::Rps].low, 0.0, "the empty second is a zero");
        assert!(!spread.contains_key(&Field::P99), "two served intervals");
        let short = serde_json::json!({"duration_s": 1.5, "timeline": [entry(0.0, 5, 0, 9)]});
        assert!(of_report(&short).1.is_empty());
        assert_eq!(of_report(&serde_json::json!({})), (None, BTreeMap::new()));
    }
}
