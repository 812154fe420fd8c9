//! `export --hlog`: a report's timeline as an HdrHistogram interval log (the format of
//! Java's `HistogramLogWriter`), one histogram per timeline interval, so
//! `HistogramLogProcessor`, HdrHistogramVisualizer, the Rust crate's
//! `IntervalLogIterator` and the other implementations read the run.
//!
//! `StartTime` is when the run started, `BaseTime` when recording started (after the
//! warm-up); interval timestamps are seconds since `BaseTime`. Values are nanoseconds;
//! the `Interval_Max` column is in milliseconds (`MaxValueDivisor` 1000000), as Java
//! writes it for nanosecond histograms.

use std::fmt::Write as _;

use crate::report::{Report, ReportError};

/// The interval log format version written.
pub const FORMAT_VERSION: &str = "1.3";
/// `Interval_Max` is in ms: values divided by this.
pub const MAX_VALUE_DIVISOR: f64 = 1_000_000.0;

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: f64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Howard Hinnant's days-from-civil algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60) as f64 + second)
}

/// The interval log of `report`'s timeline.
pub fn interval_log(report: &Report) -> Result<String, ReportError> {
    let started =
        parse_rfc3339(&report.started_at).ok_or_else(|| ReportError::StartNotRfc3339 {
            value: report.started_at.clone(),
        })?;
    let base = started + report.warmup_s;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#[Logged with wirebench {} ({})]",
        report.tool.version,
        report.config.workload.as_str()
    );
    if !report.label.is_empty() {
        let label: String = report
            .label
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let _ = writeln!(out, "#[Label: {label}]");
    }
    let _ = writeln!(out, "#[Histogram log format version {FORMAT_VERSION}]");
    let _ = writeln!(out, "#[StartTime: {started:.3} (seconds since epoch)]");
    let _ = writeln!(out, "#[BaseTime: {base:.3} (seconds since epoch)]");
    let _ = writeln!(out, "#[MaxValueDivisor: {MAX_VALUE_DIVISOR:.3}]");
    out.push_str(
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
    );
    for entry in &report.timeline {
        // The stored string is already the V2+DEFLATE base64 encoding the format uses;
        // decoding it checks it and gives the exact max.
        let hist = crate::report::decode_histogram(&entry.histogram)?;
        let max = if hist.is_empty() { 0 } else { hist.max() };
        let _ = writeln!(
            out,
            "{:.3},{:.3},{:.3},{}",
            entry.t_s,
            entry.duration_s,
            max as f64 / MAX_VALUE_DIVISOR,
            entry.histogram.trim()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::rfc3339;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_parses_what_the_reports_write() {
        for ms in [0u64, 951_782_400_000, 1_795_613_107_123, 4_102_444_799_999] {
            let at = UNIX_EPOCH + Duration::from_millis(ms);
            let back = parse_rfc3339(&rfc3339(at)).unwrap();
            assert!((back - ms as f64 / 1000.0).abs() < 1e-6, "{ms}: {back}");
        }
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
