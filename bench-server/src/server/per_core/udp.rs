//! udp-echo on a loop's socket: receive until `WouldBlock` (at most [`UDP_BUDGET`]
//! datagrams per turn, then the socket goes on the ready list), echo each one to its
//! sender, count it on the loop's lane. A send that would block keeps its datagram and
//! stops receiving until the socket is writable again, so a full send buffer pushes
//! back instead of dropping echoes.
//!
//! An `impl` block of `event_loop`'s [`Loop`]: it imports the loop, never the reverse;
//! the [`UdpPort`] state lives in `parts`.

use std::io;
use std::net::SocketAddr;

use super::event_loop::Loop;
use super::parts::{Ready, UdpPort};
use crate::config::Transform;
use crate::stats::ErrorKind;

/// Datagrams one socket echoes per turn before the loop looks at its other sockets.
const UDP_BUDGET: usize = 64;

/// What echoing one datagram came to.
enum Sent {
    Done,
    /// The send buffer is full: the datagram waits for writability.
    Blocked,
}

impl Loop {
    /// Echoes what UDP socket `i` has, within the budget.
    pub(super) fn serve_udp(&mut self, i: usize) {
        let transform = self.config.transform;
        let Some(port) = self.udp.get_mut(i) else {
            return; // closed at the stop
        };
        let stats = &self.ctx[port.sock.ep].stats;
        let lane = stats.lane(self.index);
        if let Some((n, peer)) = port.pending {
            if !port.writable {
                return;
            }
            if let Sent::Blocked = echo(port, n, peer, lane, stats) {
                return;
            }
        }
        for _ in 0..UDP_BUDGET {
            if !port.readable {
                return;
            }
            match port.sock.socket.recv_from(&mut port.buf) {
                Ok((n, peer)) => {
                    lane.owner_add_bytes_in(n);
                    if transform == Transform::Upper {
                        port.buf[..n].make_ascii_uppercase();
                    }
                    if let Sent::Blocked = echo(port, n, peer, lane, stats) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => port.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    stats.error(ErrorKind::from_io(&e));
                    log::info!("udp-echo: receive failed: {e}");
                }
            }
        }
        if port.readable && !port.queued {
            port.queued = true;
            self.ready.push(Ready::Udp(i));
        }
    }
}

/// Sends `port.buf[..n]` back to `peer`; errors on one datagram (a vanished peer) are
/// counted and the datagram dropped.
fn echo(
    port: &mut UdpPort,
    n: usize,
    peer: SocketAddr,
    lane: &crate::stats::lane::Lane,
    stats: &crate::stats::Stats,
) -> Sent {
    port.pending = None;
    match port.sock.socket.send_to(&port.buf[..n], peer) {
        Ok(sent) => {
            lane.owner_add_bytes_out(sent);
            lane.owner_add_requests(1);
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            port.pending = Some((n, peer));
            port.writable = false;
            return Sent::Blocked;
        }
        Err(e) => {
            stats.error(ErrorKind::from_io(&e));
            log::info!("udp-echo {peer}: send failed: {e}");
        }
    }
    Sent::Done
}
