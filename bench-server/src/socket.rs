//! Socket set-up shared by every server (and by the load generator): binding with the
//! chosen options, applying them to accepted connections, and reading them back from a
//! live socket so reports show what the kernel really did. A leaf: it sets options on
//! sockets it is given or makes, and knows nothing of protocols or runs.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// Listen backlog: large enough that the `iterative` model can keep 1,000 clients
/// waiting (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 1024;

/// Socket options a user can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketOptions {
    /// TCP_NODELAY: disable Nagle's algorithm.
    pub nodelay: bool,
    /// SO_RCVBUF in bytes (`None`: kernel default).
    pub recv_buf: Option<usize>,
    /// SO_SNDBUF in bytes (`None`: kernel default).
    pub send_buf: Option<usize>,
}

impl Default for SocketOptions {
    /// TCP_NODELAY on (a latency benchmark should not wait for Nagle unless asked to),
    /// kernel-default buffers.
    fn default() -> Self {
        SocketOptions {
            nodelay: true,
            recv_buf: None,
            send_buf: None,
        }
    }
}

/// Options as the kernel reports them for one socket (getsockopt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketReadback {
    /// TCP_NODELAY (`None` for UDP sockets).
    pub nodelay: Option<bool>,
    /// SO_RCVBUF in bytes; Linux reports twice the value set (bookkeeping overhead).
    pub recv_buf: usize,
    /// SO_SNDBUF in bytes; Linux reports twice the value set.
    pub send_buf: usize,
}

/// Reads the options back from a live socket (`is_tcp`: also TCP_NODELAY), for the
/// `stats` command and the load generator's report.
///
/// # Errors
/// The getsockopt error (a socket that was closed meanwhile).
///
/// ```
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
/// client.set_nodelay(true).unwrap();
/// let back = bench_server::socket::read_back(socket2::SockRef::from(&client), true).unwrap();
/// assert_eq!(back.nodelay, Some(true));
/// ```
pub fn read_back(sock: SockRef<'_>, is_tcp: bool) -> io::Result<SocketReadback> {
    Ok(SocketReadback {
        nodelay: if is_tcp {
            Some(sock.tcp_nodelay()?)
        } else {
            None
        },
        recv_buf: sock.recv_buffer_size()?,
        send_buf: sock.send_buffer_size()?,
    })
}

fn new_socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        // `[::]:8081` binds IPv6 only, so an IPv4 bind of the same port stays possible
        // and each family is what the user asked for.
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

/// Sets SO_RCVBUF / SO_SNDBUF when the options ask for them (the load generator's
/// sockets too); Linux doubles the value for its bookkeeping and caps it at
/// `net.core.rmem_max` / `wmem_max`, which [`read_back`] shows.
///
/// # Errors
/// The setsockopt error.
pub fn set_buffers(socket: &Socket, opts: &SocketOptions) -> io::Result<()> {
    if let Some(size) = opts.recv_buf {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(size) = opts.send_buf {
        socket.set_send_buffer_size(size)?;
    }
    Ok(())
}

/// Binds a TCP listener with SO_REUSEADDR (a restarted server binds while the last run's
/// connections sit in TIME_WAIT), SO_REUSEPORT (the `per-core` model binds one more
/// listener on the same address per loop: [`bind_tcp_sibling`]) and the buffer sizes
/// set before `listen` (so window scaling is negotiated for them); accepted sockets
/// inherit them. A port that any socket already holds is refused (EADDRINUSE), even
/// one of another SO_REUSEPORT server of the same user, which would otherwise
/// silently share the port: see [`check_port_free`].
///
/// # Errors
/// The OS error of `socket`, `setsockopt`, `bind` or `listen` (address in use, no
/// permission for a low port, a buffer size the kernel refuses).
pub(crate) fn bind_tcp(addr: SocketAddr, opts: &SocketOptions) -> io::Result<TcpListener> {
    check_port_free(addr, Type::STREAM, Protocol::TCP)?;
    bind_tcp_sibling(addr, opts)
}

/// [`bind_tcp`] without the check that the port is free: one more SO_REUSEPORT listener
/// on the address of one made by [`bind_tcp`] (the kernel spreads new connections
/// over them).
pub(crate) fn bind_tcp_sibling(addr: SocketAddr, opts: &SocketOptions) -> io::Result<TcpListener> {
    let socket = new_socket(addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    set_buffers(&socket, opts)?;
    socket.set_tcp_nodelay(opts.nodelay)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Binds a UDP socket with the buffer sizes set and SO_REUSEPORT (the `per-core` model
/// binds one more per loop: [`bind_udp_sibling`]). No SO_REUSEADDR: on Linux it would
/// let any other socket bind the same UDP port and silently take half the datagrams;
/// SO_REUSEPORT only admits sockets of the same user that set it too, and the port
/// must be free when the first is bound ([`check_port_free`]).
pub(crate) fn bind_udp(addr: SocketAddr, opts: &SocketOptions) -> io::Result<UdpSocket> {
    check_port_free(addr, Type::DGRAM, Protocol::UDP)?;
    bind_udp_sibling(addr, opts)
}

/// [`bind_udp`] without the free-port check: one more SO_REUSEPORT socket on the
/// address of one made by [`bind_udp`] (the kernel spreads peers over them).
pub(crate) fn bind_udp_sibling(addr: SocketAddr, opts: &SocketOptions) -> io::Result<UdpSocket> {
    let socket = new_socket(addr, Type::DGRAM, Protocol::UDP)?;
    socket.set_reuse_port(true)?;
    set_buffers(&socket, opts)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Fails with EADDRINUSE when some socket holds `addr`'s port: binds (and drops) a
/// probe without SO_REUSEPORT, which every holder refuses. Port 0 needs no check
/// (the kernel never hands out a port in use). With SO_REUSEADDR for TCP, so a port
/// whose last connections sit in TIME_WAIT stays usable.
fn check_port_free(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let probe = new_socket(addr, ty, protocol)?;
    if ty == Type::STREAM {
        probe.set_reuse_address(true)?;
    }
    probe.bind(&addr.into())
}

/// Applies the per-connection options to an accepted socket. Sockets accepted from a
/// listener made by [`bind_tcp`] inherit them already; setting them again holds for
/// listeners made elsewhere (`Endpoint::from_tcp`) and on every platform.
pub(crate) fn configure_accepted(sock: SockRef<'_>, opts: &SocketOptions) -> io::Result<()> {
    sock.set_tcp_nodelay(opts.nodelay)?;
    set_buffers(&sock, opts)
}
