//! The flag groups several subcommands share, one `#[command(flatten)]` struct each, so a
//! flag is spelled, typed, defaulted and explained once:
//!
//! - [`LoadBase`] (`--connections`, `--warmup`): every command that runs load.
//! - [`Recorded`] (`--duration` and the [`LoadBase`]): `suite`, `nagle`, `overhead`;
//!   `run` has its own `--duration`, an alternative to `--requests N`.
//! - [`LoadShape`] (`--pipeline`, `--rate`, `--arrival`, `--size`): `run` and
//!   `overhead`, the commands that shape one workload.
//! - [`ThreadsArg`] (`--threads`): every command that runs load.
//! - [`SocketArgs`] (`--nodelay`, `--recv-buf`, `--send-buf`, `--timeout`): `run`;
//!   `overhead` takes only [`NodelayArg`].
//! - [`OutputArgs`] (`--out`, `--out-dir`, `--json`): `run`'s one report.
//! - [`FolderArgs`] (`--out-dir`, `--json`): the commands that write a folder.
//! - [`InputArgs`] (`--max-input`): the commands that read reports.
//! - [`LatencyArg`] (`--latency`): `run`, `suite`, `nagle`; [`IntervalArg`]
//!   (`--interval`): `run`, `suite`.
//!
//! Where a subcommand gives a shared flag another default or help line (a matrix counts
//! per cell, `overhead` per leg), it says so with `mut_arg` on its own struct, beside its
//! other flags; the flag's shape stays here.
//!
//! [`HostPort`] is an address flag's text, checked for its shape only.

use std::path::PathBuf;

use anyhow::bail;
use bench_client::{Arrival, LoadModel, RunConfig, SizeRange};
use bench_proto::{ByteSize, HumanDuration};
use bench_server::SocketOptions;
use clap::Args;

use super::{Switch, value_name};

/// How many connections, and the warm-up before recording.
#[derive(Debug, Args)]
pub struct LoadBase {
    /// Connections (udp-echo: sockets).
    #[arg(
        short = 'c',
        long,
        value_name = "N",
        default_value_t = 4,
        allow_hyphen_values = true
    )]
    pub connections: usize,
    /// Load before recording starts, not recorded.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1s",
        allow_hyphen_values = true
    )]
    pub warmup: HumanDuration,
}

impl LoadBase {
    /// Sets `config`'s connections and warm-up.
    pub fn apply(&self, config: &mut RunConfig) {
        config.connections = self.connections;
        config.warmup = self.warmup;
    }
}

/// A fixed recorded time, and the [`LoadBase`]: the commands that run many runs (the
/// matrices per cell, `overhead` per leg) record each for a set time, never a count.
#[derive(Debug, Args)]
pub struct Recorded {
    /// Recorded time per cell (5 cells; each also has a 1s warm-up).
    #[arg(
        short = 'd',
        long,
        value_name = "DURATION",
        default_value = "10s",
        allow_hyphen_values = true
    )]
    pub duration: HumanDuration,
    #[command(flatten)]
    pub base: LoadBase,
}

/// The shape of one workload's load: depth, pace and sizes.
#[derive(Debug, Args)]
pub struct LoadShape {
    /// Requests in flight per connection at most.
    #[arg(
        short = 'P',
        long,
        value_name = "N",
        default_value_t = 1,
        allow_hyphen_values = true
    )]
    pub pipeline: usize,
    /// Open loop: requests per second over all connections (omitted: closed loop).
    #[arg(short = 'R', long, value_name = "REQ/S", allow_hyphen_values = true)]
    pub rate: Option<f64>,
    /// Open loop: how the intended send times are spaced.
    #[arg(long, value_enum)]
    pub arrival: Option<Arrival>,
    /// Request size: 64B, or a range 64B..4KiB.
    #[arg(
        short = 's',
        long,
        value_name = "SIZE",
        default_value = "64B",
        allow_hyphen_values = true
    )]
    pub size: SizeRange,
}

impl LoadShape {
    /// Sets `config`'s pipeline, closed or open loop, and sizes. Refuses `--arrival`
    /// without `--rate`.
    pub fn apply(&self, config: &mut RunConfig) -> anyhow::Result<()> {
        config.load = match (self.rate, self.arrival) {
            (Some(rate), arrival) => LoadModel::Open {
                rate,
                arrival: arrival.unwrap_or(Arrival::Uniform),
            },
            (None, Some(arrival)) => bail!(
                "--arrival {}: applies to the open loop only; add --rate",
                value_name(arrival)
            ),
            (None, None) => LoadModel::Closed,
        };
        config.pipeline = self.pipeline;
        config.size = self.size;
        Ok(())
    }
}

impl LoadShape {
    /// As [`LoadShape::apply`], but open loop at `rate` whatever `--rate` says (the
    /// commands that set the rate per run).
    pub fn apply_open(&self, config: &mut RunConfig, rate: f64) {
        config.load = LoadModel::Open {
            rate,
            arrival: self.arrival.unwrap_or(Arrival::Uniform),
        };
        config.pipeline = self.pipeline;
        config.size = self.size;
    }
}

/// `--threads`.
#[derive(Debug, Args)]
pub struct ThreadsArg {
    /// Client worker threads (default: core count).
    #[arg(short = 't', long, value_name = "N", allow_hyphen_values = true)]
    threads: Option<usize>,
}

impl ThreadsArg {
    /// The worker threads: as given, or one per core.
    pub fn count(&self) -> usize {
        self.threads
            .unwrap_or_else(bench_server::config::default_threads)
    }
}

/// `--nodelay` alone: `overhead` sets only this client socket option (its legs keep the
/// kernel's buffers and the default timeout).
#[derive(Debug, Args)]
pub struct NodelayArg {
    /// TCP_NODELAY on the client's sockets.
    #[arg(long, value_enum, default_value = "on")]
    pub nodelay: Switch,
}

/// The client's socket options and its reply deadline.
#[derive(Debug, Args)]
pub struct SocketArgs {
    #[command(flatten)]
    pub nodelay: NodelayArg,
    /// SO_RCVBUF of the client's sockets (default: the kernel's).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub recv_buf: Option<ByteSize>,
    /// SO_SNDBUF of the client's sockets (default: the kernel's).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub send_buf: Option<ByteSize>,
    /// A request without its whole reply after this long fails (and ends its connection).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        allow_hyphen_values = true
    )]
    pub timeout: HumanDuration,
}

impl SocketArgs {
    /// The library's socket options.
    pub fn options(&self) -> SocketOptions {
        SocketOptions {
            nodelay: self.nodelay.nodelay.on(),
            recv_buf: self.recv_buf.map(ByteSize::as_usize),
            send_buf: self.send_buf.map(ByteSize::as_usize),
        }
    }
}

/// Where one report goes.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write the report to this file (its folder must exist; `-` for stdout, the table
    /// then goes to stderr).
    #[arg(short = 'o', long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Write the report into this folder under a time-stamped name, `-2`, `-3`, ... when
    /// taken (default reports/; created if missing).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Print the report as JSON on stdout (iperf3 -J); no file unless --out or
    /// --out-dir is given.
    #[arg(short = 'J', long)]
    pub json: bool,
}

/// Where a run's report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputPlan {
    /// This file.
    File(PathBuf),
    /// A new time-stamped file in this folder.
    Dir(PathBuf),
    /// Only stdout (`--json`).
    None,
}

impl OutputArgs {
    /// Where the report goes; refuses --out with --out-dir.
    pub fn plan(&self) -> anyhow::Result<OutputPlan> {
        let is_stdout = bench_client::output::is_stdout;
        Ok(match (&self.out, &self.out_dir) {
            (Some(out), Some(dir)) => bail!(
                "--out {} and --out-dir {}: give one or the other",
                out.display(),
                dir.display()
            ),
            (Some(out), None) if self.json && is_stdout(out) => {
                bail!("--out - and --json: both print the report on stdout; give one or the other")
            }
            (Some(out), None) => OutputPlan::File(out.clone()),
            (None, Some(dir)) if is_stdout(dir) => {
                bail!("--out-dir -: a folder is needed (--out - prints the report on stdout)")
            }
            (None, Some(dir)) => OutputPlan::Dir(dir.clone()),
            (None, None) if self.json => OutputPlan::None,
            (None, None) => OutputPlan::Dir(PathBuf::from("reports")),
        })
    }
}

/// Where a command that writes a folder (a matrix, overhead) puts it.
#[derive(Debug, Args)]
pub struct FolderArgs {
    /// Where the time-stamped folder goes.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out_dir: PathBuf,
    /// Print summary.json on stdout instead of the table (iperf3 -J).
    #[arg(short = 'J', long)]
    pub json: bool,
}

/// The cap on every file a command reads.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The largest input file read, e.g. 256MiB (default 64MiB, or $WIREBENCH_MAX_INPUT).
    #[arg(long, value_name = "SIZE")]
    pub max_input: Option<ByteSize>,
}

/// An address flag's `host:port` text, checked for its shape only: looking the host up is
/// I/O, which parsing does not do (the binary's `resolve` step does it, just before the
/// pre-flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The flag it came from (`--target`), for error lines.
    pub flag: &'static str,
    /// The text as given.
    pub text: String,
    /// Whether the load is TCP: a name with several addresses then resolves to the first
    /// that accepts a connection.
    pub tcp: bool,
}

impl HostPort {
    /// `text` if it has the shape `host:port`; otherwise the one-line refusal.
    pub fn parse(flag: &'static str, text: &str, tcp: bool) -> anyhow::Result<HostPort> {
        let well_formed = text
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !well_formed {
            bail!("{flag} {text}: not a host:port address");
        }
        Ok(HostPort {
            flag,
            text: text.to_owned(),
            tcp,
        })
    }
}

/// `--latency`: the whole percentile spectrum after the table.
#[derive(Debug, Args)]
pub struct LatencyArg {
    /// Also print the whole latency percentile spectrum after the table, as HdrHistogram
    /// `.hgrm` text in microseconds (wrk2's --latency); on stderr with --json.
    #[arg(long)]
    pub latency: bool,
}

/// `--interval`: one line per interval while the load runs.
#[derive(Debug, Args)]
pub struct IntervalArg {
    /// Print one line per interval while recording (iperf3 -i): time, requests, req/s,
    /// rx bytes/s, p50, p99, max, errors. Whole seconds: 1s, 5, 1m.
    #[arg(short = 'i', long, value_name = "DURATION")]
    pub interval: Option<HumanDuration>,
}

impl IntervalArg {
    /// The interval in whole seconds (`None`: no interval lines); refuses 0 and
    /// fractions (the timeline's intervals are 1 s).
    pub fn seconds(&self) -> anyhow::Result<Option<u64>> {
        let Some(d) = self.interval else {
            return Ok(None);
        };
        let secs = d.0.as_secs();
        if secs == 0 || d.0.subsec_nanos() != 0 {
            bail!(
                "--interval {d}: a whole number of seconds, at least 1s (the timeline's intervals are 1s)"
            );
        }
        Ok(Some(secs))
    }
}
