//! Unit tests of [`super::FramedSession`], without sockets or sleeps: bytes go in
//! through `read_buf`/`filled`, come out through `outgoing`/`wrote`, and time moves by
//! passing `t0 + duration`. The helpers here play the driver.

mod commands;
mod errors;
mod raw;
mod serving;
mod stop;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench_proto::{
    CommandName, Decoder, Limits, RequestHeader, ResponseHeader, Status, encode_frame,
};

use super::FramedSession;
use crate::config::{Proto, ServerConfig};
use crate::session::{Action, Failure, Session};
use crate::stats::{ErrorKind, Stats};

/// The peer every test session talks to.
fn peer() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

/// A session with the test defaults changed by `change`, and its endpoint's counters.
fn session_with(
    change: impl FnOnce(&mut ServerConfig),
    now: Instant,
) -> (FramedSession, Arc<Stats>) {
    let mut config = ServerConfig {
        threads: 1,
        ..ServerConfig::default()
    };
    change(&mut config);
    let stats = Arc::new(Stats::new(Proto::Framed, "127.0.0.1:9000".parse().unwrap()));
    let session = FramedSession::new(Arc::new(config), stats.clone(), peer(), now);
    (session, stats)
}

/// A session with the default configuration.
fn session(now: Instant) -> FramedSession {
    session_with(|_| {}, now).0
}

/// A request frame.
fn request(cmd: CommandName, id: u64, body: &[u8]) -> Vec<u8> {
    request_with(RequestHeader::new(cmd, id, body.len() as u64), body)
}

/// A request frame with a hand-made header.
fn request_with(header: RequestHeader, body: &[u8]) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(&header, body, &mut wire).unwrap();
    wire
}

/// `generate` of `size` bytes.
fn generate(id: u64, size: u64) -> Vec<u8> {
    let mut header = RequestHeader::new(CommandName::Generate, id, 0);
    header.size = Some(size);
    request_with(header, b"")
}

/// `sleep` of `ms`.
fn sleep(id: u64, ms: u64) -> Vec<u8> {
    let mut header = RequestHeader::new(CommandName::Sleep, id, 0);
    header.ms = Some(ms);
    request_with(header, b"")
}

/// Reads `bytes` into the session, in reads as large as its buffer offers, while it
/// wants to read; returns how many it took.
fn feed(s: &mut FramedSession, bytes: &[u8], now: Instant) -> usize {
    let mut taken = 0;
    for _ in 0..10_000 {
        if taken == bytes.len() || !s.wants_read() {
            break;
        }
        let buf = s.read_buf();
        let n = buf.len().min(bytes.len() - taken);
        assert!(n > 0, "read_buf is empty while the session wants to read");
        buf[..n].copy_from_slice(&bytes[taken..taken + n]);
        s.filled(n, now);
        taken += n;
    }
    taken
}

/// The bytes of one `outgoing()`, without writing them.
fn peek(s: &FramedSession) -> Vec<u8> {
    s.outgoing()
        .as_slices()
        .iter()
        .flat_map(|slice| slice.iter().copied())
        .collect()
}

/// Writes everything the session hands out, `chunk` bytes at most per write (a short
/// write when less), until it has nothing more.
fn drain_in(s: &mut FramedSession, chunk: usize, now: Instant) -> Vec<u8> {
    let mut wire = Vec::new();
    for _ in 0..1_000_000 {
        let out = peek(s);
        if out.is_empty() {
            break;
        }
        let n = out.len().min(chunk);
        wire.extend_from_slice(&out[..n]);
        s.wrote(n, now);
    }
    wire
}

/// Writes everything the session hands out, whole `outgoing()`s at a time.
fn drain(s: &mut FramedSession, now: Instant) -> Vec<u8> {
    drain_in(s, usize::MAX, now)
}

/// The response frames in `wire`, each whole.
fn responses(wire: &[u8]) -> Vec<(ResponseHeader, Vec<u8>)> {
    let mut decoder = Decoder::<ResponseHeader>::new(Limits {
        max_header: 1 << 20,
        max_body: 1 << 30,
    });
    decoder.feed(wire);
    let mut out = Vec::new();
    while let Some(frame) = decoder.decode().expect("the session writes valid frames") {
        out.push((frame.header, frame.body.to_vec()));
    }
    assert!(decoder.at_frame_boundary(), "a response frame was cut");
    out
}

/// The one response frame in `wire`.
fn response(wire: &[u8]) -> (ResponseHeader, Vec<u8>) {
    let mut all = responses(wire);
    assert_eq!(all.len(), 1, "expected one response");
    all.pop().unwrap()
}

/// Every action queued now.
fn actions(s: &mut FramedSession) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).take(100).collect()
}

/// Asserts the queued actions are exactly a clean close.
fn assert_closed_cleanly(s: &mut FramedSession) {
    match actions(s).as_slice() {
        [Action::Close(None)] => {}
        other => panic!("expected Close(None), got {other:?}"),
    }
    assert!(!s.wants_read() && s.outgoing().is_empty());
    assert_eq!(s.poll_timeout(), None);
}

/// Asserts the queued actions are exactly a close counting `kind`.
fn assert_closed_with(s: &mut FramedSession, kind: ErrorKind) {
    match actions(s).as_slice() {
        [Action::Close(Some(Failure { kind: k, .. }))] if *k == kind => {}
        other => panic!("expected Close({kind:?}), got {other:?}"),
    }
    assert!(!s.wants_read() && s.outgoing().is_empty());
}

/// Asserts `s` answered with an `ok` reply to `id` carrying `body`.
fn assert_ok(wire: &[u8], id: u64, body: &[u8]) {
    let (h, got) = response(wire);
    assert_eq!((h.id, h.status), (id, Status::Ok), "{h:?}");
    assert_eq!(h.total_size, body.len() as u64);
    assert_eq!(got, body);
}

/// One second, for readable deadlines.
const SEC: Duration = Duration::from_secs(1);
