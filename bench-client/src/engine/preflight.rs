//! Before the load starts: does the target answer at all? A refused or silent target is a
//! bad `--target` (exit code 2, no report), not a run full of connect errors. For framed
//! targets the `stats` command also reads back the server side's socket options.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use bench_proto::{CommandName, Decoder, Limits, RequestHeader, ResponseHeader};
use bench_server::SocketReadback;

use super::error::RunError;
use crate::config::{ConfigError, RequestFormat, RunConfig, Target, WorkloadKind};
use crate::workload::custom::spec::Transport;

/// How long a UDP target may stay silent before it counts as reachable anyway (a server
/// that drops datagrams is still a server).
const UDP_PROBE_WAIT: Duration = Duration::from_millis(300);

/// Descriptors a process needs besides its sockets: stdio, the reactor's epoll and
/// eventfd, each thread's poller, report and probe files.
const SPARE_DESCRIPTORS: u64 = 64;

/// Checks that the run's sockets fit in the process's descriptor limit (`RLIMIT_NOFILE`):
/// one per connection, and with the embedded server one more per connection (its side)
/// and its listener. The soft limit is raised towards the hard one when that is enough;
/// otherwise the run is refused before it starts, naming the value and the limit, instead
/// of failing most of its connects.
pub fn check_descriptors(config: &RunConfig) -> Result<(), ConfigError> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let connections = config.connections as u64;
    let embedded = matches!(config.target, Target::Embedded(_));
    let sockets = if embedded {
        2 * connections + 1
    } else {
        connections
    };
    let needed = sockets + SPARE_DESCRIPTORS + 2 * config.threads as u64;
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), hard) = (limit.current, limit.maximum) else {
        return Ok(()); // unlimited
    };
    if needed <= current {
        return Ok(());
    }
    if hard.is_none_or(|hard| needed <= hard) {
        let raised = Rlimit {
            current: Some(needed),
            maximum: hard,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Ok(());
        }
    }
    let limit = hard.map_or(current, |hard| hard.max(current));
    let server = if embedded {
        " (the embedded server takes one more per connection)"
    } else {
        ""
    };
    Err(ConfigError {
        flag: "--connections",
        value: config.connections.to_string(),
        reason: format!(
            "needs about {needed} file descriptors{server}, above this process's limit of \
             {limit} (RLIMIT_NOFILE; raise it with `ulimit -n`, or split the connections over \
             several generator processes)"
        ),
    })
}

/// Checks `addr`; returns the server's socket options when it can tell them. `custom`:
/// a custom workload's transport.
pub fn check(
    config: &RunConfig,
    addr: SocketAddr,
    custom: Option<Transport>,
) -> Result<Option<SocketReadback>, RunError> {
    let unreachable = |e: io::Error| RunError::Unreachable {
        flag: "--target",
        addr,
        reason: e.to_string(),
    };
    match config.workload {
        WorkloadKind::Custom if custom == Some(Transport::Udp) => {
            probe_udp(addr).map_err(unreachable)?;
            Ok(None)
        }
        WorkloadKind::UdpEcho => {
            probe_udp(addr).map_err(unreachable)?;
            Ok(None)
        }
        WorkloadKind::TcpEcho | WorkloadKind::Custom => {
            TcpStream::connect_timeout(&addr, config.timeout.0).map_err(unreachable)?;
            Ok(None)
        }
        WorkloadKind::Framed => {
            let stream =
                TcpStream::connect_timeout(&addr, config.timeout.0).map_err(unreachable)?;
            // Best effort: a server (or proxy) that does not answer `stats` still runs;
            // one that answers with something that is not a frame does not speak framed.
            match server_socket(stream, config) {
                Ok(socket) => Ok(socket),
                Err(Probe::NotFramed(reason)) => Err(RunError::Unreachable {
                    flag: "--target",
                    addr,
                    reason: format!("not a framed server: {reason}"),
                }),
                Err(Probe::Io) => Ok(None),
            }
        }
    }
}

fn probe_udp(addr: SocketAddr) -> io::Result<()> {
    let socket = UdpSocket::bind(super::udp::unspecified_for(addr))?;
    socket.connect(addr)?;
    socket.set_read_timeout(Some(UDP_PROBE_WAIT))?;
    socket.send(&[])?;
    let mut buf = [0u8; 64];
    match socket.recv(&mut buf) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Why the `stats` probe gave nothing.
enum Probe {
    /// The reply is not a framed response (a tcp-echo server echoes the request back).
    NotFramed(String),
    /// No reply (timeout), or a reply without the socket options: the probe is best
    /// effort, so the error itself is dropped.
    Io,
}

impl From<io::Error> for Probe {
    fn from(_: io::Error) -> Probe {
        Probe::Io
    }
}

/// Asks a framed server for `stats` and reads `connection.socket` from the reply.
fn server_socket(
    mut stream: TcpStream,
    config: &RunConfig,
) -> Result<Option<SocketReadback>, Probe> {
    stream.set_read_timeout(Some(config.timeout.0))?;
    if config.requests == RequestFormat::Raw {
        stream.write_all(b"stats")?;
    } else {
        let mut frame = Vec::new();
        let header = RequestHeader::new(CommandName::Stats, 0, 0);
        bench_proto::encode_header(&header, &mut frame).map_err(io::Error::other)?;
        stream.write_all(&frame)?;
    }
    let mut decoder = Decoder::<ResponseHeader>::new(Limits::default());
    loop {
        let frame = decoder
            .decode()
            .map_err(|e| Probe::NotFramed(format!("its reply to `stats` is not a frame ({e})")))?;
        if let Some(frame) = frame {
            let body: serde_json::Value =
                serde_json::from_slice(frame.body).map_err(io::Error::other)?;
            let socket = body.pointer("/connection/socket").cloned();
            return Ok(socket.and_then(|s| serde_json::from_value(s).ok()));
        }
        let n = stream.read(decoder.read_buf())?;
        if n == 0 {
            return Err(Probe::NotFramed(
                "it closed the connection without answering `stats`".to_owned(),
            ));
        }
        decoder.filled(n);
    }
}
