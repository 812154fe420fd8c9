//! What `sweep` and `search` share: the workload and its SLOs ([`CurveConfig`]), one
//! open-loop run at a rate into the folder (`Points::run`), its verdict ([`judge`]:
//! generator-limited first, then the SLOs), rates as text (`10k`, `10k,20k`,
//! `10k..200k` log-spaced) and writing `summary.json`.
//!
//! Owns: the point loop's pieces. Must not touch: pages (the binary draws them), flags.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bench_proto::HumanDuration;
use bench_proto::units::format_ns;

use crate::analysis::Slo;
use crate::config::{Arrival, ConfigError, LoadModel, RunConfig, RunLength, Target};
use crate::engine::{Run, RunError, Stopper, WatchPid};
use crate::output::{file_stamp, rfc3339};
use crate::report::curve::{CURVE_SCHEMA, CurvePoint, CurveSummary, PointVerdict};
use crate::report::{Report, ReportError, ScheduleVerdict, write_atomic};

use super::unique_dir;

/// A generator that completed less than this share of the offered rate did not offer it.
pub const ACHIEVED_SHARE: f64 = 0.99;

/// The workload of every point, and how points are judged.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveConfig {
    /// The workload; its load becomes open loop at each point's rate (its arrival is
    /// kept), its length the point's duration.
    pub run: RunConfig,
    /// Every point is judged against these (see [`crate::analysis::slo`]).
    pub slos: Vec<Slo>,
    /// A send lag p99 beyond this makes a point generator-limited.
    pub max_send_lag: Duration,
    /// Processes whose CPU time each report accounts.
    pub watched: Vec<WatchPid>,
    /// Where the time-stamped folder goes.
    pub out_dir: PathBuf,
}

impl CurveConfig {
    /// The run at `rate` for `duration`.
    pub fn at(&self, rate: f64, duration: Duration) -> RunConfig {
        let arrival = match self.run.load {
            LoadModel::Open { arrival, .. } => arrival,
            LoadModel::Closed => Arrival::Uniform,
        };
        RunConfig {
            load: LoadModel::Open { rate, arrival },
            length: RunLength::Duration(HumanDuration(duration)),
            ..self.run.clone()
        }
    }

    /// Checks the run at each of `rates` (before anything runs or is written).
    pub fn validate(&self, rates: &[f64], duration: Duration) -> Result<(), ConfigError> {
        rates
            .iter()
            .try_for_each(|&rate| self.at(rate, duration).validate())
    }
}

/// Why a sweep or a search could not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CurveError {
    /// A run could not start.
    // The cause is `source`, which `{:#}` prints after this: not in the message too.
    #[error("{point}")]
    Run {
        /// The point's name.
        point: String,
        /// Why.
        source: RunError,
    },
    /// A file could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// What a finished sweep or search left behind.
#[derive(Debug)]
pub struct CurveOutcome {
    /// The time-stamped folder.
    pub dir: PathBuf,
    /// `summary.json`; the page is the caller's ([`crate::render::write_curve_page`]).
    pub summary: CurveSummary,
}

/// The folder being filled and its summary.
pub(super) struct Points<'a> {
    pub(super) config: &'a CurveConfig,
    pub(super) dir: PathBuf,
    pub(super) summary: CurveSummary,
}

impl<'a> Points<'a> {
    /// Makes the folder.
    pub(super) fn start(config: &'a CurveConfig, kind: &str) -> Result<Points<'a>, CurveError> {
        let started = SystemTime::now();
        let dir = unique_dir(&config.out_dir, &file_stamp(started))?;
        let target = match config.run.target {
            Target::Embedded(_) => "embedded".to_owned(),
            Target::External { addr } => addr.to_string(),
        };
        let summary = CurveSummary {
            schema: CURVE_SCHEMA.to_owned(),
            kind: kind.to_owned(),
            started_at: rfc3339(started),
            interrupted: false,
            workload: config.run.workload,
            target,
            slos: config.slos.iter().map(|s| s.text.clone()).collect(),
            points: Vec::new(),
            search: None,
        };
        Ok(Points {
            config,
            dir,
            summary,
        })
    }

    /// Runs `name` at `rate` for `duration`, writes its report, judges and keeps it;
    /// returns the point.
    pub(super) fn run(
        &mut self,
        name: &str,
        rate: f64,
        duration: Duration,
        stopper: &Stopper,
        on_run: &mut dyn FnMut(&str, &Run),
    ) -> Result<&CurvePoint, CurveError> {
        let fail = |source| CurveError::Run {
            point: name.to_owned(),
            source,
        };
        let mut run_config = self.config.at(rate, duration);
        let user = &self.config.run.label;
        let sep = if user.is_empty() { "" } else { " " };
        run_config.label = format!("{user}{sep}{} {name} {rate:.0} req/s", self.summary.kind);
        let run = Run::with_stopper(run_config, stopper.clone())
            .and_then(|run| run.watch(self.config.watched.clone()))
            .map_err(|e| fail(RunError::Config(e)))?;
        on_run(name, &run);
        let report = run.execute().map_err(fail)?;
        let file = format!("{name}.json");
        report.write(&self.dir.join(&file))?;
        let mut point = CurvePoint::new(name, &file, rate, &report);
        judge(&mut point, &report, self.config);
        self.summary.interrupted |= report.interrupted;
        self.summary.points.push(point);
        Ok(self.summary.points.last().expect("just pushed"))
    }

    /// Writes `summary.json` and hands the folder over.
    pub(super) fn finish(self) -> Result<CurveOutcome, CurveError> {
        let json = serde_json::to_vec_pretty(&self.summary).expect("summaries serialise");
        write_atomic(&self.dir.join("summary.json"), &json)?;
        Ok(CurveOutcome {
            dir: self.dir,
            summary: self.summary,
        })
    }
}

/// Sets the point's verdict: generator-limited when the load was not offered
/// ([`generator_reasons`]), else failing when an SLO is broken, else passing.
pub fn judge(point: &mut CurvePoint, report: &Report, config: &CurveConfig) {
    let schedule = report.schedule.as_ref();
    let offered = Offered {
        connections: report.config.connections,
        verdict: schedule.map_or(ScheduleVerdict::Ok, |s| s.verdict),
        late_free: schedule.map_or(0, |s| s.late.saturating_sub(s.late_held)),
    };
    let generator = generator_reasons(point, &offered, config.max_send_lag);
    let broken: Vec<String> = config
        .slos
        .iter()
        .filter_map(|slo| slo.check(report))
        .collect();
    point.verdict = if !generator.is_empty() {
        PointVerdict::GeneratorLimited
    } else if !broken.is_empty() {
        PointVerdict::Fail
    } else {
        PointVerdict::Pass
    };
    point.reasons = generator.into_iter().chain(broken).collect();
}

/// What the schedule says besides the point's own figures.
#[derive(Debug, Clone, Copy)]
pub struct Offered {
    /// Connections of the run.
    pub connections: usize,
    /// The schedule's verdict (who was behind, if anyone).
    pub verdict: ScheduleVerdict,
    /// Requests sent late although a pipeline slot was free.
    pub late_free: u64,
}

/// Why the generator did not offer the point's load (empty: it did): achieved below
/// [`ACHIEVED_SHARE`] of the offered rate, by more than one request per connection
/// (that much is rounding at the window's edges); or a send lag p99 beyond `max_lag`
/// while more than 1% of the requests went out late with a pipeline slot free. A lag of
/// requests that waited for a reply to free their slot is the target's: it shows in the
/// corrected latency the SLOs judge.
pub fn generator_reasons(point: &CurvePoint, offered: &Offered, max_lag: Duration) -> Vec<String> {
    let mut reasons = Vec::new();
    let short = point.offered_rate * point.duration_s - point.requests as f64;
    if point.achieved_rate < ACHIEVED_SHARE * point.offered_rate
        && short > offered.connections as f64
    {
        let why = match offered.verdict {
            ScheduleVerdict::TargetBehind => {
                ": every connection was waiting for replies (add --connections or --pipeline)"
            }
            ScheduleVerdict::GeneratorBehind => {
                ": the client's threads were too busy (add --threads)"
            }
            _ => "",
        };
        reasons.push(format!(
            "achieved {:.0} of {:.0} req/s offered{why}",
            point.achieved_rate, point.offered_rate
        ));
    }
    let bound = max_lag.as_nanos() as u64;
    let lag = point.send_lag_p99_ns.filter(|lag| *lag > bound);
    if let Some(lag) = lag.filter(|_| offered.late_free.saturating_mul(100) > point.requests) {
        reasons.push(format!(
            "send lag p99 {} beyond {}",
            format_ns(lag),
            format_ns(bound)
        ));
    }
    reasons
}

/// A rate: `20000`, `12.5k`, `1.5M` (requests/s).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let (num, scale) = match text.trim() {
        t if t.ends_with(['k', 'K']) => (&t[..t.len() - 1], 1e3),
        t if t.ends_with('M') => (&t[..t.len() - 1], 1e6),
        t => (t, 1.0),
    };
    num.parse::<f64>()
        .ok()
        .map(|v| v * scale)
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| format!("{text:?} is not a rate like 20000, 12.5k or 1.5M"))
}

/// `--rates`: a list (`10k,20k,50k`) or a range (`10k..200k`, with `steps` rates spaced
/// evenly on a log scale, both ends included).
pub fn parse_rates(text: &str, steps: Option<usize>) -> Result<Vec<f64>, String> {
    let rates = match text.split_once("..") {
        Some((lo, hi)) => {
            let (lo, hi) = (parse_rate(lo)?, parse_rate(hi)?);
            if hi <= lo {
                return Err(format!("{text:?}: the range ends at or below its start"));
            }
            let steps = steps.unwrap_or(10);
            if !(2..=1000).contains(&steps) {
                return Err(format!("--steps {steps}: a range needs 2..=1000 steps"));
            }
            log_spaced(lo, hi, steps)
        }
        None if steps.is_some() => {
            return Err(format!(
                "--steps: applies to a range like 10k..200k, not {text:?}"
            ));
        }
        None => text.split(',').map(parse_rate).collect::<Result<_, _>>()?,
    };
    if rates.len() > 1000 {
        return Err(format!("{text:?}: at most 1000 rates"));
    }
    Ok(rates)
}

/// `steps` rates from `lo` to `hi`, evenly spaced on a log scale.
pub fn log_spaced(lo: f64, hi: f64, steps: usize) -> Vec<f64> {
    let ratio = (hi / lo).ln();
    (0..steps)
        .map(|i| lo * (ratio * i as f64 / (steps - 1) as f64).exp())
        .collect()
}

/// The table printed after a sweep or a search: one row per run (offered and achieved
/// rate, p50, p95, p99, p99.9 of the corrected latency, errors, verdict and its reasons),
/// then the search's outcome.
pub fn format_curve_table(summary: &CurveSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<11} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7}  verdict",
        "run", "phase", "offered", "achieved", "p50", "p95", "p99", "p99.9", "errors"
    );
    for p in &summary.points {
        let _ = writeln!(
            out,
            "{:<10} {:<11} {:>10.0} {:>10.0} {:>8} {:>8} {:>8} {:>8} {:>7}  {}{}",
            p.name,
            p.phase.as_deref().unwrap_or("-"),
            p.offered_rate,
            p.achieved_rate,
            format_ns(p.p50_ns),
            format_ns(p.p95_ns),
            format_ns(p.p99_ns),
            format_ns(p.p99_9_ns),
            p.errors,
            p.verdict.as_str(),
            if p.reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", p.reasons.join("; "))
            }
        );
        super::mark_interrupted(&mut out, p.interrupted);
    }
    if let Some(search) = &summary.search {
        let _ = writeln!(out, "search: {}", search.note);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(offered: f64, achieved: f64, lag_ms: u64) -> CurvePoint {
        CurvePoint {
            name: "step-01".to_owned(),
            report: "step-01.json".to_owned(),
            phase: None,
            offered_rate: offered,
            achieved_rate: achieved,
            requests_per_s: achieved,
            duration_s: 2.0,
            p50_ns: 1_000_000,
            p95_ns: 1_500_000,
            p99_ns: 2_000_000,
            p99_9_ns: 3_000_000,
            uncorrected_p99_ns: Some(2_000_000),
            send_lag_p99_ns: Some(lag_ms * 1_000_000),
            requests: (achieved * 2.0) as u64,
            errors: 0,
            cpu_us_per_req: None,
            server_cpu_us_per_req: None,
            verdict: PointVerdict::Pass,
            reasons: Vec::new(),
            interrupted: false,
        }
    }

    #[test]
    fn a_shortfall_beyond_rounding_or_a_lag_with_free_slots_is_the_generators() {
        let lag = Duration::from_millis(10);
        let kept = Offered {
            connections: 4,
            verdict: ScheduleVerdict::Ok,
            late_free: 0,
        };
        assert!(generator_reasons(&point(1000.0, 1000.0, 1), &kept, lag).is_empty());
        // 3 requests short of 2000 with 4 connections: rounding at the edges.
        assert!(generator_reasons(&point(1000.0, 998.5, 1), &kept, lag).is_empty());
        let behind = Offered {
            verdict: ScheduleVerdict::TargetBehind,
            ..kept
        };
        let why = generator_reasons(&point(1000.0, 500.0, 1), &behind, lag);
        assert_eq!(why.len(), 1);
        assert!(why[0].starts_with("achieved 500 of 1000 req/s offered: every connection"));
        // A long lag counts only when requests went out late with a slot free.
        assert!(generator_reasons(&point(1000.0, 1000.0, 50), &kept, lag).is_empty());
        let late = Offered {
            late_free: 100,
            ..kept
        };
        let why = generator_reasons(&point(1000.0, 1000.0, 50), &late, lag);
        assert_eq!(why, ["send lag p99 50.0ms beyond 10.0ms"]);
    }

    #[test]
    fn the_curve_table_has_p95_between_p50_and_p99_in_aligned_columns() {
        let mut failing = point(1_000_000.0, 999_999.0, 1);
        failing.name = "confirm-1".to_owned();
        failing.phase = Some("exponential".to_owned());
        (failing.p50_ns, failing.p95_ns, failing.p99_ns) = (999_900, 41_200_000, 999_900_000);
        failing.p99_9_ns = 999_900_000;
        failing.errors = 9_999_999;
        failing.verdict = PointVerdict::GeneratorLimited;
        let summary = CurveSummary {
            schema: CURVE_SCHEMA.to_owned(),
            kind: "search".to_owned(),
            started_at: "now".to_owned(),
            interrupted: false,
            workload: crate::config::WorkloadKind::TcpEcho,
            target: "embedded".to_owned(),
            slos: Vec::new(),
            points: vec![point(1000.0, 1000.0, 1), failing],
            search: None,
        };
        let table = format_curve_table(&summary);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        let header = lines[0];
        assert!(header.contains(" p50      p95      p99 "), "{header}");
        for (heading, first, wide) in [
            ("p95", "1.5ms", "41.2ms"),
            ("p99", "2.0ms", "999.9ms"),
            ("errors", "0", "9999999"),
        ] {
            let end = header.find(&format!(" {heading} ")).expect(heading) + 1 + heading.len();
            assert_eq!(lines[1][..end].rsplit(' ').next(), Some(first), "{table}");
            assert_eq!(lines[2][..end].rsplit(' ').next(), Some(wide), "{table}");
        }
        // Without reasons, a row fits in 120 columns.
        assert!(lines.iter().all(|l| l.len() <= 120), "{table}");
    }

    #[test]
    fn rates_parse_as_lists_and_log_spaced_ranges() {
        assert_eq!(
            parse_rates("10k,20k,1.5M", None).unwrap(),
            [1e4, 2e4, 1.5e6]
        );
        let r = parse_rates("10k..1M", Some(3)).unwrap();
        assert_eq!(r.len(), 3);
        assert!((r[1] - 1e5).abs() < 1e-6, "{r:?}");
        assert!(parse_rates("10k", Some(3)).is_err());
        assert!(parse_rates("20k..10k", None).is_err());
        assert!(parse_rate("fast").unwrap_err().contains("\"fast\""));
        assert!(parse_rate("-5").is_err());
    }
}
