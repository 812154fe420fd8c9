//! `search`: the highest open-loop rate that meets every SLO. Exponential from the start
//! rate (x2 while trials pass), then bisection between the highest passing and the lowest
//! failing rate until the bracket's relative width is within the precision; each
//! bisection trial runs longer than the last (by half the trial time, up to 3x), and the
//! answer is confirmed by a longer run (if that fails, the rate one precision step lower
//! is confirmed instead, at most [`CONFIRM_TRIES`] times). Generator-limited trials fail
//! like the others but are labelled so, and the outcome says when one bounds the bracket.

use std::time::Duration;

use crate::config::ConfigError;
use crate::engine::{Run, Stopper};
use crate::report::curve::{PointVerdict, SearchOutcome};

use super::curve::{CurveConfig, CurveError, CurveOutcome, Points};

/// At most this many trials before the confirmation (a bound on the loop, never reached
/// from a sane start rate and precision).
pub const MAX_TRIALS: usize = 64;
/// Confirmation runs at most.
pub const CONFIRM_TRIES: usize = 3;

/// A search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    /// The workload, the SLOs, the folder.
    pub curve: CurveConfig,
    /// The first trial's rate.
    pub start_rate: f64,
    /// The largest rate tried (doubling stops there).
    pub max_rate: f64,
    /// Relative width of the final bracket (0.02: 2%).
    pub precision: f64,
    /// The first trials' recorded time.
    pub trial: Duration,
    /// The confirmation run's recorded time.
    pub confirm: Duration,
}

/// Checks the search's settings and its first trial's run before anything runs.
pub fn validate(config: &SearchConfig) -> Result<(), ConfigError> {
    let bad = |flag: &'static str, value: String, reason: &str| ConfigError {
        flag,
        value,
        reason: reason.to_owned(),
    };
    if !(config.precision > 0.0 && config.precision < 1.0) {
        return Err(bad(
            "--precision",
            format!("{}%", config.precision * 100.0),
            "must be above 0% and below 100%",
        ));
    }
    if config.max_rate < config.start_rate {
        return Err(bad(
            "--max-rate",
            format!("{}", config.max_rate),
            "is below --start-rate",
        ));
    }
    if config.trial.is_zero() || config.confirm.is_zero() {
        return Err(bad(
            "--trial",
            String::new(),
            "trial times must be above zero",
        ));
    }
    config
        .curve
        .validate(&[config.start_rate, config.max_rate], config.trial)
}

/// The bracket so far: highest passing rate, lowest failing rate (and whether that one
/// was generator-limited).
#[derive(Debug, Default)]
struct Bracket {
    low: Option<f64>,
    high: Option<(f64, bool)>,
}

/// Runs the search; `on_run` sees each trial's run before it starts.
pub fn run_search(
    config: &SearchConfig,
    stopper: &Stopper,
    mut on_run: impl FnMut(&str, &Run),
) -> Result<CurveOutcome, CurveError> {
    let mut points = Points::start(&config.curve, "search")?;
    let mut bracket = Bracket::default();
    let mut rate = config.start_rate;
    let mut bisections = 0u32;
    for n in 1..=MAX_TRIALS {
        let (phase, duration) = match bracket.high {
            None => ("exponential", config.trial),
            Some(_) => (
                "bisect",
                config
                    .trial
                    .mul_f64((1.0 + 0.5 * bisections as f64).min(3.0)),
            ),
        };
        let point = points.run(
            &format!("trial-{n:02}"),
            rate,
            duration,
            stopper,
            &mut on_run,
        )?;
        let (passed, generator, interrupted) = (
            point.passed(),
            point.verdict == PointVerdict::GeneratorLimited,
            point.interrupted,
        );
        points.summary.points.last_mut().expect("a trial").phase = Some(phase.to_owned());
        if interrupted {
            break;
        }
        if passed {
            bracket.low = Some(rate);
        } else {
            bracket.high = Some((rate, generator));
        }
        match (bracket.low, bracket.high) {
            (_, None) if rate >= config.max_rate => break,
            (_, None) => rate = (rate * 2.0).min(config.max_rate),
            (None, Some(_)) => break, // even the start rate failed
            (Some(low), Some((high, _))) if (high - low) / low <= config.precision => break,
            (Some(low), Some((high, _))) => {
                bisections += 1;
                rate = (low + high) / 2.0;
            }
        }
    }
    let confirmed = if points.summary.interrupted {
        None
    } else {
        confirm(config, &mut points, &mut bracket, stopper, &mut on_run)?
    };
    points.summary.search = Some(outcome(config, &bracket, confirmed));
    points.finish()
}

/// Confirms the highest passing rate with a longer run; on failure, one precision step
/// lower, at most [`CONFIRM_TRIES`] runs. Returns whether a confirmation passed (`None`:
/// nothing to confirm, or stopped).
fn confirm(
    config: &SearchConfig,
    points: &mut Points<'_>,
    bracket: &mut Bracket,
    stopper: &Stopper,
    on_run: &mut dyn FnMut(&str, &Run),
) -> Result<Option<bool>, CurveError> {
    let Some(mut rate) = bracket.low else {
        return Ok(None);
    };
    for n in 1..=CONFIRM_TRIES {
        if stopper.is_stopped() {
            return Ok(None);
        }
        let point = points.run(
            &format!("confirm-{n}"),
            rate,
            config.confirm,
            stopper,
            on_run,
        )?;
        let (passed, interrupted) = (point.passed(), point.interrupted);
        points.summary.points.last_mut().expect("a run").phase = Some("confirm".to_owned());
        if interrupted {
            return Ok(None);
        }
        if passed {
            bracket.low = Some(rate);
            return Ok(Some(true));
        }
        rate *= 1.0 - config.precision;
        if rate < config.start_rate {
            break;
        }
    }
    bracket.low = None;
    Ok(Some(false))
}

fn outcome(config: &SearchConfig, bracket: &Bracket, confirmed: Option<bool>) -> SearchOutcome {
    let found = bracket.low.filter(|_| confirmed == Some(true));
    let generator_limited = bracket.high.is_some_and(|(_, g)| g);
    let note = match (found, bracket.high) {
        (Some(rate), Some((high, g))) => format!(
            "{rate:.0} req/s meets every SLO; {high:.0} req/s did not{}",
            if g {
                " because the generator could not offer it (the target's limit may be higher)"
            } else {
                ""
            }
        ),
        (Some(rate), None) => format!(
            "{rate:.0} req/s meets every SLO; no failing rate up to --max-rate {:.0}",
            config.max_rate
        ),
        (None, _) if confirmed == Some(false) => {
            "the longer confirmation runs failed: no rate is confirmed".to_owned()
        }
        (None, Some((_, true))) => {
            "even the start rate failed: the generator could not offer it".to_owned()
        }
        (None, _) => "even the start rate failed an SLO".to_owned(),
    };
    SearchOutcome {
        found_rate: found,
        bracket_low: bracket.low,
        bracket_high: bracket.high.map(|(r, _)| r),
        generator_limited,
        precision: config.precision,
        confirmed,
        note,
    }
}
