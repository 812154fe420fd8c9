//! `bench-client merge`: the flags of the one command that turns a sharded run's reports
//! into one report.

use std::path::PathBuf;

use clap::Args;

use super::args::InputArgs;

/// `bench-client merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' reports (SHARD.json ...), any order.
    #[arg(value_name = "SHARD.json", required = true)]
    pub reports: Vec<PathBuf>,
    /// The merged report (`-` for stdout, the table then goes to stderr).
    #[arg(short = 'o', long, value_name = "PATH", required = true)]
    pub out: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
}
