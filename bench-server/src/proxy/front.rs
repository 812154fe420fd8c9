//! [`Front`]: the bound socket clients talk to, a TCP listener or a UDP socket, bound
//! with the servers' socket set-up. Relaying is the rest of the wing's business.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use super::config::{ProxyError, ProxyProto, io_err};
use crate::socket::{SocketOptions, bind_tcp, bind_udp};

/// The bound front socket clients talk to: a TCP listener or a UDP socket.
#[derive(Debug)]
pub enum Front {
    /// A listening TCP socket.
    Tcp(TcpListener),
    /// A bound UDP socket.
    Udp(UdpSocket),
}

impl Front {
    /// Binds `addr` for `proto` (port 0 picks a free port). TCP listeners get
    /// SO_REUSEADDR, like the servers'.
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
