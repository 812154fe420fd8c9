//! The two pages: a set of runs (with a matrix folder's table) and an overhead
//! measurement.

use std::fmt::Write as _;

use bench_proto::units::format_ns;

use crate::report::Report;
use crate::report::overhead::{LegRow, OverheadSummary, Round};
use crate::report::stall::{FLAG_SHARE, PLATEAU_HIGH, PLATEAU_LOW};
use crate::report::summary::{Summary, SummaryRow, on_off};

use super::charts::*;
use super::html::{escape, figure, page_head};

/// What goes on a page.
#[derive(Debug)]
pub struct Page<'a> {
    /// The heading.
    pub title: &'a str,
    /// The runs, each with the name it is shown under.
    pub runs: &'a [(&'a str, &'a Report)],
    /// The matrix table of a suite or nagle folder.
    pub matrix: Option<&'a Summary>,
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

fn run_line(report: &Report) -> String {
    let l = &report.latency;
    format!(
        "{} {}, {:.1}s recorded, {} ok, {} errors, {:.0} req/s, p50 {}, p99 {}, max {}{}",
        report.config.workload.as_str(),
        report.target.addr,
        report.duration_s,
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

/// The page of an overhead measurement: both legs' spectra (merged over the rounds), the
/// overhead table, and each round's percentiles and throughput per leg.
pub fn render_overhead(summary: &OverheadSummary) -> Result<String, RenderError> {
    let mut out = String::new();
    page_head(
        &mut out,
        &format!(
            "wirebench overhead {} {}",
            summary.workload.as_str(),
            summary.started_at
        ),
    );
    let relay = summary.relay.as_ref().map_or_else(String::new, |r| {
        format!(
            " (embedded relay: {}, nodelay front {}, back {})",
            r.strategy.as_str(),
            on_off(r.nodelay_front),
            on_off(r.nodelay_back)
        )
    });
    let _ = writeln!(
        out,
        "<p class=\"note\">{} rounds, direct {} against proxied {}{}{}.</p>",
        summary.rounds.len(),
        escape(&summary.direct_addr),
        escape(&summary.proxied_addr),
        escape(&relay),
        if summary.interrupted {
            ", interrupted"
        } else {
            ""
        }
    );
    if let Some(cpu) = &summary.proxy_cpu {
        let _ = writeln!(out, "<p class=\"note\">{}.</p>", escape(&cpu.line()));
    }
    out.push_str("<h2>Overhead</h2>\n<table class=\"overhead\">\n<tr><th>field</th>");
    out.push_str("<th>direct</th><th>proxied</th><th>ratio</th><th>ratio per round</th>");
    out.push_str("<th>added per round</th></tr>\n");
    for f in &summary.fields {
        out.push_str("<tr><td>");
        out.push_str(&escape(&f.field));
        for cell in f.cells() {
            let _ = write!(out, "</td><td>{}", escape(&cell));
        }
        out.push_str("</td></tr>\n");
    }
    let (direct_errors, proxied_errors) = summary.errors();
    let _ = writeln!(
        out,
        "<tr><td>errors</td><td>{direct_errors}</td><td>{proxied_errors}</td><td>-</td>\
         <td>-</td><td>-</td></tr>"
    );
    out.push_str("</table>\n<h2>Percentile spectrum</h2>\n");
    let hists = histograms([("direct", &summary.direct), ("proxied", &summary.proxied)])?;
    figure(&mut out, "spectrum", None, &spectrum_chart(&hists)?);
    let per_round = |pick: fn(&LegRow) -> f64, leg: fn(&Round) -> &LegRow| {
        summary
            .rounds
            .iter()
            .map(|r| (r.round as f64, pick(leg(r))))
            .collect::<Vec<_>>()
    };
    fn direct(r: &Round) -> &LegRow {
        &r.direct
    }
    fn proxied(r: &Round) -> &LegRow {
        &r.proxied
    }
    let range = Some((0.5, summary.rounds.len() as f64 + 0.5));
    let latency = [
        Series {
            name: "direct p50".to_owned(),
            points: per_round(|l| l.p50_ns as f64, direct),
        },
        Series {
            name: "proxied p50".to_owned(),
            points: per_round(|l| l.p50_ns as f64, proxied),
        },
        Series {
            name: "direct p99".to_owned(),
            points: per_round(|l| l.p99_ns as f64, direct),
        },
        Series {
            name: "proxied p99".to_owned(),
            points: per_round(|l| l.p99_ns as f64, proxied),
        },
    ];
    out.push_str("<h2>Rounds</h2>\n");
    let round_label = |v: &f64| {
        if v.fract().abs() < 1e-9 {
            format!("{v:.0}")
        } else {
            String::new()
        }
    };
    let svg = Chart::linear(
        "Latency per round",
        ("round", &round_label),
        ("latency", &ns_label),
        range,
    )
    .draw(&latency)?;
    figure(&mut out, "latency-per-round", None, &svg);
    let throughput = [
        Series {
            name: "direct".to_owned(),
            points: per_round(|l| l.requests_per_s, direct),
        },
        Series {
            name: "proxied".to_owned(),
            points: per_round(|l| l.requests_per_s, proxied),
        },
    ];
    let svg = Chart::linear(
        "Throughput per round",
        ("round", &round_label),
        ("requests/s", &rate_label),
        range,
    )
    .draw(&throughput)?;
    figure(&mut out, "throughput-per-round", None, &svg);
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

/// The whole page.
pub fn render_page(page: &Page<'_>) -> Result<String, RenderError> {
    let mut out = String::new();
    page_head(&mut out, page.title);
    if let Some(summary) = page.matrix {
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
        matrix_table(&mut out, summary);
    }
    out.push_str("<h2>Percentile spectrum</h2>\n");
    let hists = histograms(page.runs.iter().map(|(name, r)| (*name, &r.latency)))?;
    figure(&mut out, "spectrum", None, &spectrum_chart(&hists)?);
    for (name, report) in page.runs {
        let _ = writeln!(
            out,
            "<h2>{}</h2>\n<p class=\"note\">{}</p>",
            escape(name),
            escape(&run_line(report))
        );
        figure(
            &mut out,
            "latency-over-time",
            Some(name),
            &latency_chart(name, report)?,
        );
        figure(
            &mut out,
            "throughput-over-time",
            Some(name),
            &throughput_chart(name, report)?,
        );
    }
    out.push_str("</body>\n</html>\n");
    Ok(out)
}
