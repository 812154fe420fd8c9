//! The tcp-echo session: every byte read is written back, in order, unchanged or
//! ASCII-uppercased. No message boundaries: one read is echoed as one write and counts
//! as one request; the next read waits until it is written (so a peer that does not
//! read its echo is pushed back by the kernel's buffers, not by ours).

use std::time::Instant;

use super::{Action, ExecResult, IdleClock, Outgoing, Session, StatsInfo};
use crate::config::Transform;

/// The read buffer starts this small (a benchmark message is usually far smaller, and
/// 10,000 idle connections then hold 20 MiB, not 160) and doubles whenever one read
/// fills it, up to [`MAX_BUF`].
const FIRST_BUF: usize = 2 * 1024;

/// The most one read takes: bulk transfers move in chunks this large.
const MAX_BUF: usize = 64 * 1024;

/// One tcp-echo connection.
pub(crate) struct EchoSession {
    transform: Transform,
    buf: Vec<u8>,
    /// Bytes of `buf[..pending_end]` not yet written back start at `written`.
    written: usize,
    pending_end: usize,
    idle: IdleClock,
    stopping: bool,
    /// Set once the session has asked to close (the action is taken once).
    close: Option<Action>,
    closed: bool,
    served: u64,
}

impl EchoSession {
    pub(crate) fn new(
        transform: Transform,
        idle: Option<std::time::Duration>,
        now: Instant,
    ) -> Self {
        EchoSession {
            transform,
            buf: vec![0; FIRST_BUF],
            written: 0,
            pending_end: 0,
            idle: IdleClock::new(idle, now),
            stopping: false,
            close: None,
            closed: false,
            served: 0,
        }
    }

    fn close(&mut self, action: Action) {
        if !self.closed {
            self.closed = true;
            self.close = Some(action);
        }
    }

    fn writing(&self) -> bool {
        self.written < self.pending_end
    }
}

impl Session for EchoSession {
    fn wants_read(&self) -> bool {
        !self.closed && !self.writing()
    }

    fn read_buf(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    fn filled(&mut self, n: usize, now: Instant) {
        debug_assert!(n > 0 && n <= self.buf.len() && !self.writing());
        self.idle.progress(now);
        if self.transform == Transform::Upper {
            self.buf[..n].make_ascii_uppercase();
        }
        self.written = 0;
        self.pending_end = n;
    }

    fn peer_closed(&mut self, _now: Instant) {
        self.close(Action::Close(None));
    }

    fn outgoing(&self) -> Outgoing<'_> {
        let mut out = Outgoing::none();
        if !self.closed {
            out.push(&self.buf[self.written..self.pending_end]);
        }
        out
    }

    fn wrote(&mut self, n: usize, now: Instant) {
        self.idle.progress(now);
        self.written += n;
        if self.writing() {
            return;
        }
        self.served += 1;
        // A read that filled the buffer: the peer sends in larger pieces.
        if self.pending_end == self.buf.len() && self.buf.len() < MAX_BUF {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        self.written = 0;
        self.pending_end = 0;
        if self.stopping {
            self.close(Action::Close(None));
        }
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.close.take()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            None
        } else {
            self.idle.deadline()
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if !self.closed && self.idle.expired(now) {
            self.close(Action::Close(Some(IdleClock::failure())));
        }
    }

    fn stop(&mut self, _now: Instant) {
        self.stopping = true;
        if !self.writing() {
            self.close(Action::Close(None));
        }
    }

    fn exec_done(&mut self, _result: ExecResult, _now: Instant) {
        debug_assert!(false, "tcp-echo runs no exec");
    }

    fn stats_done(&mut self, _info: StatsInfo, _now: Instant) {
        debug_assert!(false, "tcp-echo answers no stats");
    }

    fn take_served(&mut self) -> u64 {
        std::mem::take(&mut self.served)
    }

    fn at_boundary(&self) -> bool {
        !self.writing()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ErrorKind;
    use std::time::Duration;

    /// Feeds `bytes` as one read; returns what the session wants written.
    fn feed(s: &mut EchoSession, bytes: &[u8], now: Instant) -> Vec<u8> {
        s.read_buf()[..bytes.len()].copy_from_slice(bytes);
        s.filled(bytes.len(), now);
        s.outgoing()
            .as_slices()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    #[test]
    fn every_read_is_echoed_once_and_counted_when_written() {
        let now = Instant::now();
        let mut s = EchoSession::new(Transform::None, None, now);
        assert_eq!(feed(&mut s, b"ping", now), b"ping");
        assert!(!s.wants_read(), "no read while the echo is unwritten");
        s.wrote(2, now);
        assert_eq!(s.outgoing().total(), 2, "the rest of a short write");
        assert_eq!(s.take_served(), 0);
        s.wrote(2, now);
        assert!(s.outgoing().is_empty() && s.wants_read());
        assert_eq!(s.take_served(), 1);
        assert_eq!(s.take_served(), 0, "taken once");
    }

    #[test]
    fn upper_transform_uppercases_ascii_only() {
        let now = Instant::now();
        let mut s = EchoSession::new(Transform::Upper, None, now);
        assert_eq!(
            feed(&mut s, "héllo\x00z".as_bytes(), now),
            "HéLLO\x00Z".as_bytes()
        );
    }

    #[test]
    fn a_read_that_fills_the_buffer_grows_it() {
        let now = Instant::now();
        let mut s = EchoSession::new(Transform::None, None, now);
        let full = vec![7u8; s.read_buf().len()];
        let echoed = feed(&mut s, &full, now);
        assert_eq!(echoed, full);
        s.wrote(full.len(), now);
        assert_eq!(s.read_buf().len(), 2 * full.len());
    }

    #[test]
    fn peer_close_ends_without_an_error() {
        let now = Instant::now();
        let mut s = EchoSession::new(Transform::None, None, now);
        s.peer_closed(now);
        assert!(matches!(s.poll_action(), Some(Action::Close(None))));
        assert!(s.poll_action().is_none() && !s.wants_read());
    }

    #[test]
    fn no_progress_for_the_idle_timeout_closes_with_idle_timeout() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(5);
        let mut s = EchoSession::new(Transform::None, Some(idle), t0);
        assert_eq!(s.poll_timeout(), Some(t0 + idle));
        // Progress moves the deadline; an early timeout changes nothing.
        let t1 = t0 + Duration::from_secs(3);
        feed(&mut s, b"x", t1);
        s.wrote(1, t1);
        s.handle_timeout(t0 + idle);
        assert!(s.poll_action().is_none());
        assert_eq!(s.poll_timeout(), Some(t1 + idle));
        s.handle_timeout(t1 + idle);
        match s.poll_action() {
            Some(Action::Close(Some(f))) => assert_eq!(f.kind, ErrorKind::IdleTimeout),
            other => panic!("expected an idle close, got {other:?}"),
        }
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn stop_closes_at_once_between_echoes_and_after_the_echo_under_way() {
        let now = Instant::now();
        let mut idle = EchoSession::new(Transform::None, None, now);
        idle.stop(now);
        assert!(matches!(idle.poll_action(), Some(Action::Close(None))));

        let mut busy = EchoSession::new(Transform::None, None, now);
        feed(&mut busy, b"abc", now);
        busy.stop(now);
        assert!(
            busy.poll_action().is_none(),
            "the echo under way is finished"
        );
        assert!(!busy.at_boundary());
        busy.wrote(3, now);
        assert!(matches!(busy.poll_action(), Some(Action::Close(None))));
        assert_eq!(busy.take_served(), 1);
    }
}
