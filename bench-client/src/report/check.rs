//! What a report must satisfy beyond parsing, checked by [`Report::read`] for every
//! command that reads reports (`compare`, `render`, `export`), so they all refuse the
//! same files with the same message: percentiles ordered, histograms that decode and hold
//! the count the summary claims, totals that add up, rates that are numbers. Each rule
//! costs one pass over what is already in memory.

use super::histogram::decode_histogram;
use super::run::{LatencySummary, Report};

/// The first broken rule, as a readable clause naming the field.
pub(super) fn validate(report: &Report) -> Result<(), String> {
    let t = &report.totals;
    if t.ok.checked_add(t.error_count) != Some(t.requests) {
        return Err(format!(
            "totals.requests {} is not totals.ok {} + totals.error_count {}",
            t.requests, t.ok, t.error_count
        ));
    }
    let by_kind = t
        .errors
        .values()
        .try_fold(0u64, |sum, n| sum.checked_add(*n));
    if by_kind != Some(t.error_count) {
        return Err(format!(
            "totals.error_count {} is not the sum of totals.errors",
            t.error_count
        ));
    }
    for (name, value) in [
        ("duration_s", report.duration_s),
        ("warmup_s", report.warmup_s),
        ("totals.requests_per_s", t.requests_per_s),
        ("totals.bytes_per_s", t.bytes_per_s),
    ] {
        non_negative(name, value)?;
    }
    summary("latency", &report.latency)?;
    for (name, part) in [
        ("latency_uncorrected", &report.latency_uncorrected),
        ("send_lag", &report.send_lag),
    ] {
        if let Some(part) = part {
            summary(name, part)?;
        }
    }
    for (i, entry) in report.timeline.iter().enumerate() {
        let name = format!("timeline[{i}]");
        ordered(
            &name,
            &[
                ("p50_ns", entry.p50_ns),
                ("p99_ns", entry.p99_ns),
                ("max_ns", entry.max_ns),
            ],
        )?;
        non_negative(&format!("{name}.duration_s"), entry.duration_s)?;
        decode_histogram(&entry.histogram)
            .map_err(|e| format!("histogram {name}.histogram: {}", e.reason))?;
    }
    Ok(())
}

fn non_negative(name: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(format!("{name} {value} is not a number >= 0"))
    }
}

/// Percentiles never decrease: min <= p50 <= p75 <= p90 <= p95 <= ... <= max.
fn ordered(name: &str, values: &[(&str, u64)]) -> Result<(), String> {
    for pair in values.windows(2) {
        let ((lo_name, lo), (hi_name, hi)) = (pair[0], pair[1]);
        if hi < lo {
            return Err(format!(
                "{name}.{hi_name} {hi} is below {name}.{lo_name} {lo}: percentiles must not \
                 decrease"
            ));
        }
    }
    Ok(())
}

/// The summary's percentiles in order, p75 and p95 only when set: reports written
/// before they were added hold 0 there, which says nothing about the order.
fn percentiles(s: &LatencySummary) -> Vec<(&'static str, u64)> {
    let optional = |name, value| (value > 0).then_some((name, value));
    [
        Some(("min_ns", s.min_ns)),
        Some(("p50_ns", s.p50_ns)),
        optional("p75_ns", s.p75_ns),
        Some(("p90_ns", s.p90_ns)),
        optional("p95_ns", s.p95_ns),
        Some(("p99_ns", s.p99_ns)),
        Some(("p99_9_ns", s.p99_9_ns)),
        Some(("p99_99_ns", s.p99_99_ns)),
        Some(("max_ns", s.max_ns)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn summary(name: &str, s: &LatencySummary) -> Result<(), String> {
    ordered(name, &percentiles(s))?;
    non_negative(&format!("{name}.mean_ns"), s.mean_ns)?;
    non_negative(&format!("{name}.stdev_ns"), s.stdev_ns)?;
    let hist = decode_histogram(&s.histogram)
        .map_err(|e| format!("histogram {name}.histogram: {}", e.reason))?;
    if hist.len() != s.count {
        return Err(format!(
            "{name}.count {} but its histogram holds {} values",
            s.count,
            hist.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::Latency;

    /// A summary of 1..=1000 us, as a run writes it.
    fn written() -> LatencySummary {
        let mut latency = Latency::default();
        for us in 1..=1000 {
            latency.record(Duration::from_micros(us));
        }
        LatencySummary::new(&latency)
    }

    #[test]
    fn a_summary_as_written_passes_with_p75_and_p95_between_their_neighbours() {
        let s = written();
        assert!(s.p50_ns < s.p75_ns && s.p75_ns < s.p90_ns && s.p90_ns < s.p95_ns);
        assert_eq!(summary("latency", &s), Ok(()));
    }

    #[test]
    fn a_p95_below_p90_or_a_p75_below_p50_is_refused_naming_both_fields() {
        let mut s = written();
        s.p95_ns = s.p90_ns - 1;
        let err = summary("latency", &s).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "latency.p95_ns {} is below latency.p90_ns {}",
                s.p95_ns, s.p90_ns
            )),
            "{err}"
        );
        let mut s = written();
        s.p75_ns = s.p50_ns - 1;
        let err = summary("send_lag", &s).unwrap_err();
        assert!(err.starts_with("send_lag.p75_ns "), "{err}");
        assert!(err.contains("below send_lag.p50_ns"), "{err}");
        // A p95 above p99 is out of order too.
        let mut s = written();
        s.p95_ns = s.p99_ns + 1;
        let err = summary("latency", &s).unwrap_err();
        assert!(err.starts_with("latency.p99_ns "), "{err}");
        assert!(err.contains("below latency.p95_ns"), "{err}");
    }

    #[test]
    fn an_older_report_without_p75_and_p95_is_accepted() {
        let mut s = written();
        (s.p75_ns, s.p95_ns) = (0, 0);
        assert_eq!(summary("latency", &s), Ok(()));
        // The rules for the other percentiles still hold there.
        s.p90_ns = s.p50_ns - 1;
        assert!(
            summary("latency", &s)
                .unwrap_err()
                .contains("latency.p90_ns")
        );
    }
}
