//! The framed command protocol as a session ([`FramedSession`]): requests as
//! length-prefixed frames (or, in `--requests raw` mode, one command line per read),
//! every response as a frame, with the protocol's rules: one request at a time, the
//! frame deadline, the memory budget for large bodies, error frames then a lingering
//! close, and the stop at a request boundary.
//!
//! Decoding is [`bench_proto::Decoder`]'s and running a command
//! [`crate::protocol::command`]'s; this module sequences them and holds the state
//! between the driver's calls. `reply` writes one response frame. It must not touch
//! sockets, clocks or threads: `sleep` is a deadline, `stats` and `exec` are actions.
//!
//! A connection is served one request at a time: the next frame is not decoded before
//! the reply to this one is written, so a client that does not read its replies stops
//! being read from, and holds at most one request and one reply.

mod reply;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench_proto::{Command, Decoder, RawRequest, RequestHeader, ResponseHeader};

use super::{Action, ExecResult, Failure, IdleClock, Outgoing, Session, StatsInfo, earliest};
use crate::config::{LARGE_BUFFER, RequestMode, ServerConfig};
use crate::protocol::command::{Body, Buffers, Reply, Step, exec_reply, execute, stats_reply};
use crate::stats::{ErrorKind, Stats};
use reply::ReplyWriter;

/// How long a connection that got an error frame may keep sending before it is closed:
/// a second lets a pipelining client's requests already in flight arrive (and be
/// discarded) so the close is a FIN, not a reset, without holding a bad client long.
pub(crate) const LINGER: Duration = Duration::from_secs(1);

/// Read buffer of the raw mode: one read is one command line, so this is the longest
/// line taken whole (a longer one arrives over several reads, each read as a command).
pub(crate) const RAW_READ: usize = 64 * 1024;

/// What a lingering connection reads into (and discards) at a time.
const SINK: usize = 4096;

/// Where requests come from.
enum Requests {
    /// Length-prefixed frames.
    Frames(Decoder<RequestHeader>),
    /// One command line per read: the read buffer, the request body's place in it (for
    /// an echo reply), and the id of the last request (ids are 1, 2, 3...).
    Raw {
        buf: Vec<u8>,
        body: Range<usize>,
        last_id: u64,
    },
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading requests (or decoding the ones already read).
    Reading,
    /// Writing a reply; `error`: an error frame (a linger follows).
    Writing { error: bool },
    /// `sleep` of request `id` until `until`.
    Sleeping { id: u64, until: Instant },
    /// Request `id` waits for the driver ([`Action::Stats`] or [`Action::Exec`]).
    Waiting { id: u64 },
    /// The error frame is out and FIN asked for: discarding what arrives until EOF or
    /// `until`.
    Lingering { until: Instant },
    /// Closed; the close action is queued or taken.
    Closed,
}

/// One framed (or raw) connection. See the module docs.
pub(crate) struct FramedSession {
    config: Arc<ServerConfig>,
    /// The endpoint's counters, only for the `max_buffered` budget.
    stats: Arc<Stats>,
    peer: SocketAddr,
    requests: Requests,
    bufs: Buffers,
    reply: ReplyWriter,
    phase: Phase,
    idle: IdleClock,
    /// When the frame under way must be complete, if one is.
    frame_due: Option<Instant>,
    /// Whether whole frames were decoded since the frame deadline was last looked at.
    decoded: bool,
    stopping: bool,
    /// Requests answered when this connection first noticed the stop at a point where
    /// it would read (a pipelining client always has a next frame under way: it is
    /// closed once one more frame is answered).
    served_at_stop: Option<u64>,
    /// Requests answered on this connection.
    served_total: u64,
    /// Requests answered since the last [`Session::take_served`].
    served: u64,
    actions: VecDeque<Action>,
    /// What a lingering connection reads into (allocated when it starts lingering).
    sink: Vec<u8>,
}

impl FramedSession {
    /// A session for a connection from `peer` accepted at `now`, in the request mode
    /// of `config`. `stats` is the endpoint's (for the `max_buffered` budget only:
    /// requests answered and failures are the driver's to count).
    pub(crate) fn new(
        config: Arc<ServerConfig>,
        stats: Arc<Stats>,
        peer: SocketAddr,
        now: Instant,
    ) -> Self {
        let requests = match config.requests {
            RequestMode::Framed => Requests::Frames(Decoder::new(config.limits)),
            RequestMode::Raw => Requests::Raw {
                buf: vec![0; RAW_READ],
                body: 0..0,
                last_id: 0,
            },
        };
        FramedSession {
            idle: IdleClock::new(config.idle_timeout, now),
            reply: ReplyWriter::new(config.write_mode),
            config,
            stats,
            peer,
            requests,
            bufs: Buffers::default(),
            phase: Phase::Reading,
            frame_due: None,
            decoded: false,
            stopping: false,
            served_at_stop: None,
            served_total: 0,
            served: 0,
            // Allocated on the first action (most connections have only their close).
            actions: VecDeque::new(),
            sink: Vec::new(),
        }
    }

    /// Decodes the next frame and starts on it, or (none whole) gets ready to read:
    /// the budget for a large body, the frame deadline, the stop rule.
    fn next_frame(&mut self, now: Instant) {
        let Requests::Frames(decoder) = &mut self.requests else {
            unreachable!("framed mode")
        };
        let (id, result, line) = match decoder.decode() {
            Ok(Some(frame)) => {
                self.decoded = true;
                let id = frame.header.id;
                let result = Command::from_header(&frame.header, &self.config.limits)
                    .map_err(Failure::from)
                    .and_then(|command| {
                        execute(
                            command,
                            frame.body,
                            &mut self.bufs,
                            &self.stats,
                            &self.config,
                        )
                    });
                let line = matches!(result, Ok(Step::Exec)).then(|| frame.body.to_vec());
                (id, result, line)
            }
            Ok(None) => return self.ready_to_read(now),
            Err(e) => (e.id(), Err(Failure::from(&e)), None),
        };
        self.begin(id, result, line, now);
    }

    /// No whole frame is buffered: before reading on, budget for a large body under
    /// way, watch the frame deadline, and close if stopping at a boundary.
    fn ready_to_read(&mut self, now: Instant) {
        let Requests::Frames(decoder) = &self.requests else {
            unreachable!("framed mode")
        };
        if let Some((header, len)) = decoder.pending_body()
            && len > LARGE_BUFFER
            && !self.bufs.holds_budget()
            && !self.bufs.reserve(&self.stats, len, &self.config)
        {
            let id = header.id;
            return self.reject(id, Failure::over_budget(len, &self.config));
        }
        let at_boundary = decoder.at_frame_boundary();
        if let Some(timeout) = self.config.frame_timeout {
            // A new deadline for a new frame (whole ones were decoded since), none at a
            // frame boundary.
            if at_boundary {
                self.frame_due = None;
            } else if self.decoded || self.frame_due.is_none() {
                self.frame_due = Some(now + timeout);
            }
        }
        self.decoded = false;
        self.phase = Phase::Reading;
        self.check_stop(at_boundary);
    }

    /// During shutdown, at a point where the session would read: close at a frame
    /// boundary, or once one more frame has been answered since the stop was noticed.
    fn check_stop(&mut self, at_boundary: bool) {
        if !self.stopping {
            return;
        }
        let at_stop = *self.served_at_stop.get_or_insert(self.served_total);
        if at_boundary || self.served_total > at_stop {
            self.close(None);
        }
    }

    /// One raw request: the `n` bytes just read are a command line.
    fn raw_request(&mut self, n: usize, now: Instant) {
        let Requests::Raw { buf, body, last_id } = &mut self.requests else {
            unreachable!("raw mode")
        };
        *last_id += 1;
        let id = *last_id;
        let line = &buf[..n];
        let (result, input) =
            match RawRequest::parse(line, &self.config.limits, self.config.allow_exec) {
                Ok(RawRequest::Builtin { command, body }) => (Ok(command), body),
                Ok(RawRequest::Shell { line }) => (Ok(Command::Exec), line),
                Err(e) => (Err(Failure::from(e)), &line[..0]),
            };
        // The input is a piece of the line: where, for an echo reply written later.
        let start = input.as_ptr() as usize - line.as_ptr() as usize;
        *body = start..start + input.len();
        let result = result
            .and_then(|command| execute(command, input, &mut self.bufs, &self.stats, &self.config));
        let line = matches!(result, Ok(Step::Exec)).then(|| input.to_vec());
        self.begin(id, result, line, now);
    }

    /// Starts on request `id`: its reply, its error frame, or what it waits for.
    /// `line`: the shell line, for an `exec`.
    fn begin(
        &mut self,
        id: u64,
        result: Result<Step, Failure>,
        line: Option<Vec<u8>>,
        now: Instant,
    ) {
        match result {
            Ok(Step::Reply(reply)) => self.send(id, reply),
            Ok(Step::Sleep(pause)) if pause.is_zero() => self.send(id, Reply::empty()),
            Ok(Step::Sleep(pause)) => {
                self.phase = Phase::Sleeping {
                    id,
                    until: now + pause,
                }
            }
            Ok(Step::Stats) => {
                self.actions.push_back(Action::Stats);
                self.phase = Phase::Waiting { id };
            }
            Ok(Step::Exec) => {
                self.actions.push_back(Action::Exec {
                    line: line.expect("an exec step comes with its line"),
                    output: self.bufs.lend_scratch(),
                    max_output: self.config.limits.max_body,
                });
                self.phase = Phase::Waiting { id };
            }
            Err(failure) => self.reject(id, failure),
        }
    }

    /// Starts writing the reply to request `id`.
    fn send(&mut self, id: u64, reply: Reply) {
        self.reply.start(&reply.header(id), reply.body, reply.len);
        self.phase = Phase::Writing { error: false };
    }

    /// The request is refused: the failure is counted now (by the driver, through
    /// [`Action::Fail`]), then the error frame goes out and the connection lingers.
    fn reject(&mut self, id: u64, failure: Failure) {
        let header = ResponseHeader::error(id, failure.message.clone());
        self.actions.push_back(Action::Fail(failure));
        self.reply.start(&header, Body::Empty, 0);
        self.phase = Phase::Writing { error: true };
    }

    /// The reply is written: count it and go on with the next request.
    fn replied(&mut self, now: Instant) {
        self.served += 1;
        self.served_total += 1;
        self.bufs.release_large(&self.stats);
        self.phase = Phase::Reading;
        match self.requests {
            Requests::Frames(_) => self.next_frame(now),
            Requests::Raw { .. } if self.stopping => self.close(None),
            Requests::Raw { .. } => {}
        }
    }

    /// The error frame is written: FIN, then read and discard until EOF or [`LINGER`].
    fn linger(&mut self, now: Instant) {
        self.bufs.release_large(&self.stats);
        self.actions.push_back(Action::ShutdownWrite);
        self.sink = vec![0; SINK];
        self.phase = Phase::Lingering {
            until: now + LINGER,
        };
    }

    fn close(&mut self, failure: Option<Failure>) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.actions.push_back(Action::Close(failure));
        }
    }

    /// The bytes of the reply's body (`None`: a pattern).
    fn body_bytes(&self) -> Option<&[u8]> {
        let input = match &self.requests {
            Requests::Frames(decoder) => decoder.last_body(),
            Requests::Raw { buf, body, .. } => &buf[body.clone()],
        };
        self.reply.body().bytes(input, &self.bufs)
    }

    fn frame_at_boundary(&self) -> bool {
        match &self.requests {
            Requests::Frames(decoder) => decoder.at_frame_boundary(),
            Requests::Raw { .. } => true,
        }
    }
}

/// The failure of a frame not completed within the frame timeout.
fn slow_frame() -> Failure {
    Failure {
        kind: ErrorKind::SlowFrame,
        message: "frame not completed within the frame timeout".to_owned(),
    }
}

impl Drop for FramedSession {
    /// However the connection ends (a cut at the end of the grace period drops it
    /// mid-request), its share of the budget goes back.
    fn drop(&mut self) {
        self.bufs.release_budget(&self.stats);
    }
}

impl Session for FramedSession {
    fn wants_read(&self) -> bool {
        matches!(self.phase, Phase::Reading | Phase::Lingering { .. })
    }

    fn read_buf(&mut self) -> &mut [u8] {
        match (&self.phase, &mut self.requests) {
            (Phase::Lingering { .. }, _) => &mut self.sink,
            (Phase::Reading, Requests::Frames(decoder)) => decoder.read_buf(),
            (Phase::Reading, Requests::Raw { buf, .. }) => buf,
            _ => &mut [],
        }
    }

    fn filled(&mut self, n: usize, now: Instant) {
        debug_assert!(n > 0 && self.wants_read());
        self.idle.progress(now);
        if self.phase != Phase::Reading {
            return; // lingering: discarded
        }
        match &mut self.requests {
            Requests::Frames(decoder) => {
                decoder.filled(n);
                self.next_frame(now);
            }
            Requests::Raw { .. } => self.raw_request(n, now),
        }
    }

    fn peer_closed(&mut self, _now: Instant) {
        if self.phase == Phase::Reading && !self.frame_at_boundary() {
            self.close(Some(Failure {
                kind: ErrorKind::Truncated,
                message: "peer closed mid-frame".to_owned(),
            }));
        } else {
            self.close(None);
        }
    }

    fn outgoing(&self) -> Outgoing<'_> {
        match self.phase {
            Phase::Writing { .. } => self.reply.outgoing(self.body_bytes()),
            _ => Outgoing::none(),
        }
    }

    fn wrote(&mut self, n: usize, now: Instant) {
        let Phase::Writing { error } = self.phase else {
            debug_assert!(n == 0, "wrote {n} bytes with nothing to write");
            return;
        };
        self.idle.progress(now);
        if !self.reply.wrote(n) {
            return;
        }
        if error {
            self.linger(now);
        } else {
            self.replied(now);
        }
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Reading => earliest(self.idle.deadline(), self.frame_due),
            Phase::Writing { .. } => self.idle.deadline(),
            Phase::Sleeping { until, .. } | Phase::Lingering { until } => Some(until),
            Phase::Waiting { .. } | Phase::Closed => None,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Reading if self.frame_due.is_some_and(|due| now >= due) => {
                self.close(Some(slow_frame()))
            }
            Phase::Reading | Phase::Writing { .. } if self.idle.expired(now) => {
                self.close(Some(IdleClock::failure()))
            }
            Phase::Sleeping { id, until } if now >= until => {
                // The server was busy, not the peer idle.
                self.idle.progress(now);
                self.send(id, Reply::empty());
            }
            Phase::Lingering { until } if now >= until => self.close(None),
            _ => {}
        }
    }

    fn stop(&mut self, _now: Instant) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        if self.phase == Phase::Reading {
            match self.requests {
                Requests::Frames(_) => self.check_stop(self.frame_at_boundary()),
                Requests::Raw { .. } => self.close(None),
            }
        }
    }

    fn exec_done(&mut self, result: ExecResult, now: Instant) {
        let reply = exec_reply(&mut self.bufs, result.output, result.outcome);
        let Phase::Waiting { id } = self.phase else {
            return; // closed meanwhile: the buffer is back, nothing to answer
        };
        self.idle.progress(now);
        match reply {
            Ok(reply) => self.send(id, reply),
            Err(failure) => self.reject(id, failure),
        }
    }

    fn stats_done(&mut self, info: StatsInfo, now: Instant) {
        let Phase::Waiting { id } = self.phase else {
            return;
        };
        self.idle.progress(now);
        let reply = stats_reply(&mut self.bufs, &info, self.peer);
        self.send(id, reply);
    }

    fn take_served(&mut self) -> u64 {
        std::mem::take(&mut self.served)
    }

    fn at_boundary(&self) -> bool {
        match self.phase {
            Phase::Reading => self.frame_at_boundary(),
            Phase::Lingering { .. } | Phase::Closed => true,
            Phase::Writing { .. } | Phase::Sleeping { .. } | Phase::Waiting { .. } => false,
        }
    }
}
