//! `bench-client suite` and `bench-client nagle`: the matrices, run cell by cell into one
//! folder. The shared load flags count per cell here, so their help says so.

use bench_proto::ByteSize;
use clap::Args;

use bench_client::matrix::nagle::NagleConfig;
use bench_client::matrix::suite::{self, SuiteConfig};

use super::Unresolved;
use super::args::{FolderArgs, HostPort, IntervalArg, LatencyArg, Recorded, ThreadsArg};

/// `bench-client suite`.
#[derive(Debug, Args)]
#[command(
    mut_arg("connections", |a| a.help("Connections per cell")),
    mut_arg("warmup", |a| a.help("Warm-up per cell")),
)]
pub struct SuiteArgs {
    #[command(flatten)]
    recorded: Recorded,
    #[command(flatten)]
    threads: ThreadsArg,
    #[command(flatten)]
    pub folder: FolderArgs,
    #[command(flatten)]
    pub latency: LatencyArg,
    #[command(flatten)]
    pub interval: IntervalArg,
}

impl TryFrom<&SuiteArgs> for SuiteConfig {
    type Error = anyhow::Error;

    fn try_from(a: &SuiteArgs) -> anyhow::Result<SuiteConfig> {
        let config = SuiteConfig {
            duration: a.recorded.duration,
            warmup: a.recorded.base.warmup,
            connections: a.recorded.base.connections,
            threads: a.threads.count(),
            out_dir: a.folder.out_dir.clone(),
        };
        suite::validate(&config)?;
        Ok(config)
    }
}

/// `bench-client nagle`.
#[derive(Debug, Args)]
#[command(
    mut_arg("duration", |a| a.default_value("5s").help(
        "Recorded time per cell (8 cells; each also has its warm-up)"
    )),
    mut_arg("connections", |a| a.help("Connections per cell")),
    mut_arg("warmup", |a| a.help(
        "Warm-up per cell (takes connections past the kernel's quick-ACK start)"
    )),
)]
pub struct NagleArgs {
    #[command(flatten)]
    recorded: Recorded,
    /// Request body size.
    #[arg(
        short = 's',
        long,
        value_name = "SIZE",
        default_value = "64B",
        allow_hyphen_values = true
    )]
    size: ByteSize,
    /// A framed server to measure instead of the embedded one (its settings are its own:
    /// the matrix is then client nodelay x client write mode).
    #[arg(long, value_name = "ADDR")]
    target: Option<String>,
    #[command(flatten)]
    threads: ThreadsArg,
    #[command(flatten)]
    pub folder: FolderArgs,
    #[command(flatten)]
    pub latency: LatencyArg,
}

/// A checked Nagle matrix whose `--target`, if given, is still text (meanwhile its
/// `target` is `None`).
pub type NaglePlan = Unresolved<NagleConfig>;

impl TryFrom<&NagleArgs> for NaglePlan {
    type Error = anyhow::Error;

    fn try_from(a: &NagleArgs) -> anyhow::Result<NaglePlan> {
        let target = match &a.target {
            Some(text) => Some(HostPort::parse("--target", text, true)?),
            None => None,
        };
        let config = NagleConfig {
            duration: a.recorded.duration,
            warmup: a.recorded.base.warmup,
            connections: a.recorded.base.connections,
            size: a.size.0,
            threads: a.threads.count(),
            target: None,
            out_dir: a.folder.out_dir.clone(),
        };
        Ok(Unresolved::new(config, target))
    }
}
