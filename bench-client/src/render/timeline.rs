//! One run over time, from its timeline: latency (p50, p99, max per interval, on a log
//! axis, so a one-second stall does not flatten the median onto zero) and throughput.

use crate::report::{Report, TimelineEntry};

use super::charts::{Chart, RenderError, Series, ns_label, rate_label, seconds_label};

/// The middle of an interval, seconds from the start of recording.
fn mid(e: &TimelineEntry) -> f64 {
    e.t_s + e.duration_s / 2.0
}

/// p50, p99 and max over time, from one run's timeline, on a log axis. An interval with
/// no successful request sits on the axis' floor.
pub fn latency_chart(name: &str, report: &Report) -> Result<String, RenderError> {
    let line = |label: &str, pick: fn(&TimelineEntry) -> u64| {
        Series::new(
            label,
            report
                .timeline
                .iter()
                .map(|e| (mid(e), pick(e) as f64))
                .collect(),
        )
    };
    let series = [
        line("p50", |e| e.p50_ns),
        line("p99", |e| e.p99_ns),
        line("max", |e| e.max_ns),
    ];
    Chart::linear(
        &format!("{name}: latency over time"),
        ("time since recording started (s)", &seconds_label),
        ("latency (log scale)", &ns_label),
        Some(time_range(report)),
    )
    .log()
    .draw(&series)
}

/// The recorded part, in seconds.
fn time_range(report: &Report) -> (f64, f64) {
    let end = report
        .timeline
        .iter()
        .map(|e| e.t_s + e.duration_s)
        .fold(report.duration_s, f64::max);
    (0.0, end)
}

/// Successful requests per second over time, from one run's timeline.
pub fn throughput_chart(name: &str, report: &Report) -> Result<String, RenderError> {
    let series = [Series::new(
        "successful requests/s",
        report
            .timeline
            .iter()
            .map(|e| (mid(e), e.requests_per_s))
            .collect(),
    )];
    Chart::linear(
        &format!("{name}: throughput over time"),
        ("time since recording started (s)", &seconds_label),
        ("requests/s", &rate_label),
        Some(time_range(report)),
    )
    .draw(&series)
}
