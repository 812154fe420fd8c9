//! Command-line parsing and validation: clap structs parse, `TryFrom` validates and builds
//! the plain [`RunConfig`] / [`SuiteConfig`]. Nothing clap-typed leaves this module.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bench_client::matrix::nagle::NagleConfig;
use bench_client::matrix::overhead::{OverheadConfig, Pair, RelaySettings};
use bench_client::matrix::suite::SuiteConfig;
use bench_client::{
    Arrival, EmbeddedServer, Expect, FramedCmd, LoadModel, RequestFormat, RunConfig, RunLength,
    SizeRange, Target, WorkloadKind,
};
use bench_proto::{ByteSize, HumanDuration};
use bench_server::proxy::Strategy;
use bench_server::{Model, SocketOptions, WriteMode};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator for wirebench: closed and open loop, HdrHistogram latency, JSON reports.
#[derive(Debug, Parser)]
#[command(name = "bench-client", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one workload and write its report.
    Run(Box<RunArgs>),
    /// The default matrix on the embedded server: tcp-echo and framed with nodelay on and
    /// off, and udp-echo; one report per cell plus summary.json and report.html.
    Suite(SuiteArgs),
    /// The Nagle matrix: framed, client nodelay x server nodelay x write mode, with a
    /// delayed-ACK stall verdict per cell; one report per cell plus summary.json and
    /// report.html.
    Nagle(NagleArgs),
    /// Runs side by side (reports, or suite/nagle folders paired cell by cell), with
    /// ratios to the first and optional --fail-if thresholds (exit 1 when one trips).
    Compare(CompareArgs),
    /// A self-contained HTML page with SVG charts of reports or a suite/nagle folder.
    Render(RenderArgs),
    /// A report in another format: --hlog, the HdrHistogram interval log.
    Export(ExportArgs),
    /// What a proxy adds: the same workload direct and through the proxy in alternating
    /// rounds; ratios and added latency per percentile, with their spread.
    Overhead(OverheadArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    Copy,
    Splice,
}

/// `bench-client overhead`.
#[derive(Debug, Args)]
pub struct OverheadArgs {
    /// The protocol to load.
    #[arg(value_enum, default_value = "tcp-echo")]
    workload: WorkloadArg,
    /// Rounds; each runs the direct leg, then the proxied one.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 5,
        allow_hyphen_values = true
    )]
    rounds: usize,
    /// Recorded time of each leg in each round.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "2s",
        allow_hyphen_values = true
    )]
    duration: HumanDuration,
    /// Warm-up of each leg (new connections each time), not recorded.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "500ms",
        allow_hyphen_values = true
    )]
    warmup: HumanDuration,
    /// Connections (udp-echo: sockets).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 4,
        allow_hyphen_values = true
    )]
    connections: usize,
    /// Requests in flight per connection at most.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        allow_hyphen_values = true
    )]
    pipeline: usize,
    /// Request size: 64B, or a range 64B..4KiB.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "64B",
        allow_hyphen_values = true
    )]
    size: SizeRange,
    /// Open loop: requests per second over all connections, the same on both legs, so
    /// their latencies are compared at equal load (omitted: closed loop).
    #[arg(long, value_name = "REQ/S", allow_hyphen_values = true)]
    rate: Option<f64>,
    /// Open loop: how the intended send times are spaced.
    #[arg(long, value_enum)]
    arrival: Option<ArrivalArg>,
    /// TCP_NODELAY on the client's sockets.
    #[arg(long, value_enum, default_value = "on")]
    nodelay: Switch,
    /// The server, straight (with --proxied; omitted: an embedded server and relay).
    #[arg(long, value_name = "ADDR")]
    direct: Option<String>,
    /// The proxy in front of --direct.
    #[arg(long, value_name = "ADDR")]
    proxied: Option<String>,
    /// Embedded relay: how it moves TCP bytes.
    #[arg(long, value_enum)]
    strategy: Option<StrategyArg>,
    /// Embedded relay: TCP_NODELAY on its client-facing connections (default on).
    #[arg(long, value_enum)]
    nodelay_front: Option<Switch>,
    /// Embedded relay: TCP_NODELAY on its upstream connections (default on).
    #[arg(long, value_enum)]
    nodelay_back: Option<Switch>,
    /// Embedded relay: bytes per read (default 64KiB).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    relay_buffer: Option<ByteSize>,
    /// Client worker threads (default: core count).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    threads: Option<usize>,
    /// Where the time-stamped folder goes.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out_dir: PathBuf,
    /// Print overhead.json on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

impl TryFrom<&OverheadArgs> for OverheadConfig {
    type Error = anyhow::Error;

    fn try_from(a: &OverheadArgs) -> anyhow::Result<OverheadConfig> {
        let workload = a.workload.kind();
        let tcp = workload != WorkloadKind::UdpEcho;
        let pair = match (&a.direct, &a.proxied) {
            (Some(direct), Some(proxied)) => {
                for (given, flag) in [
                    (a.strategy.map(value_name), "--strategy"),
                    (a.nodelay_front.map(value_name), "--nodelay-front"),
                    (a.nodelay_back.map(value_name), "--nodelay-back"),
                    (a.relay_buffer.map(|b| b.to_string()), "--relay-buffer"),
                ] {
                    if let Some(value) = given {
                        bail!(
                            "{flag} {value}: configures the embedded relay, which --proxied {proxied} replaces"
                        );
                    }
                }
                Pair::External {
                    direct: resolve_target("--direct", direct, tcp)?,
                    proxied: resolve_target("--proxied", proxied, tcp)?,
                }
            }
            (Some(direct), None) => bail!("--direct {direct}: give --proxied too"),
            (None, Some(proxied)) => bail!("--proxied {proxied}: give --direct too"),
            (None, None) => {
                let mut relay = RelaySettings::default();
                if let Some(s) = a.strategy {
                    relay.strategy = match s {
                        StrategyArg::Copy => Strategy::Copy,
                        StrategyArg::Splice => Strategy::Splice,
                    };
                    if !tcp && relay.strategy == Strategy::Splice {
                        bail!("--strategy splice: relays TCP, and udp-echo is UDP");
                    }
                }
                if let Some(n) = a.nodelay_front {
                    relay.nodelay_front = n.on();
                }
                if let Some(n) = a.nodelay_back {
                    relay.nodelay_back = n.on();
                }
                if let Some(b) = a.relay_buffer {
                    relay.buffer = usize::try_from(b.0).unwrap_or(usize::MAX);
                    if relay.buffer > bench_server::proxy::MAX_BUFFER {
                        bail!(
                            "--relay-buffer {b}: above {}",
                            ByteSize(bench_server::proxy::MAX_BUFFER as u64)
                        );
                    }
                }
                Pair::Embedded(relay)
            }
        };
        let load = load_model(a.rate, a.arrival)?;
        let mut run = RunConfig {
            workload,
            load,
            connections: a.connections,
            pipeline: a.pipeline,
            size: a.size,
            length: RunLength::Duration(a.duration),
            warmup: a.warmup,
            threads: a
                .threads
                .unwrap_or_else(bench_server::config::default_threads),
            ..RunConfig::default()
        };
        run.socket.nodelay = a.nodelay.on();
        let config = OverheadConfig {
            run,
            rounds: a.rounds,
            pair,
            out_dir: a.out_dir.clone(),
        };
        bench_client::matrix::overhead::validate(&config)?;
        Ok(config)
    }
}

/// `bench-client nagle`.
#[derive(Debug, Args)]
pub struct NagleArgs {
    /// Recorded time per cell (8 cells; each also has its warm-up).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        allow_hyphen_values = true
    )]
    duration: HumanDuration,
    /// Warm-up per cell (takes connections past the kernel's quick-ACK start).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1s",
        allow_hyphen_values = true
    )]
    warmup: HumanDuration,
    /// Connections per cell.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 4,
        allow_hyphen_values = true
    )]
    connections: usize,
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
    /// Client worker threads (default: core count).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    threads: Option<usize>,
    /// Where the time-stamped folder goes.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out_dir: PathBuf,
    /// Print summary.json on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

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
    /// The largest input file read, e.g. 256MiB (default 64MiB, or $WIREBENCH_MAX_INPUT).
    #[arg(long, value_name = "SIZE")]
    pub max_input: Option<ByteSize>,
}

/// `bench-client render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Reports (several share the spectrum chart) or one suite/nagle folder.
    #[arg(value_name = "REPORT|DIR", required = true)]
    pub inputs: Vec<PathBuf>,
    /// The HTML file (default: DIR/report.html, or REPORT.html beside a single report;
    /// `-` for stdout).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// The largest input file read, e.g. 256MiB (default 64MiB, or $WIREBENCH_MAX_INPUT).
    #[arg(long, value_name = "SIZE")]
    pub max_input: Option<ByteSize>,
}

/// `bench-client export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The report.
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// Write the HdrHistogram interval log (one histogram per timeline interval).
    #[arg(long, required = true)]
    pub hlog: bool,
    /// Where it goes (default: the report's name with .hlog; `-` for stdout).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// The largest input file read, e.g. 256MiB (default 64MiB, or $WIREBENCH_MAX_INPUT).
    #[arg(long, value_name = "SIZE")]
    pub max_input: Option<ByteSize>,
}

impl TryFrom<&NagleArgs> for NagleConfig {
    type Error = anyhow::Error;

    fn try_from(a: &NagleArgs) -> anyhow::Result<NagleConfig> {
        let target = match &a.target {
            Some(text) => Some(resolve_target("--target", text, true)?),
            None => None,
        };
        let config = NagleConfig {
            duration: a.duration,
            warmup: a.warmup,
            connections: a.connections,
            size: a.size.0,
            threads: a
                .threads
                .unwrap_or_else(bench_server::config::default_threads),
            target,
            out_dir: a.out_dir.clone(),
        };
        bench_client::matrix::nagle::validate(&config)?;
        Ok(config)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    fn on(self) -> bool {
        self == Switch::On
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WorkloadArg {
    TcpEcho,
    UdpEcho,
    Framed,
}

impl WorkloadArg {
    fn kind(self) -> WorkloadKind {
        match self {
            WorkloadArg::TcpEcho => WorkloadKind::TcpEcho,
            WorkloadArg::UdpEcho => WorkloadKind::UdpEcho,
            WorkloadArg::Framed => WorkloadKind::Framed,
        }
    }
}

/// `--rate` and `--arrival` to a load model: closed loop without a rate.
fn load_model(rate: Option<f64>, arrival: Option<ArrivalArg>) -> anyhow::Result<LoadModel> {
    Ok(match (rate, arrival) {
        (Some(rate), arrival) => LoadModel::Open {
            rate,
            arrival: match arrival {
                Some(ArrivalArg::Poisson) => Arrival::Poisson,
                _ => Arrival::Uniform,
            },
        },
        (None, Some(arrival)) => bail!(
            "--arrival {}: applies to the open loop only; add --rate",
            value_name(arrival)
        ),
        (None, None) => LoadModel::Closed,
    })
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CmdArg {
    Echo,
    Upper,
    Discard,
    Generate,
    Sleep,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExpectArg {
    Exact,
    Upper,
    Length,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ArrivalArg {
    Uniform,
    Poisson,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModelArg {
    Async,
    Threads,
    Iterative,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WriteModeArg {
    Coalesced,
    Split,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Framed,
    Raw,
}

/// `bench-client run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The protocol to load.
    #[arg(value_enum)]
    workload: WorkloadArg,
    /// Server address (host:port). Omitted: an embedded bench-server on 127.0.0.1:0.
    #[arg(long, value_name = "ADDR")]
    target: Option<String>,
    /// Embedded server: TCP_NODELAY on its sockets (default on).
    #[arg(long, value_enum)]
    server_nodelay: Option<Switch>,
    /// Embedded server: its model (default async).
    #[arg(long, value_enum)]
    server_model: Option<ModelArg>,
    /// Embedded server: how it writes framed responses (default coalesced).
    #[arg(long, value_enum)]
    server_write_mode: Option<WriteModeArg>,
    /// framed: the command each request runs.
    #[arg(long, value_enum, default_value = "echo")]
    cmd: CmdArg,
    /// framed `--cmd sleep`: how long the server waits per request.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1ms",
        allow_hyphen_values = true
    )]
    sleep: HumanDuration,
    /// Connections (udp-echo: sockets).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 4,
        allow_hyphen_values = true
    )]
    connections: usize,
    /// Requests in flight per connection at most.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        allow_hyphen_values = true
    )]
    pipeline: usize,
    /// Open loop: requests per second over all connections (omitted: closed loop).
    #[arg(long, value_name = "REQ/S", allow_hyphen_values = true)]
    rate: Option<f64>,
    /// Open loop: how the intended send times are spaced.
    #[arg(long, value_enum)]
    arrival: Option<ArrivalArg>,
    /// Recorded time, after the warm-up (default 10s; or use --requests N).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    duration: Option<HumanDuration>,
    /// A number: record this many requests, after the warm-up. framed|raw: the request
    /// format, same as --request-format. May be given twice (`--requests 1000 --requests raw`).
    #[arg(long, value_name = "N|framed|raw", allow_hyphen_values = true)]
    requests: Vec<String>,
    /// framed: length-prefixed requests, or one command line per write (for servers in
    /// `--requests raw` mode).
    #[arg(long, value_enum)]
    request_format: Option<FormatArg>,
    /// Load before recording starts, not recorded.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1s",
        allow_hyphen_values = true
    )]
    warmup: HumanDuration,
    /// Request size (framed generate: reply size): 64B, or a range 64B..4KiB.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "64B",
        allow_hyphen_values = true
    )]
    size: SizeRange,
    /// TCP_NODELAY on the client's sockets.
    #[arg(long, value_enum, default_value = "on")]
    nodelay: Switch,
    /// SO_RCVBUF of the client's sockets (default: the kernel's).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    recv_buf: Option<ByteSize>,
    /// SO_SNDBUF of the client's sockets (default: the kernel's).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    send_buf: Option<ByteSize>,
    /// A request without its whole reply after this long fails (and ends its connection).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        allow_hyphen_values = true
    )]
    timeout: HumanDuration,
    /// framed: prefix, header and body in one write, or as three writes.
    #[arg(long, value_enum, default_value = "coalesced")]
    write_mode: WriteModeArg,
    /// How replies are checked (default: upper for --cmd upper, exact otherwise).
    #[arg(long, value_enum)]
    expect: Option<ExpectArg>,
    /// Free text stored in the report.
    #[arg(long, default_value = "")]
    label: String,
    /// Client worker threads (default: core count).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    threads: Option<usize>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where results go.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write the report to this file (its folder must exist; `-` for stdout, the table
    /// then goes to stderr).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Write the report into this folder under a time-stamped name, `-2`, `-3`, ... when
    /// taken (default reports/; created if missing).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Print the report (suite: the summary) as JSON on stdout; no file unless --out or
    /// --out-dir is given.
    #[arg(long)]
    pub json: bool,
}

/// `bench-client suite`.
#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// Recorded time per cell (5 cells; each also has a 1s warm-up).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        allow_hyphen_values = true
    )]
    duration: HumanDuration,
    /// Warm-up per cell.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1s",
        allow_hyphen_values = true
    )]
    warmup: HumanDuration,
    /// Connections per cell.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 4,
        allow_hyphen_values = true
    )]
    connections: usize,
    /// Client worker threads (default: core count).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    threads: Option<usize>,
    /// Where the time-stamped suite folder goes.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out_dir: PathBuf,
    /// Print summary.json on stdout instead of the table.
    #[arg(long)]
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
        Ok(match (&self.out, &self.out_dir) {
            (Some(out), Some(dir)) => bail!(
                "--out {} and --out-dir {}: give one or the other",
                out.display(),
                dir.display()
            ),
            (Some(out), None) if self.json && bench_client::output::is_stdout(out) => {
                bail!("--out - and --json: both print the report on stdout; give one or the other")
            }
            (Some(out), None) => OutputPlan::File(out.clone()),
            (None, Some(dir)) if bench_client::output::is_stdout(dir) => {
                bail!("--out-dir -: a folder is needed (--out - prints the report on stdout)")
            }
            (None, Some(dir)) => OutputPlan::Dir(dir.clone()),
            (None, None) if self.json => OutputPlan::None,
            (None, None) => OutputPlan::Dir(PathBuf::from("reports")),
        })
    }
}

impl TryFrom<&RunArgs> for RunConfig {
    type Error = anyhow::Error;

    fn try_from(a: &RunArgs) -> anyhow::Result<RunConfig> {
        let workload = a.workload.kind();
        let (count, format) = split_requests(&a.requests, a.request_format)?;
        let length = match (a.duration, count) {
            (Some(d), Some(n)) => bail!("--duration {d} and --requests {n}: give one or the other"),
            (Some(d), None) => RunLength::Duration(d),
            (None, Some(n)) => RunLength::Requests(n),
            (None, None) => RunLength::Duration(HumanDuration(Duration::from_secs(10))),
        };
        let load = load_model(a.rate, a.arrival)?;
        let cmd = match a.cmd {
            CmdArg::Echo => FramedCmd::Echo,
            CmdArg::Upper => FramedCmd::Upper,
            CmdArg::Discard => FramedCmd::Discard,
            CmdArg::Generate => FramedCmd::Generate,
            CmdArg::Sleep => FramedCmd::Sleep,
        };
        let expect = match a.expect {
            Some(ExpectArg::Exact) => Expect::Exact,
            Some(ExpectArg::Upper) => Expect::Upper,
            Some(ExpectArg::Length) => Expect::Length,
            None if workload == WorkloadKind::Framed && cmd == FramedCmd::Upper => Expect::Upper,
            None => Expect::Exact,
        };
        if workload != WorkloadKind::Framed {
            framed_only(a)?;
        }
        let write_mode = write_mode(a.write_mode);
        if write_mode == WriteMode::Split && format == RequestFormat::Raw {
            bail!("--write-mode split: raw requests must be one write each");
        }
        let mut size = a.size;
        if workload == WorkloadKind::Framed
            && cmd == FramedCmd::Sleep
            && a.size == SizeRange::fixed(64)
        {
            size = SizeRange::fixed(0);
        }
        Ok(RunConfig {
            workload,
            cmd,
            sleep: a.sleep,
            requests: format,
            write_mode,
            expect,
            target: target(a)?,
            connections: a.connections,
            pipeline: a.pipeline,
            load,
            length,
            warmup: a.warmup,
            size,
            socket: SocketOptions {
                nodelay: a.nodelay.on(),
                recv_buf: a.recv_buf.map(ByteSize::as_usize),
                send_buf: a.send_buf.map(ByteSize::as_usize),
            },
            timeout: a.timeout,
            threads: a
                .threads
                .unwrap_or_else(bench_server::config::default_threads),
            label: a.label.clone(),
        })
    }
}

/// `--requests` carries a count or a format (the two meanings of the flag).
fn split_requests(
    values: &[String],
    format: Option<FormatArg>,
) -> anyhow::Result<(Option<u64>, RequestFormat)> {
    let mut count = None;
    let mut raw = format.map(|f| matches!(f, FormatArg::Raw));
    for value in values {
        match value.as_str() {
            "framed" | "raw" => {
                let want = value == "raw";
                if raw.is_some_and(|r| r != want) {
                    bail!("--requests {value}: conflicts with the request format given before");
                }
                raw = Some(want);
            }
            text => {
                let n: u64 = text.parse().with_context(|| {
                    format!("--requests {text}: not a request count or framed|raw")
                })?;
                if count.is_some() {
                    bail!("--requests {text}: the request count is given twice");
                }
                count = Some(n);
            }
        }
    }
    let format = if raw == Some(true) {
        RequestFormat::Raw
    } else {
        RequestFormat::Framed
    };
    Ok((count, format))
}

/// The flag value as typed (clap's own spelling of a value enum).
fn value_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

fn framed_only(a: &RunArgs) -> anyhow::Result<()> {
    let workload = match a.workload {
        WorkloadArg::TcpEcho => "tcp-echo",
        WorkloadArg::UdpEcho => "udp-echo",
        WorkloadArg::Framed => return Ok(()),
    };
    if !matches!(a.cmd, CmdArg::Echo) {
        bail!(
            "--cmd {}: applies to the framed workload, not {workload}",
            value_name(a.cmd)
        );
    }
    if matches!(a.write_mode, WriteModeArg::Split) {
        bail!("--write-mode split: applies to the framed workload, not {workload}");
    }
    if a.request_format.is_some() || a.requests.iter().any(|r| r == "raw" || r == "framed") {
        bail!("--requests framed|raw: applies to the framed workload, not {workload}");
    }
    Ok(())
}

fn write_mode(arg: WriteModeArg) -> WriteMode {
    match arg {
        WriteModeArg::Coalesced => WriteMode::Coalesced,
        WriteModeArg::Split => WriteMode::Split,
    }
}

fn target(a: &RunArgs) -> anyhow::Result<Target> {
    let Some(text) = &a.target else {
        let mut server = EmbeddedServer::default();
        if let Some(n) = a.server_nodelay {
            server.nodelay = n.on();
        }
        if let Some(m) = a.server_model {
            server.model = match m {
                ModelArg::Async => Model::Async,
                ModelArg::Threads => Model::Threads,
                ModelArg::Iterative => Model::Iterative,
            };
        }
        if let Some(w) = a.server_write_mode {
            server.write_mode = write_mode(w);
        }
        return Ok(Target::Embedded(server));
    };
    for (given, flag) in [
        (a.server_nodelay.map(value_name), "--server-nodelay"),
        (a.server_model.map(value_name), "--server-model"),
        (a.server_write_mode.map(value_name), "--server-write-mode"),
    ] {
        if let Some(value) = given {
            bail!("{flag} {value}: configures the embedded server, which --target {text} replaces");
        }
    }
    let tcp = !matches!(a.workload, WorkloadArg::UdpEcho);
    Ok(Target::External {
        addr: resolve_target("--target", text, tcp)?,
    })
}

/// `--target` to an address: a name with several addresses (localhost: ::1 and
/// 127.0.0.1) gives, for TCP, the first that accepts a connection; otherwise the first.
/// A text that is not `host:port` is refused as such; a well-formed one whose host does not
/// resolve says so, with the resolver's reason.
fn resolve_target(flag: &str, text: &str, tcp: bool) -> anyhow::Result<SocketAddr> {
    let well_formed = text
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !well_formed {
        bail!("{flag} {text}: not a host:port address");
    }
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("{flag} {text}: cannot resolve host: {e}"))?
        .collect();
    let first = *addrs
        .first()
        .with_context(|| format!("{flag} {text}: resolves to no address"))?;
    let addr = if tcp && addrs.len() > 1 {
        addrs
            .iter()
            .copied()
            .find(|addr| std::net::TcpStream::connect_timeout(addr, Duration::from_secs(1)).is_ok())
            .unwrap_or(first)
    } else {
        first
    };
    Ok(addr)
}

impl TryFrom<&SuiteArgs> for SuiteConfig {
    type Error = anyhow::Error;

    fn try_from(a: &SuiteArgs) -> anyhow::Result<SuiteConfig> {
        let config = SuiteConfig {
            duration: a.duration,
            warmup: a.warmup,
            connections: a.connections,
            threads: a
                .threads
                .unwrap_or_else(bench_server::config::default_threads),
            out_dir: a.out_dir.clone(),
        };
        bench_client::matrix::suite::validate(&config)?;
        Ok(config)
    }
}
