//! [`UdpSession`]: one udp-echo socket's bookkeeping as a sans-IO state machine: the
//! time and the datagrams received in, the datagram to send and the next deadline out.
//! The rules (the same as the async engine's `udp`, where they are described):
//!
//! - sequence numbers skip values with a byte in `a..=z` (they survive `upper`);
//! - no reply within `--timeout`: `timeout`; a reply after that is `late` (checked on
//!   arrival against the send time, never ok), and the timed-out requests that never got
//!   one are `lost` when the socket closes (`lost + late` = the `timeout` errors);
//! - a send error fails that datagram (`send`, or `refused`), a receive error the
//!   oldest in flight; the socket goes on;
//! - a second reply to an answered request is `duplicated`, a reply older than one
//!   already received is `reordered` (and still succeeds), a reply to a number never
//!   sent, or without a probe header, is a `protocol` error (a stray).
//!
//! Owns: one socket's requests in flight and the numbers it remembers. Must not touch:
//! sockets or the loop's timer heap (the driver's).

use std::collections::VecDeque;
use std::io;
use std::time::Instant;

use bench_proto::ProbeHeader;

use super::conn::{account_unsent_in, close_window_in};
use super::pace::{Next, Source};
use super::shared::Shared;
use crate::record::{Recorder, Timing};
use crate::report::ErrorKind;
use crate::workload::{Request, udp_echo};

/// How many timed-out sequence numbers are remembered, to tell a late reply from a
/// duplicate.
const TIMED_OUT_MEMORY: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct InFlight {
    request: Request,
    timing: Timing,
    sent_ns: u64,
}

/// One udp-echo socket's requests and replies, without the socket.
#[derive(Debug)]
pub(crate) struct UdpSession {
    source: Source,
    inflight: VecDeque<InFlight>,
    /// The datagram being sent (`pending`: made and in flight, not yet handed over).
    datagram: Vec<u8>,
    pending: Option<usize>,
    seq: u64,
    timed_out_seqs: VecDeque<(u64, bool)>,
    highest_sent: Option<u64>,
    highest_answered: Option<u64>,
    timed_out: u64,
    late: u64,
    wait_until: Option<Instant>,
    held: bool,
    writer_done: bool,
}

impl UdpSession {
    /// The session of socket `index` of `shared`'s run.
    pub(crate) fn new(shared: &Shared, index: usize) -> UdpSession {
        UdpSession {
            source: Source::new(shared, index),
            inflight: VecDeque::with_capacity(shared.config().pipeline),
            datagram: vec![0; shared.config().size.max.as_usize()],
            pending: None,
            seq: 0,
            timed_out_seqs: VecDeque::new(),
            highest_sent: None,
            highest_answered: None,
            timed_out: 0,
            late: 0,
            wait_until: None,
            held: false,
            writer_done: false,
        }
    }

    /// The next datagram to send at `now`, if one is due and the pipeline has room (it
    /// is in flight from now); call [`UdpSession::sent`] or [`UdpSession::send_failed`]
    /// once the socket took it or refused it. A datagram the socket could not take yet
    /// (`WouldBlock`) is offered again.
    pub(crate) fn poll_datagram(
        &mut self,
        shared: &Shared,
        rec: &mut Recorder,
        now: Instant,
    ) -> Option<&[u8]> {
        if let Some(len) = self.pending {
            return Some(&self.datagram[..len]);
        }
        if self.writer_done {
            return None;
        }
        if self.inflight.len() >= shared.config().pipeline {
            self.held = true;
            self.wait_until = None;
            if shared.stop_requested() || shared.end().is_some_and(|end| now >= end) {
                self.finish_writer(shared, rec);
            }
            return None;
        }
        let on_time = self.wait_until.is_some_and(|at| at <= now);
        let due = match self.source.next(shared, now, on_time) {
            Next::Send(due) => due,
            Next::WaitUntil(at) => {
                self.held = false;
                self.wait_until = Some(at);
                return None;
            }
            Next::Done => {
                self.finish_writer(shared, rec);
                return None;
            }
        };
        self.wait_until = None;
        self.seq = udp_echo::next_seq(self.seq);
        let request = Request {
            id: self.seq,
            ..due.request
        };
        self.seq += 1;
        let sent_ns = now.saturating_duration_since(shared.start()).as_nanos() as u64;
        let payload = &mut self.datagram[..request.size];
        udp_echo::fill(shared.verifier(), &request, sent_ns, payload);
        let timing = Timing {
            intended: due.intended,
            sent: now,
            recorded: due.recorded,
            held: self.held,
        };
        self.highest_sent = Some(request.id);
        self.inflight.push_back(InFlight {
            request,
            timing,
            sent_ns,
        });
        self.pending = Some(request.size);
        Some(&self.datagram[..request.size])
    }

    fn finish_writer(&mut self, shared: &Shared, rec: &mut Recorder) {
        self.writer_done = true;
        self.wait_until = None;
        close_window_in(shared, rec, &mut self.source, self.held);
    }

    /// The socket took the datagram [`UdpSession::poll_datagram`] offered.
    pub(crate) fn sent(&mut self, rec: &mut Recorder) {
        self.pending = None;
        if let Some(last) = self.inflight.back() {
            rec.sent(&last.timing, last.request.size);
            if last.timing.recorded {
                rec.udp.sent += 1;
            }
        }
    }

    /// The socket refused the datagram: it fails (`refused` or `send`), the socket goes on.
    pub(crate) fn send_failed(&mut self, err: &io::Error, rec: &mut Recorder) {
        self.pending = None;
        if let Some(failed) = self.inflight.pop_back() {
            count_error(&failed, err, true, rec);
        }
    }

    /// A receive error (the ICMP refusal of a datagram in flight): the oldest takes it.
    pub(crate) fn recv_failed(&mut self, err: &io::Error, rec: &mut Recorder) {
        if let Some(oldest) = self.inflight.pop_front() {
            count_error(&oldest, err, false, rec);
        }
    }

    /// Matches one reply, received at `now`, to its request.
    pub(crate) fn received(
        &mut self,
        datagram: &[u8],
        now: Instant,
        shared: &Shared,
        rec: &mut Recorder,
    ) {
        let Ok(probe) = ProbeHeader::read_from(datagram) else {
            let len = datagram.len();
            rec.failed(ErrorKind::Protocol, 1, in_window(shared, now), || {
                format!("reply of {len} bytes has no probe header")
            });
            return;
        };
        let seq = probe.seq;
        let Some(position) = self.inflight.iter().position(|f| f.request.id == seq) else {
            self.stray(seq, in_window(shared, now), rec);
            return;
        };
        let entry = self.inflight.remove(position).expect("found");
        let limit = shared.config().timeout;
        let recorded = entry.timing.recorded;
        if now.saturating_duration_since(entry.timing.sent) > limit.0 {
            // Later than `--timeout`, though no deadline fired yet: timed out and late.
            rec.failed(ErrorKind::Timeout, 1, recorded, || {
                format!("no reply to datagram {seq} within {limit}")
            });
            if recorded {
                rec.udp.late += 1;
                self.timed_out += 1;
                self.late += 1;
            }
            return;
        }
        if self.highest_answered.is_some_and(|h| h > seq) {
            if recorded {
                rec.udp.reordered += 1;
            }
        } else {
            self.highest_answered = Some(seq);
        }
        let expect = shared.config().expect;
        match udp_echo::verify(
            shared.verifier(),
            expect,
            &entry.request,
            entry.sent_ns,
            datagram,
        ) {
            Ok(()) => {
                if recorded {
                    rec.udp.received += 1;
                }
                rec.ok(&entry.timing, now, datagram.len());
            }
            Err(message) => rec.failed(ErrorKind::Mismatch, 1, recorded, || message),
        }
    }

    /// A reply to nothing in flight: late, duplicated, or never sent.
    fn stray(&mut self, seq: u64, recorded: bool, rec: &mut Recorder) {
        if self.highest_sent.is_none_or(|h| seq > h) || udp_echo::next_seq(seq) != seq {
            rec.failed(ErrorKind::Protocol, 1, recorded, || {
                format!("reply with sequence number {seq}, which was never sent")
            });
            return;
        }
        match self.timed_out_seqs.iter().position(|(s, _)| *s == seq) {
            Some(i) => {
                let (_, was_recorded) = self.timed_out_seqs.remove(i).expect("found");
                if was_recorded {
                    rec.udp.late += 1;
                    self.late += 1;
                }
            }
            None if recorded => rec.udp.duplicated += 1,
            None => {}
        }
    }

    /// The oldest request's timeout or the pacer's next send time.
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

    /// Fails the requests whose timeout has passed at `now` (the socket goes on).
    pub(crate) fn expire(&mut self, now: Instant, shared: &Shared, rec: &mut Recorder) {
        let limit = shared.config().timeout;
        while let Some(front) = self.inflight.front().copied() {
            if now < front.timing.sent + limit.0
                || self.pending.is_some() && self.inflight.len() == 1
            {
                break;
            }
            self.inflight.pop_front();
            if self.timed_out_seqs.len() == TIMED_OUT_MEMORY {
                self.timed_out_seqs.pop_front();
            }
            let (seq, recorded) = (front.request.id, front.timing.recorded);
            self.timed_out_seqs.push_back((seq, recorded));
            if recorded {
                self.timed_out += 1;
            }
            rec.failed(ErrorKind::Timeout, 1, recorded, || {
                format!("no reply to datagram {seq} within {limit}")
            });
        }
    }

    /// Whether the socket is done: no more requests and nothing in flight.
    pub(crate) fn is_finished(&self) -> bool {
        self.writer_done && self.inflight.is_empty()
    }

    /// The socket closes: the timed-out requests no reply came for are `lost`, and what
    /// the schedule still owed is accounted.
    pub(crate) fn close(self, shared: &Shared, rec: &mut Recorder) {
        rec.udp.lost += self.timed_out.saturating_sub(self.late);
        account_unsent_in(shared, rec, &self.source);
    }
}

/// Counts one datagram's send or receive error.
fn count_error(datagram: &InFlight, err: &io::Error, sending: bool, rec: &mut Recorder) {
    let kind = if err.kind() == io::ErrorKind::ConnectionRefused {
        ErrorKind::Refused
    } else if sending {
        ErrorKind::Send
    } else {
        ErrorKind::from_io(err)
    };
    let what = if sending {
        "sending datagram"
    } else {
        "datagram"
    };
    let seq = datagram.request.id;
    rec.failed(kind, 1, datagram.timing.recorded, || {
        format!("{what} {seq}: {err}")
    });
}

/// Whether `at` falls in the recorded part of the run.
fn in_window(shared: &Shared, at: Instant) -> bool {
    at >= shared.record_start() && shared.end().is_none_or(|end| at < end)
}

/// What a per-core datagram loop drives: udp-echo's [`UdpSession`] and a custom UDP
/// workload's session (`custom_udp_session`). Bytes and time in, a datagram and a
/// deadline out.
pub(crate) trait DatagramSession {
    /// The next datagram due at `now`, if any (in flight from now); see
    /// [`UdpSession::poll_datagram`].
    fn poll_datagram(&mut self, shared: &Shared, rec: &mut Recorder, now: Instant)
    -> Option<&[u8]>;
    /// The socket took the datagram offered last.
    fn sent(&mut self, rec: &mut Recorder);
    /// The socket refused the datagram offered last.
    fn send_failed(&mut self, err: &io::Error, rec: &mut Recorder);
    /// A receive error: the oldest datagram in flight takes it.
    fn recv_failed(&mut self, err: &io::Error, rec: &mut Recorder);
    /// One datagram arrived at `now`.
    fn received(&mut self, datagram: &[u8], now: Instant, shared: &Shared, rec: &mut Recorder);
    /// Fails what has timed out by `now`.
    fn expire(&mut self, now: Instant, shared: &Shared, rec: &mut Recorder);
    /// The next deadline.
    fn poll_timeout(&self, shared: &Shared) -> Option<Instant>;
    /// No more requests and nothing in flight.
    fn is_finished(&self) -> bool;
    /// The socket closes: final accounting.
    fn close(self, shared: &Shared, rec: &mut Recorder);
}

impl DatagramSession for UdpSession {
    fn poll_datagram(
        &mut self,
        shared: &Shared,
        rec: &mut Recorder,
        now: Instant,
    ) -> Option<&[u8]> {
        UdpSession::poll_datagram(self, shared, rec, now)
    }
    fn sent(&mut self, rec: &mut Recorder) {
        UdpSession::sent(self, rec);
    }
    fn send_failed(&mut self, err: &io::Error, rec: &mut Recorder) {
        UdpSession::send_failed(self, err, rec);
    }
    fn recv_failed(&mut self, err: &io::Error, rec: &mut Recorder) {
        UdpSession::recv_failed(self, err, rec);
    }
    fn received(&mut self, datagram: &[u8], now: Instant, shared: &Shared, rec: &mut Recorder) {
        UdpSession::received(self, datagram, now, shared, rec);
    }
    fn expire(&mut self, now: Instant, shared: &Shared, rec: &mut Recorder) {
        UdpSession::expire(self, now, shared, rec);
    }
    fn poll_timeout(&self, shared: &Shared) -> Option<Instant> {
        UdpSession::poll_timeout(self, shared)
    }
    fn is_finished(&self) -> bool {
        UdpSession::is_finished(self)
    }
    fn close(self, shared: &Shared, rec: &mut Recorder) {
        UdpSession::close(self, shared, rec);
    }
}

#[cfg(test)]
#[path = "udp_session_tests.rs"]
mod tests;
