//! The page of a `sweep` or `search` folder: latency (p50, p99, p99.9, corrected for
//! coordinated omission) against achieved throughput, the hockey stick, and achieved
//! against offered rate beside the line where they are equal; both rate axes are
//! log-scaled (labelled in req/s), latency too. Then the points' table and, for a
//! search, its outcome.

use std::fmt::Write as _;

use bench_proto::units::{format_ns, format_rate};

use crate::report::Report;
use crate::report::curve::{CurvePoint, CurveSummary};

use super::charts::{Chart, RenderError, Series, ns_label, rate_label};
use super::html::{escape, figure, page_end, page_head};
use super::settings::settings_block;

/// A rate axis: log-scaled when the rates span a decade or more (a sweep's range),
/// linear otherwise (a search's bracket); labelled in req/s either way.
#[derive(Debug, Clone, Copy)]
struct RateAxis {
    log: bool,
}

impl RateAxis {
    fn over(rates: impl Iterator<Item = f64>) -> RateAxis {
        let (lo, hi) = rates.fold((f64::MAX, f64::MIN), |(a, b), r| (a.min(r), b.max(r)));
        RateAxis {
            log: lo > 0.0 && hi / lo >= 10.0,
        }
    }

    /// A rate's position (on a log axis, a rate of 0 sits at 1 req/s).
    fn pos(self, rate: f64) -> f64 {
        if self.log {
            rate.max(1.0).log10()
        } else {
            rate
        }
    }

    fn label(self) -> &'static dyn Fn(&f64) -> String {
        if self.log {
            &|x: &f64| format_rate(10f64.powf(*x))
        } else {
            &|x: &f64| format_rate(*x)
        }
    }

    fn desc(self, what: &'static str, log: &'static str) -> &'static str {
        if self.log { log } else { what }
    }

    /// The axis over `rates`, a little wider than the data.
    fn range(self, rates: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
        let (lo, hi) = rates.fold((f64::MAX, f64::MIN), |(a, b), r| {
            (a.min(self.pos(r)), b.max(self.pos(r)))
        });
        if lo > hi {
            return None;
        }
        let pad = if self.log {
            0.05
        } else {
            (hi - lo).max(1.0) * 0.05
        };
        Some((
            (lo - pad).max(if self.log { f64::MIN } else { 0.0 }),
            hi + pad,
        ))
    }
}

/// Latency against achieved throughput: one point per run per series, in rate order.
/// Latency is log-scaled when it spans a decade or more.
fn latency_chart(points: &[&CurvePoint]) -> Result<String, RenderError> {
    let x = RateAxis::over(points.iter().map(|p| p.achieved_rate));
    let line = |name: &str, pick: fn(&CurvePoint) -> u64| {
        Series::new(
            name,
            points
                .iter()
                .map(|p| (x.pos(p.achieved_rate), pick(p).max(1) as f64))
                .collect(),
        )
    };
    let series = [
        line("p50 (corrected)", |p| p.p50_ns),
        line("p99 (corrected)", |p| p.p99_ns),
        line("p99.9 (corrected)", |p| p.p99_9_ns),
    ];
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.points.iter())
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    Chart {
        title: "Latency against achieved throughput",
        x_desc: x.desc("achieved requests/s", "achieved requests/s (log)"),
        y_desc: if lo > 0.0 && hi / lo >= 10.0 {
            "latency (log scale)"
        } else {
            "latency"
        },
        log_y: lo > 0.0 && hi / lo >= 10.0,
        x_range: x.range(points.iter().map(|p| p.achieved_rate)),
        x_ticks: None,
        x_label: x.label(),
        y_label: &ns_label,
        markers: Vec::new(),
    }
    .draw(&series)
}

/// Achieved against offered rate, with the offered rate itself as the reference line;
/// both axes linear (the reference is then the diagonal).
fn rate_chart(points: &[&CurvePoint]) -> Result<String, RenderError> {
    let x = RateAxis { log: false };
    let pick = |f: fn(&CurvePoint) -> f64| -> Vec<(f64, f64)> {
        points.iter().map(|p| (p.offered_rate, f(p))).collect()
    };
    let series = [
        Series::new("achieved", pick(|p| p.achieved_rate)),
        Series::new("offered (achieved = offered)", pick(|p| p.offered_rate)),
    ];
    Chart {
        title: "Achieved against offered rate",
        x_desc: "offered requests/s",
        y_desc: "achieved requests/s",
        log_y: false,
        x_range: x.range(points.iter().map(|p| p.offered_rate)),
        x_ticks: None,
        x_label: &rate_label,
        y_label: &rate_label,
        markers: Vec::new(),
    }
    .draw(&series)
}

fn points_table(out: &mut String, summary: &CurveSummary) {
    out.push_str("<table class=\"curve\">\n<tr><th>run</th><th>phase</th><th>offered</th>");
    out.push_str("<th>achieved</th><th>p50</th><th>p99</th><th>p99.9</th>");
    out.push_str("<th>errors</th><th>verdict</th><th>why</th></tr>\n");
    for p in &summary.points {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.name),
            escape(p.phase.as_deref().unwrap_or("-")),
            p.offered_rate,
            p.achieved_rate,
            format_ns(p.p50_ns),
            format_ns(p.p99_ns),
            format_ns(p.p99_9_ns),
            p.errors,
            p.verdict.as_str(),
            escape(&p.reasons.join("; ")),
        );
    }
    out.push_str("</table>\n");
}

/// The page of a sweep or search summary; `first`: the first run's report, for the
/// settings every run shares (`None`: the page goes without them).
pub fn render_curve(summary: &CurveSummary, first: Option<&Report>) -> Result<String, RenderError> {
    let mut out = String::new();
    page_head(
        &mut out,
        &format!(
            "wirebench {} {} {}",
            summary.kind,
            summary.workload.as_str(),
            summary.started_at
        ),
    );
    let _ = writeln!(
        out,
        "<p class=\"note\">{} runs against {}; SLOs: {}{}.</p>",
        summary.points.len(),
        escape(&summary.target),
        escape(&summary.slos.join(", ")),
        if summary.interrupted {
            "; interrupted"
        } else {
            ""
        }
    );
    if let Some(search) = &summary.search {
        let _ = writeln!(out, "<p class=\"outcome\">{}</p>", escape(&search.note));
    }
    let mut sorted: Vec<&CurvePoint> = summary.points.iter().collect();
    sorted.sort_by(|a, b| a.offered_rate.total_cmp(&b.offered_rate));
    if !sorted.is_empty() {
        figure(
            &mut out,
            "latency-throughput",
            None,
            &latency_chart(&sorted)?,
        );
        figure(&mut out, "achieved-offered", None, &rate_chart(&sorted)?);
    }
    points_table(&mut out, summary);
    if let Some(report) = first {
        out.push_str(
            "<h2>Settings</h2>\n<p class=\"note\">Of the first run; the runs differ in \
             their rate only.</p>\n",
        );
        settings_block(&mut out, report);
    }
    page_end(&mut out);
    Ok(out)
}
