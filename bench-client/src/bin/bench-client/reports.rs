//! `bench-client compare`, `render` and `export`: read reports (or a suite/nagle folder)
//! through the input cap, never run load. Unreadable input is bad input (exit 2); an
//! output that cannot be written is exit 1.

use std::path::Path;

use anyhow::Context as _;
use bench_client::Report;
use bench_proto::ByteSize;

use crate::cli::args::InputArgs;
use crate::cli::reports::{CompareArgs, ExportArgs, RenderArgs};
use crate::{Exit, bad_input, emit};
use bench_client::analysis::{self as compare, Threshold, hlog};
use bench_client::{input, output, render};

/// `compare`: the table (or with `--json` the document), the gates' verdicts; exit 1 when
/// a gate trips.
pub fn compare(args: &CompareArgs) -> Result<u8, Exit> {
    apply_max_input(&args.input)?;
    let thresholds = args
        .fail_if
        .iter()
        .map(|t| {
            t.parse::<Threshold>()
                .map_err(|e| bad_input(anyhow::anyhow!("--fail-if {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let comparison = compare::load(&args.inputs, args.force).map_err(|e| bad_input(e.into()))?;
    let violations = compare::check(&comparison, &thresholds);
    if args.json {
        let json = compare::compare::json::to_json(&comparison, &args.fail_if, &violations);
        emit(&json)?;
        return Ok(u8::from(!violations.is_empty()));
    }
    let layout = if args.wide {
        compare::Layout::Wide
    } else {
        compare::Layout::Compact
    };
    let mut text = compare::format(&comparison, layout);
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

/// `render`: one folder's page, or one page for several reports.
pub fn render(args: &RenderArgs) -> Result<u8, Exit> {
    apply_max_input(&args.input)?;
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
    write_result(&out, args.out.is_some(), "the page", html.as_bytes())?;
    if !output::is_stdout(&out) {
        out!("html: {} ({} bytes)\n", out.display(), html.len())?;
    }
    Ok(0)
}

/// `export`: the report's timeline as an HdrHistogram interval log (the one format;
/// `--hlog` names it and changes nothing).
pub fn export(args: &ExportArgs) -> Result<u8, Exit> {
    apply_max_input(&args.input)?;
    let report = Report::read(&args.report).map_err(|e| bad_input(e.into()))?;
    let log = hlog::interval_log(&report)
        .with_context(|| args.report.display().to_string())
        .map_err(bad_input)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.report.with_extension("hlog"));
    write_result(&out, args.out.is_some(), "the log", log.as_bytes())?;
    if !output::is_stdout(&out) {
        out!(
            "hlog: {} ({} intervals)\n",
            out.display(),
            report.timeline.len()
        )?;
    }
    Ok(0)
}

/// Writes what a command made to `out`; a failure names `--out` when it was given,
/// otherwise `what` (the default place was the command's choice, not a flag).
fn write_result(out: &Path, given: bool, what: &'static str, bytes: &[u8]) -> Result<(), Exit> {
    output::write(out, bytes)
        .context(if given { "--out" } else { what })
        .map_err(|e| Exit(1, e))
}

/// The input cap: `--max-input`, else `$WIREBENCH_MAX_INPUT`, else the default.
pub(crate) fn apply_max_input(args: &InputArgs) -> Result<(), Exit> {
    let (size, name) = match args.max_input {
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
