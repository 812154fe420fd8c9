//! The page of an overhead measurement: the overhead table, both legs' spectra (merged
//! over the rounds), each leg's settings (from its first round's report, when the
//! folder has it), and each round's percentiles (log axis) and throughput per leg.

use std::fmt::Write as _;

use crate::report::Report;
use crate::report::overhead::{LegRow, OverheadSummary, Round};
use crate::report::summary::on_off;

use super::charts::{Chart, RenderError, Series, ns_label, rate_label};
use super::html::{escape, figure, page_end, page_head};
use super::pages::spectrum_figure;
use super::settings::settings_block;
use super::style::Look;

/// The first round's reports of both legs, for the settings blocks.
pub struct LegReports {
    /// The direct leg's.
    pub direct: Report,
    /// The proxied leg's.
    pub proxied: Report,
}

fn intro(out: &mut String, summary: &OverheadSummary) {
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
}

fn overhead_table(out: &mut String, summary: &OverheadSummary) {
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
    out.push_str("</table>\n");
}

fn round_label(v: &f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

fn direct(r: &Round) -> &LegRow {
    &r.direct
}

fn proxied(r: &Round) -> &LegRow {
    &r.proxied
}

/// Latency and throughput per round, both legs.
fn round_charts(out: &mut String, summary: &OverheadSummary) -> Result<(), RenderError> {
    let per_round = |pick: fn(&LegRow) -> f64, leg: fn(&Round) -> &LegRow| {
        summary
            .rounds
            .iter()
            .map(|r| (r.round as f64, pick(leg(r))))
            .collect::<Vec<_>>()
    };
    let range = Some((0.5, summary.rounds.len() as f64 + 0.5));
    // A colour per leg, a dash per percentile.
    let look = |leg, percentile| Look {
        colour: leg,
        dash: percentile,
    };
    let latency = [
        Series::new("direct p50", per_round(|l| l.p50_ns as f64, direct)).with_look(look(0, 0)),
        Series::new("proxied p50", per_round(|l| l.p50_ns as f64, proxied)).with_look(look(1, 0)),
        Series::new("direct p99", per_round(|l| l.p99_ns as f64, direct)).with_look(look(0, 1)),
        Series::new("proxied p99", per_round(|l| l.p99_ns as f64, proxied)).with_look(look(1, 1)),
    ];
    out.push_str("<h2>Rounds</h2>\n");
    let svg = Chart::linear(
        "Latency per round",
        ("round", &round_label),
        ("latency (log scale)", &ns_label),
        range,
    )
    .log()
    .draw(&latency)?;
    figure(out, "latency-per-round", None, &svg);
    let throughput = [
        Series::new("direct", per_round(|l| l.requests_per_s, direct)),
        Series::new("proxied", per_round(|l| l.requests_per_s, proxied)),
    ];
    let svg = Chart::linear(
        "Throughput per round",
        ("round", &round_label),
        ("requests/s", &rate_label),
        range,
    )
    .draw(&throughput)?;
    figure(out, "throughput-per-round", None, &svg);
    Ok(())
}

/// The page of an overhead measurement; `legs`: the first round's reports, for the
/// settings (`None`: the page goes without them).
pub fn render_overhead(
    summary: &OverheadSummary,
    legs: Option<&LegReports>,
) -> Result<String, RenderError> {
    let mut out = String::new();
    page_head(
        &mut out,
        &format!(
            "wirebench overhead {} {}",
            summary.workload.as_str(),
            summary.started_at
        ),
    );
    intro(&mut out, summary);
    overhead_table(&mut out, summary);
    out.push_str("<h2>Percentile spectrum</h2>\n");
    spectrum_figure(
        &mut out,
        "spectrum",
        None,
        "Latency by percentile, all rounds",
        [("direct", &summary.direct), ("proxied", &summary.proxied)],
    )?;
    if let Some(legs) = legs {
        out.push_str("<h2>Settings</h2>\n<div class=\"legs\">");
        for (name, report) in [("direct", &legs.direct), ("proxied", &legs.proxied)] {
            let _ = write!(out, "<div><h3>{name}</h3>");
            settings_block(&mut out, report);
            out.push_str("</div>");
        }
        out.push_str("</div>\n");
    }
    round_charts(&mut out, summary)?;
    page_end(&mut out);
    Ok(out)
}
