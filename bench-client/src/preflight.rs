//! Before the load starts: does the target answer at all? A refused or silent target is a
//! bad `--target` (exit code 2, no report), not a run full of connect errors. For framed
//! targets the `stats` command also reads back the server side's socket options.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use bench_proto::{CommandName, Decoder, Limits, RequestHeader, ResponseHeader};
use bench_server::SocketReadback;

use crate::config::{RequestFormat, RunConfig, WorkloadKind};
use crate::engine::RunError;

/// How long a UDP target may stay silent before it counts as reachable anyway (a server
/// that drops datagrams is still a server).
const UDP_PROBE_WAIT: Duration = Duration::from_millis(300);

/// Checks `addr`; returns the server's socket options when it can tell them.
pub fn check(config: &RunConfig, addr: SocketAddr) -> Result<Option<SocketReadback>, RunError> {
    let unreachable = |e: io::Error| RunError::Unreachable {
        addr,
        reason: e.to_string(),
    };
    match config.workload {
        WorkloadKind::UdpEcho => {
            probe_udp(addr).map_err(unreachable)?;
            Ok(None)
        }
        WorkloadKind::TcpEcho => {
            TcpStream::connect_timeout(&addr, config.timeout.0).map_err(unreachable)?;
            Ok(None)
        }
        WorkloadKind::Framed => {
            let stream =
                TcpStream::connect_timeout(&addr, config.timeout.0).map_err(unreachable)?;
            // Best effort: a server (or proxy) that does not answer `stats` still runs.
            Ok(server_socket(stream, config).ok().flatten())
        }
    }
}

fn probe_udp(addr: SocketAddr) -> io::Result<()> {
    let socket = UdpSocket::bind(crate::udp::unspecified_for(addr))?;
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

/// Asks a framed server for `stats` and reads `connection.socket` from the reply.
fn server_socket(mut stream: TcpStream, config: &RunConfig) -> io::Result<Option<SocketReadback>> {
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
        if let Some(frame) = decoder.decode().map_err(io::Error::other)? {
            let body: serde_json::Value = serde_json::from_slice(frame.body)?;
            let socket = body.pointer("/connection/socket").cloned();
            return Ok(socket.and_then(|s| serde_json::from_value(s).ok()));
        }
        let n = stream.read(decoder.read_buf())?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        decoder.filled(n);
    }
}
