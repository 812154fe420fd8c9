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
        eprintln!("bench-client: no request completed in the recorded part");
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
            "open loop: p99 {} corrected, {} uncorrected; {} sent late (>{}), {} unsent",
            suite::format_ns(report.latency.p99_ns),
            suite::format_ns(uncorrected.p99_ns),
            schedule.late,
            suite::format_ns(schedule.late_threshold_ns),
            schedule.unsent
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
    std::fs::create_dir_all(&config.out_dir)
        .with_context(|| format!("--out-dir {}: cannot create it", config.out_dir.display()))
        .map_err(bad_input)?;
    let stopper = Stopper::new();
    progress::watch_signals(stopper.clone()).map_err(|e| Exit(1, e))?;
    let mut bar: Option<progress::Progress> = None;
    let outcome = suite::run_suite(&config, &stopper, |cell, run| {
        if let Some(b) = bar.take() {
            b.finish();
        }
        bar = Some(progress::Progress::start(&cell.name, run));
    });
    if let Some(b) = bar.take() {
        b.finish();
    }
    let outcome = outcome.map_err(|e| Exit(1, e.into()))?;
    let summary = &outcome.summary;
    if args.json {
        let json = serde_json::to_string_pretty(summary).expect("summaries serialise");
        println!("{json}");
    } else {
        print!("{}", suite::format_table(&summary.cells));
        println!("reports: {}", outcome.dir.display());
    }
    let errors = summary.cells.iter().map(|c| c.errors).sum();
    let measured = summary.cells.iter().all(|c| c.requests_per_s > 0.0);
    Ok(outcome_code(summary.interrupted, errors, measured))
}
