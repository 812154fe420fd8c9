//! The page of a set of runs (report files, or a suite or nagle folder with its matrix
//! table): the comparison table, the shared percentile spectrum, then per run its
//! settings and its charts, or the plain statement that it had no successful request.

use std::fmt::Write as _;

use bench_proto::units::{format_byte_rate, format_ns};

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

/// The matrix table: settings, req/s, the latencies and the verdict per cell. p75, p95
/// and rx bytes/s get columns when a row has them (summaries written before they were
/// added hold 0 there).
fn matrix_table(out: &mut String, summary: &Summary) {
    let cells = &summary.cells;
    let quartiles = cells.iter().any(|r| r.p75_ns > 0 || r.p95_ns > 0);
    let bytes = cells.iter().any(|r| r.bytes_per_s > 0.0);
    let mut head = vec!["cell", "workload", "client nodelay", "server nodelay"];
    head.extend(["write mode", "req/s"]);
    if bytes {
        head.push("rx bytes/s");
    }
    head.push("p50");
    if quartiles {
        head.extend(["p75", "p95"]);
    }
    head.extend(["p99", "p99.9", "max", "errors", "verdict"]);
    out.push_str("<table class=\"matrix\">\n<tr>");
    for h in head {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr>\n");
    for row in cells {
        let mut td = vec![
            escape(&row.name),
            row.workload.as_str().to_owned(),
            row.nodelay.map_or("-", on_off).to_owned(),
            row.server_nodelay.map_or("-", on_off).to_owned(),
            escape(&write_modes(row)),
            format!("{:.0}", row.requests_per_s),
        ];
        if bytes {
            td.push(format_byte_rate(row.bytes_per_s));
        }
        td.push(format_ns(row.p50_ns));
        if quartiles {
            td.extend([format_ns(row.p75_ns), format_ns(row.p95_ns)]);
        }
        td.extend([
            format_ns(row.p99_ns),
            format_ns(row.p99_9_ns),
            format_ns(row.max_ns),
            row.errors.to_string(),
            escape(&row.verdict.map_or_else(|| "-".to_owned(), |v| v.text())),
        ]);
        let stalled = row.verdict.is_some_and(|v| v.stalled);
        out.push_str(if stalled {
            "<tr class=\"stall\">"
        } else {
            "<tr>"
        });
        for cell in td {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>\n");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(row: &str) -> Summary {
        let json = format!(
            r#"{{"schema": "wirebench.suite/v1", "kind": "suite", "started_at": "now",
                "interrupted": false, "cells": [{row}]}}"#
        );
        serde_json::from_str(&json).expect("a summary")
    }

    const OLD_ROW: &str = r#"{"name": "udp-echo", "report": "udp-echo.json",
        "workload": "udp-echo", "nodelay": null, "requests_per_s": 1000.0,
        "p50_ns": 10000, "p99_ns": 20000, "p99_9_ns": 30000, "max_ns": 40000, "errors": 0}"#;

    #[test]
    fn the_matrix_table_shows_p75_p95_and_bytes_when_the_rows_have_them() {
        let new_row = OLD_ROW.replace(
            r#""p99_ns""#,
            r#""p75_ns": 12000, "p95_ns": 17000, "bytes_per_s": 64000.0, "p99_ns""#,
        );
        let mut out = String::new();
        matrix_table(&mut out, &summary(&new_row));
        assert!(
            out.contains(
                "<th>req/s</th><th>rx bytes/s</th><th>p50</th><th>p75</th><th>p95</th><th>p99</th>"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "<td>1000</td><td>64.0kB</td><td>10.0us</td><td>12.0us</td><td>17.0us</td>"
            ),
            "{out}"
        );
        let headings = out.matches("<th>").count();
        let row = out.lines().find(|l| l.contains("<td>")).expect("a row");
        assert_eq!(row.matches("<td>").count(), headings, "{out}");
    }

    #[test]
    fn an_older_summary_has_no_empty_p75_p95_or_bytes_columns() {
        let mut out = String::new();
        matrix_table(&mut out, &summary(OLD_ROW));
        for absent in ["p75", "p95", "bytes/s"] {
            assert!(!out.contains(absent), "{absent}: {out}");
        }
        assert!(out.contains("<th>p50</th><th>p99</th>"), "{out}");
        let headings = out.matches("<th>").count();
        let row = out.lines().find(|l| l.contains("<td>")).expect("a row");
        assert_eq!(row.matches("<td>").count(), headings, "{out}");
    }
}
