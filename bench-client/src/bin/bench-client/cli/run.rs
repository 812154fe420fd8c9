//! `bench-client run`: one workload's flags, checked into a [`RunPlan`] (a full
//! [`RunConfig`] but for `--target`, which is still text until the binary resolves it).

use std::time::Duration;

use anyhow::{Context as _, bail};
use bench_client::{
    ClientEngine, EmbeddedServer, Expect, FramedCmd, RequestFormat, RunConfig, RunLength,
    SizeRange, Target, WatchPid, WorkloadKind,
};
use bench_proto::HumanDuration;
use bench_server::WriteMode;
use clap::Args;

use super::Unresolved;
use super::args::{
    HostPort, IntervalArg, LatencyArg, LoadBase, LoadShape, OutputArgs, SocketArgs, ThreadsArg,
};
use super::{Switch, value_name};
use bench_server::Model;

/// `bench-client run`.
#[derive(Debug, Args)]
#[command(mut_arg("size", |a| a.help(
    "Request size (framed generate: reply size): 64B, or a range 64B..4KiB"
)))]
pub struct RunArgs {
    /// The protocol to load (`custom`: the one a --workload file describes).
    #[arg(value_enum)]
    workload: WorkloadKind,
    /// custom: the workload file (TOML; docs/workloads.md, examples in workloads/).
    #[arg(long = "workload", id = "workload_file", value_name = "FILE.toml")]
    pub workload_file: Option<std::path::PathBuf>,
    /// Server address (host:port). Omitted: an embedded bench-server on 127.0.0.1:0.
    #[arg(long, value_name = "ADDR")]
    target: Option<String>,
    #[command(flatten)]
    embedded: EmbeddedArgs,
    /// framed: the command each request runs.
    #[arg(long, value_enum, default_value = "echo")]
    cmd: FramedCmd,
    /// framed `--cmd sleep`: how long the server waits per request.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1ms",
        allow_hyphen_values = true
    )]
    sleep: HumanDuration,
    #[command(flatten)]
    load: LoadBase,
    #[command(flatten)]
    shape: LoadShape,
    /// Recorded time, after the warm-up: 10s, 500ms, or plain seconds (default 10s; or
    /// use --requests N).
    #[arg(short = 'd', long, value_name = "DURATION", allow_hyphen_values = true)]
    duration: Option<HumanDuration>,
    /// A number: record this many requests, after the warm-up. framed|raw: the request
    /// format, same as --request-format. May be given twice (`--requests 1000 --requests raw`).
    #[arg(long, value_name = "N|framed|raw", allow_hyphen_values = true)]
    requests: Vec<String>,
    /// framed: length-prefixed requests, or one command line per write (for servers in
    /// `--requests raw` mode).
    #[arg(long, value_enum)]
    request_format: Option<RequestFormat>,
    #[command(flatten)]
    socket: SocketArgs,
    /// framed: prefix, header and body in one write, or as three writes.
    #[arg(long, value_enum, default_value = "coalesced")]
    write_mode: WriteMode,
    /// How replies are checked (default: upper for --cmd upper, exact otherwise).
    #[arg(long, value_enum)]
    expect: Option<Expect>,
    /// Free text stored in the report.
    #[arg(long, default_value = "")]
    label: String,
    #[command(flatten)]
    threads: ThreadsArg,
    /// The client's engine: one event loop per thread (per-core, the default on Linux)
    /// or a smol task per connection (async), to compare the two.
    #[arg(long, value_enum)]
    engine: Option<ClientEngine>,
    /// Local addresses to connect from, taken in turn: a range `127.0.0.1..127.0.0.8`
    /// or a list `127.0.0.1,127.0.0.2`. Each adds a range of source ports, so one
    /// client can open more connections to one target than one address allows.
    #[arg(long, value_name = "ADDRS")]
    bind_source: Option<String>,
    #[command(flatten)]
    pub shard: super::shard::ShardArgs,
    /// Also account this process's CPU time in the report (NAME=PID, e.g. haproxy=1234;
    /// repeatable): /proc/PID/task/*/schedstat, summed.
    #[arg(long, value_name = "NAME=PID")]
    pub watch_pid: Vec<WatchPid>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub latency: LatencyArg,
    #[command(flatten)]
    pub interval: IntervalArg,
}

/// The embedded server's flags: they configure the bench-server `run` starts when no
/// `--target` is given, and are refused next to one.
#[derive(Debug, Args)]
struct EmbeddedArgs {
    /// Embedded server: TCP_NODELAY on its sockets (default on).
    #[arg(long, value_enum)]
    server_nodelay: Option<Switch>,
    /// Embedded server: its model (default per-core on Linux, async elsewhere).
    #[arg(long, value_enum)]
    server_model: Option<Model>,
    /// Embedded server: how it writes framed responses (default coalesced).
    #[arg(long, value_enum)]
    server_write_mode: Option<WriteMode>,
}

impl EmbeddedArgs {
    fn server(&self) -> EmbeddedServer {
        let mut server = EmbeddedServer::default();
        if let Some(n) = self.server_nodelay {
            server.nodelay = n.on();
        }
        if let Some(m) = self.server_model {
            server.model = m;
        }
        if let Some(w) = self.server_write_mode {
            server.write_mode = w;
        }
        server
    }

    /// The embedded server, or (refusing these flags beside it) `--target`'s text; the
    /// target stays the embedded server's default until that text is resolved.
    fn target(
        &self,
        target: Option<&str>,
        tcp: bool,
    ) -> anyhow::Result<(Target, Option<HostPort>)> {
        match target {
            None => Ok((Target::Embedded(self.server()), None)),
            Some(text) => {
                self.refuse_beside(text)?;
                let external = HostPort::parse("--target", text, tcp)?;
                Ok((Target::Embedded(EmbeddedServer::default()), Some(external)))
            }
        }
    }

    /// Refuses any of these flags next to `--target text`.
    fn refuse_beside(&self, text: &str) -> anyhow::Result<()> {
        for (given, flag) in [
            (self.server_nodelay.map(value_name), "--server-nodelay"),
            (self.server_model.map(value_name), "--server-model"),
            (
                self.server_write_mode.map(value_name),
                "--server-write-mode",
            ),
        ] {
            if let Some(value) = given {
                bail!(
                    "{flag} {value}: configures the embedded server, which --target {text} replaces"
                );
            }
        }
        Ok(())
    }
}

/// A checked run whose `--target`, if given, is still text (meanwhile its `target` is the
/// embedded server).
pub type RunPlan = Unresolved<RunConfig>;

impl TryFrom<&RunArgs> for RunPlan {
    type Error = anyhow::Error;

    fn try_from(a: &RunArgs) -> anyhow::Result<RunPlan> {
        plan(a, None)
    }
}

impl RunArgs {
    /// The workload of a command that sets each run's rate itself (`sweep`, `search`):
    /// open loop at a stand-in rate, `--arrival` kept; `--rate`, `--requests N` and
    /// `--out` refused (the command writes a folder: `--out-dir`). Also returns
    /// `--duration` when given.
    pub fn open_loop_plan(
        &self,
        command: &str,
    ) -> anyhow::Result<(RunPlan, Option<HumanDuration>)> {
        if let Some(rate) = self.shape.rate {
            bail!("--rate {rate}: {command} sets the rate of each run itself");
        }
        if self.latency.latency {
            bail!(
                "--latency: {command} prints no spectrum; `bench-client run --latency` or \
                 `render` shows one run's"
            );
        }
        if let Some(out) = &self.output.out {
            bail!(
                "--out {}: {command} writes a folder; use --out-dir",
                out.display()
            );
        }
        if let (Some(n), _) = split_requests(&self.requests, self.request_format)? {
            bail!("--requests {n}: {command} runs each rate for a time, not a count");
        }
        Ok((plan(self, Some(1.0))?, self.duration))
    }
}

/// The plan; `open_rate`: open loop at this rate whatever `--rate` says.
fn plan(a: &RunArgs, open_rate: Option<f64>) -> anyhow::Result<RunPlan> {
    let (count, format) = split_requests(&a.requests, a.request_format)?;
    let mut config = RunConfig {
        workload: a.workload,
        cmd: a.cmd,
        sleep: a.sleep,
        requests: format,
        write_mode: a.write_mode,
        expect: a.expect.unwrap_or(default_expect(a.workload, a.cmd)),
        length: run_length(a.duration, count)?,
        socket: a.socket.options(),
        timeout: a.socket.timeout,
        threads: a.threads.count(),
        engine: a.engine.unwrap_or_default(),
        bind_source: match &a.bind_source {
            Some(text) => parse_sources(text)?,
            None => Vec::new(),
        },
        label: a.label.clone(),
        ..RunConfig::default()
    };
    a.load.apply(&mut config);
    match open_rate {
        Some(rate) => a.shape.apply_open(&mut config, rate),
        None => a.shape.apply(&mut config)?,
    }
    if a.workload != WorkloadKind::Framed {
        framed_only(a)?;
    }
    custom_only(a)?;
    if config.write_mode == WriteMode::Split && format == RequestFormat::Raw {
        bail!("--write-mode split: raw requests must be one write each");
    }
    // `sleep` sends no body: the 64B default size means "not given" there.
    if config.workload == WorkloadKind::Framed
        && config.cmd == FramedCmd::Sleep
        && config.size == SizeRange::fixed(64)
    {
        config.size = SizeRange::fixed(0);
    }
    let tcp = a.workload != WorkloadKind::UdpEcho;
    let (target, external) = a.embedded.target(a.target.as_deref(), tcp)?;
    config.target = target;
    Ok(Unresolved::new(config, external))
}

/// `--bind-source`: `A..B` (IPv4, every address from A to B) or `A,B,...`.
fn parse_sources(text: &str) -> anyhow::Result<Vec<std::net::IpAddr>> {
    let bad = |why: &str| anyhow::anyhow!("--bind-source {text}: {why}");
    if let Some((from, to)) = text.split_once("..") {
        let from: std::net::Ipv4Addr = from.trim().parse().map_err(|_| bad("not an IPv4 range"))?;
        let to: std::net::Ipv4Addr = to.trim().parse().map_err(|_| bad("not an IPv4 range"))?;
        let (a, b) = (u32::from(from), u32::from(to));
        if b < a || b - a >= 1024 {
            bail!(bad(
                "the range must go upwards and hold at most 1024 addresses"
            ));
        }
        return Ok((a..=b)
            .map(|n| std::net::Ipv4Addr::from(n).into())
            .collect());
    }
    text.split(',')
        .map(|part| {
            part.trim()
                .parse()
                .map_err(|_| bad("not an IP address list"))
        })
        .collect()
}

/// `upper` replies are checked as uppercase by default; everything else exactly.
fn default_expect(workload: WorkloadKind, cmd: FramedCmd) -> Expect {
    if workload == WorkloadKind::Framed && cmd == FramedCmd::Upper {
        Expect::Upper
    } else {
        Expect::Exact
    }
}

/// `--duration` or `--requests N` (10s when neither is given).
fn run_length(duration: Option<HumanDuration>, count: Option<u64>) -> anyhow::Result<RunLength> {
    Ok(match (duration, count) {
        (Some(d), Some(n)) => bail!("--duration {d} and --requests {n}: give one or the other"),
        (Some(d), None) => RunLength::Duration(d),
        (None, Some(n)) => RunLength::Requests(n),
        (None, None) => RunLength::Duration(HumanDuration(Duration::from_secs(10))),
    })
}

/// `--requests` carries a count or a format (the two meanings of the flag).
fn split_requests(
    values: &[String],
    format: Option<RequestFormat>,
) -> anyhow::Result<(Option<u64>, RequestFormat)> {
    let mut count = None;
    let mut raw = format.map(|f| f == RequestFormat::Raw);
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

/// `--workload` goes with `custom` and only there; a workload file says its own checks.
fn custom_only(a: &RunArgs) -> anyhow::Result<()> {
    let custom = a.workload == WorkloadKind::Custom;
    match (&a.workload_file, custom) {
        (None, true) => bail!("custom: give the workload file with --workload FILE.toml"),
        (Some(path), false) => bail!(
            "--workload {}: applies to the custom workload, not {}",
            path.display(),
            a.workload.as_str()
        ),
        _ => {}
    }
    if let (true, Some(expect)) = (custom, a.expect) {
        bail!(
            "--expect {}: a workload file says what its replies must match (`expect`)",
            crate::cli::value_name(expect)
        );
    }
    Ok(())
}

/// Refuses the framed-only flags for tcp-echo, udp-echo and custom.
fn framed_only(a: &RunArgs) -> anyhow::Result<()> {
    let workload = a.workload.as_str();
    if a.cmd != FramedCmd::Echo {
        bail!(
            "--cmd {}: applies to the framed workload, not {workload}",
            a.cmd.as_str()
        );
    }
    if matches!(a.write_mode, WriteMode::Split) {
        bail!("--write-mode split: applies to the framed workload, not {workload}");
    }
    if a.request_format.is_some() || a.requests.iter().any(|r| r == "raw" || r == "framed") {
        bail!("--requests framed|raw: applies to the framed workload, not {workload}");
    }
    Ok(())
}
