//! Every udp-echo accounting rule of [`UdpSession`], without sockets or sleeps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::config::{RunConfig, RunLength, WorkloadKind};
use crate::engine::shared::Stopper;
use crate::record::Live;
use crate::workload::{Pattern, Verifier};

struct Bench {
    t0: Instant,
    shared: Shared,
    rec: Recorder,
    session: UdpSession,
}

fn bench(pipeline: usize) -> Bench {
    let t0 = Instant::now();
    let config = RunConfig {
        workload: WorkloadKind::UdpEcho,
        pipeline,
        warmup: "0s".parse().unwrap(),
        length: RunLength::Requests(1_000),
        timeout: "1s".parse().unwrap(),
        ..RunConfig::default()
    };
    let verifier = Verifier::new(&config, Arc::new(Pattern::new(config.size.max.as_usize())));
    let addr = "127.0.0.1:9".parse().unwrap();
    let shared = Shared::new(config, addr, t0, verifier, None, Stopper::new());
    let rec = Recorder::new(false, t0, None, Arc::new(Live::new(1)), 0);
    let session = UdpSession::new(&shared, 0);
    Bench {
        t0,
        shared,
        rec,
        session,
    }
}

impl Bench {
    /// Sends one datagram at `t0 + at_ms`; returns its bytes.
    fn send(&mut self, at_ms: u64) -> Vec<u8> {
        let now = self.t0 + Duration::from_millis(at_ms);
        let bytes = self
            .session
            .poll_datagram(&self.shared, &mut self.rec, now)
            .expect("a datagram is due")
            .to_vec();
        self.session.sent(&mut self.rec);
        bytes
    }

    fn reply(&mut self, datagram: &[u8], at_ms: u64) {
        let now = self.t0 + Duration::from_millis(at_ms);
        self.session
            .received(datagram, now, &self.shared, &mut self.rec);
    }

    fn errors(&self, kind: ErrorKind) -> u64 {
        let i = ErrorKind::ALL.iter().position(|k| *k == kind).unwrap();
        self.rec.errors[i]
    }
}

#[test]
fn a_reply_completes_its_request_and_sequence_numbers_skip_lowercase_bytes() {
    let mut b = bench(4);
    let first = b.send(0);
    let second = b.send(0);
    let seq = |d: &[u8]| ProbeHeader::read_from(d).unwrap().seq;
    assert_eq!(seq(&first), udp_echo::next_seq(0));
    assert!(seq(&second) > seq(&first));
    assert!(
        !seq(&second)
            .to_le_bytes()
            .iter()
            .any(u8::is_ascii_lowercase)
    );
    b.reply(&first, 1);
    b.reply(&second, 1);
    assert_eq!((b.rec.ok, b.rec.udp.received, b.rec.udp.sent), (2, 2, 2));
}

#[test]
fn the_pipeline_bounds_the_datagrams_in_flight() {
    let mut b = bench(2);
    b.send(0);
    b.send(0);
    let now = b.t0;
    assert!(
        b.session
            .poll_datagram(&b.shared, &mut b.rec, now)
            .is_none()
    );
}

#[test]
fn no_reply_within_the_timeout_is_a_timeout_and_lost_when_none_comes() {
    let mut b = bench(4);
    b.send(0);
    let deadline = b.session.poll_timeout(&b.shared).unwrap();
    assert_eq!(deadline, b.t0 + Duration::from_secs(1));
    b.session
        .expire(deadline - Duration::from_millis(1), &b.shared, &mut b.rec);
    assert_eq!(b.errors(ErrorKind::Timeout), 0, "not yet");
    b.session.expire(deadline, &b.shared, &mut b.rec);
    assert_eq!(b.errors(ErrorKind::Timeout), 1);
    let Bench {
        session,
        shared,
        mut rec,
        ..
    } = b;
    session.close(&shared, &mut rec);
    assert_eq!((rec.udp.lost, rec.udp.late), (1, 0));
}

#[test]
fn a_reply_after_its_timeout_is_late_not_lost_and_never_ok() {
    let mut b = bench(4);
    let d = b.send(0);
    b.session
        .expire(b.t0 + Duration::from_secs(1), &b.shared, &mut b.rec);
    b.reply(&d, 1_500);
    assert_eq!((b.rec.ok, b.rec.udp.late), (0, 1));
    // Late on arrival, before any deadline fired: also a timeout, also late.
    let d = b.send(2_000);
    b.reply(&d, 3_500);
    assert_eq!((b.rec.ok, b.rec.udp.late), (0, 2));
    assert_eq!(b.errors(ErrorKind::Timeout), 2);
    let Bench {
        session,
        shared,
        mut rec,
        ..
    } = b;
    session.close(&shared, &mut rec);
    assert_eq!(rec.udp.lost, 0, "lost + late = timeouts");
}

#[test]
fn a_second_reply_is_duplicated_and_an_older_one_reordered() {
    let mut b = bench(4);
    let first = b.send(0);
    let second = b.send(0);
    b.reply(&second, 1);
    b.reply(&first, 2);
    assert_eq!(
        (b.rec.ok, b.rec.udp.reordered),
        (2, 1),
        "reordered still succeeds"
    );
    b.reply(&first, 3);
    assert_eq!(b.rec.udp.duplicated, 1);
    assert_eq!(b.rec.error_count(), 0);
}

#[test]
fn strays_without_a_probe_or_never_sent_are_protocol_errors() {
    let mut b = bench(4);
    let d = b.send(0);
    b.reply(&d[..8], 1);
    let mut never = d.clone();
    never[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    b.reply(&never, 1);
    assert_eq!(b.errors(ErrorKind::Protocol), 2);
    b.reply(&d, 2);
    assert_eq!(b.rec.ok, 1, "the real reply still counts");
}

#[test]
fn a_changed_byte_is_a_mismatch() {
    let mut b = bench(4);
    let mut d = b.send(0);
    let last = d.len() - 1;
    d[last] = b'!';
    b.reply(&d, 1);
    assert_eq!((b.rec.ok, b.errors(ErrorKind::Mismatch)), (0, 1));
}

#[test]
fn send_and_receive_errors_fail_one_datagram_and_the_socket_goes_on() {
    let mut b = bench(4);
    let now = b.t0;
    b.session.poll_datagram(&b.shared, &mut b.rec, now).unwrap();
    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    b.session.send_failed(&refused, &mut b.rec);
    assert_eq!(b.errors(ErrorKind::Refused), 1);
    b.session.poll_datagram(&b.shared, &mut b.rec, now).unwrap();
    b.session.send_failed(
        &io::Error::from(io::ErrorKind::PermissionDenied),
        &mut b.rec,
    );
    assert_eq!(b.errors(ErrorKind::Send), 1);
    b.send(0);
    b.session.recv_failed(&refused, &mut b.rec);
    assert_eq!(
        b.errors(ErrorKind::Refused),
        2,
        "the oldest in flight takes it"
    );
    let d = b.send(1);
    b.reply(&d, 2);
    assert_eq!(b.rec.ok, 1);
}

#[test]
fn a_datagram_the_socket_could_not_take_is_offered_again() {
    let mut b = bench(4);
    let now = b.t0;
    let first = b
        .session
        .poll_datagram(&b.shared, &mut b.rec, now)
        .unwrap()
        .to_vec();
    let again = b
        .session
        .poll_datagram(&b.shared, &mut b.rec, now)
        .unwrap()
        .to_vec();
    assert_eq!(first, again, "WouldBlock: the same datagram, not a new one");
    b.session.sent(&mut b.rec);
    assert_eq!(b.rec.udp.sent, 1);
}
