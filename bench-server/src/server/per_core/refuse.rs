//! [`RefuseSession`]: how a loop turns away a framed connection over `max_conns`
//! without blocking: as a tiny session the loop drives like any other. It writes one
//! error frame the client can read, sends FIN, then drains what the client still sends
//! (so the kernel does not answer unread data with a reset that destroys the frame),
//! and closes at EOF, or after one second for the write and one for the drain, or at
//! the stop: the same rules as the other models' refusal.

use std::time::{Duration, Instant};

use crate::session::{Action, ExecResult, Outgoing, Session, StatsInfo};

/// How long each phase (writing the frame, draining) may take.
const PHASE: Duration = Duration::from_secs(1);

/// A refused framed connection.
pub(super) struct RefuseSession {
    frame: Vec<u8>,
    written: usize,
    /// Where discarded bytes go while draining.
    sink: Vec<u8>,
    deadline: Instant,
    action: Option<Action>,
    closed: bool,
}

impl RefuseSession {
    /// A refusal that says `open` connections are open; `None` when the frame cannot
    /// be encoded (then the connection is just closed).
    pub(super) fn new(open: u64, now: Instant) -> Option<Self> {
        let header = bench_proto::ResponseHeader::error(
            0,
            format!("server busy: {open} connections open, the --max-conns limit"),
        );
        let mut frame = Vec::new();
        bench_proto::encode_header(&header, &mut frame).ok()?;
        Some(RefuseSession {
            frame,
            written: 0,
            sink: Vec::new(),
            deadline: now + PHASE,
            action: None,
            closed: false,
        })
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.action = Some(Action::Close(None));
        }
    }

    fn draining(&self) -> bool {
        self.written == self.frame.len()
    }
}

impl Session for RefuseSession {
    fn wants_read(&self) -> bool {
        !self.closed && self.draining()
    }

    fn read_buf(&mut self) -> &mut [u8] {
        if self.sink.is_empty() {
            self.sink = vec![0; 1024];
        }
        &mut self.sink
    }

    fn filled(&mut self, _n: usize, _now: Instant) {}

    fn peer_closed(&mut self, _now: Instant) {
        self.close();
    }

    fn outgoing(&self) -> Outgoing<'_> {
        let mut out = Outgoing::none();
        if !self.closed {
            out.push(&self.frame[self.written..]);
        }
        out
    }

    fn wrote(&mut self, n: usize, now: Instant) {
        self.written += n;
        if self.draining() {
            self.deadline = now + PHASE;
            self.action = Some(Action::ShutdownWrite);
        }
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.action.take()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.closed).then_some(self.deadline)
    }

    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.deadline {
            self.close();
        }
    }

    fn stop(&mut self, _now: Instant) {
        self.close();
    }

    fn exec_done(&mut self, _result: ExecResult, _now: Instant) {}

    fn stats_done(&mut self, _info: StatsInfo, _now: Instant) {}

    fn take_served(&mut self) -> u64 {
        0
    }

    fn at_boundary(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &RefuseSession) -> Vec<u8> {
        s.outgoing()
            .as_slices()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    #[test]
    fn the_error_frame_goes_out_then_fin_then_the_drain_until_eof() {
        let t0 = Instant::now();
        let mut s = RefuseSession::new(3, t0).unwrap();
        let frame = bytes(&s);
        let text = String::from_utf8_lossy(&frame);
        assert!(text.contains("server busy: 3 connections open"), "{text}");
        assert!(!s.wants_read(), "nothing is read before the frame is out");
        s.wrote(frame.len() - 1, t0);
        assert!(s.poll_action().is_none());
        s.wrote(1, t0);
        assert!(matches!(s.poll_action(), Some(Action::ShutdownWrite)));
        assert!(s.wants_read() && s.outgoing().is_empty());
        s.filled(10, t0);
        s.peer_closed(t0);
        assert!(matches!(s.poll_action(), Some(Action::Close(None))));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn a_client_that_neither_reads_nor_closes_is_dropped_after_each_phase() {
        let t0 = Instant::now();
        let mut stuck = RefuseSession::new(1, t0).unwrap();
        stuck.handle_timeout(t0 + PHASE);
        assert!(matches!(stuck.poll_action(), Some(Action::Close(None))));

        let mut silent = RefuseSession::new(1, t0).unwrap();
        let n = silent.outgoing().total();
        let t1 = t0 + Duration::from_millis(500);
        silent.wrote(n, t1);
        silent.poll_action();
        silent.handle_timeout(t0 + PHASE);
        assert!(
            silent.poll_action().is_none(),
            "the drain has its own second"
        );
        silent.handle_timeout(t1 + PHASE);
        assert!(matches!(silent.poll_action(), Some(Action::Close(None))));
    }
}
