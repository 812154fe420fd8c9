//! The command line, parsed and validated without I/O (no name lookup, no file, no
//! socket): clap structs parse, `TryFrom` checks what only the command line can get wrong
//! and yields a plan whose addresses are still text. Resolving them is the caller's step
//! (`crate::resolve`), just before the pre-flight; the plan then becomes the library's
//! plain config. Nothing clap-typed leaves this module.
//!
//! One file per subcommand group; `args` holds the flag groups several share:
//!
//! - [`args`]: the shared `#[command(flatten)]` groups (load, client sockets, output,
//!   input cap) and the `host:port` text.
//! - [`run`]: the `run` subcommand; [`shard`]: its `--shard` and `--start-at` flags.
//! - [`matrix`]: `suite` and `nagle`.
//! - [`overhead`]: the `overhead` subcommand.
//! - [`reports`]: `compare`, `render`, `export` (they read reports, never run load).
//! - [`merge`]: `merge` (a sharded run's reports into one).
//! - [`sweep`]: `sweep` and `search` (open-loop runs at many rates, judged by SLOs).
//! - here: the subcommands themselves (each `--help` ends with examples) and
//!   `completions`.

pub mod args;
pub mod matrix;
pub mod merge;
pub mod overhead;
pub mod reports;
pub mod run;
pub mod shard;
pub mod sweep;

use std::net::SocketAddr;

use bench_client::{RunConfig, Target};
use clap::{Parser, Subcommand, ValueEnum};

use bench_client::matrix::nagle::{self, NagleConfig};

pub use args::{HostPort, OutputPlan};

/// Load generator for wirebench: closed and open loop, HdrHistogram latency, JSON reports.
#[derive(Debug, Parser)]
#[command(name = "bench-client", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands. Each `--help` ends with examples that run as written.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one workload and write its report.
    #[command(after_help = "Examples:
  bench-client run tcp-echo -c 8 -d 10            closed loop, 8 connections, 10 s
  bench-client run framed -R 20000 -d 5 --latency open loop at 20k req/s, whole spectrum
  bench-client run udp-echo -s 512B -i 1s -J      interval lines, the report on stdout")]
    Run(Box<run::RunArgs>),
    /// The default matrix on the embedded server: tcp-echo and framed with nodelay on and
    /// off, and udp-echo; one report per cell plus summary.json and report.html.
    #[command(after_help = "Examples:
  bench-client suite                    5 cells of 10 s each on the embedded server
  bench-client suite -d 2 -c 8 -i 1s    2 s cells, 8 connections, a line per second")]
    Suite(matrix::SuiteArgs),
    /// The Nagle matrix: framed, client nodelay x server nodelay x write mode, with a
    /// delayed-ACK stall verdict per cell; one report per cell plus summary.json and
    /// report.html.
    #[command(after_help = "Examples:
  bench-client nagle -d 2                    8 cells of 2 s on the embedded server
  bench-client nagle --target 127.0.0.1:7001 against a framed bench-server")]
    Nagle(matrix::NagleArgs),
    /// Runs side by side (reports, or suite/nagle folders paired cell by cell): ratios to
    /// the first with a better/worse/same verdict per field, --wide for every field,
    /// --json, and optional --fail-if thresholds (exit 1 when one trips).
    #[command(after_help = "Examples:
  bench-client compare before.json after.json
  bench-client compare reports/SUITE-A reports/SUITE-B --fail-if 'p99>+10%' --fail-if 'p95>2ms'")]
    Compare(reports::CompareArgs),
    /// A self-contained HTML page with SVG charts of reports or a suite/nagle folder.
    #[command(after_help = "Examples:
  bench-client render reports/SUITE-FOLDER          writes SUITE-FOLDER/report.html
  bench-client render a.json b.json -o both.html    several runs on one page")]
    Render(reports::RenderArgs),
    /// A report in another format: the HdrHistogram interval log (the default; --hlog
    /// still accepted).
    #[command(after_help = "Examples:
  bench-client export run.json              writes run.hlog beside it
  bench-client export run.json -o - | head  the log on stdout")]
    Export(reports::ExportArgs),
    /// What a proxy adds: the same workload direct and through the proxy in alternating
    /// rounds; ratios and added latency per percentile, with their spread.
    #[command(after_help = "Examples:
  bench-client overhead --rounds 3 -d 2     embedded server and relay
  bench-client overhead --direct 127.0.0.1:7001 --proxied 127.0.0.1:8001")]
    Overhead(overhead::OverheadArgs),
    /// A sharded run's reports (--shard I/N) as one, losslessly: counts summed,
    /// histograms added, timelines by wall-clock second, a shards section; exit 1 when
    /// partial, 2 when the reports are of different runs.
    #[command(after_help = "Example:
  bench-client merge shard-0.json shard-1.json -o merged.json")]
    Merge(merge::MergeArgs),
    /// Open-loop runs at a list or range of rates, each judged by the SLOs; one report
    /// per step plus summary.json and report.html (latency against throughput).
    #[command(after_help = "Example:
  bench-client sweep tcp-echo --rates 1k..20k --steps 5 -d 2 --slo 'p99<1ms'")]
    Sweep(Box<sweep::SweepArgs>),
    /// The highest open-loop rate that meets every --slo: doubling, then bisection, then
    /// a longer confirmation run. Exit 0 when a rate was found, 1 when none was.
    #[command(after_help = "Example:
  bench-client search tcp-echo --slo 'p99<1ms' --slo 'p95<500us' --trial 1s --confirm 3s")]
    Search(Box<sweep::SearchArgs>),
    /// A shell completion script for bench-client, on stdout.
    #[command(after_help = "Examples:
  source <(bench-client completions bash)
  bench-client completions zsh > ~/.zfunc/_bench-client
  bench-client completions fish > ~/.config/fish/completions/bench-client.fish")]
    Completions(CompletionsArgs),
}

/// `bench-client completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// A checked config whose address flag, if given, is still `host:port` text: parsing does
/// no I/O, so resolving it is the caller's step, just before the pre-flight.
#[derive(Debug)]
pub struct Unresolved<C> {
    /// Everything decided but the address (a stand-in target until resolved).
    config: C,
    /// The address flag, as text.
    target: Option<HostPort>,
}

/// A config that takes a resolved address, and has the checks that need it.
pub trait Targeted: Sized {
    /// Points the config at `addr`.
    fn set_target(&mut self, addr: SocketAddr);
    /// The checks that need the final target.
    fn check(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl<C: Targeted> Unresolved<C> {
    fn new(config: C, target: Option<HostPort>) -> Unresolved<C> {
        Unresolved { config, target }
    }

    /// The config (with its stand-in target) and the address text, apart.
    fn into_parts(self) -> (C, Option<HostPort>) {
        (self.config, self.target)
    }

    /// The config, its address (if any) resolved by `resolve`, then checked.
    pub fn into_config(
        self,
        resolve: impl FnOnce(&HostPort) -> anyhow::Result<SocketAddr>,
    ) -> anyhow::Result<C> {
        let mut config = self.config;
        if let Some(target) = &self.target {
            config.set_target(resolve(target)?);
        }
        config.check()?;
        Ok(config)
    }
}

impl Targeted for RunConfig {
    fn set_target(&mut self, addr: SocketAddr) {
        self.target = Target::External { addr };
    }
}

impl Targeted for NagleConfig {
    fn set_target(&mut self, addr: SocketAddr) {
        self.target = Some(addr);
    }

    /// A matrix against a target has other cells than one on the embedded server.
    fn check(&self) -> anyhow::Result<()> {
        Ok(nagle::validate(self)?)
    }
}

/// `on` / `off`: the TCP_NODELAY flags. The library has bools, so this has no library
/// twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    /// `on` is true.
    pub fn on(self) -> bool {
        self == Switch::On
    }
}

/// The flag value as typed (clap's own spelling of a value enum), for error lines that
/// quote it back.
pub fn value_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use bench_client::{RunConfig, Target};
    use clap::{CommandFactory as _, Parser as _};

    use super::run::RunPlan;
    use super::{Cli, Command, HostPort};

    fn run_plan(args: &[&str]) -> anyhow::Result<RunPlan> {
        let cli = Cli::try_parse_from(["bench-client", "run"].iter().chain(args))?;
        let Command::Run(args) = cli.command else {
            panic!("parsed as run")
        };
        RunPlan::try_from(&*args)
    }

    #[test]
    fn every_flag_group_and_override_is_well_formed() {
        // clap's own consistency checks: a `mut_arg` on an id no group defines, or two
        // groups flattening the same flag, panic here rather than at a user's first run.
        Cli::command().debug_assert();
    }

    #[test]
    fn short_flags_and_bare_seconds_parse_like_the_long_forms() {
        let short = run_plan(&["tcp-echo", "-c", "8", "-d", "10", "-P", "4", "-s", "1KiB"])
            .unwrap()
            .into_config(|_: &HostPort| panic!("no address"))
            .unwrap();
        let long = run_plan(&[
            "tcp-echo",
            "--connections",
            "8",
            "--duration",
            "10s",
            "--pipeline",
            "4",
            "--size",
            "1KiB",
        ])
        .unwrap()
        .into_config(|_: &HostPort| panic!("no address"))
        .unwrap();
        assert_eq!(short, long);
        assert_eq!(short.connections, 8);
        assert_eq!(
            short.length,
            bench_client::RunLength::Duration("10s".parse().unwrap())
        );
    }

    #[test]
    fn every_subcommand_help_ends_with_examples() {
        for sub in Cli::command().get_subcommands() {
            let after = sub.get_after_help().map(|h| h.to_string());
            let after = after.unwrap_or_default();
            assert!(
                after.starts_with("Example") && after.contains("bench-client "),
                "{}: {after:?}",
                sub.get_name()
            );
        }
    }

    #[test]
    fn parsing_leaves_the_target_as_text_until_resolved() {
        // A host that does not exist parses: looking it up is the resolve step's.
        let plan = run_plan(&["tcp-echo", "--target", "nosuch.invalid:7001"]).unwrap();
        let addr: SocketAddr = "127.0.0.1:7001".parse().unwrap();
        let mut asked = Vec::new();
        let config: RunConfig = plan
            .into_config(|target: &HostPort| {
                asked.push((target.flag, target.text.clone(), target.tcp));
                Ok(addr)
            })
            .unwrap();
        assert_eq!(
            asked,
            [("--target", "nosuch.invalid:7001".to_owned(), true)]
        );
        assert_eq!(config.target, Target::External { addr });
    }

    #[test]
    fn a_malformed_target_is_refused_while_parsing() {
        let err = run_plan(&["udp-echo", "--target", "nosuch"]).unwrap_err();
        assert_eq!(err.to_string(), "--target nosuch: not a host:port address");
    }

    #[test]
    fn without_a_target_nothing_is_resolved() {
        let plan = run_plan(&["framed", "--server-nodelay", "off"]).unwrap();
        let config = plan
            .into_config(|_: &HostPort| panic!("no address to resolve"))
            .unwrap();
        let Target::Embedded(server) = config.target else {
            panic!("embedded server expected, got {:?}", config.target)
        };
        assert!(!server.nodelay);
    }
}
