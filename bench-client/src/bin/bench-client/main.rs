//! The `bench-client` binary: parses the command line (`cli`, no I/O), resolves address
//! flags (`resolve`), runs the command through the library and prints its table. Exit
//! codes: 0 clean, 1 the run had errors (or could not run), 2 bad input (flags,
//! unreachable target; nothing is written), 130 stopped by a signal.
//!
//! # Layout
//!
//! - `main.rs`: dispatch, the exit code, and the two ways out (stdout, stderr).
//! - `cli/`: clap structs and their checks, one file per subcommand group.
//! - `resolve`: `host:port` to an address, the one network step before a pre-flight.
//! - `run`: `run` (one report, its output location, the table and its notes).
//! - `matrix`: `suite`, `nagle`, `overhead`, `sweep`, `search` (folders, a progress bar
//!   per run).
//! - `reports`: `compare`, `render`, `export` (read reports, never run load).
//! - `merge`: `merge` (a sharded run's shard reports into one).
//! - `progress`: the progress bar and the signal watcher; `interval`: the `--interval`
//!   lines.
//!
//! Everything printed on stdout goes through [`emit`] (never `println!`, which panics on
//! a closed pipe): `| head -1` ends the output quietly and the exit code stays the
//! command's. Files go through [`bench_client::output`].

use std::io::Write as _;
use std::process::ExitCode;

use bench_client::RunError;
use clap::Parser as _;

/// `print!` through [`emit`]: `out!("...")?`. Defined before the modules so they see it.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::emit(&format!($($arg)*))
    };
}

mod cli;
mod interval;
mod matrix;
mod merge;
mod progress;
mod reports;
mod resolve;
mod run;

use cli::{Cli, Command};

/// A failure and the exit code it maps to.
struct Exit(u8, anyhow::Error);

impl From<RunError> for Exit {
    fn from(e: RunError) -> Exit {
        Exit(if e.is_bad_input() { 2 } else { 1 }, e.into())
    }
}

/// Bad input: exit 2.
fn bad_input(e: anyhow::Error) -> Exit {
    Exit(2, e)
}

/// Prints on stdout: a reader that has gone ends the output quietly (this returns `Ok`),
/// any other failure (`> /dev/full`) is a one-line error, exit 1.
fn emit(text: &str) -> Result<(), Exit> {
    bench_client::output::write_stdout(text.as_bytes()).map_err(|e| Exit(1, e.into()))
}

/// Text on stderr as it is; a stderr that cannot be written is not worth a panic.
fn to_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// One line on stderr.
fn warn(line: &str) {
    to_stderr(&format!("{line}\n"));
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return bench_server::cli_support::exit_on_clap_error("bench-client", e),
    };
    let result = match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Suite(args) => matrix::suite(args),
        Command::Nagle(args) => matrix::nagle(args),
        Command::Compare(args) => reports::compare(args),
        Command::Render(args) => reports::render(args),
        Command::Export(args) => reports::export(args),
        Command::Overhead(args) => matrix::overhead(args),
        Command::Merge(args) => merge::run(args),
        Command::Sweep(args) => matrix::sweep(args),
        Command::Search(args) => matrix::search(args),
        Command::Completions(args) => completions(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Exit(code, e)) => {
            warn(&format!("bench-client: error: {e:#}"));
            ExitCode::from(code)
        }
    }
}

/// `completions`: the shell's completion script on stdout.
fn completions(args: &cli::CompletionsArgs) -> Result<u8, Exit> {
    use clap::CommandFactory as _;
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "bench-client", &mut script);
    emit(&String::from_utf8_lossy(&script))?;
    Ok(0)
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
