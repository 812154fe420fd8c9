//! The `per-core` relay model (Linux): `threads` event loops, each on its own thread
//! with its own front socket (SO_REUSEPORT, or the one shared listener), epoll
//! instance, connections or sessions, timers and counters. Sockets are registered once,
//! edge-triggered, and never re-armed; nothing is locked or shared per chunk or
//! datagram. The engine toolkit gives the poller, waker, timers and slab; this wing
//! owns what a relay does with them and must not reach into the servers' wings.
//!
//! # Layout
//!
//! - this file: [`start`] (split the front, set the loops up, start them),
//!   [`Loops::run`] (wait for the shutdown, stop them).
//! - `tcp`: the TCP loop (accept with the descriptor budget, connect timeouts, the
//!   ready-again list, the graceful stop and grace cut); `conn`: one relayed
//!   connection; `pump`: one direction's state machine and the `copy` mover;
//!   `splice`: the `splice` mover; `shaped`: a direction with TCP shaping
//!   impairments on, driving the wing's shared `proxy::shape` (sans-IO: its bounded
//!   queue, token bucket, slices, stall and slow close).
//! - `udp`: the UDP loop (sessions per client address, idle expiry, the bound), with
//!   `delay` (leaf): the datagrams it holds for `--impair latency/jitter/reorder`.
//! - `shared` (leaf): what the loops of a run share, the per-turn budget, the tokens.

mod conn;
mod delay;
mod pump;
mod shaped;
mod shared;
#[cfg(target_os = "linux")]
mod splice;
mod tcp;
mod udp;

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

use self::shared::Shared;
use super::config::{ProxyConfig, ProxyError, io_err};
use super::fds::FdBudget;
use super::front::{Front, has_reuse_port, tcp_sibling, udp_sibling};
use super::stats::ProxyStats;
use crate::engine::threads::{self, StopFlag};
use crate::engine::waker::Waker;
use crate::stats::limiter::LogLimiter;

/// One loop, ready to run on its thread.
enum Loop {
    Tcp(tcp::TcpLoop),
    Udp(udp::UdpLoop),
}

impl Loop {
    fn waker(&self) -> Waker {
        match self {
            Loop::Tcp(l) => l.waker(),
            Loop::Udp(l) => l.waker(),
        }
    }

    fn run(self) {
        match self {
            Loop::Tcp(l) => l.run(),
            Loop::Udp(l) => l.run(),
        }
    }
}

/// The loops of one run, started before the relay is announced, so a client's first
/// datagram already meets the whole SO_REUSEPORT group (and keeps meeting the same
/// socket of it).
pub(super) struct Loops {
    running: threads::Loops<()>,
}

/// Splits `front` into one socket per loop, sets the loops up and starts them.
///
/// # Errors
/// [`ProxyError::Io`] when a front socket, poller or thread cannot be made (loops
/// already started are stopped and joined first).
pub(super) fn start(
    front: Front,
    config: &ProxyConfig,
    stats: Arc<ProxyStats>,
) -> Result<Loops, ProxyError> {
    let addr = stats.addr();
    let stop = StopFlag::new();
    let shared = Arc::new(Shared {
        config: config.clone(),
        stats,
        warnings: LogLimiter::new(Instant::now()),
        stop: stop.clone(),
        fds: FdBudget::for_config(config),
    });
    let context = || format!("setting up the {} loops on {addr}", config.proto.as_str());
    let mut built = build_loops(front, &shared)
        .map_err(io_err(context))?
        .into_iter();
    let running = threads::spawn_loops(
        "bench-proxy",
        built.len(),
        &stop,
        |_| {
            let l = built.next().expect("one built loop per thread");
            let waker = l.waker();
            Ok((l, waker))
        },
        |_, l: Loop| l.run(),
    )
    .map_err(io_err(|| "starting the proxy loops".to_owned()))?;
    Ok(Loops { running })
}

impl Loops {
    /// Relays until `shutdown` completes, then stops the loops gracefully (TCP
    /// connections get `grace`; UDP sessions end at once) and waits for them.
    ///
    /// # Errors
    /// [`ProxyError::Io`] when a loop panicked.
    pub(super) fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProxyError> {
        smol::block_on(shutdown);
        self.running.stop();
        let panicked = self.running.join().iter().filter(|r| r.is_err()).count();
        if panicked > 0 {
            return Err(ProxyError::Io {
                context: format!("{panicked} proxy loops"),
                cause: io::Error::other("panicked"),
            });
        }
        Ok(())
    }
}

/// The loops of a run, each with its front socket.
fn build_loops(front: Front, shared: &Arc<Shared>) -> io::Result<Vec<Loop>> {
    let loops = shared.config.threads;
    let mut built = Vec::with_capacity(loops);
    match front {
        Front::Tcp(listener) => {
            for (i, l) in tcp_fronts(listener, loops)?.into_iter().enumerate() {
                built.push(Loop::Tcp(tcp::TcpLoop::new(i, l, Arc::clone(shared))?));
            }
        }
        Front::Udp(socket) => {
            for (i, s) in udp_fronts(socket, loops)?.into_iter().enumerate() {
                built.push(Loop::Udp(udp::UdpLoop::new(i, s, Arc::clone(shared))?));
            }
        }
    }
    Ok(built)
}

/// One listener per loop: the given one and `loops - 1` more in its SO_REUSEPORT
/// group (the kernel spreads connections over them), or, for a listener without
/// SO_REUSEPORT, the one listener shared by every loop.
fn tcp_fronts(listener: TcpListener, loops: usize) -> io::Result<Vec<TcpListener>> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let reuse = has_reuse_port(&listener);
    let mut fronts = Vec::with_capacity(loops);
    for _ in 1..loops {
        let more = if reuse {
            tcp_sibling(addr)?
        } else {
            listener.try_clone()?
        };
        more.set_nonblocking(true)?;
        fronts.push(more);
    }
    fronts.insert(0, listener);
    Ok(fronts)
}

/// One UDP socket per loop in the given socket's SO_REUSEPORT group (the kernel sends
/// one client's datagrams to one socket, so its session lives in one loop); a socket
/// without SO_REUSEPORT is served by one loop, so that a client's datagrams are not
/// spread over several loops' sessions.
fn udp_fronts(socket: UdpSocket, loops: usize) -> io::Result<Vec<UdpSocket>> {
    socket.set_nonblocking(true)?;
    let addr: SocketAddr = socket.local_addr()?;
    let mut fronts = vec![socket];
    if has_reuse_port(&fronts[0]) {
        for _ in 1..loops {
            let more = udp_sibling(addr)?;
            more.set_nonblocking(true)?;
            fronts.push(more);
        }
    }
    Ok(fronts)
}

#[cfg(test)]
mod tests {
    use super::shared::token;
    use super::*;
    use crate::engine::slab::Slab;
    use crate::proxy::config::ProxyProto;

    #[test]
    fn tokens_keep_their_tag_and_key_apart() {
        let mut slab = Slab::new();
        let key = slab.insert(());
        for tag in [token::CLIENT, token::UPSTREAM] {
            assert_eq!(token::split(token::of(tag, key)), (tag, key));
        }
        assert_ne!(
            token::of(token::CLIENT, key),
            token::of(token::UPSTREAM, key)
        );
        assert_eq!(token::split(token::own(token::WAKER)).0, token::WAKER);
    }

    #[test]
    fn a_bound_front_is_split_into_one_socket_per_loop_on_its_port() {
        let any = "127.0.0.1:0".parse().unwrap();
        let Front::Tcp(listener) = Front::bind(ProxyProto::Tcp, any).unwrap() else {
            unreachable!("a TCP front");
        };
        let addr = listener.local_addr().unwrap();
        let fronts = tcp_fronts(listener, 3).unwrap();
        assert_eq!(fronts.len(), 3);
        assert!(fronts.iter().all(|l| l.local_addr().unwrap() == addr));
        let Front::Udp(socket) = Front::bind(ProxyProto::Udp, any).unwrap() else {
            unreachable!("a UDP front");
        };
        assert_eq!(udp_fronts(socket, 2).unwrap().len(), 2);
    }

    #[test]
    fn a_front_without_reuse_port_is_shared_or_served_by_one_loop() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fronts = tcp_fronts(listener, 2).unwrap();
        assert!(fronts.iter().all(|l| l.local_addr().unwrap() == addr));
        // Nothing else could join: the port is not in a SO_REUSEPORT group.
        assert!(tcp_sibling(addr).is_err());
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(udp_fronts(socket, 2).unwrap().len(), 1);
    }
}
