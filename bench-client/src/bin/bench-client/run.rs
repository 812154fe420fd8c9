//! `bench-client run`: one run, from its checked plan to the report on disk and the table
//! on stdout. The output location is checked (and a folder's file name taken) after the
//! pre-flight and before the load, so a run is never spent on a report that cannot land.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context as _;
use bench_client::{Report, Run, RunConfig, Stopper};

use crate::cli::OutputPlan;
use crate::cli::run::{RunArgs, RunPlan};
use crate::{Exit, bad_input, emit, outcome_code, progress, resolve, to_stderr, warn};
use bench_client::analysis::{format_run_table, spectrum};
use bench_client::output::{self, file_stamp};
use bench_client::report::summary::SummaryRow;
use bench_proto::units::format_ns;

/// Parse, resolve, pre-flight, reserve the output, run, write, print.
pub fn run(args: &RunArgs) -> Result<u8, Exit> {
    let plan = RunPlan::try_from(args).map_err(bad_input)?;
    let output = args.output.plan().map_err(bad_input)?;
    let interval_s = args.interval.seconds().map_err(bad_input)?;
    let mut config = plan.into_config(resolve::address).map_err(bad_input)?;
    if let Some(path) = &args.workload_file {
        config.custom = Some(read_workload(path).map_err(bad_input)?);
    }
    let config = args.shard.apply(config).map_err(bad_input)?;
    let start = args.shard.start().map_err(bad_input)?;
    let mut run = Run::with_stopper(config, Stopper::new())
        .and_then(|run| run.watch(args.watch_pid.clone()))
        .map_err(|e| bad_input(e.into()))?;
    if let Some(start) = start {
        run = run.start_at(start);
        run.check_start()?;
    }
    run.preflight()?;
    let mut destination = Destination::take(&output, run.config())?;
    progress::watch_signals(run.stopper()).map_err(|e| Exit(1, e))?;
    let name = workload_name(run.config());
    let view = progress::View {
        interval_s,
        // stdout carries the report itself: the lines go beside the table, on stderr.
        lines_to_stderr: args.output.json || destination.is_stdout(),
        place: None,
    };
    let bar = progress::Progress::start(&name, &run, &view);
    let report = run.execute();
    bar.finish(report.as_ref().ok().and_then(recorded_s));
    let report = report?;
    // A report that cannot be written is an error, after the table: the measurement is
    // still shown.
    let written = destination.write(&report);
    if args.output.json {
        let json = serde_json::to_string_pretty(&report).expect("reports serialise");
        out!("{json}\n")?;
    } else {
        print_table(&name, &report, &destination, written.is_ok())?;
    }
    if args.latency.latency {
        let text = spectrum(&name, &report);
        if args.output.json || destination.is_stdout() {
            to_stderr(&text);
        } else {
            emit(&text)?;
        }
    }
    warn_if_unmeasured(&report);
    written.map_err(|e| Exit(1, e))?;
    Ok(outcome_code(
        report.interrupted,
        report.totals.error_count,
        report.totals.requests > 0,
    ))
}

/// Reads a workload file (checked when the run is built, so its errors carry the path).
fn read_workload(path: &std::path::Path) -> anyhow::Result<bench_client::config::WorkloadFile> {
    let bytes = bench_client::input::read_capped(path)
        .with_context(|| format!("--workload {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("--workload {}: not UTF-8 text", path.display()))?;
    Ok(bench_client::config::WorkloadFile {
        path: path.display().to_string(),
        text,
    })
}

/// Where the report goes, taken before the run: a file checked for writing, or a name
/// reserved in a folder, which is removed again unless the report was written into it.
struct Destination {
    path: Option<PathBuf>,
    /// The flag that chose it, as the context of an error writing it.
    flag: &'static str,
    /// Whether `path` is a reservation to give back when dropped.
    reserved: bool,
}

impl Destination {
    fn take(plan: &OutputPlan, config: &RunConfig) -> Result<Destination, Exit> {
        let (path, flag, reserved) = match plan {
            OutputPlan::File(path) => {
                output::check_writable(path)
                    .context("--out")
                    .map_err(bad_input)?;
                (Some(path.clone()), "--out", false)
            }
            OutputPlan::Dir(dir) => {
                let path = output::create_dir(dir)
                    .and_then(|()| output::reserve_unique(dir, &report_name(config), "json"))
                    .context("--out-dir")
                    .map_err(bad_input)?;
                (Some(path), "--out-dir", true)
            }
            OutputPlan::None => (None, "", false),
        };
        Ok(Destination {
            path,
            flag,
            reserved,
        })
    }

    /// Writes the report (if it has a place); the reservation is then kept.
    fn write(&mut self, report: &Report) -> anyhow::Result<()> {
        if let Some(path) = &self.path {
            report.write(path).context(self.flag)?;
            self.reserved = false;
        }
        Ok(())
    }

    /// `--out -`: stdout carries the report, so the table goes to stderr.
    fn is_stdout(&self) -> bool {
        self.path.as_deref().is_some_and(output::is_stdout)
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        if let (true, Some(path)) = (self.reserved, self.path.take()) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The one-row table, its notes and where the report went.
fn print_table(
    name: &str,
    report: &Report,
    destination: &Destination,
    written: bool,
) -> Result<(), Exit> {
    let row = SummaryRow::new(name, "", report);
    let mut text = format_run_table(&[(&row, report)]);
    text.push_str(&notes(report));
    let on_stdout = destination.is_stdout();
    match &destination.path {
        Some(path) if !on_stdout && written => {
            text.push_str(&format!("report: {}\n", path.display()));
        }
        _ => {}
    }
    if on_stdout {
        to_stderr(&text);
        Ok(())
    } else {
        emit(&text)
    }
}

/// How long a run recorded, from the end of its timeline's last interval.
pub fn recorded_s(report: &Report) -> Option<f64> {
    report.timeline.last().map(|e| e.t_s + e.duration_s)
}

/// `--latency`: the whole spectrum of the run's latency as `.hgrm` text, titled.
pub fn spectrum(name: &str, report: &Report) -> String {
    let how = if report.schedule.is_some() {
        " (open loop: from each request's intended send time, corrected for coordinated omission)"
    } else {
        ""
    };
    let title = format!("{name}: latency of {} requests{how}", report.latency.count);
    match report.latency.decode() {
        Ok(hist) => format!("\n{}", spectrum::format_spectrum(&hist, &title)),
        Err(e) => format!("# {title}: the histogram does not decode: {e}\n"),
    }
}

/// A run that recorded no request measured nothing: say why, if it is known.
fn warn_if_unmeasured(report: &Report) {
    if report.totals.requests > 0 || report.interrupted {
        return;
    }
    match report.schedule.as_ref().map_or(0, |s| s.unfinished) {
        0 => warn("bench-client: no request completed in the recorded part"),
        n => warn(&format!(
            "bench-client: no request completed in the recorded part ({n} unfinished: the target did not answer in time)"
        )),
    }
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
    if let Some(shard) = &report.config.shard {
        let _ = writeln!(
            text,
            "shard {}/{} of run {}: {} connections",
            shard.index, shard.count, shard.run_id, report.config.connections
        );
    }
    if let Some(start) = &report.start {
        let _ = writeln!(
            text,
            "start: intended {}, skew {:.3}ms",
            start.intended,
            start.skew_ns as f64 / 1e6
        );
    }
    if let Some(cpu) = &report.cpu {
        let _ = writeln!(text, "{}", cpu.summary_line());
    }
    if report.interrupted {
        text.push_str("interrupted: the report covers the run until the stop\n");
    }
    text
}

/// The workload's name in the table and the report's file name: a custom workload is
/// named after its file (`custom-redis-ping`).
fn workload_name(config: &RunConfig) -> String {
    let stem = config.custom.as_ref().and_then(|file| {
        let stem = std::path::Path::new(&file.path).file_stem()?.to_str()?;
        let safe: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        Some(safe)
    });
    match stem {
        Some(stem) => format!("custom-{stem}"),
        None => config.workload.as_str().to_owned(),
    }
}

/// `2026-11-25T13-45-07Z-tcp-echo[-label]` (the report is this `.json`, or `-2.json`, ...
/// when a run in the same second took it).
fn report_name(config: &RunConfig) -> String {
    let mut name = format!(
        "{}-{}",
        file_stamp(SystemTime::now()),
        workload_name(config)
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
