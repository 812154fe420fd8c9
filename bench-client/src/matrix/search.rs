//! `search`: the highest open-loop rate that meets every SLO. Exponential from the start
//! rate (x2 while trials pass), then bisection between the highest passing and the lowest
//! failing rate until the bracket's relative width is within the precision; each
//! bisection trial runs longer than the last (by half the trial time, up to 3x), and the
//! answer is confirmed by a longer run (if that fails, the next lower rate that passed a
//! trial is confirmed instead, at most [`CONFIRM_TRIES`] runs). Generator-limited trials fail
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
        confirm(config, &mut points, stopper, &mut on_run)?
    };
    points.summary.search = Some(outcome(config, &bracket, confirmed));
    points.finish()
}

/// Confirms the highest passing rate with a longer run; when that fails, the next lower
/// rate that passed a trial, at most [`CONFIRM_TRIES`] runs. Returns the confirmed rate
/// and whether a confirmation ran to its end (`None`: nothing to confirm, or stopped).
fn confirm(
    config: &SearchConfig,
    points: &mut Points<'_>,
    stopper: &Stopper,
    on_run: &mut dyn FnMut(&str, &Run),
) -> Result<Option<Option<f64>>, CurveError> {
    let mut candidates: Vec<f64> = points
        .summary
        .points
        .iter()
        .filter(|p| p.passed())
        .map(|p| p.offered_rate)
        .collect();
    candidates.sort_by(|a, b| b.total_cmp(a));
    candidates.dedup();
    if candidates.is_empty() {
        return Ok(None);
    }
    for (n, rate) in candidates.into_iter().take(CONFIRM_TRIES).enumerate() {
        if stopper.is_stopped() {
            return Ok(None);
        }
        let name = format!("confirm-{}", n + 1);
        let point = points.run(&name, rate, config.confirm, stopper, on_run)?;
        let (passed, interrupted) = (point.passed(), point.interrupted);
        points.summary.points.last_mut().expect("a run").phase = Some("confirm".to_owned());
        if interrupted {
            return Ok(None);
        }
        if passed {
            return Ok(Some(Some(rate)));
        }
    }
    Ok(Some(None))
}

/// The outcome from the bracket and the confirmation (`Some(Some(rate))`: confirmed at
/// `rate`; `Some(None)`: every confirmation failed; `None`: none ran).
fn outcome(
    config: &SearchConfig,
    bracket: &Bracket,
    confirmed: Option<Option<f64>>,
) -> SearchOutcome {
    let found = confirmed.flatten();
    let generator_limited = bracket.high.is_some_and(|(_, g)| g);
    let lower = match (found, bracket.low) {
        (Some(rate), Some(low)) if rate < low => format!(
            " (the longer run failed at {low:.0} req/s; this lower rate that passed a trial held)"
        ),
        _ => String::new(),
    };
    let note = match (found, bracket.high) {
        (Some(rate), Some((high, g))) => format!(
            "{rate:.0} req/s meets every SLO{lower}; {high:.0} req/s did not{}",
            if g {
                " because the generator could not offer it (the target's limit may be higher)"
            } else {
                ""
            }
        ),
        (Some(rate), None) => format!(
            "{rate:.0} req/s meets every SLO{lower}; no failing rate up to --max-rate {:.0}",
            config.max_rate
        ),
        (None, _) if confirmed == Some(None) => {
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
        confirmed: confirmed.map(|c| c.is_some()),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunConfig;
    use crate::matrix::curve::CurveConfig;

    fn config() -> SearchConfig {
        SearchConfig {
            curve: CurveConfig {
                run: RunConfig::default(),
                slos: Vec::new(),
                max_send_lag: Duration::from_millis(10),
                watched: Vec::new(),
                out_dir: "reports".into(),
            },
            start_rate: 1000.0,
            max_rate: 1e7,
            precision: 0.02,
            trial: Duration::from_secs(2),
            confirm: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_outcome_names_the_confirmed_rate_and_who_bounded_the_bracket() {
        let bracket = Bracket {
            low: Some(32_000.0),
            high: Some((32_500.0, true)),
        };
        let o = outcome(&config(), &bracket, Some(Some(16_000.0)));
        assert_eq!(o.found_rate, Some(16_000.0));
        assert_eq!(
            (o.bracket_low, o.bracket_high),
            (Some(32_000.0), Some(32_500.0))
        );
        assert!(o.generator_limited && o.confirmed == Some(true));
        assert!(o.note.contains("failed at 32000"), "{}", o.note);
        assert!(
            o.note.contains("generator could not offer it"),
            "{}",
            o.note
        );
        let failed = outcome(&config(), &bracket, Some(None));
        assert_eq!((failed.found_rate, failed.confirmed), (None, Some(false)));
        let never = outcome(&config(), &Bracket::default(), None);
        assert_eq!(never.note, "even the start rate failed an SLO");
        assert!(
            validate(&SearchConfig {
                precision: 0.0,
                ..config()
            })
            .is_err()
        );
    }
}
