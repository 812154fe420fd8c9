//! `sweep`: open-loop runs at a list of rates, one after the other, each with fresh
//! histograms (its own run and report), optionally stopping at the first point that
//! fails; the folder has a report per step, `summary.json` (kind `sweep`) and, drawn by
//! the binary, the latency-throughput curve.

use std::time::Duration;

use crate::config::ConfigError;
use crate::engine::{Run, Stopper};

use super::curve::{CurveConfig, CurveError, CurveOutcome, Points};

/// A sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepConfig {
    /// The workload, the SLOs, the folder.
    pub curve: CurveConfig,
    /// The offered rates, in the order run.
    pub rates: Vec<f64>,
    /// Recorded time per step.
    pub duration: Duration,
    /// Stop after the first step that does not pass.
    pub stop_on_fail: bool,
}

/// Checks every step's run before anything runs.
pub fn validate(config: &SweepConfig) -> Result<(), ConfigError> {
    if config.rates.is_empty() {
        return Err(ConfigError {
            flag: "--rates",
            value: String::new(),
            reason: "no rate given".to_owned(),
        });
    }
    config.curve.validate(&config.rates, config.duration)
}

/// Runs the steps; `on_run` sees each run before it starts (for a progress display).
pub fn run_sweep(
    config: &SweepConfig,
    stopper: &Stopper,
    mut on_run: impl FnMut(&str, &Run),
) -> Result<CurveOutcome, CurveError> {
    let mut points = Points::start(&config.curve, "sweep")?;
    for (i, &rate) in config.rates.iter().enumerate() {
        if stopper.is_stopped() {
            points.summary.interrupted = true;
            break;
        }
        let name = format!("step-{:02}", i + 1);
        let point = points.run(&name, rate, config.duration, stopper, &mut on_run)?;
        if point.interrupted || (config.stop_on_fail && !point.passed()) {
            break;
        }
    }
    points.finish()
}
