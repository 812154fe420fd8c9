//! Text tables of what analysis computed or read: the overhead table (and each
//! [`FieldOverhead`] row as text, shared with the overhead page) and the table printed
//! after a run, a suite or a merge ([`format_run_table`]). The comparison's text is
//! `compare::table`'s.

use std::fmt::Write as _;

use bench_proto::units::{format_byte_rate, format_ns};

use crate::report::Report;
use crate::report::overhead::{FieldOverhead, OverheadSummary};
use crate::report::summary::SummaryRow;

use super::fields::Field;

fn signed_ns(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "+" };
    format!("{sign}{}", format_ns(v.abs().round() as u64))
}

impl FieldOverhead {
    /// The row as text, for the table and the HTML page: direct, proxied, ratio, ratio
    /// per round (median and range), added latency per round (median and range).
    pub fn cells(&self) -> [String; 5] {
        let show = |v: f64| match self.field.parse::<Field>() {
            Ok(field) => field.show(v),
            Err(_) => format!("{v}"),
        };
        [
            show(self.direct),
            show(self.proxied),
            self.ratio
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x")),
            self.ratio_rounds.map_or_else(
                || "-".to_owned(),
                |r| format!("{:.2}x ({:.2}..{:.2})", r.median, r.min, r.max),
            ),
            self.added_ns_rounds.map_or_else(
                || "-".to_owned(),
                |a| {
                    format!(
                        "{} ({}..{})",
                        signed_ns(a.median),
                        signed_ns(a.min),
                        signed_ns(a.max)
                    )
                },
            ),
        ]
    }
}

/// The overhead table: per field, direct and proxied over all rounds, the ratio (median
/// and range over rounds) and the added latency (median and range).
pub fn format_overhead_table(summary: &OverheadSummary) -> String {
    let mut out = String::new();
    let (direct_errors, proxied_errors) = summary.errors();
    let _ = writeln!(
        out,
        "{} rounds, direct {} vs proxied {}; errors: direct {direct_errors}, proxied \
         {proxied_errors}",
        summary.rounds.len(),
        summary.direct_addr,
        summary.proxied_addr
    );
    let _ = writeln!(
        out,
        "{:<7} {:>10} {:>10} {:>7}  {:<22} added per round",
        "field", "direct", "proxied", "ratio", "ratio per round"
    );
    for f in &summary.fields {
        let [direct, proxied, ratio, ratio_rounds, added] = f.cells();
        let _ = writeln!(
            out,
            "{:<7} {direct:>10} {proxied:>10} {ratio:>7}  {ratio_rounds:<22} {added}",
            f.field,
        );
    }
    if let Some(cpu) = &summary.proxy_cpu {
        let _ = writeln!(out, "{}", cpu.line());
    }
    if summary.interrupted {
        let _ = writeln!(
            out,
            "interrupted: stopped early; the rounds that finished are summarised"
        );
    }
    out
}

/// The table printed after a run, a suite or a merge: one line per (row, its report),
/// with req/s, the payload bytes received per second (`rx bytes/s`: verified replies'
/// bodies, the report's `totals.bytes_per_s`), p50, p75, p95, p99, p99.9, max and the
/// errors. About 110 columns with the suite's names.
pub fn format_run_table(rows: &[(&SummaryRow, &Report)]) -> String {
    let width = rows
        .iter()
        .map(|(row, _)| row.name.len())
        .max()
        .unwrap_or(0)
        .max("workload".len());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$} {:<7} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "workload",
        "nodelay",
        "req/s",
        "rx bytes/s",
        "p50",
        "p75",
        "p95",
        "p99",
        "p99.9",
        "max",
        "errors"
    );
    for (row, report) in rows {
        let nodelay = match row.nodelay {
            Some(true) => "on",
            Some(false) => "off",
            None => "-",
        };
        let l = &report.latency;
        let _ = write!(
            out,
            "{:<width$} {nodelay:<7} {:>10.0} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
            row.name,
            report.totals.requests_per_s,
            format_byte_rate(report.totals.bytes_per_s),
            format_ns(l.p50_ns),
            format_ns(l.p75_ns),
            format_ns(l.p95_ns),
            format_ns(l.p99_ns),
            format_ns(l.p99_9_ns),
            format_ns(l.max_ns),
            report.totals.error_count
        );
        out.push_str(if row.interrupted {
            "  interrupted\n"
        } else {
            "\n"
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_latency_carries_its_sign() {
        assert_eq!(signed_ns(-1500.0), "-1.5us");
        assert_eq!(signed_ns(20_000.0), "+20.0us");
    }
}
