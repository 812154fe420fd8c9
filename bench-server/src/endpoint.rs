//! Bound sockets: [`Endpoint`] (a socket and the protocol it will speak), binding one
//! or all three protocols, the checks [`crate::run`] would make, and [`ServerError`].
//! A leaf under the driver: it binds and checks, and must not run anything (running
//! them is the `server` wing's business).

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use crate::config::{Proto, ServerConfig};
use crate::socket::{SocketOptions, bind_tcp, bind_udp};

/// Why a server could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// `allow_exec` with an endpoint that is not on a loopback address.
    #[error(
        "--allow-exec refused: {addr} is not a loopback address (exec would run shell commands for anyone who can connect); bind 127.0.0.1 or ::1"
    )]
    ExecNeedsLoopback {
        /// The offending address.
        addr: SocketAddr,
    },
    /// `threads` is 0.
    #[error("--threads 0: at least one thread is needed")]
    NoThreads,
    /// A TCP listener was given the udp-echo protocol ([`Endpoint::from_tcp`]).
    #[error("{addr}: a TCP listener cannot serve udp-echo")]
    UdpOnTcpListener {
        /// The listener's address.
        addr: SocketAddr,
    },
    /// A socket or thread operation failed. The OS error is part of the message and
    /// deliberately not a `source`, so an error chain (`{:#}`) prints it once.
    #[error("{context}: {cause}")]
    Io {
        /// What was being done, with the address.
        context: String,
        /// The OS error.
        cause: io::Error,
    },
}

/// A bound socket and the protocol it will speak.
#[derive(Debug)]
pub struct Endpoint {
    proto: Proto,
    pub(crate) socket: BoundSocket,
    /// Whether the socket was bound here, with SO_REUSEPORT, so the `per-core` model
    /// may bind one more per loop on its address; false for sockets bound elsewhere
    /// ([`Endpoint::from_tcp`], [`Endpoint::from_udp`]), which the loops share.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // per-core only
    pub(crate) reuse_port: bool,
}

/// The socket inside an [`Endpoint`].
#[derive(Debug)]
pub(crate) enum BoundSocket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Endpoint {
    /// Binds `addr` for `proto` with `opts` (port 0 picks a free port), with
    /// SO_REUSEPORT so the `per-core` model can bind one socket per loop on it; a port
    /// any socket holds already is refused all the same.
    ///
    /// # Errors
    /// [`ServerError::Io`] naming the protocol and address (in use, no permission, an
    /// address this host does not have).
    ///
    /// ```
    /// use bench_server::{Endpoint, Proto, SocketOptions};
    /// let ep = Endpoint::bind(Proto::Framed, "127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
    /// assert_ne!(ep.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind(proto: Proto, addr: SocketAddr, opts: &SocketOptions) -> Result<Self, ServerError> {
        let context = || format!("binding {} {addr}", proto.as_str());
        let socket = match proto {
            Proto::UdpEcho => BoundSocket::Udp(bind_udp(addr, opts).map_err(io_err(context))?),
            Proto::TcpEcho | Proto::Framed => {
                BoundSocket::Tcp(bind_tcp(addr, opts).map_err(io_err(context))?)
            }
        };
        Ok(Endpoint {
            proto,
            socket,
            reuse_port: true,
        })
    }

    /// Wraps an already-bound, listening TCP socket (`proto` tcp-echo or framed;
    /// [`validate`] refuses udp-echo). The config's socket options are applied to every
    /// accepted connection.
    pub fn from_tcp(proto: Proto, listener: TcpListener) -> Self {
        Endpoint {
            proto,
            socket: BoundSocket::Tcp(listener),
            reuse_port: false,
        }
    }

    /// Wraps an already-bound UDP socket (serves udp-echo).
    pub fn from_udp(socket: UdpSocket) -> Self {
        Endpoint {
            proto: Proto::UdpEcho,
            socket: BoundSocket::Udp(socket),
            reuse_port: false,
        }
    }

    /// The protocol this endpoint will speak.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.socket {
            BoundSocket::Tcp(l) => l.local_addr(),
            BoundSocket::Udp(s) => s.local_addr(),
        }
    }
}

pub(crate) fn io_err(context: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> ServerError {
    move |cause| ServerError::Io {
        context: context(),
        cause,
    }
}

/// Binds tcp-echo, udp-echo and framed on three consecutive ports starting at `addr`'s.
/// With port 0, a free run of three ports is searched for (32 tries: another process
/// may take a port between the first bind and the next).
///
/// # Errors
/// The first bind that fails ([`ServerError::Io`]); with port 0, the last failure after
/// 32 tries.
pub fn bind_all(addr: SocketAddr, opts: &SocketOptions) -> Result<Vec<Endpoint>, ServerError> {
    const ORDER: [Proto; 3] = [Proto::TcpEcho, Proto::UdpEcho, Proto::Framed];
    let bind_run = |first: SocketAddr| -> Result<Vec<Endpoint>, ServerError> {
        let mut endpoints = Vec::with_capacity(3);
        let base = endpoints_base(first, &mut endpoints, opts)?;
        for (offset, proto) in ORDER.iter().enumerate().skip(1) {
            let port = base
                .port()
                .checked_add(offset as u16)
                .ok_or_else(|| ServerError::Io {
                    context: format!("binding {} after port {}", proto.as_str(), base.port()),
                    cause: io::ErrorKind::AddrNotAvailable.into(),
                })?;
            endpoints.push(Endpoint::bind(
                *proto,
                SocketAddr::new(base.ip(), port),
                opts,
            )?);
        }
        Ok(endpoints)
    };
    if addr.port() != 0 {
        return bind_run(addr);
    }
    let mut last = None;
    for _ in 0..32 {
        match bind_run(addr) {
            Ok(endpoints) => return Ok(endpoints),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one attempt"))
}

fn endpoints_base(
    addr: SocketAddr,
    endpoints: &mut Vec<Endpoint>,
    opts: &SocketOptions,
) -> Result<SocketAddr, ServerError> {
    let first = Endpoint::bind(Proto::TcpEcho, addr, opts)?;
    let base = first
        .local_addr()
        .map_err(io_err(|| format!("reading address of {addr}")))?;
    endpoints.push(first);
    Ok(base)
}

/// Checks what [`crate::run`] would refuse, before anything starts.
///
/// # Errors
/// [`ServerError::NoThreads`], [`ServerError::UdpOnTcpListener`],
/// [`ServerError::ExecNeedsLoopback`] (exec with a framed endpoint anyone else can
/// reach), or [`ServerError::Io`] when a bound address cannot be read.
pub fn validate(endpoints: &[Endpoint], config: &ServerConfig) -> Result<(), ServerError> {
    if config.threads == 0 {
        return Err(ServerError::NoThreads);
    }
    for ep in endpoints {
        if let (Proto::UdpEcho, BoundSocket::Tcp(listener)) = (ep.proto, &ep.socket) {
            let addr = listener
                .local_addr()
                .map_err(io_err(|| "reading bound address".to_owned()))?;
            return Err(ServerError::UdpOnTcpListener { addr });
        }
    }
    if config.allow_exec {
        for ep in endpoints.iter().filter(|ep| ep.proto == Proto::Framed) {
            let addr = ep
                .local_addr()
                .map_err(io_err(|| "reading bound address".to_owned()))?;
            if !addr.ip().is_loopback() {
                return Err(ServerError::ExecNeedsLoopback { addr });
            }
        }
    }
    Ok(())
}
