//! Command-line parsing and validation: clap structs parse, `TryFrom<Cli>` validates and
//! builds the plain [`ServerConfig`] (or [`ProxyConfig`]). Nothing clap-typed leaves
//! this module.

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bench_proto::{ByteSize, HumanDuration, Limits};
use bench_server::proxy::{ProxyConfig, ProxyProto, Strategy};
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
    /// A TCP or UDP relay to --upstream (default bind 127.0.0.1:8090).
    Proxy(ProxyArgs),
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
    /// Address to bind, HOST:PORT (a name is resolved once, at start); port 0 picks a
    /// free port (printed on the `listening on` line).
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
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
    /// Framed: largest body (`total_size`) accepted [default: 16MiB].
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    max_frame: Option<ByteSize>,
    /// Framed: largest JSON header accepted [default: 64KiB].
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    max_header: Option<ByteSize>,
    /// Framed: length-prefixed frames, or one raw command line per read [default: framed].
    #[arg(long, value_enum)]
    requests: Option<RequestsArg>,
    /// Framed: one vectored write per response, or prefix/header/body as three writes
    /// [default: coalesced].
    #[arg(long, value_enum)]
    write_mode: Option<WriteModeArg>,
    /// Framed: enable the `exec` command (shell commands!); loopback binds only.
    #[arg(long)]
    allow_exec: bool,
    /// Framed: most bytes all connections may hold for requests and replies above 1MiB;
    /// a large request beyond it is refused with an error frame [default: 256MiB].
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    max_buffered: Option<ByteSize>,
    /// Framed: close a connection whose frame is not complete this long after its first
    /// byte, e.g. 10s, or `off` [default: 10s].
    #[arg(long, value_name = "DURATION|off", allow_hyphen_values = true)]
    frame_timeout: Option<String>,
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

/// Options of the `proxy` subcommand.
#[derive(Debug, Args)]
struct ProxyArgs {
    /// Where to relay to, HOST:PORT (a name is resolved once, at start).
    #[arg(long, value_name = "ADDR", allow_hyphen_values = true)]
    upstream: String,
    /// Front address to bind; port 0 picks a free port (printed on the `listening on` line).
    #[arg(long, default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// Transport to relay.
    #[arg(long, value_enum, default_value = "tcp")]
    proto: ProxyProtoArg,
    /// TCP: read/write through a buffer, or splice(2) socket -> pipe -> socket (Linux).
    #[arg(long, value_enum, default_value = "copy")]
    strategy: StrategyArg,
    /// TCP: bytes per read (copy: each direction's buffer; splice: per call).
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "64KiB",
        allow_hyphen_values = true
    )]
    buffer: ByteSize,
    /// TCP_NODELAY on accepted client connections.
    #[arg(long, value_enum, default_value = "on")]
    nodelay_front: Switch,
    /// TCP_NODELAY on upstream connections.
    #[arg(long, value_enum, default_value = "on")]
    nodelay_back: Switch,
    /// TCP: close the client if the upstream does not accept within this long.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "3s",
        allow_hyphen_values = true
    )]
    connect_timeout: HumanDuration,
    /// UDP: close a session with no datagram either way for this long.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        allow_hyphen_values = true
    )]
    udp_session_timeout: HumanDuration,
    /// UDP: most sessions open at once; datagrams from new clients beyond it are dropped.
    #[arg(
        long,
        value_name = "N",
        default_value = "1024",
        allow_hyphen_values = true
    )]
    max_sessions: usize,
    /// Executor threads (default: core count).
    #[arg(long, allow_hyphen_values = true)]
    threads: Option<usize>,
    /// On shutdown, how long open TCP connections may keep relaying.
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
enum ProxyProtoArg {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StrategyArg {
    Copy,
    Splice,
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
pub enum Invocation {
    /// One server, or `all`.
    Servers(Servers),
    /// The relay.
    Proxy(Relay),
}

/// The relay to run.
pub struct Relay {
    pub bind: SocketAddr,
    pub config: ProxyConfig,
    pub stats_json: Option<PathBuf>,
    pub log_level: log::LevelFilter,
}

/// The servers to run.
pub struct Servers {
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
            Command::Proxy(a) => return Ok(Invocation::Proxy(relay(a)?)),
        };
        let bind = match &args.bind {
            Some(text) => resolve("--bind", text)?,
            None => SocketAddr::from(([127, 0, 0, 1], default_port)),
        };
        if let Some(other) = proto.filter(|p| *p != Proto::Framed) {
            refuse_framed_flags(&args, other)?;
        }
        Ok(Invocation::Servers(Servers {
            proto,
            bind,
            stats_json: args.stats_json.clone(),
            log_level: args.log_level.filter(),
            config: server_config(args)?,
        }))
    }
}

impl LogLevel {
    fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Off => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
        }
    }
}

fn relay(args: ProxyArgs) -> anyhow::Result<Relay> {
    let proto = match args.proto {
        ProxyProtoArg::Tcp => ProxyProto::Tcp,
        ProxyProtoArg::Udp => ProxyProto::Udp,
    };
    let config = ProxyConfig {
        proto,
        upstream: resolve("--upstream", &args.upstream)?,
        strategy: match args.strategy {
            StrategyArg::Copy => Strategy::Copy,
            StrategyArg::Splice => Strategy::Splice,
        },
        buffer: args.buffer.as_usize(),
        nodelay_front: args.nodelay_front == Switch::On,
        nodelay_back: args.nodelay_back == Switch::On,
        connect_timeout: args.connect_timeout.0,
        udp_session_timeout: args.udp_session_timeout.0,
        max_sessions: args.max_sessions,
        threads: args
            .threads
            .unwrap_or_else(bench_server::config::default_threads),
        grace: args.grace.0,
        max_fds: None,
    };
    config.check()?;
    Ok(Relay {
        bind: args.bind,
        config,
        stats_json: args.stats_json,
        log_level: args.log_level.filter(),
    })
}

/// `HOST:PORT` for `flag`, resolved now; the first address wins.
fn resolve(flag: &str, text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        bail!("{flag} {text}: not HOST:PORT (e.g. 127.0.0.1:8081)");
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        bail!("{flag} {text}: not HOST:PORT (e.g. 127.0.0.1:8081)");
    }
    let resolved = match text.to_socket_addrs() {
        Ok(mut addrs) => addrs.next(),
        Err(e) => bail!("{flag} {text}: cannot resolve {host:?}: {e}"),
    };
    resolved.with_context(|| format!("{flag} {text}: the name has no address"))
}

/// The framed-only flags given to a server that does not speak framed: an error naming
/// the first, instead of silently ignoring it.
fn refuse_framed_flags(args: &ServerArgs, proto: Proto) -> anyhow::Result<()> {
    let given = [
        ("--max-frame", args.max_frame.is_some()),
        ("--max-header", args.max_header.is_some()),
        ("--requests", args.requests.is_some()),
        ("--write-mode", args.write_mode.is_some()),
        ("--allow-exec", args.allow_exec),
        ("--max-buffered", args.max_buffered.is_some()),
        ("--frame-timeout", args.frame_timeout.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
        bail!(
            "{flag} applies to framed only, not to {}; use `bench-server framed` or `all`",
            proto.as_str()
        );
    }
    Ok(())
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
    let max_header_size = args.max_header.unwrap_or(ByteSize(64 * 1024));
    let max_header = u32::try_from(max_header_size.0)
        .ok()
        .filter(|&n| n >= bench_proto::limits::MIN_HEADER_LEN)
        .with_context(|| format!("--max-header {max_header_size}: must be between 2B and 4GiB"))?;
    let max_buffered = args
        .max_buffered
        .map_or(bench_server::config::DEFAULT_MAX_BUFFERED, |size| size.0);
    if max_buffered == 0 {
        bail!("--max-buffered 0B: must be at least 1B");
    }
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
            max_body: args
                .max_frame
                .map_or(Limits::default().max_body, |size| size.0),
        },
        requests: match args.requests.unwrap_or(RequestsArg::Framed) {
            RequestsArg::Framed => RequestMode::Framed,
            RequestsArg::Raw => RequestMode::Raw,
        },
        write_mode: match args.write_mode.unwrap_or(WriteModeArg::Coalesced) {
            WriteModeArg::Coalesced => WriteMode::Coalesced,
            WriteModeArg::Split => WriteMode::Split,
        },
        allow_exec: args.allow_exec,
        grace: args.grace.0,
        max_buffered,
        frame_timeout: match args.frame_timeout.as_deref() {
            None => Some(bench_server::config::DEFAULT_FRAME_TIMEOUT),
            Some(text) => optional_duration("--frame-timeout", text)?,
        },
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
    optional_duration("--idle-timeout", text)
}

/// A duration or `off` for `flag`; zero is refused (it would close at once).
fn optional_duration(flag: &str, text: &str) -> anyhow::Result<Option<Duration>> {
    if text == "off" {
        return Ok(None);
    }
    let d: HumanDuration = text.parse().with_context(|| format!("{flag} {text:?}"))?;
    if d.0.is_zero() {
        bail!("{flag} {text}: use `off` to disable it");
    }
    Ok(Some(d.0))
}
