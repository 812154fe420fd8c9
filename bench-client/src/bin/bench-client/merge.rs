//! `bench-client merge`: reads the shards' reports, merges them losslessly
//! ([`bench_client::analysis::merge`]), writes the merged report and prints one row per
//! shard and the merged row, with each shard's start skew. Exit codes: 0 merged, 1 merged
//! but partial (fewer shards than the run had; the merge is still written) or not
//! writable, 2 refused (unreadable reports, or shards of different runs: the one line
//! names the field).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use bench_client::Report;
use bench_client::analysis::format_run_table;
use bench_client::analysis::merge::{Merged, merge};
use bench_client::output;
use bench_client::report::summary::SummaryRow;

use crate::cli::merge::MergeArgs;
use crate::{Exit, bad_input, emit, to_stderr, warn};

/// Read, merge, write, print.
pub fn run(args: &MergeArgs) -> Result<u8, Exit> {
    crate::reports::apply_max_input(&args.input)?;
    let mut reports = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        let report = Report::read(path).map_err(|e| bad_input(e.into()))?;
        reports.push((path.display().to_string(), report));
    }
    let merged = merge(&reports).map_err(|e| bad_input(e.into()))?;
    merged
        .report
        .write(&args.out)
        .context("--out")
        .map_err(|e| Exit(1, e))?;
    let text = table(&reports, &merged, &args.out);
    if output::is_stdout(&args.out) {
        to_stderr(&text);
    } else {
        emit(&text)?;
    }
    let section = merged.report.shards.as_ref().expect("a merge has shards");
    if !section.generator_limited.is_empty() {
        warn(&format!(
            "bench-client: merge: shards {:?} achieved below 99% of their share: generator-limited, \
             so the merged rate is not the target's limit",
            section.generator_limited
        ));
    }
    if merged.partial() {
        warn(&format!(
            "bench-client: merge: partial: {} of {} shards, missing {:?}",
            section.shards.len(),
            section.count,
            section.missing
        ));
        return Ok(1);
    }
    Ok(0)
}

/// One row per shard, the merged row, then each shard's skew and rates.
fn table(reports: &[(String, Report)], merged: &Merged, out: &Path) -> String {
    let mut shards: Vec<(u32, &Report)> = reports
        .iter()
        .map(|(_, r)| (r.config.shard.as_ref().map_or(0, |s| s.index), r))
        .collect();
    shards.sort_by_key(|(i, _)| *i);
    let mut rows: Vec<(SummaryRow, &Report)> = shards
        .into_iter()
        .map(|(i, r)| (SummaryRow::new(&format!("shard {i}"), "", r), r))
        .collect();
    rows.push((
        SummaryRow::new("merged", "", &merged.report),
        &merged.report,
    ));
    let table_rows: Vec<(&SummaryRow, &Report)> = rows.iter().map(|(row, r)| (row, *r)).collect();
    let mut text = format_run_table(&table_rows);
    let section = merged.report.shards.as_ref().expect("a merge has shards");
    for s in &section.shards {
        let skew = s.start_skew_ns.map_or("no --start-at".to_owned(), |ns| {
            format!("{:.3}ms", ns as f64 / 1e6)
        });
        let rate = match (s.achieved_rate, s.target_rate) {
            (Some(got), Some(want)) => format!(", achieved {got:.0} of {want:.0} req/s"),
            _ => String::new(),
        };
        let limited = if s.generator_limited {
            " GENERATOR-LIMITED"
        } else {
            ""
        };
        let _ = writeln!(
            text,
            "shard {} on {}: start skew {skew}, {} requests{rate}{limited}",
            s.index, s.hostname, s.requests
        );
    }
    let r = &merged.report;
    if let Some(schedule) = &r.schedule {
        let _ = writeln!(
            text,
            "merged: {} requests, achieved {:.0} of {:.0} req/s, max start skew {:.3}ms",
            r.totals.requests,
            schedule.achieved_rate,
            schedule.target_rate,
            section.max_start_skew_ns as f64 / 1e6
        );
    }
    if !output::is_stdout(out) {
        let _ = writeln!(text, "report: {}", out.display());
    }
    text
}
