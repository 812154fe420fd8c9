//! `bench-client suite` and `bench-client nagle`: the matrices, run cell by cell into one
//! folder. The shared load flags count per cell here, so their help says so.

use std::net::SocketAddr;

use bench_proto::{ByteSize, HumanDuration};
use clap::Args;

use crate::lib_paths::nagle::{self, NagleConfig};
use crate::lib_paths::suite::{self, SuiteConfig};

use super::args::{FolderArgs, HostPort, LoadBase, ThreadsArg};

/// `bench-client suite`.
#[derive(Debug, Args)]
#[command(
    mut_arg("connections", |a| a.help("Connections per cell")),
    mut_arg("warmup", |a| a.help("Warm-up per cell")),
)]
pub struct SuiteArgs {
    /// Recorded time per cell (5 cells; each also has a 1s warm-up).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        allow_hyphen_values = true
    )]
    duration: HumanDuration,
    #[command(flatten)]
    load: LoadBase,
    #[command(flatten)]
    threads: ThreadsArg,
    #[command(flatten)]
    pub folder: FolderArgs,
}

impl TryFrom<&SuiteArgs> for SuiteConfig {
    type Error = anyhow::Error;

    fn try_from(a: &SuiteArgs) -> anyhow::Result<SuiteConfig> {
        let config = SuiteConfig {
            duration: a.duration,
            warmup: a.load.warmup,
            connections: a.load.connections,
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
    mut_arg("connections", |a| a.help("Connections per cell")),
    mut_arg("warmup", |a| a.help(
        "Warm-up per cell (takes connections past the kernel's quick-ACK start)"
    )),
)]
pub struct NagleArgs {
    /// Recorded time per cell (8 cells; each also has its warm-up).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        allow_hyphen_values = true
    )]
    duration: HumanDuration,
    #[command(flatten)]
    load: LoadBase,
    /// Request body size.
    #[arg(
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
}

/// A checked Nagle matrix whose `--target`, if given, still has to be resolved.
#[derive(Debug)]
pub struct NaglePlan {
    /// Everything decided but the target (`None` here until resolved).
    config: NagleConfig,
    /// `--target`, as text.
    target: Option<HostPort>,
}

impl NaglePlan {
    /// The config, `--target` (if any) resolved by `resolve`, then validated (a matrix
    /// against a target has other cells than one on the embedded server).
    pub fn into_config(
        self,
        resolve: impl FnOnce(&HostPort) -> anyhow::Result<SocketAddr>,
    ) -> anyhow::Result<NagleConfig> {
        let mut config = self.config;
        config.target = self.target.as_ref().map(resolve).transpose()?;
        nagle::validate(&config)?;
        Ok(config)
    }
}

impl TryFrom<&NagleArgs> for NaglePlan {
    type Error = anyhow::Error;

    fn try_from(a: &NagleArgs) -> anyhow::Result<NaglePlan> {
        let target = match &a.target {
            Some(text) => Some(HostPort::parse("--target", text, true)?),
            None => None,
        };
        let config = NagleConfig {
            duration: a.duration,
            warmup: a.load.warmup,
            connections: a.load.connections,
            size: a.size.0,
            threads: a.threads.count(),
            target: None,
            out_dir: a.folder.out_dir.clone(),
        };
        Ok(NaglePlan { config, target })
    }
}
