//! Plain run configuration: what the CLI (or a test, a bench, the suite) decided, checked
//! by [`RunConfig::validate`], with no clap types in it. It is serialised whole into every
//! report, so a report says exactly how it was made.

use std::net::SocketAddr;
use std::time::Duration;

use bench_proto::ByteSize;
use bench_proto::HumanDuration;
use bench_server::{Model, SocketOptions, WriteMode};
use serde::{Deserialize, Serialize};

/// Largest request or reply size the client will send or expect (the server's default
/// `max_body`).
pub const MAX_SIZE: u64 = 16 * 1024 * 1024;

/// Largest tcp-echo request: the client keeps its payload pattern in memory twice (lower
/// and upper case), and tcp-echo has no body limit of its own.
pub const MAX_TCP_ECHO_SIZE: u64 = 256 * 1024 * 1024;

/// Largest udp-echo payload (one datagram).
pub const MAX_UDP_SIZE: u64 = 65_507;

/// Largest raw-mode request: the server takes one read as one command line.
pub const MAX_RAW_SIZE: u64 = 32 * 1024;

/// Which protocol the load speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// Raw bytes out, the same bytes back.
    TcpEcho,
    /// One datagram out with a probe header, one back.
    UdpEcho,
    /// The length-prefixed command protocol.
    Framed,
    /// A protocol described by a workload file (`--workload FILE.toml`,
    /// [`RunConfig::custom`]); needs `--target`.
    Custom,
}

impl WorkloadKind {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::TcpEcho => "tcp-echo",
            WorkloadKind::UdpEcho => "udp-echo",
            WorkloadKind::Framed => "framed",
            WorkloadKind::Custom => "custom",
        }
    }

    /// The server protocol that answers this workload (custom runs are refused without
    /// `--target`, so no embedded server is started for them).
    pub fn proto(self) -> bench_server::Proto {
        match self {
            WorkloadKind::TcpEcho | WorkloadKind::Custom => bench_server::Proto::TcpEcho,
            WorkloadKind::UdpEcho => bench_server::Proto::UdpEcho,
            WorkloadKind::Framed => bench_server::Proto::Framed,
        }
    }
}

/// The framed command each request runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum FramedCmd {
    /// Body of `--size` bytes, the same body back.
    Echo,
    /// Body of `--size` bytes, uppercased back.
    Upper,
    /// Body of `--size` bytes, empty body back.
    Discard,
    /// Empty body, `--size` bytes of the generate pattern back.
    Generate,
    /// Empty body; the server waits `sleep`, then sends an empty body back.
    Sleep,
}

impl FramedCmd {
    /// The command's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            FramedCmd::Echo => "echo",
            FramedCmd::Upper => "upper",
            FramedCmd::Discard => "discard",
            FramedCmd::Generate => "generate",
            FramedCmd::Sleep => "sleep",
        }
    }

    /// Whether the request carries a `--size` body.
    pub fn sends_body(self) -> bool {
        matches!(
            self,
            FramedCmd::Echo | FramedCmd::Upper | FramedCmd::Discard
        )
    }
}

/// How replies are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Content equal to what a plain server returns.
    Exact,
    /// Content equal to the ASCII uppercase of it (a `--transform upper` server).
    Upper,
    /// Only the length is checked.
    Length,
}

/// How framed requests go onto the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum RequestFormat {
    /// Length-prefixed frames.
    Framed,
    /// One command line per write (`upper hello`), for servers in `--requests raw` mode;
    /// the replies are still framed.
    Raw,
}

/// When open-loop requests are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Evenly spaced.
    Uniform,
    /// Exponentially distributed gaps (a Poisson process) with the same mean rate.
    Poisson,
}

/// Which engine drives the client's connections (`--engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ClientEngine {
    /// One event loop per worker thread (epoll, edge-triggered, its own timer heap):
    /// the default on Linux.
    PerCore,
    /// A smol executor per worker thread, a task per connection.
    Async,
}

/// Names the default engine instead of the platform's (`per-core` or `async`), so the
/// whole test suite can run on either engine: `WIREBENCH_CLIENT_ENGINE=async cargo test`.
pub const ENGINE_ENV: &str = "WIREBENCH_CLIENT_ENGINE";

impl Default for ClientEngine {
    /// `per-core` on Linux, `async` elsewhere, unless [`ENGINE_ENV`] names one.
    fn default() -> Self {
        match std::env::var(ENGINE_ENV).as_deref() {
            Ok("async") => ClientEngine::Async,
            Ok("per-core") => ClientEngine::PerCore,
            _ if cfg!(target_os = "linux") => ClientEngine::PerCore,
            _ => ClientEngine::Async,
        }
    }
}

impl ClientEngine {
    /// The name the flag and the report use.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientEngine::PerCore => "per-core",
            ClientEngine::Async => "async",
        }
    }
}

/// Closed loop (each connection keeps `pipeline` requests in flight) or open loop
/// (requests are due on a schedule, whatever the server does).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LoadModel {
    /// The next request goes out when a reply frees a slot.
    Closed,
    /// `rate` requests/s in total over all connections, each due at an intended time.
    Open {
        /// Requests per second, all connections together.
        rate: f64,
        /// How the intended times are spaced.
        arrival: Arrival,
    },
}

/// When the recorded part of a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunLength {
    /// After this long (after the warm-up).
    Duration(HumanDuration),
    /// After this many requests have been sent (after the warm-up).
    Requests(u64),
}

/// Request (or reply) sizes: fixed, or uniformly drawn from an inclusive range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeRange {
    /// Smallest size.
    pub min: ByteSize,
    /// Largest size (equal to `min` for a fixed size).
    pub max: ByteSize,
}

impl SizeRange {
    /// One size.
    pub fn fixed(bytes: u64) -> SizeRange {
        SizeRange {
            min: ByteSize(bytes),
            max: ByteSize(bytes),
        }
    }
}

impl std::str::FromStr for SizeRange {
    type Err = String;

    /// `64B` or `64B..4KiB`.
    fn from_str(text: &str) -> Result<SizeRange, String> {
        let (min, max) = match text.split_once("..") {
            Some((a, b)) => (a, b),
            None => (text, text),
        };
        let min: ByteSize = min.parse().map_err(|e| format!("{e}"))?;
        let max: ByteSize = max.parse().map_err(|e| format!("{e}"))?;
        if max < min {
            return Err(format!("{text:?}: the range ends below its start"));
        }
        Ok(SizeRange { min, max })
    }
}

impl std::fmt::Display for SizeRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

/// A custom workload's file, as given: its text travels in the config (and the report),
/// so a report says exactly which protocol was run; the workload wing checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadFile {
    /// The path given to `--workload`.
    pub path: String,
    /// The file's TOML text.
    pub text: String,
}

/// Settings of the embedded server (used when no target is given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddedServer {
    /// TCP_NODELAY on the server's accepted sockets.
    pub nodelay: bool,
    /// Server model.
    pub model: Model,
    /// How framed responses are written.
    pub write_mode: WriteMode,
}

impl Default for EmbeddedServer {
    fn default() -> Self {
        EmbeddedServer {
            nodelay: true,
            // bench-server's own default: per-core on Linux, async elsewhere.
            model: Model::default(),
            write_mode: WriteMode::Coalesced,
        }
    }
}

/// Where the load goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    /// A bench-server started in this process on 127.0.0.1:0 for the run.
    Embedded(EmbeddedServer),
    /// A server somebody else runs.
    External {
        /// Its address.
        addr: SocketAddr,
    },
}

/// One run, fully decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The protocol.
    pub workload: WorkloadKind,
    /// Framed: the command each request runs.
    pub cmd: FramedCmd,
    /// Framed `sleep`: how long the server waits.
    pub sleep: HumanDuration,
    /// Framed: frames or raw command lines.
    pub requests: RequestFormat,
    /// Framed: how requests are written.
    pub write_mode: WriteMode,
    /// How replies are checked.
    pub expect: Expect,
    /// Where the load goes.
    pub target: Target,
    /// Connections (UDP: sockets).
    pub connections: usize,
    /// Requests in flight per connection at most.
    pub pipeline: usize,
    /// Closed or open loop.
    pub load: LoadModel,
    /// When the recorded part ends.
    pub length: RunLength,
    /// Load before recording starts (not recorded).
    pub warmup: HumanDuration,
    /// Request (tcp-echo, udp-echo, framed bodies) or reply (`generate`) sizes.
    pub size: SizeRange,
    /// Client socket options.
    pub socket: SocketOptions,
    /// A request without its whole reply after this long fails with `timeout`.
    pub timeout: HumanDuration,
    /// Client worker threads (each runs its share of the connections).
    pub threads: usize,
    /// The engine that drives the connections.
    #[serde(default)]
    pub engine: ClientEngine,
    /// Local addresses TCP connections bind to, taken in turn (`--bind-source`): each
    /// gives one more range of source ports towards one target. Empty: the kernel picks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bind_source: Vec<std::net::IpAddr>,
    /// Free text carried into the report.
    pub label: String,
    /// Custom workloads: the workload file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<WorkloadFile>,
    /// Sharded runs: which shard this is and what the whole run asked for (the fields
    /// above then hold this shard's shares; see [`crate::shard`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            workload: WorkloadKind::TcpEcho,
            cmd: FramedCmd::Echo,
            sleep: HumanDuration(Duration::from_millis(1)),
            requests: RequestFormat::Framed,
            write_mode: WriteMode::Coalesced,
            expect: Expect::Exact,
            target: Target::Embedded(EmbeddedServer::default()),
            connections: 4,
            pipeline: 1,
            load: LoadModel::Closed,
            length: RunLength::Duration(HumanDuration(Duration::from_secs(10))),
            warmup: HumanDuration(Duration::from_secs(1)),
            size: SizeRange::fixed(64),
            socket: SocketOptions::default(),
            timeout: HumanDuration(Duration::from_secs(5)),
            threads: bench_server::config::default_threads(),
            engine: ClientEngine::default(),
            bind_source: Vec::new(),
            label: String::new(),
            custom: None,
            shard: None,
        }
    }
}

/// Which part of a sharded run this process is, and what the whole run asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, 0-based.
    pub index: u32,
    /// How many shards the run has.
    pub count: u32,
    /// Names the run; every shard of one run carries the same id, and `merge` refuses
    /// reports of different ids.
    pub run_id: String,
    /// The whole run's split quantities (the config holds this shard's shares).
    pub global: GlobalLoad,
}

/// The quantities a shard holds only a share of, as the whole run asked for them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GlobalLoad {
    /// `--connections` of the whole run.
    pub connections: usize,
    /// `--requests N` of the whole run (count runs).
    pub requests: Option<u64>,
    /// `--rate` of the whole run (open loop).
    pub rate: Option<f64>,
}

/// A configuration that cannot run; names the flag and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {value}: {reason}")]
pub struct ConfigError {
    /// The flag, as on the command line (`--size`).
    pub flag: &'static str,
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(flag: &'static str, value: impl ToString, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        flag,
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl RunConfig {
    /// Checks everything that can be checked without a network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_shape()?;
        self.validate_size()?;
        if let LoadModel::Open { rate, .. } = self.load {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(bad(
                    "--rate",
                    rate,
                    "must be a positive number of requests/s",
                ));
            }
            if rate / (self.connections as f64) > 10_000_000.0 {
                return Err(bad(
                    "--rate",
                    rate,
                    "more than 10M requests/s per connection",
                ));
            }
        }
        match self.length {
            RunLength::Duration(d) if d.0.is_zero() => {
                return Err(bad("--duration", d, "must be above zero"));
            }
            RunLength::Requests(0) => return Err(bad("--requests", 0, "must be at least 1")),
            _ => {}
        }
        if self.timeout.0.is_zero() {
            return Err(bad("--timeout", self.timeout, "must be above zero"));
        }
        if self.workload == WorkloadKind::Framed && self.cmd == FramedCmd::Sleep {
            self.validate_sleep()?;
        }
        self.validate_custom()
    }

    /// A custom workload has its file and a target; other workloads have no file.
    fn validate_custom(&self) -> Result<(), ConfigError> {
        match (self.workload, &self.custom) {
            (WorkloadKind::Custom, None) => Err(bad(
                "--workload",
                "(none)",
                "a custom run needs a workload file",
            )),
            (WorkloadKind::Custom, Some(file)) if matches!(self.target, Target::Embedded(_)) => {
                Err(bad(
                    "--target",
                    "(none)",
                    format!(
                        "a custom workload ({}) needs --target: the embedded server speaks \
                         only bench-server's protocols",
                        file.path
                    ),
                ))
            }
            (WorkloadKind::Custom, Some(_)) | (_, None) => Ok(()),
            (kind, Some(file)) => Err(bad(
                "--workload",
                &file.path,
                format!(
                    "workload files are for `custom` runs, not {}",
                    kind.as_str()
                ),
            )),
        }
    }

    fn validate_sleep(&self) -> Result<(), ConfigError> {
        let sleep = self.sleep.0;
        if sleep > Duration::from_secs(60) {
            return Err(bad(
                "--sleep",
                self.sleep,
                "at most 60s (the server's limit)",
            ));
        }
        if !sleep.subsec_nanos().is_multiple_of(1_000_000) {
            return Err(bad(
                "--sleep",
                self.sleep,
                "the server sleeps whole milliseconds",
            ));
        }
        if self.timeout.0 <= sleep {
            return Err(bad(
                "--timeout",
                self.timeout,
                format!(
                    "not longer than --sleep {}: every request would time out",
                    self.sleep
                ),
            ));
        }
        Ok(())
    }

    fn validate_shape(&self) -> Result<(), ConfigError> {
        if self.connections == 0 {
            return Err(bad("--connections", 0, "must be at least 1"));
        }
        if self.connections > 100_000 {
            return Err(bad("--connections", self.connections, "at most 100000"));
        }
        if self.pipeline == 0 {
            return Err(bad("--pipeline", 0, "must be at least 1"));
        }
        if self.pipeline > 4096 {
            return Err(bad("--pipeline", self.pipeline, "at most 4096"));
        }
        if self.threads == 0 {
            return Err(bad("--threads", 0, "must be at least 1"));
        }
        if self.threads > 1024 {
            return Err(bad("--threads", self.threads, "at most 1024"));
        }
        let raw = self.workload == WorkloadKind::Framed && self.requests == RequestFormat::Raw;
        if raw && self.pipeline != 1 {
            return Err(bad(
                "--pipeline",
                self.pipeline,
                "raw requests have no boundaries on the wire, so only 1 can be in flight",
            ));
        }
        Ok(())
    }

    fn validate_size(&self) -> Result<(), ConfigError> {
        let size = self.size;
        let fixed_empty = matches!(
            (self.workload, self.cmd),
            (WorkloadKind::Framed, FramedCmd::Sleep)
        );
        if size.min.0 == 0 && !fixed_empty {
            return Err(bad("--size", size, "must be at least 1B"));
        }
        let (max, what) = match self.workload {
            WorkloadKind::UdpEcho => (MAX_UDP_SIZE, "the largest UDP payload"),
            WorkloadKind::Framed if self.requests == RequestFormat::Raw => {
                (MAX_RAW_SIZE, "the largest raw request")
            }
            WorkloadKind::TcpEcho => (MAX_TCP_ECHO_SIZE, "the client's tcp-echo limit"),
            WorkloadKind::Framed => (MAX_SIZE, "the framed server's default max body"),
            WorkloadKind::Custom => (MAX_SIZE, "the largest custom {size} payload"),
        };
        if size.max.0 > max {
            return Err(bad(
                "--size",
                size,
                format!("above {what} ({})", ByteSize(max)),
            ));
        }
        if self.workload == WorkloadKind::UdpEcho && size.min.0 < bench_proto::PROBE_LEN as u64 {
            return Err(bad(
                "--size",
                size,
                "udp-echo payloads carry a 16-byte probe header, so at least 16B",
            ));
        }
        Ok(())
    }

    /// Whether requests follow a schedule (open loop).
    pub fn is_open_loop(&self) -> bool {
        matches!(self.load, LoadModel::Open { .. })
    }
}
