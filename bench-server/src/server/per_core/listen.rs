//! Accepting on a loop's listeners: until `WouldBlock` (at most [`ACCEPT_BUDGET`] per
//! turn, then the listener goes on the ready list), counting each connection against
//! the endpoint-wide `max_conns` (one shared atomic per accept, not per request), and
//! refusing over it: a framed client gets an error frame ([`RefuseSession`]), others
//! are closed at once. A failed accept (EMFILE and friends) is counted, logged at most
//! once a second, and retried after [`ACCEPT_BACKOFF`] from the loop's timer heap.
//!
//! An `impl` block of `event_loop`'s [`Loop`]: it imports the loop, never the reverse;
//! the [`Listener`](super::parts::Listener) state lives in `parts`.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use socket2::SockRef;

use super::conn::Conn;
use super::event_loop::Loop;
use super::parts::{Deadline, Ready};
use super::refuse::RefuseSession;
use crate::config::Proto;
use crate::runtime::ACCEPT_BACKOFF;
use crate::session::echo::EchoSession;
use crate::session::framed::FramedSession;
use crate::session::{Failure, Session};
use crate::socket::configure_accepted;
use crate::stats::limiter::suppressed_note;
use crate::stats::{ErrorKind, Stats};

/// Connections one listener accepts per turn before the loop looks at its other
/// sockets.
const ACCEPT_BUDGET: usize = 64;

impl Loop {
    /// Accepts on listener `i` until `WouldBlock`, the budget, or a failure.
    pub(super) fn accept(&mut self, i: usize) {
        for _ in 0..ACCEPT_BUDGET {
            // Looked up each time: the listener is gone once the stop has begun.
            let Some(listener) = self.listeners.get(i) else {
                return;
            };
            if listener.backing_off {
                return;
            }
            let ep = listener.sock.ep;
            match listener.sock.socket.accept() {
                Ok((stream, peer)) => self.admit(stream, peer, ep),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => return self.accept_failed(i, ep, &e),
            }
        }
        if let Some(listener) = self.listeners.get_mut(i)
            && !listener.queued
        {
            listener.queued = true;
            self.ready.push(Ready::Listener(i));
        }
    }

    /// EMFILE and friends: count, log at most once a second, and back off instead of
    /// spinning on a full descriptor table.
    fn accept_failed(&mut self, i: usize, ep: usize, e: &io::Error) {
        let stats = &self.ctx[ep].stats;
        stats.error(ErrorKind::Io);
        if let Some(held) = stats.warn_allowed() {
            log::warn!(
                "{} {}: accept failed: {e}{}",
                stats.proto().as_str(),
                stats.addr(),
                suppressed_note(held)
            );
        }
        self.listeners[i].backing_off = true;
        self.timers
            .schedule(self.now + ACCEPT_BACKOFF, Deadline::Listener(i));
    }

    /// The back-off after a failed accept is over: accept again (connections may be
    /// waiting with no new edge to say so).
    pub(super) fn backoff_over(&mut self, i: usize) {
        if let Some(listener) = self.listeners.get_mut(i) {
            listener.backing_off = false;
            self.accept(i);
        }
    }

    /// Counts, limits, configures and starts serving one accepted connection.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, ep: usize) {
        let ctx = &self.ctx[ep];
        let stats = &ctx.stats;
        let active = stats.connection_opened();
        if self.config.max_conns.is_some_and(|max| active > max as u64) {
            // A refused connection does not hold a slot while its error frame goes out.
            stats.connection_closed();
            stats.error(ErrorKind::MaxConns);
            if let Some(held) = stats.warn_allowed() {
                log::warn!(
                    "{} {peer}: refused: {} connections open, --max-conns {}{}",
                    stats.proto().as_str(),
                    active - 1,
                    self.config.max_conns.unwrap_or_default(),
                    suppressed_note(held)
                );
            }
            if ctx.proto == Proto::Framed
                && stream.set_nonblocking(true).is_ok()
                && let Some(refusal) = RefuseSession::new(active - 1, self.now)
            {
                self.insert(Conn::new(stream, Box::new(refusal), ep, peer, false));
            }
            return;
        }
        let configured = stream
            .set_nonblocking(true)
            .and_then(|()| configure_accepted(SockRef::from(&stream), &self.config.socket));
        if let Err(e) = configured {
            stats.connection_closed();
            warn_setup(stats, peer, &e);
            return;
        }
        let session = self.new_session(ep, peer);
        self.insert(Conn::new(stream, session, ep, peer, true));
    }

    /// The session for a new connection of endpoint `ep`.
    fn new_session(&self, ep: usize, peer: SocketAddr) -> Box<dyn Session + Send> {
        let config = &self.config;
        let ctx = &self.ctx[ep];
        match ctx.proto {
            Proto::TcpEcho => Box::new(EchoSession::new(
                config.transform,
                config.idle_timeout,
                self.now,
            )),
            Proto::Framed => Box::new(FramedSession::new(
                Arc::clone(config),
                Arc::clone(&ctx.stats),
                peer,
                self.now,
            )),
            Proto::UdpEcho => unreachable!("UDP endpoints have no connections"),
        }
    }

    /// Registers a new connection with the poller (its first edge says what it can
    /// do) and arms its first deadline.
    fn insert(&mut self, conn: Conn) {
        let key = self.conns.insert(conn);
        let conn = self.conns.get_mut(key).expect("just inserted");
        match self.poller.add(&conn.stream, key.token()) {
            Ok(()) => self.arm(key),
            Err(e) => self.close(
                key,
                Some(Failure {
                    kind: ErrorKind::Io,
                    message: format!("registering with epoll: {e}"),
                }),
            ),
        }
    }
}

/// Counts and logs (at most once a second) a connection whose set-up failed.
fn warn_setup(stats: &Stats, peer: SocketAddr, e: &io::Error) {
    stats.error(ErrorKind::Io);
    if let Some(held) = stats.warn_allowed() {
        log::warn!(
            "{} {peer}: setting socket options: {e}{}",
            stats.proto().as_str(),
            suppressed_note(held)
        );
    }
}
