//! Sans-IO connection sessions: what one TCP connection of a protocol says and does,
//! as a state machine with no socket, no executor and no clock of its own (the shape of
//! quinn-proto). A driver (`per-core`, `async`, `threads`, `iterative`) owns the socket
//! and the time and moves bytes between the two:
//!
//! ```text
//!   socket --read--> read_buf() / filled(n, now) ---+
//!                                                    |  Session (rules: limits, idle,
//!   socket <--writev-- outgoing() / wrote(n, now) <--+  frame deadline, stop at a
//!                                                    |  frame boundary, linger)
//!   driver <-- poll_action(): ShutdownWrite | Exec | Stats | Close
//!   timer heap <-- poll_timeout() ; handle_timeout(now)
//! ```
//!
//! A driver's loop for one connection, after any event (readable, writable, a timer, a
//! finished effect), in this order until nothing changes:
//! 1. while [`Session::wants_read`] and the socket has data: read into
//!    [`Session::read_buf`], then [`Session::filled`] (0 bytes: [`Session::peer_closed`]);
//! 2. while [`Session::outgoing`] is not empty: write it (one vectored write), then
//!    [`Session::wrote`]; stop at `WouldBlock` and wait for writability;
//! 3. take every [`Session::poll_action`] and carry it out;
//! 4. (re)arm a timer at [`Session::poll_timeout`]; when it passes, call
//!    [`Session::handle_timeout`].
//!
//! I/O errors are the driver's: it counts them ([`crate::stats::ErrorKind::from_io`])
//! and drops the session. Requests answered are taken with [`Session::take_served`]
//! and counted by the driver in its own counters.
//!
//! This wing must not touch sockets, threads or executors; it sits below every driver
//! and above `protocol` helpers, `stats` and `config`.
//!
//! - `echo`: tcp-echo.
//! - `framed`: the framed command protocol and the raw one-command-per-read mode.
//! - `quote` (leaf): clipping the peer's text quoted in error frames and log lines.

pub(crate) mod echo;
pub(crate) mod framed;
pub(crate) mod quote;

use std::io::IoSlice;
use std::time::Instant;

use crate::socket::SocketReadback;
use crate::stats::{ErrorKind, StatsSnapshot};

/// The most slices [`Session::outgoing`] hands out at once: a response header and up
/// to 16 copies of the `generate` pattern.
pub(crate) const MAX_SLICES: usize = 17;

/// Bytes a session wants written, in order: up to [`MAX_SLICES`] borrowed slices.
pub(crate) struct Outgoing<'a> {
    slices: [IoSlice<'a>; MAX_SLICES],
    len: usize,
}

impl<'a> Outgoing<'a> {
    /// Nothing to write.
    pub(crate) fn none() -> Self {
        Outgoing {
            slices: [IoSlice::new(&[]); MAX_SLICES],
            len: 0,
        }
    }

    /// Appends `bytes` (ignored when empty; panics past [`MAX_SLICES`], a bug).
    pub(crate) fn push(&mut self, bytes: &'a [u8]) {
        if !bytes.is_empty() {
            self.slices[self.len] = IoSlice::new(bytes);
            self.len += 1;
        }
    }

    /// Whether there is nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slices, for one `writev`.
    pub(crate) fn as_slices(&self) -> &[IoSlice<'a>] {
        &self.slices[..self.len]
    }

    /// Total bytes in the slices.
    pub(crate) fn total(&self) -> usize {
        self.as_slices().iter().map(|s| s.len()).sum()
    }
}

/// A failure that ends a connection: the counter it goes to and the detail the driver
/// logs (it may quote the peer; already clipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

/// What a session asks its driver to do, besides writing bytes.
#[derive(Debug)]
pub(crate) enum Action {
    /// Send FIN (`shutdown(Write)`) once [`Session::outgoing`] is empty; keep reading
    /// (the session discards what arrives while it lingers).
    ShutdownWrite,
    /// Run `exec`'s shell command off the loop (a helper thread, or a task), then hand
    /// the result to [`Session::exec_done`]. `output` is the session's buffer, lent
    /// for the output and handed back in [`ExecResult::output`].
    Exec {
        line: Vec<u8>,
        output: Vec<u8>,
        max_output: u64,
    },
    /// Answer the `stats` command: read the endpoint's counters and this socket's
    /// options, then call [`Session::stats_done`].
    Stats,
    /// Count and log this failure now; the connection goes on (an error frame is on
    /// its way, then [`Action::ShutdownWrite`] and a linger) and a `Close(None)`
    /// follows. Counted when it happens, so a peer that has read its error frame finds
    /// it in the counters, and a linger cut at the end of the grace period loses none.
    Fail(Failure),
    /// Close the connection now. `Some(failure)`: count and log it first.
    Close(Option<Failure>),
}

/// What a finished `exec` gives back to [`Session::exec_done`].
#[derive(Debug)]
pub(crate) struct ExecResult {
    /// The buffer lent in [`Action::Exec`], now holding the output (stdout and stderr
    /// interleaved, at most `max_output` bytes).
    pub(crate) output: Vec<u8>,
    /// `Ok`: how the command ended; `Err`: why it could not run or was killed.
    pub(crate) outcome: Result<crate::protocol::exec::ExecOutcome, String>,
}

/// What the `stats` command reports, read by the driver.
#[derive(Debug, Clone)]
pub(crate) struct StatsInfo {
    /// The endpoint's counters, all of the driver's threads summed.
    pub(crate) endpoint: StatsSnapshot,
    /// This connection's server-side socket options (getsockopt), if readable.
    pub(crate) socket: Option<SocketReadback>,
}

/// One TCP connection's protocol, driven as the module docs describe. Every method
/// that moves time forward takes `now`; a session never reads a clock.
pub(crate) trait Session {
    /// Whether the session takes bytes now. False while a reply is waiting to be
    /// written, a command runs (`sleep`, `exec`, `stats`), or the session has closed:
    /// then the driver stops reading (the kernel's buffers push back on the peer).
    fn wants_read(&self) -> bool;

    /// Where the next read goes; not empty while [`Session::wants_read`].
    fn read_buf(&mut self) -> &mut [u8];

    /// `n > 0` bytes were read into [`Session::read_buf`] at `now`.
    fn filled(&mut self, n: usize, now: Instant);

    /// The peer closed its side (a read returned 0) at `now`.
    fn peer_closed(&mut self, now: Instant);

    /// Bytes to write now, in order (empty: nothing to write).
    fn outgoing(&self) -> Outgoing<'_>;

    /// `n` bytes of [`Session::outgoing`] were written at `now` (`n` may be less than
    /// all of them).
    fn wrote(&mut self, n: usize, now: Instant);

    /// The next thing to do besides writing, if any.
    fn poll_action(&mut self) -> Option<Action>;

    /// When [`Session::handle_timeout`] must next be called (idle timeout, frame
    /// deadline, the end of a `sleep`, the end of a linger); `None`: no deadline.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Time has reached `now` (at or after [`Session::poll_timeout`]; an early call is
    /// harmless).
    fn handle_timeout(&mut self, now: Instant);

    /// The server has begun shutting down, at `now`: close at the next request
    /// boundary (a frame under way is finished first; the grace period is the
    /// driver's).
    fn stop(&mut self, now: Instant);

    /// The `exec` asked for with [`Action::Exec`] finished.
    fn exec_done(&mut self, result: ExecResult, now: Instant);

    /// The `stats` asked for with [`Action::Stats`] was read.
    fn stats_done(&mut self, info: StatsInfo, now: Instant);

    /// Requests answered since the last call (the driver adds them to its counters).
    fn take_served(&mut self) -> u64;

    /// Whether the session is between requests (no frame, command or reply under
    /// way): a connection cut at the end of the grace period while not at a boundary
    /// counts as `shutdown_cut`.
    fn at_boundary(&self) -> bool;
}

/// The idle rule every session shares: no bytes read or written for `idle` closes the
/// connection with `idle_timeout`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdleClock {
    idle: Option<std::time::Duration>,
    last_progress: Instant,
}

impl IdleClock {
    pub(crate) fn new(idle: Option<std::time::Duration>, now: Instant) -> Self {
        IdleClock {
            idle,
            last_progress: now,
        }
    }

    /// Bytes moved at `now`.
    pub(crate) fn progress(&mut self, now: Instant) {
        self.last_progress = now;
    }

    /// When the connection idles out, if it can.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.idle.map(|d| self.last_progress + d)
    }

    /// Whether it has idled out by `now`.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|due| now >= due)
    }

    /// The failure an idle connection closes with.
    pub(crate) fn failure() -> Failure {
        Failure {
            kind: ErrorKind::IdleTimeout,
            message: "no data for the idle timeout".to_owned(),
        }
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
