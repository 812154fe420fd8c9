//! `bench-client sweep` and `bench-client search`: a workload's flags (those of `run`,
//! flattened) plus the rates, the SLOs and the search's settings, checked into plans
//! whose `--target`, if given, is still text.

use std::time::Duration;

use anyhow::{Context as _, bail};
use bench_proto::HumanDuration;
use clap::Args;

use bench_client::analysis::Slo;
use bench_client::analysis::slo::with_default_errors;
use bench_client::matrix::curve::{CurveConfig, parse_rate, parse_rates};
use bench_client::matrix::search::{self, SearchConfig};
use bench_client::matrix::sweep::{self, SweepConfig};
use bench_client::{RunConfig, Target};

use super::run::RunArgs;
use super::{Targeted, Unresolved};

/// The flags `sweep` and `search` share besides the workload's.
#[derive(Debug, Args)]
pub struct CurveArgs {
    /// An objective every run is judged by (repeatable): p99<1ms, p99.9<=5ms,
    /// errors<0.1% (a share of the requests); without one on errors, errors<0.1% holds.
    #[arg(long, value_name = "SLO")]
    slo: Vec<Slo>,
    /// A run whose send lag p99 (write started - intended time) is beyond this is
    /// generator-limited.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10ms",
        allow_hyphen_values = true
    )]
    max_send_lag: HumanDuration,
}

/// `bench-client sweep`.
#[derive(Debug, Args)]
#[command(
    mut_arg("duration", |a| a.help("Recorded time per step (default 5s)")),
    mut_arg("rate", |a| a.hide(true)),
    mut_arg("out", |a| a.hide(true)),
    mut_arg("latency", |a| a.hide(true)),
)]
pub struct SweepArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Offered rates (req/s): a list, 10k,20k,50k, or a range, 10k..200k, log-spaced in
    /// --steps rates.
    #[arg(long, value_name = "RATES")]
    rates: String,
    /// How many rates a range is split into (default 10).
    #[arg(long, value_name = "N")]
    steps: Option<usize>,
    /// Stop after the first step that does not pass (an SLO broken, errors, or the
    /// generator could not offer the rate).
    #[arg(long)]
    stop_on_fail: bool,
    #[command(flatten)]
    curve: CurveArgs,
}

/// `bench-client search`.
#[derive(Debug, Args)]
#[command(
    mut_arg("duration", |a| a.hide(true)),
    mut_arg("rate", |a| a.hide(true)),
    mut_arg("out", |a| a.hide(true)),
    mut_arg("latency", |a| a.hide(true)),
)]
pub struct SearchArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The first trial's rate (req/s); doubled while trials pass.
    #[arg(long, value_name = "RATE", default_value = "1k")]
    start_rate: String,
    /// The highest rate tried.
    #[arg(long, value_name = "RATE", default_value = "10M")]
    max_rate: String,
    /// Stop bisecting when (failing - passing) / passing is within this.
    #[arg(long, value_name = "PERCENT", default_value = "2%")]
    precision: String,
    /// Recorded time of the first trials; each bisection trial runs longer, up to 3x.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "2s",
        allow_hyphen_values = true
    )]
    trial: HumanDuration,
    /// Recorded time of the run that confirms the rate found.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        allow_hyphen_values = true
    )]
    confirm: HumanDuration,
    #[command(flatten)]
    curve: CurveArgs,
}

/// A checked sweep whose `--target` may still be text.
pub type SweepPlan = Unresolved<SweepConfig>;
/// A checked search whose `--target` may still be text.
pub type SearchPlan = Unresolved<SearchConfig>;

/// The shared part: the workload (open loop), the SLOs, the folder.
fn curve_config(
    run: &RunArgs,
    curve: &CurveArgs,
    command: &str,
) -> anyhow::Result<(Unresolved<RunConfig>, CurveConfig, Option<HumanDuration>)> {
    let (plan, duration) = run.open_loop_plan(command)?;
    let config = CurveConfig {
        run: RunConfig::default(), // replaced once the plan is resolved
        slos: with_default_errors(curve.slo.clone()),
        max_send_lag: curve.max_send_lag.0,
        watched: run.watch_pid.clone(),
        out_dir: run
            .output
            .out_dir
            .clone()
            .unwrap_or_else(|| "reports".into()),
    };
    Ok((plan, config, duration))
}

impl TryFrom<&SweepArgs> for SweepPlan {
    type Error = anyhow::Error;

    fn try_from(a: &SweepArgs) -> anyhow::Result<SweepPlan> {
        let (plan, curve, duration) = curve_config(&a.run, &a.curve, "sweep")?;
        let rates = parse_rates(&a.rates, a.steps).map_err(|e| anyhow::anyhow!("--rates {e}"))?;
        let (run, target) = plan.into_parts();
        let config = SweepConfig {
            curve: CurveConfig { run, ..curve },
            rates,
            duration: duration.map_or(Duration::from_secs(5), |d| d.0),
            stop_on_fail: a.stop_on_fail,
        };
        sweep::validate(&config)?;
        Ok(Unresolved::new(config, target))
    }
}

impl TryFrom<&SearchArgs> for SearchPlan {
    type Error = anyhow::Error;

    fn try_from(a: &SearchArgs) -> anyhow::Result<SearchPlan> {
        let (plan, curve, duration) = curve_config(&a.run, &a.curve, "search")?;
        if let Some(d) = duration {
            bail!("--duration {d}: search runs trials of --trial and a --confirm run");
        }
        if a.curve.slo.is_empty() {
            bail!("--slo: search needs at least one, e.g. --slo 'p99<1ms'");
        }
        let rate =
            |flag: &str, text: &str| parse_rate(text).map_err(|e| anyhow::anyhow!("{flag} {e}"));
        let precision = a
            .precision
            .strip_suffix('%')
            .and_then(|p| p.parse::<f64>().ok())
            .with_context(|| format!("--precision {}: not a percentage like 2%", a.precision))?;
        let (run, target) = plan.into_parts();
        let config = SearchConfig {
            curve: CurveConfig { run, ..curve },
            start_rate: rate("--start-rate", &a.start_rate)?,
            max_rate: rate("--max-rate", &a.max_rate)?,
            precision: precision / 100.0,
            trial: a.trial.0,
            confirm: a.confirm.0,
        };
        search::validate(&config)?;
        Ok(Unresolved::new(config, target))
    }
}

impl Targeted for SweepConfig {
    fn set_target(&mut self, addr: std::net::SocketAddr) {
        self.curve.run.target = Target::External { addr };
    }
}

impl Targeted for SearchConfig {
    fn set_target(&mut self, addr: std::net::SocketAddr) {
        self.curve.run.target = Target::External { addr };
    }
}
