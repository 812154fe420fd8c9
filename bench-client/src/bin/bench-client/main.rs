//! The `bench-client` binary: parses the command line into a [`RunConfig`] or a
//! [`SuiteConfig`], runs it through the library, writes the report and prints the summary
//! table. Exit codes: 0 clean, 1 the run had errors (or could not run), 2 bad input
//! (flags, unreachable target; nothing is written), 130 stopped by a signal.
//!
//! Everything printed on stdout goes through [`emit`] (never `println!`, which panics on
//! a closed pipe): `| head -1` ends the output quietly and the exit code stays the
//! command's. Files go through [`bench_client::output`].

mod cli;
mod progress;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context as _;
use bench_client::analysis::{self as compare, Threshold, format_overhead_table};
use bench_client::matrix::nagle::{self, NagleConfig};
use bench_client::matrix::overhead::{self, OverheadConfig, Pair};
use bench_client::matrix::suite::{SuiteConfig, run_suite as run_suite_cells};
use bench_client::matrix::{self, Cell, SuiteError, SuiteOutcome};
use bench_client::output::file_stamp;
use bench_client::render;
use bench_client::report::summary::SummaryRow;
use bench_client::{Report, Run, RunConfig, RunError, Stopper};
use bench_client::{input, output};
use bench_proto::ByteSize;
use bench_proto::units::format_ns;
use clap::Parser as _;

use cli::{Cli, Command, OutputPlan};

/// A failure and the exit code it maps to.
struct Exit(u8, anyhow::Error);

impl From<RunError> for Exit {
    fn from(e: RunError) -> Exit {
        Exit(if e.is_bad_input() { 2 } else { 1 }, e.into())
    }
}

fn bad_input(e: anyhow::Error) -> Exit {
    Exit(2, e)
}

/// Prints on stdout: a reader that has gone ends the output quietly (this returns `Ok`),
/// any other failure (`> /dev/full`) is a one-line error, exit 1.
fn emit(text: &str) -> Result<(), Exit> {
    output::write_stdout(text.as_bytes()).map_err(|e| Exit(1, e.into()))
}

/// `print!` through [`emit`]: `out!("...")?`.
macro_rules! out {
    ($($arg:tt)*) => {
        emit(&format!($($arg)*))
    };
}

/// Text on stderr as it is; a stderr that cannot be written is not worth a panic.
fn to_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// One line on stderr.
fn warn(line: &str) {
    to_stderr(&format!("{line}\n"));
}

/// The input cap: `--max-input`, else `$WIREBENCH_MAX_INPUT`, else the default.
fn apply_max_input(flag: Option<ByteSize>) -> Result<(), Exit> {
    let (size, name) = match flag {
        Some(size) => (size, format!("--max-input {size}")),
        None => match std::env::var(input::MAX_INPUT_ENV) {
            Ok(text) => {
                let name = format!("{}={text}", input::MAX_INPUT_ENV);
                let size = text
                    .parse::<ByteSize>()
                    .map_err(|e| bad_input(anyhow::anyhow!("{name}: {e}")))?;
                (size, name)
            }
            Err(_) => return Ok(()),
        },
    };
    if size.0 == 0 {
        return Err(bad_input(anyhow::anyhow!("{name}: must be at least 1B")));
    }
    input::set_max_input(size.0);
    Ok(())
}

/// A file taken for the report before the run (`--out-dir`), removed again unless the
/// report was written into it.
struct Reserved(Option<PathBuf>);

impl Reserved {
    fn keep(&mut self) {
        self.0 = None;
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return bench_server::cli_support::exit_on_clap_error("bench-client", e),
    };
    let result = match &cli.command {
        Command::Run(args) => run(args),
        Command::Suite(args) => run_suite(args),
        Command::Nagle(args) => run_nagle(args),
        Command::Compare(args) => compare(args),
        Command::Render(args) => render(args),
        Command::Export(args) => export(args),
        Command::Overhead(args) => overhead(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Exit(code, e)) => {
            warn(&format!("bench-client: error: {e:#}"));
            ExitCode::from(code)
        }
    }
}

/// The exit code a finished run (or suite) earns: a run that completed no request at all
/// did not measure anything, which is a failure too.
fn outcome_code(interrupted: bool, errors: u64, measured: bool) -> u8 {
    if interrupted {
        130
    } else if errors > 0 || !measured {
        1
    } else {
        0
    }
}

fn run(args: &cli::RunArgs) -> Result<u8, Exit> {
    let config = RunConfig::try_from(args).map_err(bad_input)?;
    let plan = args.output.plan().map_err(bad_input)?;
    let run = Run::with_stopper(config, Stopper::new()).map_err(|e| bad_input(e.into()))?;
    run.preflight()?;
    // Check the output location (and take the report's name) before spending the run
    // on it.
    let (path, flag) = match &plan {
        OutputPlan::File(path) => {
            output::check_writable(path)
                .context("--out")
                .map_err(bad_input)?;
            (Some(path.clone()), "--out")
        }
        OutputPlan::Dir(dir) => {
            let reserved = output::create_dir(dir)
                .and_then(|()| output::reserve_unique(dir, &report_name(run.config()), "json"))
                .context("--out-dir")
                .map_err(bad_input)?;
            (Some(reserved), "--out-dir")
        }
        OutputPlan::None => (None, ""),
    };
    let mut reserved = Reserved(path.clone().filter(|_| flag == "--out-dir"));
    progress::watch_signals(run.stopper()).map_err(|e| Exit(1, e))?;
    let name = run.config().workload.as_str().to_owned();
    let bar = progress::Progress::start(&name, &run);
    let report = run.execute();
    bar.finish();
    let report = report?;
    // A report that cannot be written is an error, after the table: the measurement is
    // still shown.
    let written = match &path {
        Some(path) => report.write(path).context(flag).map(|()| reserved.keep()),
        None => Ok(()),
    };
    // `--out -`: stdout carries the report, so the table goes to stderr.
    let report_on_stdout = path.as_deref().is_some_and(output::is_stdout);
    if args.output.json {
        let json = serde_json::to_string_pretty(&report).expect("reports serialise");
        out!("{json}\n")?;
    } else {
        let row = SummaryRow::new(&name, "", &report);
        let mut text = matrix::format_table(&[row]);
        text.push_str(&notes(&report));
        match &path {
            Some(path) if !report_on_stdout && written.is_ok() => {
                text.push_str(&format!("report: {}\n", path.display()));
            }
            _ => {}
        }
        if report_on_stdout {
            to_stderr(&text);
        } else {
            emit(&text)?;
        }
    }
    if report.totals.requests == 0 && !report.interrupted {
        match report.schedule.as_ref().map_or(0, |s| s.unfinished) {
            0 => warn("bench-client: no request completed in the recorded part"),
            n => warn(&format!(
                "bench-client: no request completed in the recorded part ({n} unfinished: the target did not answer in time)"
            )),
        }
    }
    written.map_err(|e| Exit(1, e))?;
    Ok(outcome_code(
        report.interrupted,
        report.totals.error_count,
        report.totals.requests > 0,
    ))
}

/// What the table does not show: errors by kind, open-loop lag, UDP accounting.
fn notes(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for (kind, sample) in &report.totals.error_samples {
        let count = report.totals.errors.get(kind).copied().unwrap_or(0);
        let _ = writeln!(text, "errors: {count} {}, first: {sample}", kind.as_str());
    }
    if let (Some(schedule), Some(uncorrected)) = (&report.schedule, &report.latency_uncorrected) {
        let _ = writeln!(
            text,
            "open loop: achieved {:.0} of {:.0} req/s ({}); p99 {} corrected, {} uncorrected; \
             {} sent late (>{}), {} unfinished, {} unsent, {} warm-up dropped",
            schedule.achieved_rate,
            schedule.target_rate,
            schedule.verdict.text(),
            format_ns(report.latency.p99_ns),
            format_ns(uncorrected.p99_ns),
            schedule.late,
            format_ns(schedule.late_threshold_ns),
            schedule.unfinished,
            schedule.unsent,
            schedule.warmup_dropped,
        );
    }
    if let Some(udp) = &report.udp {
        let _ = writeln!(
            text,
            "udp: {} sent, {} received, {} lost, {} late, {} duplicated, {} reordered",
            udp.sent, udp.received, udp.lost, udp.late, udp.duplicated, udp.reordered
        );
    }
    if report.interrupted {
        text.push_str("interrupted: the report covers the run until the stop\n");
    }
    text
}

/// `2026-11-25T13-45-07Z-tcp-echo[-label]` (the report is this `.json`, or `-2.json`, ...
/// when a run in the same second took it).
fn report_name(config: &RunConfig) -> String {
    let mut name = format!(
        "{}-{}",
        file_stamp(SystemTime::now()),
        config.workload.as_str()
    );
    let label: String = config
        .label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let label = label.trim_matches('-');
    if !label.is_empty() {
        name.push('-');
        name.push_str(label);
    }
    name
}

fn run_suite(args: &cli::SuiteArgs) -> Result<u8, Exit> {
    let config = SuiteConfig::try_from(args).map_err(bad_input)?;
    run_matrix(
        &config.out_dir,
        args.json,
        matrix::format_table,
        |stopper, on_cell| run_suite_cells(&config, stopper, on_cell),
    )
}

fn run_nagle(args: &cli::NagleArgs) -> Result<u8, Exit> {
    let config = NagleConfig::try_from(args).map_err(bad_input)?;
    if config.target.is_some() {
        // An unreachable or non-framed target is bad input, found before any file exists.
        let first = nagle::cells(&config).remove(0);
        Run::new(first.config)
            .map_err(|e| bad_input(e.into()))?
            .preflight()?;
    }
    run_matrix(
        &config.out_dir,
        args.json,
        nagle::format_table,
        |stopper, on_cell| nagle::run_nagle(&config, stopper, on_cell),
    )
}

/// The shared part of `suite` and `nagle`: signals, a progress bar per cell, the table.
fn run_matrix(
    out_dir: &Path,
    json: bool,
    table: fn(&[SummaryRow]) -> String,
    go: impl FnOnce(&Stopper, &mut dyn FnMut(&Cell, &Run)) -> Result<SuiteOutcome, SuiteError>,
) -> Result<u8, Exit> {
    let outcome = with_progress(out_dir, |stopper, on_run| {
        go(stopper, &mut |cell, run| on_run(&cell.name, run))
    })?;
    let summary = &outcome.summary;
    // The library's matrix never draws: the page is drawn here, after the runs.
    let html_error = render::write_matrix_page(&outcome.dir, summary, &outcome.reports)
        .map_err(|e| Exit(1, e.into()))?;
    let table = || table(&summary.cells) + matrix::interrupted_footer(summary.interrupted);
    print_outcome(json, &outcome.dir, html_error.as_deref(), summary, table)?;
    let errors = summary.cells.iter().map(|c| c.errors).sum();
    let measured = summary.cells.iter().all(|c| c.requests_per_s > 0.0);
    Ok(outcome_code(summary.interrupted, errors, measured))
}

/// What `suite`, `nagle` and `overhead` share: the output folder made first, signals
/// watched, and one progress bar per run, named.
fn with_progress<T, E: Into<anyhow::Error>>(
    out_dir: &Path,
    go: impl FnOnce(&Stopper, &mut dyn FnMut(&str, &Run)) -> Result<T, E>,
) -> Result<T, Exit> {
    output::create_dir(out_dir)
        .context("--out-dir")
        .map_err(bad_input)?;
    let stopper = Stopper::new();
    progress::watch_signals(stopper.clone()).map_err(|e| Exit(1, e))?;
    let mut bar: Option<progress::Progress> = None;
    let outcome = go(&stopper, &mut |name, run| {
        if let Some(b) = bar.take() {
            b.finish();
        }
        bar = Some(progress::Progress::start(name, run));
    });
    if let Some(b) = bar.take() {
        b.finish();
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

fn compare(args: &cli::CompareArgs) -> Result<u8, Exit> {
    apply_max_input(args.max_input)?;
    let thresholds = args
        .fail_if
        .iter()
        .map(|t| {
            t.parse::<Threshold>()
                .map_err(|e| bad_input(anyhow::anyhow!("--fail-if {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let comparison = compare::load(&args.inputs, args.force).map_err(|e| bad_input(e.into()))?;
    let mut text = compare::format(&comparison);
    let violations = compare::check(&comparison, &thresholds);
    for v in &violations {
        text.push_str(&format!("{v}\n"));
    }
    if !thresholds.is_empty() && violations.is_empty() {
        text.push_str(&format!("pass: {}\n", args.fail_if.join(", ")));
    }
    // A closed stdout does not change the verdict: a tripped gate still exits 1.
    emit(&text)?;
    Ok(u8::from(!violations.is_empty()))
}

fn render(args: &cli::RenderArgs) -> Result<u8, Exit> {
    apply_max_input(args.max_input)?;
    let dirs = args.inputs.iter().filter(|p| p.is_dir()).count();
    let (html, default_out) = if dirs > 0 {
        if args.inputs.len() > 1 {
            return Err(bad_input(anyhow::anyhow!(
                "{}: render takes one folder, or report files",
                args.inputs[1].display()
            )));
        }
        let dir = &args.inputs[0];
        let html = render::render_folder(dir).map_err(|e| bad_input(e.into()))?;
        (html, dir.join("report.html"))
    } else {
        let html = render::render_reports(&args.inputs).map_err(|e| bad_input(e.into()))?;
        let out = match (&args.inputs[..], &args.out) {
            (_, Some(out)) => out.clone(),
            ([one], None) => one.with_extension("html"),
            (_, None) => {
                return Err(bad_input(anyhow::anyhow!(
                    "--out: needed with several reports (where should the page go?)"
                )));
            }
        };
        (html, out)
    };
    let out = args.out.clone().unwrap_or(default_out);
    output::write(&out, html.as_bytes())
        .context(if args.out.is_some() {
            "--out"
        } else {
            "the page"
        })
        .map_err(|e| Exit(1, e))?;
    if !output::is_stdout(&out) {
        out!("html: {} ({} bytes)\n", out.display(), html.len())?;
    }
    Ok(0)
}

fn export(args: &cli::ExportArgs) -> Result<u8, Exit> {
    debug_assert!(args.hlog, "clap requires --hlog");
    apply_max_input(args.max_input)?;
    let report = Report::read(&args.report).map_err(|e| bad_input(e.into()))?;
    let log = bench_client::analysis::hlog::interval_log(&report)
        .with_context(|| args.report.display().to_string())
        .map_err(bad_input)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.report.with_extension("hlog"));
    output::write(&out, log.as_bytes())
        .context(if args.out.is_some() {
            "--out"
        } else {
            "the log"
        })
        .map_err(|e| Exit(1, e))?;
    if !output::is_stdout(&out) {
        out!(
            "hlog: {} ({} intervals)\n",
            out.display(),
            report.timeline.len()
        )?;
    }
    Ok(0)
}

fn overhead(args: &cli::OverheadArgs) -> Result<u8, Exit> {
    let config = OverheadConfig::try_from(args).map_err(bad_input)?;
    if let Pair::External { direct, proxied } = config.pair {
        // Both ends must answer before anything is written.
        for (addr, flag) in [(direct, "--direct"), (proxied, "--proxied")] {
            let mut leg = config.run.clone();
            leg.target = bench_client::Target::External { addr };
            Run::new(leg)
                .map_err(|e| bad_input(e.into()))?
                .preflight()
                .map_err(|e| Exit::from(e.for_flag(flag)))?;
        }
    }
    let outcome = with_progress(&config.out_dir, |stopper, on_run| {
        overhead::run_overhead(&config, stopper, on_run)
    })?;
    let summary = &outcome.summary;
    let html_error =
        render::write_overhead_page(&outcome.dir, summary).map_err(|e| Exit(1, e.into()))?;
    let table = || format_overhead_table(summary);
    print_outcome(
        args.json,
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
