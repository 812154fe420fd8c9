//! [`CustomUdpSession`]: one socket of a custom UDP workload as a sans-IO state machine
//! (the per-core engine's; the async engine's is `datagram`). One datagram per
//! request; each datagram that comes back is the reply to the oldest request still
//! waiting (an arbitrary protocol carries no sequence number to match on), checked by
//! the workload file's rules: `ok`, `mismatch`, `server`, `protocol`; `timeout` for no
//! datagram within `--timeout`; `send`/`refused` for datagrams that could not go out.
//!
//! Owns: one socket's requests in flight. Must not touch: sockets, the loop's heap.

use std::collections::VecDeque;
use std::io;
use std::time::Instant;

use super::conn::{End, account_unsent_in, close_window_in};
use super::pace::{Next, Source};
use super::shared::Shared;
use super::udp_session::DatagramSession;
use crate::record::{Recorder, Timing};
use crate::report::ErrorKind;
use crate::workload::Request;
use crate::workload::custom::{Custom, CustomReader};

#[derive(Debug, Clone, Copy)]
struct InFlight {
    request: Request,
    timing: Timing,
}

/// One custom UDP socket's requests and replies, without the socket.
pub(crate) struct CustomUdpSession<'w> {
    workload: &'w Custom,
    index: usize,
    reader: CustomReader,
    source: Source,
    inflight: VecDeque<InFlight>,
    datagram: Vec<u8>,
    pending: bool,
    wait_until: Option<Instant>,
    held: bool,
    writer_done: bool,
}

impl<'w> CustomUdpSession<'w> {
    /// The session of socket `index`.
    pub(crate) fn new(shared: &Shared, index: usize, workload: &'w Custom) -> Self {
        let (_, reader) = workload.halves(index);
        CustomUdpSession {
            workload,
            index,
            reader,
            source: Source::new(shared, index),
            inflight: VecDeque::with_capacity(shared.config().pipeline),
            datagram: Vec::new(),
            pending: false,
            wait_until: None,
            held: false,
            writer_done: false,
        }
    }

    fn finish_writer(&mut self, shared: &Shared, rec: &mut Recorder) {
        self.writer_done = true;
        self.wait_until = None;
        close_window_in(shared, rec, &mut self.source, self.held);
    }
}

fn count_error(datagram: &InFlight, err: &io::Error, sending: bool, rec: &mut Recorder) {
    let kind = match err.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
        _ if sending => ErrorKind::Send,
        _ => ErrorKind::from_io(err),
    };
    let seq = datagram.request.id;
    rec.failed(kind, 1, datagram.timing.recorded, || {
        format!("datagram {seq}: {err}")
    });
}

impl DatagramSession for CustomUdpSession<'_> {
    fn poll_datagram(
        &mut self,
        shared: &Shared,
        rec: &mut Recorder,
        now: Instant,
    ) -> Option<&[u8]> {
        if self.pending {
            return Some(&self.datagram);
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
        CustomReader::render_datagram(self.workload, self.index, &due.request, &mut self.datagram);
        let timing = Timing {
            intended: due.intended,
            sent: now,
            recorded: due.recorded,
            held: self.held,
        };
        self.inflight.push_back(InFlight {
            request: due.request,
            timing,
        });
        self.pending = true;
        Some(&self.datagram)
    }

    fn sent(&mut self, rec: &mut Recorder) {
        self.pending = false;
        if let Some(last) = self.inflight.back() {
            rec.sent(&last.timing, self.datagram.len());
        }
    }

    fn send_failed(&mut self, err: &io::Error, rec: &mut Recorder) {
        self.pending = false;
        if let Some(failed) = self.inflight.pop_back() {
            count_error(&failed, err, true, rec);
        }
    }

    fn recv_failed(&mut self, err: &io::Error, rec: &mut Recorder) {
        if let Some(oldest) = self.inflight.pop_front() {
            count_error(&oldest, err, false, rec);
        }
    }

    fn received(&mut self, datagram: &[u8], now: Instant, shared: &Shared, rec: &mut Recorder) {
        let waiting = !self.pending || self.inflight.len() > 1;
        let Some(entry) = self.inflight.front().copied().filter(|_| waiting) else {
            let len = datagram.len();
            let recorded = now >= shared.record_start() && shared.end().is_none_or(|e| now < e);
            rec.failed(ErrorKind::Protocol, 1, recorded, || {
                format!("a {len}-byte datagram came with no request waiting")
            });
            return;
        };
        self.inflight.pop_front();
        let limit = shared.config().timeout;
        if now.saturating_duration_since(entry.timing.sent) > limit.0 {
            let seq = entry.request.id;
            rec.failed(ErrorKind::Timeout, 1, entry.timing.recorded, || {
                format!("no reply to datagram {seq} within {limit}")
            });
            return;
        }
        match self.reader.take_datagram(&entry.request, datagram) {
            Ok(len) => rec.ok(&entry.timing, now, len),
            Err(failure) => {
                let end = End::from(failure);
                rec.failed(end.kind, 1, entry.timing.recorded, || end.message);
            }
        }
    }

    fn expire(&mut self, now: Instant, shared: &Shared, rec: &mut Recorder) {
        let limit = shared.config().timeout;
        while let Some(front) = self.inflight.front().copied() {
            let only_pending = self.pending && self.inflight.len() == 1;
            if now < front.timing.sent + limit.0 || only_pending {
                break;
            }
            self.inflight.pop_front();
            let seq = front.request.id;
            rec.failed(ErrorKind::Timeout, 1, front.timing.recorded, || {
                format!("no reply to datagram {seq} within {limit}")
            });
        }
    }

    fn poll_timeout(&self, shared: &Shared) -> Option<Instant> {
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

    fn is_finished(&self) -> bool {
        self.writer_done && self.inflight.is_empty()
    }

    fn close(self, shared: &Shared, rec: &mut Recorder) {
        account_unsent_in(shared, rec, &self.source);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::config::{RunConfig, RunLength, WorkloadKind};
    use crate::engine::shared::Stopper;
    use crate::record::Live;
    use crate::workload::custom::spec;
    use crate::workload::{Pattern, Verifier};

    /// workloads/line-echo.toml over UDP.
    const LINE: &str = "transport = \"udp\"\n[[request]]\nname = \"line\"\n\
        send = '{seq} {size}\\n'\nreply.delimiter = '\\n'\n\
        reply.expect = { prefix = '{seq} {size}\\n' }\n";

    fn setup() -> (Shared, Custom, Recorder, Instant) {
        let t0 = Instant::now();
        let config = RunConfig {
            workload: WorkloadKind::Custom,
            pipeline: 2,
            warmup: "0s".parse().unwrap(),
            length: RunLength::Requests(100),
            timeout: "1s".parse().unwrap(),
            ..RunConfig::default()
        };
        let pattern = Arc::new(Pattern::new(config.size.max.as_usize()));
        let custom = Custom::new(spec::parse(LINE).unwrap(), pattern.clone());
        let verifier = Verifier::new(&config, pattern);
        let addr = "127.0.0.1:9".parse().unwrap();
        let shared = Shared::new(config, addr, t0, verifier, None, Stopper::new());
        let rec = Recorder::new(false, t0, None, Arc::new(Live::new(1)), 0);
        (shared, custom, rec, t0)
    }

    fn errors(rec: &Recorder, kind: ErrorKind) -> u64 {
        rec.errors[ErrorKind::ALL.iter().position(|k| *k == kind).unwrap()]
    }

    #[test]
    fn each_datagram_answers_the_oldest_request_and_strays_are_protocol_errors() {
        let (shared, custom, mut rec, t0) = setup();
        let mut s = CustomUdpSession::new(&shared, 0, &custom);
        let first = s.poll_datagram(&shared, &mut rec, t0).unwrap().to_vec();
        s.sent(&mut rec);
        let second = s.poll_datagram(&shared, &mut rec, t0).unwrap().to_vec();
        s.sent(&mut rec);
        assert!(
            s.poll_datagram(&shared, &mut rec, t0).is_none(),
            "pipeline 2"
        );
        s.received(&first, t0, &shared, &mut rec);
        assert_eq!(rec.ok, 1);
        // The second request gets the first's reply again: a mismatch, in order.
        s.received(&first, t0, &shared, &mut rec);
        assert_eq!(errors(&rec, ErrorKind::Mismatch), 1);
        s.received(&second, t0, &shared, &mut rec);
        assert_eq!(errors(&rec, ErrorKind::Protocol), 1, "nothing was waiting");
    }

    #[test]
    fn no_datagram_within_the_timeout_is_a_timeout() {
        let (shared, custom, mut rec, t0) = setup();
        let mut s = CustomUdpSession::new(&shared, 0, &custom);
        s.poll_datagram(&shared, &mut rec, t0).unwrap();
        s.sent(&mut rec);
        assert_eq!(s.poll_timeout(&shared), Some(t0 + Duration::from_secs(1)));
        s.expire(t0 + Duration::from_secs(1), &shared, &mut rec);
        assert_eq!(errors(&rec, ErrorKind::Timeout), 1);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        s.poll_datagram(&shared, &mut rec, t0).unwrap();
        s.send_failed(&refused, &mut rec);
        assert_eq!(errors(&rec, ErrorKind::Refused), 1);
    }
}
