//! `bench-client suite`, `nagle`, `overhead`, `sweep` and `search`: the commands that run
//! many runs into one time-stamped folder. What they share: the folder made first, signals watched, one
//! progress bar per run, and the summary printed as JSON or as a table.

use std::path::Path;

use anyhow::Context as _;
use bench_client::{Run, Stopper};

use crate::cli::matrix::{NagleArgs, NaglePlan, SuiteArgs};
use crate::cli::overhead::{OverheadArgs, OverheadPlan};
use crate::cli::sweep::{SearchArgs, SearchPlan, SweepArgs, SweepPlan};
use crate::{Exit, bad_input, outcome_code, progress, resolve, to_stderr, warn};
use bench_client::Report;
use bench_client::analysis::format_overhead_table;
use bench_client::analysis::format_run_table;
use bench_client::matrix::curve::{CurveConfig, CurveOutcome, format_curve_table};
use bench_client::matrix::overhead::{self, OverheadConfig, Pair};
use bench_client::matrix::suite::{self, SuiteConfig};
use bench_client::matrix::{self, Cell, SuiteError, SuiteOutcome, nagle};
use bench_client::matrix::{search, sweep};
use bench_client::report::summary::SummaryRow;
use bench_client::{output, render};

/// `suite`: the default matrix on the embedded server.
pub fn suite(args: &SuiteArgs) -> Result<u8, Exit> {
    let config = SuiteConfig::try_from(args).map_err(bad_input)?;
    let interval_s = args.interval.seconds().map_err(bad_input)?;
    let shown = Shown {
        json: args.folder.json,
        latency: args.latency.latency,
        tally: Tally::new(
            "cell",
            Some(suite::cells(&config).len()),
            interval_s,
            args.folder.json,
        ),
    };
    run_matrix(
        &config.out_dir,
        &shown,
        |rows, reports| format_run_table(&rows.iter().zip(reports).collect::<Vec<_>>()),
        |stopper, on_cell| suite::run_suite(&config, stopper, on_cell),
    )
}

/// `nagle`: the Nagle matrix, on the embedded server or a `--target`.
pub fn nagle(args: &NagleArgs) -> Result<u8, Exit> {
    let plan = NaglePlan::try_from(args).map_err(bad_input)?;
    let config = plan.into_config(resolve::address).map_err(bad_input)?;
    if config.target.is_some() {
        // An unreachable or non-framed target is bad input, found before any file exists.
        let first = nagle::cells(&config).remove(0);
        Run::new(first.config)
            .map_err(|e| bad_input(e.into()))?
            .preflight()?;
    }
    let shown = Shown {
        json: args.folder.json,
        latency: args.latency.latency,
        tally: Tally::new(
            "cell",
            Some(nagle::cells(&config).len()),
            None,
            args.folder.json,
        ),
    };
    run_matrix(
        &config.out_dir,
        &shown,
        |rows, _| nagle::format_table(rows),
        |stopper, on_cell| nagle::run_nagle(&config, stopper, on_cell),
    )
}

/// `overhead`: direct against proxied, in rounds.
pub fn overhead(args: &OverheadArgs) -> Result<u8, Exit> {
    let plan = OverheadPlan::try_from(args).map_err(bad_input)?;
    let config = plan.into_config(resolve::address).map_err(bad_input)?;
    preflight_pair(&config)?;
    let tally = Tally::new("leg", Some(config.rounds * 2), None, args.folder.json);
    let outcome = with_progress(&config.out_dir, &tally, |stopper, on_run| {
        overhead::run_overhead(&config, stopper, on_run)
    })?;
    let summary = &outcome.summary;
    let html_error =
        render::write_overhead_page(&outcome.dir, summary).map_err(|e| Exit(1, e.into()))?;
    let table = || format_overhead_table(summary);
    print_outcome(
        args.folder.json,
        &outcome.dir,
        html_error.as_deref(),
        summary,
        table,
    )?;
    let (direct_errors, proxied_errors) = summary.errors();
    let errors = direct_errors + proxied_errors;
    if errors > 0 {
        warn(&format!(
            "bench-client: {errors} requests failed (direct {direct_errors}, proxied \
             {proxied_errors}); see the legs' reports"
        ));
    }
    let measured = !summary.rounds.is_empty()
        && summary
            .rounds
            .iter()
            .all(|r| r.direct.requests_per_s > 0.0 && r.proxied.requests_per_s > 0.0);
    Ok(outcome_code(summary.interrupted, errors, measured))
}

/// `sweep`: open-loop runs at each rate. Exit 0 when every step measured something.
pub fn sweep(args: &SweepArgs) -> Result<u8, Exit> {
    let plan = SweepPlan::try_from(args).map_err(bad_input)?;
    let config = plan.into_config(resolve::address).map_err(bad_input)?;
    preflight_curve(&config.curve, config.rates[0])?;
    let interval_s = args.run.interval.seconds().map_err(bad_input)?;
    let json = args.run.output.json;
    let tally = Tally::new("step", Some(config.rates.len()), interval_s, json);
    let outcome = with_progress(&config.curve.out_dir, &tally, |stopper, on_run| {
        sweep::run_sweep(&config, stopper, on_run)
    })?;
    let measured = outcome.summary.points.iter().all(|p| p.requests > 0);
    finish_curve(args.run.output.json, &outcome)?;
    Ok(outcome_code(outcome.summary.interrupted, 0, measured))
}

/// `search`: the highest rate meeting every SLO. Exit 0 when one was found, 1 when not.
pub fn search(args: &SearchArgs) -> Result<u8, Exit> {
    let plan = SearchPlan::try_from(args).map_err(bad_input)?;
    let config = plan.into_config(resolve::address).map_err(bad_input)?;
    preflight_curve(&config.curve, config.start_rate)?;
    let interval_s = args.run.interval.seconds().map_err(bad_input)?;
    let tally = Tally::new("trial", None, interval_s, args.run.output.json);
    let outcome = with_progress(&config.curve.out_dir, &tally, |stopper, on_run| {
        search::run_search(&config, stopper, on_run)
    })?;
    finish_curve(args.run.output.json, &outcome)?;
    let found = outcome
        .summary
        .search
        .as_ref()
        .is_some_and(|s| s.found_rate.is_some());
    Ok(outcome_code(outcome.summary.interrupted, 0, found))
}

/// A dead target or a bad `--watch-pid` is bad input, found before any file exists.
fn preflight_curve(curve: &CurveConfig, rate: f64) -> Result<(), Exit> {
    Run::new(curve.at(rate, std::time::Duration::from_secs(1)))
        .and_then(|run| run.watch(curve.watched.clone()))
        .map_err(|e| bad_input(e.into()))?
        .preflight()?;
    Ok(())
}

/// The page, then the summary or the table.
fn finish_curve(json: bool, outcome: &CurveOutcome) -> Result<(), Exit> {
    let summary = &outcome.summary;
    let html_error =
        render::write_curve_page(&outcome.dir, summary).map_err(|e| Exit(1, e.into()))?;
    print_outcome(json, &outcome.dir, html_error.as_deref(), summary, || {
        format_curve_table(summary)
    })
}

/// `--direct` and `--proxied` must both answer before anything is written.
fn preflight_pair(config: &OverheadConfig) -> Result<(), Exit> {
    if let Some(proxy) = &config.proxy_pid {
        proxy
            .check("--proxy-pid")
            .map_err(|e| bad_input(e.into()))?;
    }
    let Pair::External { direct, proxied } = config.pair else {
        return Ok(());
    };
    for (addr, flag) in [(direct, "--direct"), (proxied, "--proxied")] {
        let mut leg = config.run.clone();
        leg.target = bench_client::Target::External { addr };
        Run::new(leg)
            .map_err(|e| bad_input(e.into()))?
            .preflight()
            .map_err(|e| Exit::from(e.for_flag(flag)))?;
    }
    Ok(())
}

/// What a matrix prints besides its table.
struct Shown {
    /// `--json`: summary.json on stdout instead of the table.
    json: bool,
    /// `--latency`: each cell's spectrum after the table.
    latency: bool,
    /// The progress of its cells.
    tally: Tally,
}

/// The shared part of `suite` and `nagle`: signals, a progress bar per cell, the table
/// (`table` gets the rows and their reports), the spectra.
fn run_matrix(
    out_dir: &Path,
    shown: &Shown,
    table: fn(&[SummaryRow], &[Report]) -> String,
    go: impl FnOnce(&Stopper, &mut dyn FnMut(&Cell, &Run)) -> Result<SuiteOutcome, SuiteError>,
) -> Result<u8, Exit> {
    let json = shown.json;
    let outcome = with_progress(out_dir, &shown.tally, |stopper, on_run| {
        go(stopper, &mut |cell, run| on_run(&cell.name, run))
    })?;
    let summary = &outcome.summary;
    // The library's matrix never draws: the page is drawn here, after the runs.
    let html_error = render::write_matrix_page(&outcome.dir, summary, &outcome.reports)
        .map_err(|e| Exit(1, e.into()))?;
    let table = || {
        table(&summary.cells, &outcome.reports) + matrix::interrupted_footer(summary.interrupted)
    };
    print_outcome(json, &outcome.dir, html_error.as_deref(), summary, table)?;
    if shown.latency {
        let text: String = summary
            .cells
            .iter()
            .zip(&outcome.reports)
            .map(|(cell, report)| crate::run::spectrum(&cell.name, report))
            .collect();
        if json {
            to_stderr(&text);
        } else {
            out!("{text}")?;
        }
    }
    let errors = summary.cells.iter().map(|c| c.errors).sum();
    let measured = summary.cells.iter().all(|c| c.requests_per_s > 0.0);
    Ok(outcome_code(summary.interrupted, errors, measured))
}

/// How a command's runs are counted on the progress bar (`cell 2/5`), and its interval
/// lines.
struct Tally {
    /// What a run is called: `cell`, `step`, `trial`, `leg`.
    word: &'static str,
    /// How many runs there are, when known beforehand.
    total: Option<usize>,
    /// `--interval`, in seconds, and whether stdout carries JSON (the lines then go to
    /// stderr).
    view: progress::View,
}

impl Tally {
    fn new(word: &'static str, total: Option<usize>, interval_s: Option<u64>, json: bool) -> Tally {
        Tally {
            word,
            total,
            view: progress::View {
                interval_s,
                lines_to_stderr: json,
                place: None,
            },
        }
    }

    /// The view of run `index` (1-based) like `run`: its place, and the time the runs
    /// after it take if they last as long.
    fn view(&self, index: usize, run: &Run) -> progress::View {
        let config = run.config();
        let each = match config.length {
            bench_client::RunLength::Duration(d) => config.warmup.0 + d.0,
            bench_client::RunLength::Requests(_) => std::time::Duration::ZERO,
        };
        let later = self.total.map_or(0, |n| n.saturating_sub(index));
        progress::View {
            place: Some(progress::Place {
                word: self.word,
                index,
                total: self.total,
                after: each * u32::try_from(later).unwrap_or(u32::MAX),
            }),
            ..self.view.clone()
        }
    }
}

/// The output folder made first, signals watched, and one progress bar per run, named
/// and counted.
fn with_progress<T, E: Into<anyhow::Error>>(
    out_dir: &Path,
    tally: &Tally,
    go: impl FnOnce(&Stopper, &mut dyn FnMut(&str, &Run)) -> Result<T, E>,
) -> Result<T, Exit> {
    output::create_dir(out_dir)
        .context("--out-dir")
        .map_err(bad_input)?;
    let stopper = Stopper::new();
    progress::watch_signals(stopper.clone()).map_err(|e| Exit(1, e))?;
    let mut bar: Option<progress::Progress> = None;
    let mut index = 0;
    let outcome = go(&stopper, &mut |name, run| {
        // The run before has ended: its last interval lines are owed now.
        if let Some(b) = bar.take() {
            b.finish(None);
        }
        index += 1;
        bar = Some(progress::Progress::start(
            name,
            run,
            &tally.view(index, run),
        ));
    });
    if let Some(b) = bar.take() {
        b.finish(None);
    }
    outcome.map_err(|e| Exit(1, e.into()))
}

/// The end of a folder-writing command: the summary as JSON, or its table and where the
/// files went; a warning when the page could not be drawn.
fn print_outcome(
    json: bool,
    dir: &Path,
    html_error: Option<&str>,
    summary: &impl serde::Serialize,
    table: impl FnOnce() -> String,
) -> Result<(), Exit> {
    if let Some(e) = html_error {
        warn(&format!(
            "bench-client: warning: report.html not written: {e}"
        ));
    }
    if json {
        let json = serde_json::to_string_pretty(summary).expect("summaries serialise");
        out!("{json}\n")
    } else {
        out!(
            "{}reports: {}\nhtml: {}\n",
            table(),
            dir.display(),
            dir.join("report.html").display()
        )
    }
}
