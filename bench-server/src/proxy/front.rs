//! [`Front`]: the bound socket clients talk to, a TCP listener or a UDP socket, bound
//! with SO_REUSEPORT so the `per-core` loops can each bind one more socket of the same
//! group. Relaying is the rest of the wing's business.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsFd;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::config::{ProxyError, ProxyProto, io_err};

/// Listen backlog of the front listeners (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 1024;

/// The bound front socket clients talk to: a TCP listener or a UDP socket.
#[derive(Debug)]
pub enum Front {
    /// A listening TCP socket.
    Tcp(TcpListener),
    /// A bound UDP socket.
    Udp(UdpSocket),
}

impl Front {
    /// Binds `addr` for `proto` (port 0 picks a free port), with SO_REUSEPORT (the
    /// `per-core` loops add their own sockets to its group; another process of the same
    /// user could too). TCP listeners also get SO_REUSEADDR, like the servers'.
    ///
    /// ```
    /// use bench_server::proxy::{Front, ProxyProto};
    /// let front = Front::bind(ProxyProto::Udp, "127.0.0.1:0".parse().unwrap()).unwrap();
    /// assert_ne!(front.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind(proto: ProxyProto, addr: SocketAddr) -> Result<Front, ProxyError> {
        let context = || format!("binding {} {addr}", proto.as_str());
        Ok(match proto {
            ProxyProto::Tcp => Front::Tcp(
                bind_reuse_port(addr, Type::STREAM)
                    .map_err(io_err(context))?
                    .into(),
            ),
            ProxyProto::Udp => Front::Udp(
                bind_reuse_port(addr, Type::DGRAM)
                    .map_err(io_err(context))?
                    .into(),
            ),
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

/// A socket of type `ty` (a listening stream, or datagrams) bound to `addr` with
/// SO_REUSEPORT: the front, or one more socket of its group (same address, same user).
/// An IPv6 address binds IPv6 only, as the servers do.
pub(super) fn bind_reuse_port(addr: SocketAddr, ty: Type) -> io::Result<Socket> {
    let stream = ty == Type::STREAM;
    let protocol = if stream { Protocol::TCP } else { Protocol::UDP };
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if stream {
        socket.set_reuse_address(true)?;
        socket.set_tcp_nodelay(true)?;
    }
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    if stream {
        socket.listen(BACKLOG)?;
    }
    Ok(socket)
}

/// Whether `socket` has SO_REUSEPORT (a front made elsewhere may not: its loops then
/// share it).
pub(super) fn has_reuse_port(socket: &impl AsFd) -> bool {
    SockRef::from(socket).reuse_port().unwrap_or(false)
}
