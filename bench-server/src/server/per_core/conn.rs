//! One connection of a per-core loop: its socket, its session, and the readiness the
//! last edge left, driven in the order `session/mod.rs` gives (read, write, actions;
//! the loop arms the deadline). Edge-triggered rules: a read shorter than the buffer
//! means the socket is drained (no read that would only say `EAGAIN`), a write shorter
//! than the bytes offered means the send buffer is full; either clears the flag until
//! the next edge. Once an edge said the peer closed, reads go on to the 0 that says
//! so. Failures the session reports are counted and logged through `crate::conn`.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Instant;

use socket2::SockRef;

use super::parts::ExecCancel;
use crate::conn::fail_session;
use crate::session::{Action, Failure, Session, StatsInfo};
use crate::socket::read_back;
use crate::stats::lane::Lane;
use crate::stats::{ErrorKind, Stats};

/// Steps one connection may take per turn (reads and writes); the rest continues next
/// turn without waiting for an edge, so one busy peer cannot starve the loop.
pub(super) const BUDGET: usize = 32;

/// A connection and its driver-side state.
pub(super) struct Conn {
    pub(super) stream: TcpStream,
    pub(super) session: Box<dyn Session + Send>,
    /// The endpoint's index in the run.
    pub(super) ep: usize,
    pub(super) peer: SocketAddr,
    /// The last edge said readable and no read since came back short or empty.
    pub(super) readable: bool,
    /// The last edge said writable and no write since came back short.
    pub(super) writable: bool,
    /// An edge said the peer closed (EPOLLRDHUP/EPOLLHUP): a short read no longer
    /// means drained, since the FIN may wait behind the bytes just read with no edge
    /// left to announce it; reads go on until 0 or `WouldBlock`.
    pub(super) hangup: bool,
    /// A read returned 0: the peer sent FIN; there is nothing more to read.
    eof: bool,
    /// The session asked for FIN once its bytes are out; `shut`: sent.
    shutdown_pending: bool,
    shut: bool,
    /// The deadline in the loop's timer heap for this connection, if any.
    pub(super) scheduled: Option<Instant>,
    /// On the loop's ready-again list.
    pub(super) queued: bool,
    /// Holds one of the endpoint's active slots (a `max_conns` refusal does not).
    pub(super) counted: bool,
    /// The `exec` under way, cancelled when this is dropped (with the connection).
    pub(super) exec_cancel: Option<ExecCancel>,
}

/// What driving a connection came to.
pub(super) enum Outcome {
    /// Nothing more to do until an edge, a deadline or an effect.
    Idle,
    /// The budget ran out with work left: run again next turn.
    Again,
    /// Run `exec` off the loop; then drive again when it is done.
    Exec {
        line: Vec<u8>,
        output: Vec<u8>,
        max_output: u64,
    },
    /// Close now (`Some`: count and log the failure first).
    Close(Option<Failure>),
}

impl Conn {
    /// A connection just accepted, not yet seen by the poller.
    pub(super) fn new(
        stream: TcpStream,
        session: Box<dyn Session + Send>,
        ep: usize,
        peer: SocketAddr,
        counted: bool,
    ) -> Self {
        Conn {
            stream,
            session,
            ep,
            peer,
            readable: false,
            writable: false,
            hangup: false,
            eof: false,
            shutdown_pending: false,
            shut: false,
            scheduled: None,
            queued: false,
            counted,
            exec_cancel: None,
        }
    }

    /// Moves bytes and carries out actions until nothing changes, the budget is
    /// spent, or an effect or a close is due. Counts bytes and requests on `lane`
    /// (this loop's, owned); `stats` answers the `stats` command.
    pub(super) fn drive(&mut self, lane: &Lane, stats: &Stats, now: Instant) -> Outcome {
        let outcome = self.steps(lane, stats, now);
        self.count_served(lane);
        outcome
    }

    /// Adds the requests the session has answered to the lane.
    fn count_served(&mut self, lane: &Lane) {
        let served = self.session.take_served();
        if served > 0 {
            lane.owner_add_requests(served);
        }
    }

    fn steps(&mut self, lane: &Lane, stats: &Stats, now: Instant) -> Outcome {
        for _ in 0..BUDGET {
            let mut progressed = false;
            if self.session.wants_read() && self.readable && !self.eof {
                progressed = true;
                if let Err(e) = self.read_once(lane, now) {
                    return io_close(&e);
                }
            }
            match self.flush(lane, now) {
                Ok(wrote) => progressed |= wrote,
                Err(e) => return io_close(&e),
            }
            while let Some(action) = self.session.poll_action() {
                progressed = true;
                match action {
                    Action::ShutdownWrite => self.shutdown_pending = true,
                    Action::Stats => {
                        let info = StatsInfo {
                            endpoint: stats.snapshot(),
                            socket: read_back(SockRef::from(&self.stream), true).ok(),
                        };
                        self.session.stats_done(info, now);
                    }
                    Action::Exec {
                        line,
                        output,
                        max_output,
                    } => {
                        return Outcome::Exec {
                            line,
                            output,
                            max_output,
                        };
                    }
                    Action::Fail(f) => fail_session(stats, self.peer, &f),
                    Action::Close(failure) => return Outcome::Close(failure),
                }
            }
            if let Err(e) = self.maybe_shutdown() {
                return io_close(&e);
            }
            if !progressed {
                return Outcome::Idle;
            }
        }
        if self.has_work() {
            Outcome::Again
        } else {
            Outcome::Idle
        }
    }

    /// Whether a step could run now without waiting for an edge.
    fn has_work(&self) -> bool {
        (self.session.wants_read() && self.readable && !self.eof)
            || (self.writable && !self.session.outgoing().is_empty())
    }

    /// One read into the session's buffer.
    fn read_once(&mut self, lane: &Lane, now: Instant) -> io::Result<()> {
        let buf = self.session.read_buf();
        let room = buf.len();
        match (&self.stream).read(buf) {
            Ok(0) => {
                self.readable = false;
                self.eof = true;
                self.session.peer_closed(now);
            }
            Ok(n) => {
                // Shorter than the buffer: the socket is drained until the next edge
                // (unless the peer closed: then the FIN is still to be read).
                if n < room && !self.hangup {
                    self.readable = false;
                }
                lane.owner_add_bytes_in(n);
                self.session.filled(n, now);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Writes what the session has while the socket takes it; whether anything was
    /// written.
    fn flush(&mut self, lane: &Lane, now: Instant) -> io::Result<bool> {
        let mut wrote = false;
        while self.writable {
            let out = self.session.outgoing();
            if out.is_empty() {
                break;
            }
            let offered = out.total();
            let written = (&self.stream).write_vectored(out.as_slices());
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    if n < offered {
                        self.writable = false;
                    }
                    lane.owner_add_bytes_out(n);
                    self.session.wrote(n, now);
                    // Counted as soon as written: a `stats` right after the reply
                    // (on another loop, say) finds it.
                    self.count_served(lane);
                    wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(wrote)
    }

    /// Sends FIN once asked and everything before it is out.
    fn maybe_shutdown(&mut self) -> io::Result<()> {
        if self.shutdown_pending && !self.shut && self.session.outgoing().is_empty() {
            self.shut = true;
            match self.stream.shutdown(Shutdown::Write) {
                Err(e) if e.kind() != io::ErrorKind::NotConnected => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// An I/O error ends the connection with its kind counted.
fn io_close(err: &io::Error) -> Outcome {
    Outcome::Close(Some(Failure {
        kind: ErrorKind::from_io(err),
        message: err.to_string(),
    }))
}
