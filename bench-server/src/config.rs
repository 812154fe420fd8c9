//! Plain server configuration: what the CLI (or a test, a bench, the load generator's
//! embedded mode) decided, validated, with no clap types in it (the `cli` feature only
//! derives `clap::ValueEnum` on the enums). A leaf: data and defaults, no I/O; the
//! checks that need sockets are [`crate::validate`]'s.

use std::time::Duration;

use bench_proto::Limits;
pub use bench_proto::WriteMode;
use serde::{Deserialize, Serialize};

use crate::socket::SocketOptions;

/// Which protocol an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proto {
    /// Raw bytes back, unchanged or uppercased.
    TcpEcho,
    /// One datagram in, one datagram out.
    UdpEcho,
    /// The length-prefixed command protocol.
    Framed,
}

impl Proto {
    /// The name used in `listening on <proto> <addr>` and in stats.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::TcpEcho => "tcp-echo",
            Proto::UdpEcho => "udp-echo",
            Proto::Framed => "framed",
        }
    }
}

/// What echoing servers do to the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// Bytes back unchanged.
    #[default]
    None,
    /// Bytes back ASCII-uppercased.
    Upper,
}

/// How TCP connections are scheduled. The default is `per-core` on Linux, `async`
/// elsewhere (the per-core engine is epoll's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// One event loop per thread (`threads`), each with its own SO_REUSEPORT
    /// listener, epoll and connections (Linux; elsewhere it runs as `async`).
    //
    // Each loop also owns its UDP socket, timer heap and counter lane: nothing is
    // shared per request.
    #[cfg_attr(target_os = "linux", default)]
    #[serde(rename = "per-core")]
    PerCore,
    /// Tasks on a multi-threaded smol executor (`threads` threads).
    #[cfg_attr(not(target_os = "linux"), default)]
    Async,
    /// One OS thread per connection.
    Threads,
    /// One connection at a time; the next waits in the listen backlog.
    Iterative,
}

/// How the framed server reads requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum RequestMode {
    /// Length-prefixed frames.
    #[default]
    Framed,
    /// Compatibility mode: the bytes of one read are one command line.
    Raw,
}

/// Everything a server run needs besides its sockets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// What echo does to the bytes (tcp-echo, udp-echo, framed `echo`).
    pub transform: Transform,
    /// How TCP connections are scheduled.
    pub model: Model,
    /// Loop threads of the `per-core` model, executor threads of the `async` model
    /// (and UDP receive loops); at least 1
    /// ([`crate::ServerError::NoThreads`]). Default: the core count.
    pub threads: usize,
    /// Options for listening and accepted sockets.
    pub socket: SocketOptions,
    /// Connections beyond this many (per endpoint) are refused (a framed client gets an
    /// error frame first) and counted as `max_conns`; `None`: no limit.
    pub max_conns: Option<usize>,
    /// A connection with no progress for this long is closed; `None`: never.
    #[serde(with = "bench_proto::units::option_duration_text")]
    pub idle_timeout: Option<Duration>,
    /// Frame limits of the framed protocol.
    pub limits: Limits,
    /// Framed or raw requests.
    pub requests: RequestMode,
    /// How framed responses are written.
    pub write_mode: WriteMode,
    /// Whether the `exec` command runs shell commands (loopback binds only).
    pub allow_exec: bool,
    /// How long connections may finish their current request after shutdown starts.
    #[serde(with = "bench_proto::units::duration_text")]
    pub grace: Duration,
    /// Framed: the most bytes of large requests and replies (above [`LARGE_BUFFER`])
    /// all connections of an endpoint may hold at once; a large request beyond it is
    /// refused with an error frame (`over_budget`).
    #[serde(default = "default_max_buffered")]
    pub max_buffered: u64,
    /// Framed: a frame must be complete this long after its first byte arrived, or the
    /// connection is closed (`slow_frame`); `None`: no deadline.
    #[serde(
        default = "default_frame_timeout",
        with = "bench_proto::units::option_duration_text"
    )]
    pub frame_timeout: Option<Duration>,
}

/// Requests and replies up to this size use each connection's own buffers and are not
/// counted against [`ServerConfig::max_buffered`]; larger ones are.
pub const LARGE_BUFFER: usize = 1 << 20;

/// The default [`ServerConfig::max_buffered`]: 256 MiB.
pub const DEFAULT_MAX_BUFFERED: u64 = 256 << 20;

/// The default [`ServerConfig::frame_timeout`]: 10 s.
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(10);

fn default_max_buffered() -> u64 {
    DEFAULT_MAX_BUFFERED
}

fn default_frame_timeout() -> Option<Duration> {
    Some(DEFAULT_FRAME_TIMEOUT)
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            transform: Transform::None,
            model: Model::default(),
            threads: default_threads(),
            socket: SocketOptions::default(),
            max_conns: None,
            // A minute: far longer than any pause inside a benchmark run, short enough
            // that clients that vanished without a FIN do not pile up.
            idle_timeout: Some(Duration::from_secs(60)),
            limits: Limits::default(),
            requests: RequestMode::Framed,
            write_mode: WriteMode::Coalesced,
            allow_exec: false,
            // Longer than any request but a long `sleep` takes; a stop stays prompt.
            grace: Duration::from_secs(5),
            max_buffered: DEFAULT_MAX_BUFFERED,
            frame_timeout: Some(DEFAULT_FRAME_TIMEOUT),
        }
    }
}

/// The number of cores, or 1 when it cannot be read.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
