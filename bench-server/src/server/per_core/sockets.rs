//! Each loop's sockets, made before any loop starts: for an endpoint bound here (with
//! SO_REUSEPORT), the endpoint's socket goes to loop 0 and every other loop binds a
//! sibling on the same address, so the kernel spreads connections (and UDP peers) over
//! the loops; for a socket bound elsewhere (`Endpoint::from_tcp`/`from_udp`, maybe
//! without SO_REUSEPORT) every loop gets a `try_clone` of the one socket, and they all
//! take from it (an `EAGAIN` lost race is fine). All are non-blocking.

use std::net::{TcpListener, UdpSocket};

use crate::endpoint::{BoundSocket, Endpoint, ServerError, io_err};
use crate::socket::{SocketOptions, bind_tcp_sibling, bind_udp_sibling};

/// One socket of one loop.
#[derive(Debug)]
pub(super) struct LoopSocket<S> {
    /// The endpoint's index in the run.
    pub(super) ep: usize,
    pub(super) socket: S,
    /// A `try_clone` of a socket other loops also hold: deregister it from the poller
    /// before closing it (closing one duplicate does not).
    pub(super) shared: bool,
}

/// The listeners and UDP sockets of one loop.
#[derive(Debug, Default)]
pub(super) struct LoopSockets {
    pub(super) listeners: Vec<LoopSocket<TcpListener>>,
    pub(super) udp: Vec<LoopSocket<UdpSocket>>,
}

/// Gives each of `threads` loops a socket of every endpoint.
///
/// # Errors
/// [`ServerError::Io`] naming the address when a sibling cannot be bound, a socket
/// cloned, or made non-blocking.
pub(super) fn split(
    endpoints: Vec<Endpoint>,
    threads: usize,
    opts: &SocketOptions,
) -> Result<Vec<LoopSockets>, ServerError> {
    let mut loops: Vec<LoopSockets> = (0..threads).map(|_| LoopSockets::default()).collect();
    for (ep, endpoint) in endpoints.into_iter().enumerate() {
        let addr = endpoint
            .local_addr()
            .map_err(io_err(|| "reading bound address".to_owned()))?;
        let proto = endpoint.proto().as_str();
        let context = || format!("binding a per-core socket for {proto} {addr}");
        let fresh = endpoint.reuse_port;
        match endpoint.socket {
            BoundSocket::Tcp(first) => {
                let all = copies(
                    first,
                    threads,
                    fresh,
                    |l| l.try_clone(),
                    || bind_tcp_sibling(addr, opts),
                )
                .map_err(io_err(context))?;
                for (lp, (socket, shared)) in loops.iter_mut().zip(all) {
                    socket.set_nonblocking(true).map_err(io_err(context))?;
                    lp.listeners.push(LoopSocket { ep, socket, shared });
                }
            }
            BoundSocket::Udp(first) => {
                let all = copies(
                    first,
                    threads,
                    fresh,
                    |s| s.try_clone(),
                    || bind_udp_sibling(addr, opts),
                )
                .map_err(io_err(context))?;
                for (lp, (socket, shared)) in loops.iter_mut().zip(all) {
                    socket.set_nonblocking(true).map_err(io_err(context))?;
                    lp.udp.push(LoopSocket { ep, socket, shared });
                }
            }
        }
    }
    Ok(loops)
}

/// `first` and `threads - 1` more: siblings (`fresh`: bound here with SO_REUSEPORT) or
/// clones, each with whether it is a shared duplicate.
fn copies<S>(
    first: S,
    threads: usize,
    fresh: bool,
    clone: impl Fn(&S) -> std::io::Result<S>,
    sibling: impl Fn() -> std::io::Result<S>,
) -> std::io::Result<Vec<(S, bool)>> {
    let mut all = Vec::with_capacity(threads);
    for _ in 1..threads {
        let next = if fresh { sibling()? } else { clone(&first)? };
        all.push((next, !fresh));
    }
    all.insert(0, (first, !fresh && threads > 1));
    Ok(all)
}
