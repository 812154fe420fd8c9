//! The `bench-client` binary: parses the command line into a [`RunConfig`] or a
//! [`SuiteConfig`], runs it through the library, writes the report and prints the summary
//! table. Exit codes: 0 clean, 1 the run had errors (or could not run), 2 bad input
//! (flags, unreachable target; nothing is written), 130 stopped by a signal.

mod cli;
mod progress;

use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context as _;
use bench_client::compare::{self, Threshold};
use bench_client::nagle::{self, NagleConfig};
use bench_client::overhead::{self, OverheadConfig, Pair};
use bench_client::render;
use bench_client::report::file_stamp;
use bench_client::suite::{self, SuiteConfig, SummaryRow};
use bench_client::{Report, Run, RunConfig, RunError, Stopper};
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
            eprintln!("bench-client: error: {e:#}");
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
    // Check the output location before spending the run on it.
    let path = match &plan {
        OutputPlan::File(path) => Some(path.clone()),
        OutputPlan::Dir(dir) => Some(dir.join(report_name(run.config()))),
        OutputPlan::None => None,
    };
    if let Some(path) = &path {
        let flag = if matches!(plan, OutputPlan::File(_)) {
            "--out"
        } else {
            "--out-dir"
        };
        ensure_writable(path, flag).map_err(bad_input)?;
    }
    progress::watch_signals(run.stopper()).map_err(|e| Exit(1, e))?;
    let name = run.config().workload.as_str().to_owned();
    let bar = progress::Progress::start(&name, &run);
    let report = run.execute();
    bar.finish();
    let report = report?;
    if let Some(path) = &path {
        report.write(path).map_err(|e| Exit(1, e.into()))?;
    }
    if args.output.json {
        let json = serde_json::to_string_pretty(&report).expect("reports serialise");
        println!("{json}");
    } else {
        let row = SummaryRow::new(&name, "", &report);
        print!("{}", suite::format_table(&[row]));
        print_notes(&report);
        if let Some(path) = &path {
            println!("report: {}", path.display());
        }
    }
    if report.totals.requests == 0 && !report.interrupted {
        match report.schedule.as_ref().map_or(0, |s| s.unfinished) {
            0 => eprintln!("bench-client: no request completed in the recorded part"),
            n => eprintln!(
                "bench-client: no request completed in the recorded part ({n} unfinished: the target did not answer in time)"
            ),
        }
    }
    Ok(outcome_code(
        report.interrupted,
        report.totals.error_count,
        report.totals.requests > 0,
    ))
}

/// What the table does not show: errors by kind, open-loop lag, UDP accounting.
fn print_notes(report: &Report) {
    for (kind, sample) in &report.totals.error_samples {
        let count = report.totals.errors.get(kind).copied().unwrap_or(0);
        println!("errors: {count} {}, first: {sample}", kind.as_str());
    }
    if let (Some(schedule), Some(uncorrected)) = (&report.schedule, &report.latency_uncorrected) {
        println!(
            "open loop: achieved {:.0} of {:.0} req/s ({}); p99 {} corrected, {} uncorrected; \
             {} sent late (>{}), {} unfinished, {} unsent, {} warm-up dropped",
            schedule.achieved_rate,
            schedule.target_rate,
            schedule.verdict.text(),
            suite::format_ns(report.latency.p99_ns),
            suite::format_ns(uncorrected.p99_ns),
            schedule.late,
            suite::format_ns(schedule.late_threshold_ns),
            schedule.unfinished,
            schedule.unsent,
            schedule.warmup_dropped,
        );
    }
    if let Some(udp) = &report.udp {
        println!(
            "udp: {} sent, {} received, {} lost, {} late, {} duplicated, {} reordered",
            udp.sent, udp.received, udp.lost, udp.late, udp.duplicated, udp.reordered
        );
    }
    if report.interrupted {
        println!("interrupted: the report covers the run until the stop");
    }
}

/// `2026-11-25T13-45-07Z-tcp-echo[-label].json`.
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
    name.push_str(".json");
    name
}

/// Makes sure the report can be written before the run: the folder exists (or is made)
/// and a file can be created in it (a probe file, removed at once).
fn ensure_writable(path: &Path, flag: &str) -> anyhow::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let shown = if flag == "--out" {
        path.display().to_string()
    } else {
        parent.map_or_else(|| ".".to_owned(), |p| p.display().to_string())
    };
    if let Some(dir) = parent {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{flag} {shown}: cannot create the folder"))?;
    }
    if path.is_dir() {
        anyhow::bail!("{flag} {shown}: is a folder");
    }
    let mut probe = path.as_os_str().to_owned();
    probe.push(format!(".probe-{}", std::process::id()));
    std::fs::File::create(&probe).with_context(|| format!("{flag} {shown}: cannot write there"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn run_suite(args: &cli::SuiteArgs) -> Result<u8, Exit> {
    let config = SuiteConfig::try_from(args).map_err(bad_input)?;
    run_matrix(
        &config.out_dir,
        args.json,
        suite::format_table,
        |stopper, on_cell| suite::run_suite(&config, stopper, on_cell),
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
    go: impl FnOnce(
        &Stopper,
        &mut dyn FnMut(&suite::Cell, &Run),
    ) -> Result<suite::SuiteOutcome, suite::SuiteError>,
) -> Result<u8, Exit> {
    let outcome = with_progress(out_dir, |stopper, on_run| {
        go(stopper, &mut |cell, run| on_run(&cell.name, run))
    })?;
    let summary = &outcome.summary;
    let table = || table(&summary.cells) + suite::interrupted_footer(summary.interrupted);
    print_outcome(
        json,
        &outcome.dir,
        outcome.html_error.as_deref(),
        summary,
        table,
    );
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
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("--out-dir {}: cannot create it", out_dir.display()))
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
) {
    if let Some(e) = html_error {
        eprintln!("bench-client: warning: report.html not written: {e}");
    }
    if json {
        let json = serde_json::to_string_pretty(summary).expect("summaries serialise");
        println!("{json}");
    } else {
        print!("{}", table());
        println!("reports: {}", dir.display());
        println!("html: {}", dir.join("report.html").display());
    }
}

fn compare(args: &cli::CompareArgs) -> Result<u8, Exit> {
    let thresholds = args
        .fail_if
        .iter()
        .map(|t| {
            t.parse::<Threshold>()
                .map_err(|e| bad_input(anyhow::anyhow!("--fail-if {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let comparison = compare::load(&args.inputs, args.force).map_err(|e| bad_input(e.into()))?;
    print!("{}", compare::format(&comparison));
    let violations = compare::check(&comparison, &thresholds);
    for v in &violations {
        println!("{v}");
    }
    if !thresholds.is_empty() && violations.is_empty() {
        println!("pass: {}", args.fail_if.join(", "));
    }
    Ok(u8::from(!violations.is_empty()))
}

fn render(args: &cli::RenderArgs) -> Result<u8, Exit> {
    let dirs = args.inputs.iter().filter(|p| p.is_dir()).count();
    let (html, default_out) = if dirs > 0 {
        if args.inputs.len() > 1 {
            return Err(bad_input(anyhow::anyhow!(
                "{}: render takes one folder, or report files",
                args.inputs[1].display()
            )));
        }
        let dir = &args.inputs[0];
        let html = render::render_folder(dir).map_err(bad_input)?;
        (html, dir.join("report.html"))
    } else {
        let html = render::render_reports(&args.inputs).map_err(bad_input)?;
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
    bench_client::report::write_atomic(&out, html.as_bytes())
        .with_context(|| format!("--out {}", out.display()))
        .map_err(|e| Exit(1, e))?;
    println!("html: {} ({} bytes)", out.display(), html.len());
    Ok(0)
}

fn export(args: &cli::ExportArgs) -> Result<u8, Exit> {
    debug_assert!(args.hlog, "clap requires --hlog");
    let report = Report::read(&args.report).map_err(|e| bad_input(e.into()))?;
    let log = bench_client::hlog::interval_log(&report)
        .with_context(|| args.report.display().to_string())
        .map_err(bad_input)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.report.with_extension("hlog"));
    if out.as_os_str() == "-" {
        print!("{log}");
        return Ok(0);
    }
    bench_client::report::write_atomic(&out, log.as_bytes())
        .with_context(|| format!("--out {}", out.display()))
        .map_err(|e| Exit(1, e))?;
    println!(
        "hlog: {} ({} intervals)",
        out.display(),
        report.timeline.len()
    );
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
    let table = || overhead::format_table(summary);
    print_outcome(
        args.json,
        &outcome.dir,
        outcome.html_error.as_deref(),
        summary,
        table,
    );
    let (direct_errors, proxied_errors) = summary.errors();
    let errors = direct_errors + proxied_errors;
    if errors > 0 {
        eprintln!(
            "bench-client: {errors} requests failed (direct {direct_errors}, proxied \
             {proxied_errors}); see the legs' reports"
        );
    }
    let measured = !summary.rounds.is_empty()
        && summary
            .rounds
            .iter()
            .all(|r| r.direct.requests_per_s > 0.0 && r.proxied.requests_per_s > 0.0);
    Ok(outcome_code(summary.interrupted, errors, measured))
}
