//! [`Conn`]: one relayed TCP connection on a per-core loop: the client socket, the
//! upstream socket (connected without blocking: `EINPROGRESS`, the writable edge, then
//! `SO_ERROR`), what the last edges said about each, and the two [`Direction`]s. The
//! loop owns timing (the connect timeout), polling and counting; this file owns the
//! order of work on one connection.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::pump::{CopyMover, Direction, Moved, Ready, Step};
use super::shaped::{Lane, Shaped};
use crate::engine::poller::Readiness;
use crate::proxy::config::{ProxyConfig, Strategy};
use crate::proxy::impair::WayImpairments;
use crate::proxy::impair::dice::Impairer;
use crate::proxy::shape::{QUEUE_LIMIT, Shaper, Tally};
use crate::proxy::stats::ProxyErrorKind;

#[cfg(target_os = "linux")]
use super::splice::SpliceMover;

/// Why a connection ended early: the counter to add to and the error to log.
pub(super) type Failure = (ProxyErrorKind, io::Error);

/// Which socket of a connection an edge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// The accepted client connection.
    Client,
    /// The connection to the upstream.
    Upstream,
}

/// Where a connection stands after [`Conn::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    /// Both directions wait for edges.
    Waiting,
    /// A direction stopped at its budget: run it again next turn.
    Again,
    /// Both directions forwarded their EOF: close.
    Finished,
    /// `reset=after:` was reached: both sockets are set to reset on close; close and
    /// count the impairment.
    Reset,
}

/// The two directions, with the strategy's mover.
#[derive(Debug)]
enum Pumps {
    Copy(Direction<CopyMover>, Direction<CopyMover>),
    #[cfg(target_os = "linux")]
    Splice(Direction<SpliceMover>, Direction<SpliceMover>),
    /// TCP shaping impairments on (`copy` only): boxed, so an unshaped connection
    /// stays small.
    Shaped(Box<[Lane; 2]>),
}

/// One relayed connection.
#[derive(Debug)]
pub(super) struct Conn {
    /// The client's address, for log lines.
    pub(super) peer: SocketAddr,
    /// Where the upstream socket connects to.
    to: SocketAddr,
    client: TcpStream,
    upstream: TcpStream,
    client_ready: Ready,
    upstream_ready: Ready,
    connected: bool,
    pumps: Pumps,
    /// On the loop's ready-again list (so it is listed once).
    pub(super) queued: bool,
    /// `reset=after:` limits, `[to upstream, to client]`, and the bytes moved so far;
    /// `None` when off (one `if` per turn).
    reset: Option<ResetPlan>,
    /// When a shaped direction wants to run again without an edge (set by
    /// [`Conn::run`]).
    pub(super) wake: Option<Instant>,
    /// The wake-up the loop has on its timers for this connection (an earlier one
    /// only is scheduled: see the engine's timers).
    pub(super) scheduled: Option<Instant>,
}

/// Where `reset=after:` cuts a connection.
#[derive(Debug, Clone, Copy)]
struct ResetPlan {
    after: [Option<u64>; 2],
    moved: [u64; 2],
}

impl Conn {
    /// Sets the client up and starts the nonblocking upstream connect; `stream` tells
    /// this connection's shaping dice from the others' (loop index, serial).
    ///
    /// # Errors
    /// A socket option or pipe failing (`Io`), or the connect failing at once
    /// (`UpstreamConnect`).
    pub(super) fn open(
        client: TcpStream,
        peer: SocketAddr,
        config: &ProxyConfig,
        stream: (usize, u64),
        now: Instant,
    ) -> Result<Conn, Failure> {
        let io = |e| (ProxyErrorKind::Io, e);
        client.set_nonblocking(true).map_err(io)?;
        SockRef::from(&client)
            .set_tcp_nodelay(config.nodelay_front)
            .map_err(io)?;
        let pumps = pumps(config, stream, now).map_err(io)?;
        let (upstream, connected) = start_connect(config.upstream, config.nodelay_back)?;
        Ok(Conn {
            peer,
            to: config.upstream,
            client,
            upstream,
            client_ready: Ready::default(),
            upstream_ready: Ready::default(),
            connected,
            pumps,
            queued: false,
            reset: reset_plan(config),
            wake: None,
            scheduled: None,
        })
    }

    /// The client socket (to register it).
    pub(super) fn client(&self) -> &TcpStream {
        &self.client
    }

    /// The upstream socket (to register it).
    pub(super) fn upstream(&self) -> &TcpStream {
        &self.upstream
    }

    /// Whether the upstream connect is still under way.
    pub(super) fn is_connecting(&self) -> bool {
        !self.connected
    }

    /// Takes in an edge for `side`.
    pub(super) fn edge(&mut self, side: Side, r: &Readiness) {
        let ready = match side {
            Side::Client => &mut self.client_ready,
            Side::Upstream => &mut self.upstream_ready,
        };
        ready.update(r.readable, r.writable, r.hangup, r.error);
    }

    /// Does what the sockets' readiness (and, when shaped, the plan at `now`) allows:
    /// completes the connect, then relays both directions (each reading at most
    /// `budget` times), counting into `moved` (`[to upstream, to client]`) and the
    /// shaping into `tally`; sets [`Conn::wake`].
    ///
    /// # Errors
    /// The failed connect (`UpstreamConnect`) or the first read, write or shutdown
    /// error of either direction.
    pub(super) fn run(
        &mut self,
        budget: u32,
        now: Instant,
        moved: &mut [Moved; 2],
        tally: &mut Tally,
    ) -> Result<Progress, Failure> {
        if !self.connected && !self.finish_connect()? {
            return Ok(Progress::Waiting);
        }
        let (client, upstream) = (
            (&self.client, &mut self.client_ready),
            (&self.upstream, &mut self.upstream_ready),
        );
        let before = [moved[0].bytes, moved[1].bytes];
        let steps = match &mut self.pumps {
            Pumps::Copy(up, down) => relay(up, down, client, upstream, budget, moved),
            #[cfg(target_os = "linux")]
            Pumps::Splice(up, down) => relay(up, down, client, upstream, budget, moved),
            Pumps::Shaped(lanes) => {
                let turn = (budget, now);
                match relay_shaped(lanes, client, upstream, turn, moved, tally) {
                    Ok((up, down, wake)) => {
                        self.wake = wake;
                        Ok((up, down))
                    }
                    Err(e) => Err(e),
                }
            }
        };
        let (up, down) = steps.map_err(|e| (ProxyErrorKind::from_io(&e), e))?;
        if let Some(plan) = &mut self.reset
            && plan.reached(before, moved)
        {
            self.set_reset_on_close();
            return Ok(Progress::Reset);
        }
        Ok(match (up, down) {
            (Step::Done, Step::Done) => Progress::Finished,
            (Step::Yield, _) | (_, Step::Yield) => Progress::Again,
            _ => Progress::Waiting,
        })
    }

    /// SO_LINGER 0 on both legs: closing them sends RST, not FIN.
    fn set_reset_on_close(&self) {
        for socket in [&self.client, &self.upstream] {
            if let Err(e) = SockRef::from(socket).set_linger(Some(std::time::Duration::ZERO)) {
                log::info!(
                    "proxy-tcp {}: setting SO_LINGER for a reset: {e}",
                    self.peer
                );
            }
        }
    }

    /// After the upstream's first edge: true once connected; the connect's error
    /// otherwise (false while no edge has come).
    fn finish_connect(&mut self) -> Result<bool, Failure> {
        if !self.upstream_ready.writable {
            return Ok(false);
        }
        let failed = match self.upstream.take_error() {
            Ok(None) => None,
            Ok(Some(e)) | Err(e) => Some(e),
        };
        if let Some(e) = failed {
            return Err(connect_failure(self.to, e));
        }
        self.connected = true;
        log::debug!("proxy-tcp {}: relaying to {}", self.peer, self.to);
        Ok(true)
    }
}

/// The `reset=after:` plan of a new connection, `None` without one.
fn reset_plan(config: &ProxyConfig) -> Option<ResetPlan> {
    let after = [config.impair.up.reset_after, config.impair.down.reset_after];
    after.iter().any(Option::is_some).then_some(ResetPlan {
        after,
        moved: [0, 0],
    })
}

impl ResetPlan {
    /// Adds this turn's bytes (`moved` less `before`); true once a limit is reached.
    fn reached(&mut self, before: [u64; 2], moved: &[Moved; 2]) -> bool {
        let mut hit = false;
        for way in 0..2 {
            self.moved[way] += moved[way].bytes - before[way];
            hit |= self.after[way].is_some_and(|limit| self.moved[way] >= limit);
        }
        hit
    }
}

/// A failed or timed-out connect to `upstream`, worded as the `async` model words it.
pub(super) fn connect_failure(upstream: impl std::fmt::Display, e: io::Error) -> Failure {
    let e = io::Error::new(e.kind(), format!("connecting to {upstream}: {e}"));
    (ProxyErrorKind::UpstreamConnect, e)
}

/// Both directions of one turn: client -> upstream, then upstream -> client.
fn relay<M: super::pump::Mover<TcpStream>>(
    up: &mut Direction<M>,
    down: &mut Direction<M>,
    client: (&TcpStream, &mut Ready),
    upstream: (&TcpStream, &mut Ready),
    budget: u32,
    moved: &mut [Moved; 2],
) -> io::Result<(Step, Step)> {
    let ((c, c_ready), (u, u_ready)) = (client, upstream);
    let [to_upstream, to_client] = moved;
    let up_step = up.pump((c, &mut *c_ready), (u, &mut *u_ready), budget, to_upstream)?;
    let down_step = down.pump((u, u_ready), (c, c_ready), budget, to_client)?;
    Ok((up_step, down_step))
}

/// Both lanes of one turn of a shaped connection, and the earlier of their wakes.
fn relay_shaped(
    lanes: &mut [Lane; 2],
    client: (&TcpStream, &mut Ready),
    upstream: (&TcpStream, &mut Ready),
    (budget, now): (u32, Instant),
    moved: &mut [Moved; 2],
    tally: &mut Tally,
) -> io::Result<(Step, Step, Option<Instant>)> {
    let ((c, c_ready), (u, u_ready)) = (client, upstream);
    let [to_upstream, to_client] = moved;
    let [up, down] = lanes;
    let (up_step, up_wake) = up.pump(
        (c, &mut *c_ready),
        (u, &mut *u_ready),
        budget,
        now,
        to_upstream,
        tally,
    )?;
    let (down_step, down_wake) =
        down.pump((u, u_ready), (c, c_ready), budget, now, to_client, tally)?;
    let wake = [up_wake, down_wake].into_iter().flatten().min();
    Ok((up_step, down_step, wake))
}

/// The two directions of a new connection: shaped ones when a TCP shaping impairment
/// is on (the config check keeps it to `copy`), else the strategy's movers.
fn pumps(config: &ProxyConfig, stream: (usize, u64), now: Instant) -> io::Result<Pumps> {
    let imp = &config.impair;
    if imp.up.has_shaping() || imp.down.has_shaping() {
        let lane = |way: WayImpairments, down: bool| {
            if !way.has_shaping() {
                return Lane::Plain(Direction::new(CopyMover::new(config.buffer)));
            }
            // Each connection rolls its own dice, so their holds do not repeat in step.
            let seed = imp.seed ^ stream.1.wrapping_mul(0x2545_F491_4F6C_DD1D);
            let dice = Impairer::new(way, seed, stream.0, down);
            let limit = QUEUE_LIMIT.max(config.buffer);
            Lane::Shaped(Shaped::new(Shaper::new(way, dice, limit, now)))
        };
        return Ok(Pumps::Shaped(Box::new([
            lane(imp.up, false),
            lane(imp.down, true),
        ])));
    }
    let buffer = config.buffer;
    Ok(match config.strategy {
        Strategy::Copy => Pumps::Copy(
            Direction::new(CopyMover::new(buffer)),
            Direction::new(CopyMover::new(buffer)),
        ),
        #[cfg(target_os = "linux")]
        Strategy::Splice => Pumps::Splice(
            Direction::new(SpliceMover::new(buffer)?),
            Direction::new(SpliceMover::new(buffer)?),
        ),
        #[cfg(not(target_os = "linux"))]
        Strategy::Splice => unreachable!("validate refuses splice off Linux"),
    })
}

/// A nonblocking socket connecting to `upstream`: the socket and whether it is
/// connected already (loopback may be), else the connect is under way.
fn start_connect(upstream: SocketAddr, nodelay: bool) -> Result<(TcpStream, bool), Failure> {
    let io = |e| (ProxyErrorKind::Io, e);
    let ty = Type::STREAM.nonblocking().cloexec();
    let socket = Socket::new(Domain::for_address(upstream), ty, Some(Protocol::TCP)).map_err(io)?;
    socket.set_tcp_nodelay(nodelay).map_err(io)?;
    let connected = match socket.connect(&upstream.into()) {
        Ok(()) => true,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => false,
        Err(e) => return Err(connect_failure(upstream, e)),
    };
    Ok((socket.into(), connected))
}
