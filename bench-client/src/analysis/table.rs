//! The overhead table as text (and each [`FieldOverhead`] row as text, shared with the
//! overhead page). The comparison's text is `compare::table`'s.

use std::fmt::Write as _;

use bench_proto::units::format_ns;

use crate::report::overhead::{FieldOverhead, OverheadSummary};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_latency_carries_its_sign() {
        assert_eq!(signed_ns(-1500.0), "-1.5us");
        assert_eq!(signed_ns(20_000.0), "+20.0us");
    }
}
