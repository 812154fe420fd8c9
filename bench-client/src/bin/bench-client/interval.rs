//! `--interval`: one line per interval of the recorded part while the load runs (iperf3's
//! `-i`). The lines come from the closed timeline intervals the run's [`Live`] keeps (the
//! compressor thread folds them in, off the workers' hot path), so they hold exactly what
//! the report's timeline will: requests, req/s, reply bytes/s, p50, p99, max and errors.
//! An interval is printed once a later one has appeared (every worker has moved past
//! it), and the rest when the run ends; a second with no request at all still gets its
//! line, with zeros.

use std::fmt::Write as _;

use bench_client::record::{Live, LiveInterval};
use bench_proto::units::{format_byte_rate, format_ns};

/// The interval lines of one run: what was printed so far and what is still owed.
#[derive(Debug)]
pub struct IntervalLines {
    /// Seconds per line (a line merges this many timeline intervals).
    every_s: u64,
    /// The run's name, in the header.
    name: String,
    /// The recorded length in seconds, when the run is a duration run.
    run_s: Option<f64>,
    /// The next line's number (line `n` covers `n * every_s ..`).
    next_line: u64,
    /// Intervals taken from [`Live`] that belong to lines not printed yet.
    pending: Vec<LiveInterval>,
    /// Whether the column header was printed.
    header: bool,
}

impl IntervalLines {
    /// Lines every `every_s` seconds for the run named `name` (`run_s`: its recorded
    /// length, if it is a duration run); asks `live` to keep the closed intervals.
    pub fn new(every_s: u64, name: &str, run_s: Option<f64>, live: &Live) -> IntervalLines {
        live.watch_intervals();
        IntervalLines {
            every_s,
            name: name.to_owned(),
            run_s,
            next_line: 0,
            pending: Vec::new(),
            header: false,
        }
    }

    /// The lines complete so far (empty when none is).
    pub fn poll(&mut self, live: &Live) -> String {
        let Some(latest) = live.latest_interval() else {
            return String::new();
        };
        // Every interval below the latest is complete; so is every line that ends there.
        self.pending.extend(live.take_intervals(latest));
        let complete_lines = latest / self.every_s;
        self.lines_until(complete_lines, None)
    }

    /// The remaining lines, once the run has ended; `recorded_s`: how long it recorded,
    /// when known (from the report), else the duration it was given.
    pub fn finish(&mut self, live: &Live, recorded_s: Option<f64>) -> String {
        self.pending.extend(live.take_intervals(u64::MAX));
        let end_s = recorded_s.or(self.run_s);
        let seen = self.pending.last().map_or(0, |i| i.index + 1);
        let until = match end_s {
            Some(s) => (s / self.every_s as f64).ceil() as u64,
            None => seen.div_ceil(self.every_s),
        };
        self.lines_until(until.max(seen.div_ceil(self.every_s)), end_s)
    }

    /// The lines numbered below `until`; `end_s` cuts the last one short.
    fn lines_until(&mut self, until: u64, end_s: Option<f64>) -> String {
        let mut out = String::new();
        while self.next_line < until {
            if !self.header {
                let _ = writeln!(
                    out,
                    "{:>9} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>7}  {}",
                    "time",
                    "requests",
                    "req/s",
                    "rx bytes/s",
                    "p50",
                    "p99",
                    "max",
                    "errors",
                    self.name
                );
                self.header = true;
            }
            let from = self.next_line * self.every_s;
            let to = from + self.every_s;
            let split = self.pending.partition_point(|i| i.index < to);
            let parts: Vec<LiveInterval> = self.pending.drain(..split).collect();
            let end = end_s.map_or(to as f64, |e| e.min(to as f64));
            out.push_str(&line(from as f64, end, &parts));
            self.next_line += 1;
        }
        out
    }
}

/// One line: the intervals `parts` of the span `from_s..to_s`, merged.
fn line(from_s: f64, to_s: f64, parts: &[LiveInterval]) -> String {
    let ok: u64 = parts.iter().map(|p| p.ok).sum();
    let errors: u64 = parts.iter().map(|p| p.errors).sum();
    let bytes: u64 = parts.iter().map(|p| p.bytes_received).sum();
    let mut latency = bench_client::report::new_histogram();
    for p in parts {
        let _ = latency.add(&p.latency);
    }
    let length_s = (to_s - from_s).max(1e-3);
    let quantile = |q: f64| {
        if latency.is_empty() {
            "-".to_owned()
        } else {
            format_ns(latency.value_at_quantile(q))
        }
    };
    let max = if latency.is_empty() {
        "-".to_owned()
    } else {
        format_ns(latency.max())
    };
    format!(
        "{:>9} {ok:>10} {:>10.0} {:>10} {:>8} {:>8} {max:>8} {errors:>7}\n",
        format!("{}-{}s", short(from_s), short(to_s)),
        ok as f64 / length_s,
        format_byte_rate(bytes as f64 / length_s),
        quantile(0.5),
        quantile(0.99),
    )
}

/// Seconds without a needless fraction: `3`, `2.5`.
fn short(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(index: u64, ok: u64, latency_ns: u64) -> LiveInterval {
        let mut latency = bench_client::report::new_histogram();
        latency.record_n(latency_ns, ok).unwrap();
        LiveInterval {
            index,
            ok,
            errors: 0,
            bytes_received: ok * 64,
            latency,
        }
    }

    #[test]
    fn a_second_without_requests_still_gets_its_line() {
        let live = Live::new(1);
        let mut lines = IntervalLines::new(1, "tcp-echo", Some(2.5), &live);
        lines.pending = vec![interval(0, 100, 50_000), interval(2, 10, 80_000)];
        let text = lines.lines_until(3, Some(2.5));
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(text.lines().next().unwrap().ends_with("tcp-echo"), "{text}");
        assert_eq!(rows.len(), 3, "{text}");
        assert_eq!(rows[0][..4], ["0-1s", "100", "100", "6.40kB"]);
        assert_eq!(rows[0][4], "50.0us");
        assert_eq!(rows[1][..3], ["1-2s", "0", "0"]);
        assert_eq!(rows[1][4], "-");
        // The last line is half a second long: 10 requests are 20 req/s.
        assert_eq!(rows[2][..3], ["2-2.5s", "10", "20"]);
    }

    #[test]
    fn lines_merge_several_intervals() {
        let live = Live::new(1);
        let mut lines = IntervalLines::new(2, "x", None, &live);
        lines.pending = vec![interval(0, 10, 1_000), interval(1, 30, 1_000)];
        let text = lines.lines_until(1, None);
        let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(row[..3], ["0-2s", "40", "20"]);
    }
}
