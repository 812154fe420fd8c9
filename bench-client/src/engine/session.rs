//! [`TcpSession`]: one TCP connection's request/reply loop as a sans-IO state machine.
//! It takes the time, the bytes read and how many bytes were written, and hands back
//! the bytes to write and its next deadline; a driver (the per-core loop) only moves
//! bytes and time. Every pipelining rule lives here and is tested without sockets: the
//! `--pipeline` window, ready requests batched into one write, split write mode (one
//! write per part, when the workload asks for it), the per-request `--timeout`, reply
//! verification, and the recording of each request's real send time.
//!
//! Owns: one connection's requests in flight, its output buffer and its pacing source.
//! Must not touch: sockets, epoll or the loop's timer heap (the driver's), protocol
//! rules (the workload's), the recorder's internals (it calls the recorder's verbs).

use std::collections::VecDeque;
use std::time::Instant;

use super::conn::{End, account_unsent_in, close_window_in, fail_connection_in};
use super::pace::{Next, Source};
use super::shared::Shared;
use crate::record::{Recorder, Timing};
use crate::report::ErrorKind;
use crate::workload::{Failure, ReplyReader, Request, RequestWriter, StreamWorkload};

/// Most bytes gathered into one batched write.
const BATCH_BYTES: usize = 64 * 1024;

/// An output buffer drained to empty keeps at most this much capacity, so one large
/// batch does not pin its memory for the rest of the run.
const KEEP_OUT_CAPACITY: usize = 4 * 1024;

/// A request on the wire, waiting for its reply.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    request: Request,
    timing: Timing,
}

/// One connection's requests, replies and pacing, without a socket.
pub(crate) struct TcpSession<W: StreamWorkload> {
    writer: W::Writer,
    reader: W::Reader,
    /// Write each part of a request in its own write (the workload's choice).
    split: bool,
    source: Source,
    inflight: VecDeque<InFlight>,
    /// Encoded requests not yet written, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    /// Split mode: where each part ends in `out` (the driver writes one part per write).
    cuts: VecDeque<usize>,
    /// The pacer's next intended send time, while waiting for it.
    wait_until: Option<Instant>,
    /// The last turn stopped for want of a free pipeline slot.
    held: bool,
    writer_done: bool,
}

impl<W: StreamWorkload> TcpSession<W> {
    /// A session for connection `index` of `shared`'s run, speaking `workload`.
    pub(crate) fn new(shared: &Shared, index: usize, workload: &W) -> Self {
        let (writer, reader) = workload.split(index);
        TcpSession {
            writer,
            reader,
            split: workload.split_writes(),
            source: Source::new(shared, index),
            inflight: VecDeque::with_capacity(shared.config().pipeline),
            out: Vec::new(),
            out_pos: 0,
            cuts: VecDeque::new(),
            wait_until: None,
            held: false,
            writer_done: false,
        }
    }

    /// Takes every request that is due at `now` while the pipeline has room, encodes it
    /// into the output buffer and records it as sent at `now` (the driver writes the
    /// buffer in this same turn, so `now` is its real send time, late or not). Requests
    /// due together go out in one write, whatever the gap between their intended times.
    pub(crate) fn poll_send(&mut self, shared: &Shared, rec: &mut Recorder, now: Instant) {
        // Woken for this very request's intended time: it keeps the schedule even if the
        // wake-up came a little after the end.
        let mut on_time = self.wait_until.is_some_and(|at| at <= now);
        while !self.writer_done && self.out.len() - self.out_pos < BATCH_BYTES {
            if self.inflight.len() >= shared.config().pipeline {
                // The pacer's time has come or will come while no slot is free: the
                // reply that frees one drives the next send, not a deadline.
                self.held = true;
                self.wait_until = None;
                if shared.stop_requested() || shared.end().is_some_and(|end| now >= end) {
                    self.finish_writer(shared, rec);
                }
                return;
            }
            match self.source.next(shared, now, on_time) {
                Next::Send(due) => {
                    self.wait_until = None;
                    let timing = Timing {
                        intended: due.intended,
                        sent: now,
                        recorded: due.recorded,
                        held: self.held,
                    };
                    self.start(shared, rec, due.request, timing);
                }
                Next::WaitUntil(at) => {
                    self.held = false;
                    self.wait_until = Some(at);
                    return;
                }
                Next::Done => self.finish_writer(shared, rec),
            }
            on_time = false;
        }
    }

    /// A request goes on the wire: in flight, counted as sent, encoded into `out`.
    fn start(&mut self, shared: &Shared, rec: &mut Recorder, request: Request, timing: Timing) {
        self.inflight.push_back(InFlight { request, timing });
        rec.sent(&timing, shared.verifier().request_len(&request));
        for part in self.writer.encode(&request) {
            if part.is_empty() {
                continue;
            }
            self.out.extend_from_slice(part);
            if self.split {
                self.cuts.push_back(self.out.len());
            }
        }
    }

    fn finish_writer(&mut self, shared: &Shared, rec: &mut Recorder) {
        self.writer_done = true;
        self.wait_until = None;
        close_window_in(shared, rec, &mut self.source, self.held);
    }

    /// The bytes to write next (empty: nothing to write). Split mode: one part.
    pub(crate) fn pending_write(&self) -> &[u8] {
        let end = self.cuts.front().copied().unwrap_or(self.out.len());
        &self.out[self.out_pos..end]
    }

    /// `n` bytes of [`TcpSession::pending_write`] were written.
    pub(crate) fn wrote(&mut self, n: usize) {
        self.out_pos += n;
        while self.cuts.front().is_some_and(|&cut| cut <= self.out_pos) {
            self.cuts.pop_front();
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            if self.out.capacity() > KEEP_OUT_CAPACITY {
                self.out.shrink_to(KEEP_OUT_CAPACITY);
            }
        }
    }

    /// Free space to read replies into (the workload's buffer, never empty).
    pub(crate) fn read_buf(&mut self) -> &mut [u8] {
        self.reader.read_buf()
    }

    /// `n` bytes were read into [`TcpSession::read_buf`] by a read that returned at
    /// `now`: completes, verifies and records every whole reply. A reply that breaks
    /// the protocol ends the connection (`Err`); a mismatch fails only its request.
    pub(crate) fn filled(&mut self, n: usize, now: Instant, rec: &mut Recorder) -> Result<(), End> {
        self.reader.filled(n);
        while let Some(front) = self.inflight.front().copied() {
            let outcome = match self.reader.take_reply(&front.request) {
                Ok(None) => return Ok(()),
                Ok(Some(len)) => Ok(len),
                // The reply was consumed whole: the stream is in step, the connection
                // goes on.
                Err(Failure::Mismatch(message)) => Err((ErrorKind::Mismatch, message)),
                Err(Failure::Server(message)) => Err((ErrorKind::Server, message)),
                Err(failure) => return Err(End::from(failure)),
            };
            self.inflight.pop_front();
            match outcome {
                Ok(len) => rec.ok(&front.timing, now, len),
                Err((kind, message)) => rec.failed(kind, 1, front.timing.recorded, || message),
            }
        }
        Ok(())
    }

    /// The peer closed its side (a read returned 0): the end of the connection, an
    /// error if anything was still owed.
    pub(crate) fn peer_closed(&self) -> Result<(), End> {
        if self.inflight.is_empty() && self.writer_done {
            return Ok(());
        }
        Err(End {
            kind: ErrorKind::Closed,
            message: format!(
                "server closed the connection with {} requests outstanding",
                self.inflight.len()
            ),
        })
    }

    /// The earliest instant the session wants [`TcpSession::handle_timeout`] called:
    /// the oldest request's timeout or the pacer's next send time. The end of the
    /// recorded part is the driver's one deadline for all its sessions (a session
    /// waiting for room must then be driven once, to finish its writer).
    pub(crate) fn poll_timeout(&self, shared: &Shared) -> Option<Instant> {
        let timeout = self
            .inflight
            .front()
            .map(|f| f.timing.sent + shared.config().timeout.0);
        let writer = if self.writer_done {
            None
        } else {
            self.wait_until
        };
        match (timeout, writer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed to `now`: fails the connection if its oldest request timed out,
    /// else sends what is due.
    pub(crate) fn handle_timeout(
        &mut self,
        shared: &Shared,
        rec: &mut Recorder,
        now: Instant,
    ) -> Result<(), End> {
        let timeout = shared.config().timeout;
        if self
            .inflight
            .front()
            .is_some_and(|f| now >= f.timing.sent + timeout.0)
        {
            return Err(End {
                kind: ErrorKind::Timeout,
                message: format!("no whole reply within {timeout}"),
            });
        }
        self.poll_send(shared, rec, now);
        Ok(())
    }

    /// Whether the connection is done: no more requests, nothing in flight or unwritten.
    pub(crate) fn is_finished(&self) -> bool {
        self.writer_done && self.inflight.is_empty() && self.out_pos == self.out.len()
    }

    /// Requests in flight.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// The connection ends: on `Err`, every recorded request in flight fails with the
    /// end's kind (at least one); either way, what the schedule still owed is accounted.
    pub(crate) fn close(self, shared: &Shared, rec: &mut Recorder, result: Result<(), End>) {
        if let Err(end) = result {
            let recorded = self.inflight.iter().filter(|f| f.timing.recorded).count();
            fail_connection_in(shared, rec, recorded as u64, end);
        }
        account_unsent_in(shared, rec, &self.source);
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
