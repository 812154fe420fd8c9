//! The plain types a per-core loop's files share, so that each of them can name them
//! without importing another's logic: what a loop knows of an endpoint
//! ([`EndpointCtx`]), what its deadlines and ready list hold ([`Deadline`], [`Ready`]),
//! its listeners and UDP sockets ([`Listener`], [`UdpPort`]), and what an `exec`
//! helper thread hands back ([`ExecDone`], [`ExecCancel`]).
//!
//! A leaf: data and constructors only, no I/O and no behaviour; it uses only
//! `sockets`' [`LoopSocket`] and the crate's `config`, `engine::slab`, `session` and
//! `stats` types. The loop is `event_loop`, the behaviour the files named on each type.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;

use super::sockets::LoopSocket;
use crate::config::Proto;
use crate::engine::slab::Key;
use crate::session::ExecResult;
use crate::stats::Stats;

/// Largest UDP payload over IPv4/IPv6 without jumbograms.
const MAX_DATAGRAM: usize = 65_535;

/// What every loop knows of one endpoint.
pub(super) struct EndpointCtx {
    pub(super) proto: Proto,
    pub(super) stats: Arc<Stats>,
}

/// What a deadline in the loop's heap is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Deadline {
    /// A session's [`poll_timeout`](crate::session::Session::poll_timeout).
    Conn(Key),
    /// The end of listener `i`'s accept back-off.
    Listener(usize),
    /// The end of the grace period.
    Grace,
}

/// Work that continues next turn without waiting for an edge.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ready {
    Conn(Key),
    Listener(usize),
    Udp(usize),
}

/// A loop's listener of one endpoint (accepting on it is `listen`'s).
pub(super) struct Listener {
    pub(super) sock: LoopSocket<TcpListener>,
    /// An accept failed: wait for the back-off deadline, not for edges.
    pub(super) backing_off: bool,
    /// On the ready list.
    pub(super) queued: bool,
}

impl Listener {
    /// A listener just registered: not backing off, not queued.
    pub(super) fn new(sock: LoopSocket<TcpListener>) -> Self {
        Listener {
            sock,
            backing_off: false,
            queued: false,
        }
    }
}

/// A loop's UDP socket of one endpoint (echoing on it is `udp`'s).
pub(super) struct UdpPort {
    pub(super) sock: LoopSocket<UdpSocket>,
    /// Where each datagram is received and echoed from.
    pub(super) buf: Vec<u8>,
    /// A datagram received but not yet echoed (its send would have blocked).
    pub(super) pending: Option<(usize, SocketAddr)>,
    pub(super) readable: bool,
    pub(super) writable: bool,
    pub(super) queued: bool,
}

impl UdpPort {
    /// A socket with a buffer for the largest datagram, assumed writable until a send
    /// says otherwise.
    pub(super) fn new(sock: LoopSocket<UdpSocket>) -> Self {
        UdpPort {
            sock,
            buf: vec![0; MAX_DATAGRAM],
            pending: None,
            readable: false,
            writable: true,
            queued: false,
        }
    }
}

/// A finished `exec`, sent back from its helper thread (see `exec`).
pub(super) struct ExecDone {
    pub(super) key: Key,
    pub(super) result: ExecResult,
}

/// Dropped with its connection: cancels the `exec` under way.
pub(super) type ExecCancel = smol::channel::Sender<()>;
