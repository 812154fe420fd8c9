//! `bench-client compare`, `render` and `export`: the commands that read reports (or
//! suite/nagle folders) and never run load. All three cap what they read
//! ([`InputArgs`]).

use std::path::PathBuf;

use clap::Args;

use super::args::InputArgs;

/// `bench-client compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Reports (A.json B.json ...) or suite/nagle folders; the first is the baseline.
    #[arg(value_name = "REPORT|DIR", required = true)]
    pub inputs: Vec<PathBuf>,
    /// A regression gate, e.g. 'p99>+10%', 'req/s<-5%', 'p99.9>2ms', 'p50>+20us',
    /// 'errors>0'. May be given several times; exit 1 when any holds.
    #[arg(long, value_name = "FIELD OP VALUE", allow_hyphen_values = true)]
    pub fail_if: Vec<String>,
    /// Compare reports of different schema versions or workloads anyway.
    #[arg(long)]
    pub force: bool,
    /// Every field, a row per run (folders show req/s, p50, p99, p99.9 and errors by
    /// default, in 120 columns).
    #[arg(long)]
    pub wide: bool,
    /// The whole comparison as one JSON document on stdout (schema
    /// `wirebench.compare/v1`: values, ratios, verdicts, notes, gate violations).
    #[arg(long, short = 'J', conflicts_with = "wide")]
    pub json: bool,
    #[command(flatten)]
    pub input: InputArgs,
}

/// `bench-client render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Reports (several share the spectrum chart) or one suite/nagle folder.
    #[arg(value_name = "REPORT|DIR", required = true)]
    pub inputs: Vec<PathBuf>,
    /// The HTML file (default: DIR/report.html, or REPORT.html beside a single report;
    /// `-` for stdout).
    #[arg(short = 'o', long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
}

/// `bench-client export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The report.
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// The HdrHistogram interval log (one histogram per timeline interval): the default
    /// and only format, so this flag changes nothing (kept for scripts that give it).
    #[arg(long)]
    pub hlog: bool,
    /// Where it goes (default: the report's name with .hlog; `-` for stdout).
    #[arg(short = 'o', long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
}
