//! The page of a set of runs (report files, or a suite or nagle folder with its matrix
//! table): the comparison table, the shared percentile spectrum, then per run its
//! settings and its charts, or the plain statement that it had no successful request.

use std::fmt::Write as _;

use bench_proto::units::format_ns;

use crate::report::stall::{FLAG_SHARE, PLATEAU_HIGH, PLATEAU_LOW};
use crate::report::summary::{Summary, SummaryRow, on_off};
use crate::report::{LatencySummary, Report};

use super::charts::RenderError;
use super::html::{escape, figure, page_end, page_head};
use super::settings::settings_block;
use super::spectrum::spectrum_chart;
use super::timeline::{latency_chart, throughput_chart};
use super::versus::comparison_table;

/// What goes on a page.
#[derive(Debug)]
pub struct Page<'a> {
    /// The heading.
    pub title: &'a str,
    /// The runs, each with the name it is shown under.
    pub runs: &'a [(&'a str, &'a Report)],
    /// The matrix table of a suite or nagle folder.
    pub matrix: Option<&'a Summary>,
    /// Whether to show the comparison table (report files side by side).
    pub compare: bool,
}

fn matrix_table(out: &mut String, summary: &Summary) {
    out.push_str("<table class=\"matrix\">\n<tr><th>cell</th><th>workload</th>");
    out.push_str("<th>client nodelay</th><th>server nodelay</th><th>write mode</th>");
    out.push_str("<th>req/s</th><th>p50</th><th>p99</th><th>p99.9</th><th>max</th>");
    out.push_str("<th>errors</th><th>verdict</th></tr>\n");
    for row in &summary.cells {
        let stalled = row.verdict.is_some_and(|v| v.stalled);
        let _ = writeln!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if stalled { " class=\"stall\"" } else { "" },
            escape(&row.name),
            row.workload.as_str(),
            row.nodelay.map_or("-", on_off),
            row.server_nodelay.map_or("-", on_off),
            escape(&write_modes(row)),
            row.requests_per_s,
            format_ns(row.p50_ns),
            format_ns(row.p99_ns),
            format_ns(row.p99_9_ns),
            format_ns(row.max_ns),
            row.errors,
            escape(&row.verdict.map_or_else(|| "-".to_owned(), |v| v.text())),
        );
    }
    out.push_str("</table>\n");
}

fn write_modes(row: &SummaryRow) -> String {
    match (row.write_mode, row.server_write_mode) {
        (Some(c), Some(s)) if c == s => c.as_str().to_owned(),
        (Some(c), Some(s)) => format!("client {}, server {}", c.as_str(), s.as_str()),
        (Some(c), None) => format!("client {}", c.as_str()),
        (None, Some(s)) => format!("server {}", s.as_str()),
        (None, None) => "-".to_owned(),
    }
}

/// The results in one line.
fn run_line(report: &Report) -> String {
    let l = &report.latency;
    format!(
        "{} ok, {} errors, {:.0} req/s, p50 {}, p99 {}, max {}{}",
        report.totals.ok,
        report.totals.error_count,
        report.totals.requests_per_s,
        format_ns(l.p50_ns),
        format_ns(l.p99_ns),
        format_ns(l.max_ns),
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        },
    )
}

/// What a run without one successful request says instead of charts: the errors by
/// kind and the first message of the commonest.
pub(super) fn no_success_note(report: &Report) -> String {
    let t = &report.totals;
    let mut kinds: Vec<_> = t.errors.iter().filter(|(_, n)| **n > 0).collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1));
    let mut text = format!("No successful requests ({} errors", t.error_count);
    for (i, (kind, n)) in kinds.iter().enumerate() {
        let _ = write!(
            text,
            "{}{} {n}",
            if i == 0 { ": " } else { ", " },
            kind.as_str()
        );
    }
    text.push(')');
    if let Some(sample) = kinds.first().and_then(|(k, _)| t.error_samples.get(k)) {
        let _ = write!(text, "; first {}: {sample}", kinds[0].0.as_str());
    }
    text + "."
}

/// The histograms of the runs that have samples, decoded, with their names.
pub(super) fn histograms<'a>(
    runs: impl IntoIterator<Item = (&'a str, &'a LatencySummary)>,
) -> Result<Vec<(&'a str, hdrhistogram::Histogram<u64>)>, RenderError> {
    runs.into_iter()
        .filter(|(_, latency)| latency.count > 0)
        .map(|(name, latency)| {
            let hist = latency.decode().map_err(|e| RenderError {
                chart: "percentile spectrum".to_owned(),
                reason: format!("{name}: {e}"),
            })?;
            Ok((name, hist))
        })
        .collect()
}

/// The spectrum of every run with samples, or the statement that none has any.
pub(super) fn spectrum_figure<'a>(
    out: &mut String,
    kind: &str,
    run: Option<&str>,
    title: &str,
    runs: impl IntoIterator<Item = (&'a str, &'a LatencySummary)>,
) -> Result<(), RenderError> {
    let hists = histograms(runs)?;
    if hists.is_empty() {
        out.push_str("<p class=\"empty\">No successful requests: nothing to plot.</p>\n");
        return Ok(());
    }
    let refs: Vec<(&str, &hdrhistogram::Histogram<u64>)> =
        hists.iter().map(|(n, h)| (*n, h)).collect();
    figure(out, kind, run, &spectrum_chart(title, &refs)?);
    Ok(())
}

/// One run's section: its settings, its results line and its charts.
fn run_section(out: &mut String, name: &str, report: &Report) -> Result<(), RenderError> {
    let _ = writeln!(
        out,
        "<section class=\"run\">\n<h2>{}</h2>\n<p class=\"results\">{}</p>",
        escape(name),
        escape(&run_line(report))
    );
    settings_block(out, report);
    if report.totals.ok == 0 || report.latency.count == 0 {
        let _ = writeln!(
            out,
            "<p class=\"empty\">{}</p>",
            escape(&no_success_note(report))
        );
        out.push_str("</section>\n");
        return Ok(());
    }
    let chart = latency_chart(name, report)?;
    figure(out, "latency-over-time", Some(name), &chart);
    let chart = throughput_chart(name, report)?;
    figure(out, "throughput-over-time", Some(name), &chart);
    if let (Some(uncorrected), Some(lag)) = (&report.latency_uncorrected, &report.send_lag) {
        spectrum_figure(
            out,
            "open-loop-spectrum",
            Some(name),
            &format!("{name}: corrected against uncorrected latency, and the send lag"),
            [
                ("corrected (from the intended send time)", &report.latency),
                ("uncorrected (from the actual send)", uncorrected),
                ("send lag (actual - intended send)", lag),
            ],
        )?;
    }
    out.push_str("</section>\n");
    Ok(())
}

fn matrix_intro(out: &mut String, summary: &Summary) {
    let _ = writeln!(
        out,
        "<h2>Matrix</h2>\n<p class=\"note\">{} started {}{}. The verdict flags cells \
         where at least {:.0}% of requests took {}..{} (the delayed-ACK plateau).</p>",
        escape(&summary.kind),
        escape(&summary.started_at),
        if summary.interrupted {
            ", interrupted"
        } else {
            ""
        },
        FLAG_SHARE * 100.0,
        format_ns(PLATEAU_LOW.as_nanos() as u64),
        format_ns(PLATEAU_HIGH.as_nanos() as u64),
    );
    matrix_table(out, summary);
}

/// The whole page.
pub fn render_page(page: &Page<'_>) -> Result<String, RenderError> {
    let mut out = String::new();
    page_head(&mut out, page.title);
    if let Some(summary) = page.matrix {
        matrix_intro(&mut out, summary);
    }
    if page.compare {
        comparison_table(&mut out, page.runs);
    }
    out.push_str("<h2>Percentile spectrum</h2>\n");
    spectrum_figure(
        &mut out,
        "spectrum",
        None,
        "Latency by percentile",
        page.runs.iter().map(|(name, r)| (*name, &r.latency)),
    )?;
    for (name, report) in page.runs {
        run_section(&mut out, name, report)?;
    }
    page_end(&mut out);
    Ok(out)
}
