//! Command-line parsing and validation: clap structs parse, `TryFrom<Cli>` validates and
//! builds the plain [`ServerConfig`]. Nothing clap-typed leaves this module.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bench_proto::{ByteSize, HumanDuration, Limits};
use bench_server::{Model, Proto, RequestMode, ServerConfig, SocketOptions, Transform, WriteMode};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Servers for wirebench: tcp-echo, udp-echo and the framed command protocol.
#[derive(Debug, Parser)]
#[command(name = "bench-server", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Echo every byte back (default bind 127.0.0.1:8081).
    TcpEcho(ServerArgs),
    /// Echo every datagram back (default bind 127.0.0.1:8082).
    UdpEcho(ServerArgs),
    /// The length-prefixed command protocol (default bind 127.0.0.1:8083).
    Framed(ServerArgs),
    /// tcp-echo, udp-echo and framed on three consecutive ports (default 127.0.0.1:8081).
    All(ServerArgs),
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Switch {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
}

/// Options shared by every server subcommand.
#[derive(Debug, Args)]
struct ServerArgs {
    /// Address to bind; port 0 picks a free port (printed on the `listening on` line).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// What echo does to the bytes.
    #[arg(long, value_enum, default_value = "none")]
    transform: TransformArg,
    /// TCP_NODELAY on accepted sockets.
    #[arg(long, value_enum, default_value = "on")]
    nodelay: Switch,
    /// SO_RCVBUF, e.g. 256KiB (default: the kernel's).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    recv_buf: Option<ByteSize>,
    /// SO_SNDBUF, e.g. 256KiB (default: the kernel's).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    send_buf: Option<ByteSize>,
    /// Executor threads (async model) and UDP receive loops (default: core count).
    #[arg(long, allow_hyphen_values = true)]
    threads: Option<usize>,
    /// How TCP connections are scheduled.
    #[arg(long, value_enum, default_value = "async")]
    model: ModelArg,
    /// Refuse connections beyond this many (per endpoint; default: no limit).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    max_conns: Option<usize>,
    /// Close connections idle this long, e.g. 30s, or `off`.
    #[arg(
        long,
        value_name = "DURATION|off",
        default_value = "60s",
        allow_hyphen_values = true
    )]
    idle_timeout: String,
    /// Framed: largest body (`total_size`) accepted.
    #[arg(
        long,
        value_name = "SIZE",
        allow_hyphen_values = true,
        default_value = "16MiB"
    )]
    max_frame: ByteSize,
    /// Framed: largest JSON header accepted.
    #[arg(
        long,
        value_name = "SIZE",
        allow_hyphen_values = true,
        default_value = "64KiB"
    )]
    max_header: ByteSize,
    /// Framed: length-prefixed frames, or one raw command line per read.
    #[arg(long, value_enum, default_value = "framed")]
    requests: RequestsArg,
    /// Framed: one vectored write per response, or prefix/header/body as three writes.
    #[arg(long, value_enum, default_value = "coalesced")]
    write_mode: WriteModeArg,
    /// Framed: enable the `exec` command (shell commands!); loopback binds only.
    #[arg(long)]
    allow_exec: bool,
    /// On shutdown, how long requests in progress may take to finish.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        allow_hyphen_values = true
    )]
    grace: HumanDuration,
    /// Write the shutdown stats summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    stats_json: Option<PathBuf>,
    /// Log level on stderr (one line per failed connection at `warn`).
    #[arg(long, value_enum, default_value = "warn")]
    log_level: LogLevel,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TransformArg {
    None,
    Upper,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModelArg {
    Async,
    Threads,
    Iterative,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RequestsArg {
    Framed,
    Raw,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WriteModeArg {
    Coalesced,
    Split,
}

/// What to run: validated, clap-free.
pub struct Invocation {
    /// One protocol, or `None` for `all`.
    pub proto: Option<Proto>,
    pub bind: SocketAddr,
    pub config: ServerConfig,
    pub stats_json: Option<PathBuf>,
    pub log_level: log::LevelFilter,
}

impl TryFrom<Cli> for Invocation {
    type Error = anyhow::Error;

    fn try_from(cli: Cli) -> anyhow::Result<Self> {
        let (proto, default_port, args) = match cli.command {
            Command::TcpEcho(a) => (Some(Proto::TcpEcho), 8081, a),
            Command::UdpEcho(a) => (Some(Proto::UdpEcho), 8082, a),
            Command::Framed(a) => (Some(Proto::Framed), 8083, a),
            Command::All(a) => (None, 8081, a),
        };
        let bind = args
            .bind
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], default_port)));
        Ok(Invocation {
            proto,
            bind,
            stats_json: args.stats_json.clone(),
            log_level: match args.log_level {
                LogLevel::Off => log::LevelFilter::Off,
                LogLevel::Error => log::LevelFilter::Error,
                LogLevel::Warn => log::LevelFilter::Warn,
                LogLevel::Info => log::LevelFilter::Info,
                LogLevel::Debug => log::LevelFilter::Debug,
            },
            config: server_config(args)?,
        })
    }
}

fn server_config(args: ServerArgs) -> anyhow::Result<ServerConfig> {
    let threads = args
        .threads
        .unwrap_or_else(bench_server::config::default_threads);
    if threads == 0 {
        bail!("--threads 0: at least one thread is needed");
    }
    if args.max_conns == Some(0) {
        bail!("--max-conns 0: must be at least 1 (omit the flag for no limit)");
    }
    let max_header = u32::try_from(args.max_header.0)
        .ok()
        .filter(|&n| n >= bench_proto::limits::MIN_HEADER_LEN)
        .with_context(|| {
            format!(
                "--max-header {}: must be between 2B and 4GiB",
                args.max_header
            )
        })?;
    Ok(ServerConfig {
        transform: match args.transform {
            TransformArg::None => Transform::None,
            TransformArg::Upper => Transform::Upper,
        },
        model: match args.model {
            ModelArg::Async => Model::Async,
            ModelArg::Threads => Model::Threads,
            ModelArg::Iterative => Model::Iterative,
        },
        threads,
        socket: SocketOptions {
            nodelay: args.nodelay == Switch::On,
            recv_buf: buffer_size("--recv-buf", args.recv_buf)?,
            send_buf: buffer_size("--send-buf", args.send_buf)?,
        },
        max_conns: args.max_conns,
        idle_timeout: idle_timeout(&args.idle_timeout)?,
        limits: Limits {
            max_header,
            max_body: args.max_frame.0,
        },
        requests: match args.requests {
            RequestsArg::Framed => RequestMode::Framed,
            RequestsArg::Raw => RequestMode::Raw,
        },
        write_mode: match args.write_mode {
            WriteModeArg::Coalesced => WriteMode::Coalesced,
            WriteModeArg::Split => WriteMode::Split,
        },
        allow_exec: args.allow_exec,
        grace: args.grace.0,
    })
}

fn buffer_size(flag: &str, size: Option<ByteSize>) -> anyhow::Result<Option<usize>> {
    match size {
        Some(ByteSize(0)) => bail!("{flag} 0B: a socket buffer must be at least 1 byte"),
        Some(size) if size.0 > i32::MAX as u64 => {
            bail!("{flag} {size}: larger than the kernel accepts (2GiB)")
        }
        Some(size) => Ok(Some(size.as_usize())),
        None => Ok(None),
    }
}

fn idle_timeout(text: &str) -> anyhow::Result<Option<Duration>> {
    if text == "off" {
        return Ok(None);
    }
    let d: HumanDuration = text
        .parse()
        .with_context(|| format!("--idle-timeout {text:?}"))?;
    if d.0.is_zero() {
        bail!("--idle-timeout {text}: use `off` to disable the idle timeout");
    }
    Ok(Some(d.0))
}
