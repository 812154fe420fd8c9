//! [`Front`]: the bound socket clients talk to, a TCP listener or a UDP socket, bound
//! with the servers' socket set-up (SO_REUSEPORT on a port nobody else holds), so the
//! `per-core` loops can each bind one more socket of the same group. Relaying is the
//! rest of the wing's business.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsFd;

use socket2::SockRef;

use super::config::{ProxyError, ProxyProto, io_err};
use crate::socket::{SocketOptions, bind_tcp, bind_tcp_sibling, bind_udp, bind_udp_sibling};

/// The bound front socket clients talk to: a TCP listener or a UDP socket.
#[derive(Debug)]
pub enum Front {
    /// A listening TCP socket.
    Tcp(TcpListener),
    /// A bound UDP socket.
    Udp(UdpSocket),
}

impl Front {
    /// Binds `addr` for `proto` (port 0 picks a free port) as the servers bind: with
    /// SO_REUSEPORT (the `per-core` loops add their own sockets to its group), on a
    /// port no other socket holds; TCP listeners also get SO_REUSEADDR.
    ///
    /// ```
    /// use bench_server::proxy::{Front, ProxyProto};
    /// let front = Front::bind(ProxyProto::Udp, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// assert_ne!(front.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind(proto: ProxyProto, addr: SocketAddr) -> Result<Front, ProxyError> {
        let context = || format!("binding {} {addr}", proto.as_str());
        let opts = SocketOptions::default();
        Ok(match proto {
            ProxyProto::Tcp => Front::Tcp(bind_tcp(addr, &opts).map_err(io_err(context))?),
            ProxyProto::Udp => Front::Udp(bind_udp(addr, &opts).map_err(io_err(context))?),
        })
    }

    /// Which transport this socket carries (a config's `proto` must match it, see
    /// [`super::validate`]).
    pub fn proto(&self) -> ProxyProto {
        match self {
            Front::Tcp(_) => ProxyProto::Tcp,
            Front::Udp(_) => ProxyProto::Udp,
        }
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Front::Tcp(l) => l.local_addr(),
            Front::Udp(s) => s.local_addr(),
        }
    }
}

impl From<TcpListener> for Front {
    fn from(listener: TcpListener) -> Self {
        Front::Tcp(listener)
    }
}

impl From<UdpSocket> for Front {
    fn from(socket: UdpSocket) -> Self {
        Front::Udp(socket)
    }
}

/// One more listener in the SO_REUSEPORT group of the front listener on `addr`.
pub(super) fn tcp_sibling(addr: SocketAddr) -> io::Result<TcpListener> {
    bind_tcp_sibling(addr, &SocketOptions::default())
}

/// One more UDP socket in the SO_REUSEPORT group of the front socket on `addr`.
pub(super) fn udp_sibling(addr: SocketAddr) -> io::Result<UdpSocket> {
    bind_udp_sibling(addr, &SocketOptions::default())
}

/// Whether `socket` has SO_REUSEPORT (a front made elsewhere may not: its loops then
/// share it).
pub(super) fn has_reuse_port(socket: &impl AsFd) -> bool {
    SockRef::from(socket).reuse_port().unwrap_or(false)
}
