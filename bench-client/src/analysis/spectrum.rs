//! The whole percentile spectrum of a latency histogram as text, in HdrHistogram's
//! `.hgrm` layout (what Java's `outputPercentileDistribution` and wrk2's `--latency`
//! print): one line per quantile tick with the value, the quantile, the count up to it and
//! 1/(1-quantile), then the mean, max and bucket footer. Values are in microseconds.
//! Reads a histogram only; which histogram (and where the text goes) is the caller's.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Quantile ticks per half distance to 100%, as HdrHistogram's own output uses.
pub const TICKS_PER_HALF: u32 = 5;

/// Nanoseconds per microsecond: the histograms hold ns, the spectrum shows us.
const NS_PER_US: f64 = 1_000.0;

/// The `.hgrm` text of `hist` (values in ns), values shown in microseconds with as many
/// decimals as the histogram has significant digits. `title` goes in a `#` line above the
/// table (the plotters that read `.hgrm` skip it). An empty histogram gives the title
/// and a line saying so.
///
/// ```
/// let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
/// h.record(50_000).unwrap();
/// let text = bench_client::analysis::spectrum::format_spectrum(&h, "latency");
/// assert!(text.contains("#[Max     =       50.015, Total count    =            1]"));
/// ```
pub fn format_spectrum(hist: &Histogram<u64>, title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {title}; values in microseconds (us)");
    if hist.is_empty() {
        out.push_str("# no values recorded\n");
        return out;
    }
    let digits = usize::from(hist.sigfig());
    let us = |ns: f64| ns / NS_PER_US;
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for step in hist.iter_quantiles(TICKS_PER_HALF) {
        total += step.count_since_last_iteration();
        let value = us(step.value_iterated_to() as f64);
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            let _ = writeln!(
                out,
                "{value:12.digits$} {quantile:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - quantile)
            );
        } else {
            let _ = writeln!(out, "{value:12.digits$} {quantile:2.12} {total:10}");
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.digits$}, StdDeviation   = {:12.digits$}]",
        us(hist.mean()),
        us(hist.stdev())
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.digits$}, Total count    = {:12}]",
        us(hist.highest_equivalent(hist.max()) as f64),
        hist.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_buckets(hist.sigfig())
    );
    out
}

/// The sub-buckets per bucket of a histogram with `sigfig` significant digits (the
/// crate keeps its own private): the power of two that holds 2 * 10^sigfig.
fn sub_buckets(sigfig: u8) -> u64 {
    let largest = 2 * 10u64.pow(u32::from(sigfig));
    largest.next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values_ns: &[(u64, u64)]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for &(v, n) in values_ns {
            h.record_n(v, n).unwrap();
        }
        h
    }

    /// The (value, quantile, count) of each table line.
    fn rows(text: &str) -> Vec<(f64, f64, u64)> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.contains("Value"))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn a_hand_built_histogram_prints_the_hgrm_layout() {
        // 90 values at 10us, 9 at 100us, 1 at 1ms: the ticks walk up to 100%.
        let h = histogram(&[(10_000, 90), (100_000, 9), (1_000_000, 1)]);
        let text = format_spectrum(&h, "latency of run x");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# latency of run x; values in microseconds (us)");
        assert_eq!(
            lines[1],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[2], "");
        // The first tick: the smallest value, quantile 0, its bucket's count.
        assert_eq!(
            lines[3],
            "      10.007 0.000000000000         90           1.00"
        );
        let rows = rows(&text);
        let last = *rows.last().unwrap();
        assert_eq!(last.1, 1.0, "ends at 100%");
        assert_eq!(last.2, 100, "the last line counts every value");
        assert!((last.0 - 1000.447).abs() < 1e-9, "max in us: {}", last.0);
        // Quantiles and counts never go down; values step through the three buckets.
        for pair in rows.windows(2) {
            assert!(pair[1].1 >= pair[0].1 && pair[1].2 >= pair[0].2, "{pair:?}");
            assert!(pair[1].0 >= pair[0].0, "{pair:?}");
        }
        let values: Vec<f64> = rows.iter().map(|r| r.0).collect();
        assert!(values.contains(&100.031), "{values:?}");
        // The 100% line has no 1/(1-Percentile) column.
        let hundred = lines
            .iter()
            .find(|l| l.contains(" 1.000000000000 "))
            .unwrap();
        assert_eq!(hundred.split_whitespace().count(), 3, "{hundred}");
        let footer: Vec<&str> = lines.iter().rev().take(3).rev().copied().collect();
        assert_eq!(
            footer,
            [
                "#[Mean    =       28.006, StdDeviation   =      101.043]",
                "#[Max     =     1000.447, Total count    =          100]",
                "#[Buckets =           26, SubBuckets     =         2048]",
            ]
        );
    }

    #[test]
    fn ticks_halve_towards_the_tail() {
        // 1000 distinct values: with 5 ticks per half, the quantiles past 50% step by 10%,
        // past 75% by 5%, past 87.5% by 2.5%.
        let values: Vec<(u64, u64)> = (1..=1000).map(|v| (v * 1_000, 1)).collect();
        let rows = rows(&format_spectrum(&histogram(&values), "t"));
        let quantiles: Vec<f64> = rows.iter().map(|r| r.1).collect();
        for q in [0.1, 0.5, 0.6, 0.75, 0.8, 0.875, 0.9] {
            assert!(
                quantiles.iter().any(|x| (x - q).abs() < 1e-9),
                "{q} missing: {quantiles:?}"
            );
        }
    }

    #[test]
    fn an_empty_histogram_says_so() {
        let text = format_spectrum(&histogram(&[]), "latency");
        assert_eq!(
            text,
            "# latency; values in microseconds (us)\n# no values recorded\n"
        );
    }

    #[test]
    fn three_digits_have_2048_sub_buckets() {
        assert_eq!(sub_buckets(3), 2048);
        assert_eq!(sub_buckets(2), 256);
    }
}
