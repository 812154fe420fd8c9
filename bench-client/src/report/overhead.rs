//! `overhead.json` (schema [`OVERHEAD_SCHEMA`]): what a proxy adds, per round and per
//! field, with both legs' merged histograms. Written by `matrix::overhead`, read by
//! `render` and the binary through [`read_summary`].

use std::path::Path;

use bench_server::ServerConfig;
use bench_server::proxy::{ProxyConfig, ProxySummary};
use serde::{Deserialize, Serialize};

use crate::config::WorkloadKind;

use super::cpu::CpuUsage;
use super::io::read_summary_file;
use super::run::{LatencySummary, Report, ReportError};

/// The schema of `overhead.json`.
pub const OVERHEAD_SCHEMA: &str = "wirebench.overhead/v1";

/// Which leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    /// Straight to the server.
    Direct,
    /// Through the proxy.
    Proxied,
}

impl Leg {
    /// `direct` / `proxied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::Direct => "direct",
            Leg::Proxied => "proxied",
        }
    }
}

/// One leg of one round, as summarised in `overhead.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegRow {
    /// The leg's report, relative to the folder.
    pub report: String,
    /// Successful requests per second.
    pub requests_per_s: f64,
    /// Median, ns.
    pub p50_ns: u64,
    /// 75th percentile, ns (0 in summaries written before it was added).
    #[serde(default)]
    pub p75_ns: u64,
    /// 90th percentile, ns.
    pub p90_ns: u64,
    /// 95th percentile, ns (0 in summaries written before it was added).
    #[serde(default)]
    pub p95_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p99_9_ns: u64,
    /// 99.99th percentile, ns.
    pub p99_99_ns: u64,
    /// Largest, ns.
    pub max_ns: u64,
    /// Failed requests.
    pub errors: u64,
    /// The client's CPU time per request, us (`None`: not measured).
    #[serde(default)]
    pub cpu_us_per_req: Option<f64>,
    /// Proxied legs: the proxy's CPU time per request, us: the embedded relay's threads,
    /// or the `--proxy-pid` process (`None`: not known).
    #[serde(default)]
    pub proxy_cpu_us_per_req: Option<f64>,
    /// The same, in cores.
    #[serde(default)]
    pub proxy_cpu_cores: Option<f64>,
}

impl LegRow {
    pub(crate) fn new(file: &str, report: &Report) -> LegRow {
        let l = &report.latency;
        LegRow {
            report: file.to_owned(),
            requests_per_s: report.totals.requests_per_s,
            p50_ns: l.p50_ns,
            p75_ns: l.p75_ns,
            p90_ns: l.p90_ns,
            p95_ns: l.p95_ns,
            p99_ns: l.p99_ns,
            p99_9_ns: l.p99_9_ns,
            p99_99_ns: l.p99_99_ns,
            max_ns: l.max_ns,
            errors: report.totals.error_count,
            cpu_us_per_req: report.cpu.as_ref().and_then(|c| c.client.us_per_req),
            proxy_cpu_us_per_req: proxy_usage(report).and_then(|u| u.us_per_req),
            proxy_cpu_cores: proxy_usage(report).map(|u| u.cores),
        }
    }
}

/// The proxy's CPU in a proxied leg's report: a watched process (`--proxy-pid`), else the
/// embedded relay's threads.
fn proxy_usage(report: &Report) -> Option<CpuUsage> {
    let cpu = report.cpu.as_ref()?;
    cpu.watched.first().map(|w| w.usage).or(cpu.relay)
}

/// What the proxy's CPU costs, over the rounds' proxied legs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyCpu {
    /// `embedded relay`, or `pid 1234` (`--proxy-pid`).
    pub source: String,
    /// us of CPU per request: median and range over the rounds.
    pub us_per_req: Spread,
    /// In cores: median and range over the rounds.
    pub cores: Spread,
}

impl ProxyCpu {
    /// Over `rounds`, measured from `source`; `None` when no proxied leg measured the
    /// proxy.
    pub fn of(rounds: &[Round], source: String) -> Option<ProxyCpu> {
        let us: Vec<f64> = rounds
            .iter()
            .filter_map(|r| r.proxied.proxy_cpu_us_per_req)
            .collect();
        let cores: Vec<f64> = rounds
            .iter()
            .filter_map(|r| r.proxied.proxy_cpu_cores)
            .collect();
        if us.is_empty() || cores.is_empty() {
            return None;
        }
        Some(ProxyCpu {
            source,
            us_per_req: Spread::of(&us),
            cores: Spread::of(&cores),
        })
    }

    /// `proxy CPU per request: 12.3us (9.8..14.1 over the rounds), 0.41 cores (embedded relay)`.
    pub fn line(&self) -> String {
        let u = self.us_per_req;
        format!(
            "proxy CPU per request: {:.1}us ({:.1}..{:.1} over the rounds), {:.2} cores ({})",
            u.median, u.min, u.max, self.cores.median, self.source
        )
    }
}

/// One round: the direct leg, then the proxied one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    /// 1-based.
    pub round: usize,
    /// Straight to the server.
    pub direct: LegRow,
    /// Through the proxy.
    pub proxied: LegRow,
}

/// A median with the range around it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Median over the rounds.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// Of the given values (at least one).
    pub fn of(values: &[f64]) -> Spread {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// What the proxy does to one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldOverhead {
    /// `req/s`, `p50`, `p75`, `p90`, `p95`, `p99`, `p99.9`, `p99.99` or `max` (summaries
    /// written before p75 and p95 were added lack those two).
    pub field: String,
    /// Direct, over all rounds (latencies from the merged histogram; req/s: all
    /// successful requests over all recorded time).
    pub direct: f64,
    /// Proxied, the same way.
    pub proxied: f64,
    /// proxied / direct of the merged values (`None` when direct is 0).
    pub ratio: Option<f64>,
    /// proxied / direct per round, over the rounds where both legs completed requests
    /// (`None` when none did).
    pub ratio_rounds: Option<Spread>,
    /// Latencies: proxied - direct per round, ns, over the same rounds (`None` for req/s,
    /// or when no round qualifies).
    pub added_ns_rounds: Option<Spread>,
}

/// `overhead.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverheadSummary {
    /// Always [`OVERHEAD_SCHEMA`].
    pub schema: String,
    /// When the measurement started, RFC 3339 UTC.
    pub started_at: String,
    /// True when it was stopped early (the rounds that finished are summarised).
    pub interrupted: bool,
    /// The workload.
    pub workload: WorkloadKind,
    /// The direct address.
    pub direct_addr: String,
    /// The proxy's address.
    pub proxied_addr: String,
    /// True when server and relay were embedded.
    pub embedded: bool,
    /// The embedded server's settings.
    pub server: Option<ServerConfig>,
    /// The embedded relay's settings.
    pub relay: Option<ProxyConfig>,
    /// The embedded relay's counters at the end.
    pub relay_stats: Option<ProxySummary>,
    /// The proxy's CPU time per request over the rounds (`None`: not measured: an
    /// external proxy without `--proxy-pid`).
    #[serde(default)]
    pub proxy_cpu: Option<ProxyCpu>,
    /// Every complete round.
    pub rounds: Vec<Round>,
    /// The direct leg's latency over all rounds.
    pub direct: LatencySummary,
    /// The proxied leg's latency over all rounds.
    pub proxied: LatencySummary,
    /// Per field: merged values, ratios and added latency with their spread.
    pub fields: Vec<FieldOverhead>,
}

impl OverheadSummary {
    /// Failed requests over the summarised rounds: (direct, proxied).
    pub fn errors(&self) -> (u64, u64) {
        self.rounds.iter().fold((0, 0), |(d, p), r| {
            (d + r.direct.errors, p + r.proxied.errors)
        })
    }
}

/// Reads `overhead.json` from a folder: at most the input cap, this schema only.
pub fn read_summary(dir: &Path) -> Result<OverheadSummary, ReportError> {
    read_summary_file(
        dir.join("overhead.json"),
        ReportError::Input,
        |path, cause| ReportError::NotOverheadSummary { path, cause },
        |s: &OverheadSummary| &s.schema,
        OVERHEAD_SCHEMA,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_are_median_and_range() {
        assert_eq!(
            Spread::of(&[3.0, 1.0, 2.0]),
            Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
        assert_eq!(Spread::of(&[4.0, 1.0]).median, 2.5);
    }

    #[test]
    fn leg_rows_written_before_p75_and_p95_read_as_zero() {
        let old = r#"{"report": "direct-1.json", "requests_per_s": 100.0, "p50_ns": 1,
            "p90_ns": 2, "p99_ns": 3, "p99_9_ns": 4, "p99_99_ns": 5, "max_ns": 6,
            "errors": 0}"#;
        let row: LegRow = serde_json::from_str(old).expect("an old row parses");
        assert_eq!((row.p75_ns, row.p95_ns, row.p90_ns), (0, 0, 2));
    }
}
