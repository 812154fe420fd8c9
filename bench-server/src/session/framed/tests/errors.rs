//! Refused requests (error frame, counted at once, FIN, linger), the memory budget, and
//! the connection-ending rules: frame deadline, idle timeout, a peer closing mid-frame.

use super::*;
use crate::config::LARGE_BUFFER;

/// Bytes with a hand-made length prefix.
fn with_prefix(header_len: u32, rest: &[u8]) -> Vec<u8> {
    [&header_len.to_le_bytes()[..], rest].concat()
}

/// A frame whose header is the JSON text `json`.
fn raw_header(json: &str) -> Vec<u8> {
    with_prefix(json.len() as u32, json.as_bytes())
}

/// Every refused first request: its bytes, the id the error frame carries, the kind
/// counted and a word the message has.
fn refused() -> Vec<(&'static str, Vec<u8>, u64, ErrorKind, &'static str)> {
    let max = Limits::default();
    vec![
        (
            "short prefix",
            with_prefix(1, b"{"),
            0,
            ErrorKind::HeaderLenTooSmall,
            "minimum",
        ),
        (
            "long prefix",
            with_prefix(max.max_header + 1, b""),
            0,
            ErrorKind::HeaderLenTooLarge,
            "max_header",
        ),
        (
            "not json",
            raw_header("{nope"),
            0,
            ErrorKind::InvalidJson,
            "JSON",
        ),
        (
            "an array",
            raw_header("[1]"),
            0,
            ErrorKind::HeaderNotObject,
            "array",
        ),
        (
            "no total_size",
            raw_header(r#"{"cmd":"echo","id":7}"#),
            7,
            ErrorKind::BadHeaderField,
            "total_size",
        ),
        (
            "body too large",
            raw_header(&format!(
                r#"{{"cmd":"echo","id":5,"total_size":{}}}"#,
                max.max_body + 1
            )),
            5,
            ErrorKind::BodyTooLarge,
            "max_body",
        ),
        (
            "unknown",
            raw_header(r#"{"cmd":"frob","id":3,"total_size":0}"#),
            3,
            ErrorKind::UnknownCommand,
            "frob",
        ),
        (
            "no size",
            raw_header(r#"{"cmd":"generate","id":4,"total_size":0}"#),
            4,
            ErrorKind::BadArgument,
            "size",
        ),
        (
            "exec",
            request(CommandName::Exec, 2, b"ls"),
            2,
            ErrorKind::ExecDisabled,
            "--allow-exec",
        ),
    ]
}

/// Feeds `wire`; checks the failure is counted before the error frame goes out, the
/// error frame, then FIN. Leaves the session lingering.
fn assert_refused(
    s: &mut FramedSession,
    wire: &[u8],
    id: u64,
    kind: ErrorKind,
    word: &str,
    now: Instant,
) {
    feed(s, wire, now);
    match actions(s).as_slice() {
        [Action::Fail(f)] => {
            assert_eq!(f.kind, kind);
            assert!(f.message.contains(word), "{}", f.message);
        }
        other => panic!("expected Fail({kind:?}) first, got {other:?}"),
    }
    assert!(
        !s.wants_read(),
        "no read while the error frame is unwritten"
    );
    let (h, body) = response(&drain(s, now));
    assert_eq!((h.id, h.status, body.len()), (id, Status::Error, 0));
    assert!(h.error.unwrap().contains(word));
    assert!(
        matches!(actions(s).as_slice(), [Action::ShutdownWrite]),
        "FIN after the frame"
    );
    assert!(s.wants_read(), "lingering: reading and discarding");
    assert_eq!(s.take_served(), 0, "an error frame answers nothing");
}

#[test]
fn each_refused_request_gets_an_error_frame_then_a_linger_that_ends_at_eof() {
    let t0 = Instant::now();
    for (name, wire, id, kind, word) in refused() {
        let mut s = session(t0);
        assert_refused(&mut s, &wire, id, kind, word, t0);
        // What the peer still sends is discarded.
        let junk = vec![b'x'; 10_000];
        assert_eq!(feed(&mut s, &junk, t0), junk.len(), "{name}");
        assert!(
            s.outgoing().is_empty() && actions(&mut s).is_empty(),
            "{name}"
        );
        s.peer_closed(t0);
        assert_closed_cleanly(&mut s);
    }
}

#[test]
fn a_linger_ends_one_second_after_the_error_frame() {
    let t0 = Instant::now();
    for (name, wire, id, kind, word) in refused() {
        let mut s = session(t0);
        let written = t0 + SEC / 2;
        assert_refused(&mut s, &wire, id, kind, word, written);
        assert_eq!(s.poll_timeout(), Some(written + SEC), "{name}");
        s.handle_timeout(written + SEC / 2);
        assert!(actions(&mut s).is_empty(), "{name}: early");
        s.handle_timeout(written + SEC);
        assert_closed_cleanly(&mut s);
    }
}

#[test]
fn frames_pipelined_behind_a_bad_one_are_not_answered() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut wire = request(CommandName::Echo, 1, b"ok");
    wire.extend(raw_header(r#"{"cmd":"frob","id":2,"total_size":0}"#));
    wire.extend(request(CommandName::Echo, 3, b"never"));
    feed(&mut s, &wire, t0);
    let answers = responses(&drain(&mut s, t0));
    let got: Vec<(u64, Status)> = answers.iter().map(|(h, _)| (h.id, h.status)).collect();
    assert_eq!(got, [(1, Status::Ok), (2, Status::Error)]);
    assert_eq!(s.take_served(), 1);
}

#[test]
fn a_large_body_over_the_budget_is_refused_before_it_is_read() {
    let t0 = Instant::now();
    let budget = 3 * LARGE_BUFFER as u64;
    let (mut a, stats) = session_with(|c| c.max_buffered = budget, t0);
    let config = ServerConfig {
        max_buffered: budget,
        ..ServerConfig::default()
    };
    let mut b = FramedSession::new(Arc::new(config), stats.clone(), peer(), t0);
    let len = 2 * LARGE_BUFFER;
    let header = |id| request_with(RequestHeader::new(CommandName::Echo, id, len as u64), b"");
    // A's header: its body is budgeted before a byte of it arrives.
    feed(&mut a, &header(1), t0);
    assert_eq!(stats.snapshot().buffered_bytes, len as u64);
    assert!(actions(&mut a).is_empty() && a.wants_read());
    // B's does not fit beside it: refused with its id.
    assert_refused(
        &mut b,
        &header(2),
        2,
        ErrorKind::OverBudget,
        "--max-buffered",
        t0,
    );
    // A's body arrives, is echoed, and its share goes back after the reply.
    let body = vec![b'z'; len];
    assert_eq!(feed(&mut a, &body, t0), len);
    let (h, echoed) = response(&drain(&mut a, t0));
    assert_eq!((h.id, echoed.len()), (1, len));
    assert_eq!(stats.snapshot().buffered_bytes, 0);
}

#[test]
fn a_large_upper_copy_is_budgeted_too() {
    let t0 = Instant::now();
    let len = LARGE_BUFFER + 1;
    let (mut s, stats) = session_with(|c| c.max_buffered = len as u64 + 10, t0);
    // The body fits the budget; its uppercased copy does not fit beside it.
    let wire = request(CommandName::Upper, 3, &vec![b'a'; len]);
    assert_refused(
        &mut s,
        &wire,
        3,
        ErrorKind::OverBudget,
        "--max-buffered",
        t0,
    );
    assert_eq!(
        stats.snapshot().buffered_bytes,
        0,
        "given back when the linger starts"
    );
}

#[test]
fn the_budget_is_given_back_when_the_session_is_dropped_mid_request() {
    let t0 = Instant::now();
    let (mut s, stats) = session_with(|_| {}, t0);
    let len = 2 * LARGE_BUFFER as u64;
    feed(
        &mut s,
        &request_with(RequestHeader::new(CommandName::Echo, 1, len), b"abc"),
        t0,
    );
    assert_eq!(stats.snapshot().buffered_bytes, len);
    drop(s);
    assert_eq!(stats.snapshot().buffered_bytes, 0);
}

#[test]
fn a_frame_not_completed_within_the_frame_timeout_closes_with_slow_frame() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(|c| c.frame_timeout = Some(2 * SEC), t0);
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + 60 * SEC),
        "no frame: only the idle timeout"
    );
    let wire = request(CommandName::Echo, 1, b"slowly");
    feed(&mut s, &wire[..3], t0);
    assert_eq!(s.poll_timeout(), Some(t0 + 2 * SEC));
    // More bytes of the same frame do not move its deadline.
    feed(&mut s, &wire[3..6], t0 + SEC);
    assert_eq!(s.poll_timeout(), Some(t0 + 2 * SEC));
    s.handle_timeout(t0 + SEC);
    assert!(actions(&mut s).is_empty());
    s.handle_timeout(t0 + 2 * SEC);
    assert_closed_with(&mut s, ErrorKind::SlowFrame);
}

#[test]
fn the_frame_deadline_starts_again_for_each_frame_and_stops_at_a_boundary() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(|c| c.frame_timeout = Some(2 * SEC), t0);
    let first = request(CommandName::Echo, 1, b"a");
    let second = request(CommandName::Echo, 2, b"b");
    feed(&mut s, &first[..2], t0);
    // The first frame completes with half of the second behind it: the second's
    // deadline counts from when the reply was written.
    let t1 = t0 + SEC + SEC / 2;
    feed(&mut s, &[&first[2..], &second[..2]].concat(), t1);
    drain(&mut s, t1);
    assert_eq!(s.poll_timeout(), Some(t1 + 2 * SEC));
    feed(&mut s, &second[2..], t1);
    drain(&mut s, t1);
    assert_eq!(
        s.poll_timeout(),
        Some(t1 + 60 * SEC),
        "a boundary: no frame deadline"
    );
    s.handle_timeout(t1 + 30 * SEC);
    assert!(actions(&mut s).is_empty());
}

#[test]
fn no_progress_for_the_idle_timeout_closes_with_idle_timeout() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(|c| c.idle_timeout = Some(5 * SEC), t0);
    assert_eq!(s.poll_timeout(), Some(t0 + 5 * SEC));
    let t1 = t0 + 3 * SEC;
    feed(&mut s, &request(CommandName::Echo, 1, b"x"), t1);
    drain(&mut s, t1);
    s.handle_timeout(t0 + 5 * SEC);
    assert!(actions(&mut s).is_empty(), "progress moved the deadline");
    assert_eq!(s.poll_timeout(), Some(t1 + 5 * SEC));
    s.handle_timeout(t1 + 5 * SEC);
    assert_closed_with(&mut s, ErrorKind::IdleTimeout);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn a_peer_that_stops_reading_its_reply_idles_out() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(|c| c.idle_timeout = Some(5 * SEC), t0);
    feed(&mut s, &generate(1, 10_000_000), t0);
    s.wrote(1000, t0 + SEC);
    assert_eq!(s.poll_timeout(), Some(t0 + 6 * SEC));
    s.handle_timeout(t0 + 6 * SEC);
    assert_closed_with(&mut s, ErrorKind::IdleTimeout);
}

#[test]
fn a_peer_closing_mid_frame_is_truncated_and_at_a_boundary_is_clean() {
    let t0 = Instant::now();
    let wire = request(CommandName::Echo, 1, b"cut");
    let mut s = session(t0);
    feed(&mut s, &wire[..wire.len() - 1], t0);
    s.peer_closed(t0);
    assert_closed_with(&mut s, ErrorKind::Truncated);

    let mut s = session(t0);
    feed(&mut s, &wire, t0);
    drain(&mut s, t0);
    s.peer_closed(t0);
    assert_closed_cleanly(&mut s);
}
