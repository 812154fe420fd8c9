//! The server subcommands (`tcp-echo`, `udp-echo`, `framed`, `all`): their flags, in
//! shared groups (socket options, framed-only options, output), and the plain
//! [`ServerConfig`] they build.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use bench_proto::{ByteSize, HumanDuration, Limits};
use bench_server::config::{DEFAULT_FRAME_TIMEOUT, DEFAULT_MAX_BUFFERED, default_threads};
use bench_server::{Model, Proto, RequestMode, ServerConfig, SocketOptions, Transform, WriteMode};
use clap::Args;

use super::{HostPort, OutputArgs, Switch, choice, optional_duration};

/// `--model`'s default: the library's [`Model::default`] (per-core on Linux).
const DEFAULT_MODEL: &str = if cfg!(target_os = "linux") {
    "per-core"
} else {
    "async"
};

/// Options shared by every server subcommand.
#[derive(Debug, Args)]
pub(super) struct ServerArgs {
    /// Address to bind, HOST:PORT (a name is resolved once, at start); port 0 picks a
    /// free port (printed on the `listening on` line).
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// What echo does to the bytes.
    #[arg(long, value_parser = choice::<Transform>(), default_value = "none")]
    transform: Transform,
    #[command(flatten)]
    socket: SocketArgs,
    /// Event loops (per-core model), executor threads (async model) and UDP receive
    /// loops (default: core count).
    #[arg(long, allow_hyphen_values = true)]
    threads: Option<usize>,
    /// How TCP connections are scheduled: per-core (an epoll loop per thread, each
    /// with its own SO_REUSEPORT listener; Linux only, the default there), async (smol
    /// tasks; the default elsewhere), threads (a thread per connection), iterative
    /// (one connection at a time).
    #[arg(long, value_parser = choice::<Model>(), default_value = DEFAULT_MODEL)]
    model: Model,
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
    #[command(flatten)]
    framed: FramedArgs,
    /// On shutdown, how long requests in progress may take to finish.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        allow_hyphen_values = true
    )]
    grace: HumanDuration,
    #[command(flatten)]
    output: OutputArgs,
}

/// Socket options of the listening and accepted sockets.
#[derive(Debug, Args)]
struct SocketArgs {
    /// TCP_NODELAY on accepted sockets.
    #[arg(long, value_enum, default_value = "on")]
    nodelay: Switch,
    /// SO_RCVBUF, e.g. 256KiB (default: the kernel's).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    recv_buf: Option<ByteSize>,
    /// SO_SNDBUF, e.g. 256KiB (default: the kernel's).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    send_buf: Option<ByteSize>,
}

/// Options only the framed protocol reads (refused for tcp-echo and udp-echo).
#[derive(Debug, Args)]
struct FramedArgs {
    /// Framed: largest body (`total_size`) accepted [default: 16MiB].
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    max_frame: Option<ByteSize>,
    /// Framed: largest JSON header accepted [default: 64KiB].
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    max_header: Option<ByteSize>,
    /// Framed: length-prefixed frames, or one raw command line per read [default: framed].
    #[arg(long, value_parser = choice::<RequestMode>())]
    requests: Option<RequestMode>,
    /// Framed: one vectored write per response, or prefix/header/body as three writes
    /// [default: coalesced].
    #[arg(long, value_parser = choice::<WriteMode>())]
    write_mode: Option<WriteMode>,
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
}

/// The servers to run.
pub struct Servers {
    /// One protocol, or `None` for `all`.
    pub proto: Option<Proto>,
    /// Where to bind (resolve it before binding).
    pub bind: HostPort,
    pub config: ServerConfig,
    pub stats_json: Option<PathBuf>,
    pub log_level: log::LevelFilter,
}

impl Servers {
    /// Validates `args` for `proto` (`None`: all three); `default_port` when no `--bind`.
    pub(super) fn new(
        proto: Option<Proto>,
        default_port: u16,
        args: ServerArgs,
    ) -> anyhow::Result<Self> {
        let bind = match &args.bind {
            Some(text) => HostPort::parse("--bind", text)?,
            None => HostPort::addr(([127, 0, 0, 1], default_port).into()),
        };
        if let Some(other) = proto.filter(|p| *p != Proto::Framed) {
            refuse_framed_flags(&args.framed, other)?;
        }
        Ok(Servers {
            proto,
            bind,
            stats_json: args.output.stats_json.clone(),
            log_level: args.output.log_level.filter(),
            config: server_config(args)?,
        })
    }
}

/// The framed-only flags given to a server that does not speak framed: an error naming
/// the first, instead of silently ignoring it.
fn refuse_framed_flags(args: &FramedArgs, proto: Proto) -> anyhow::Result<()> {
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
    let threads = args.threads.unwrap_or_else(default_threads);
    if threads == 0 {
        bail!("--threads 0: at least one thread is needed");
    }
    if args.max_conns == Some(0) {
        bail!("--max-conns 0: must be at least 1 (omit the flag for no limit)");
    }
    let framed = args.framed;
    let max_header_size = framed.max_header.unwrap_or(ByteSize(64 * 1024));
    let max_header = u32::try_from(max_header_size.0)
        .ok()
        .filter(|&n| n >= bench_proto::limits::MIN_HEADER_LEN)
        .with_context(|| format!("--max-header {max_header_size}: must be between 2B and 4GiB"))?;
    let max_buffered = framed
        .max_buffered
        .map_or(DEFAULT_MAX_BUFFERED, |size| size.0);
    if max_buffered == 0 {
        bail!("--max-buffered 0B: must be at least 1B");
    }
    Ok(ServerConfig {
        transform: args.transform,
        model: args.model,
        threads,
        socket: SocketOptions {
            nodelay: args.socket.nodelay.on(),
            recv_buf: buffer_size("--recv-buf", args.socket.recv_buf)?,
            send_buf: buffer_size("--send-buf", args.socket.send_buf)?,
        },
        max_conns: args.max_conns,
        idle_timeout: optional_duration("--idle-timeout", &args.idle_timeout)?,
        limits: Limits {
            max_header,
            max_body: framed
                .max_frame
                .map_or(Limits::default().max_body, |size| size.0),
        },
        requests: framed.requests.unwrap_or_default(),
        write_mode: framed.write_mode.unwrap_or_default(),
        allow_exec: framed.allow_exec,
        grace: args.grace.0,
        max_buffered,
        frame_timeout: match framed.frame_timeout.as_deref() {
            None => Some(DEFAULT_FRAME_TIMEOUT),
            Some(text) => optional_duration("--frame-timeout", text)?,
        },
    })
}

/// A socket buffer size for `flag`: at least a byte, at most what the kernel takes.
fn buffer_size(flag: &str, size: Option<ByteSize>) -> anyhow::Result<Option<usize>> {
    match size {
        Some(ByteSize(0)) => bail!("{flag} 0B: a socket buffer must be at least 1 byte"),
        // SO_RCVBUF/SO_SNDBUF take a C int.
        Some(size) if size.0 > i32::MAX as u64 => {
            bail!("{flag} {size}: larger than the kernel accepts (2GiB)")
        }
        Some(size) => Ok(Some(size.as_usize())),
        None => Ok(None),
    }
}
