//! `--requests raw`: one read is one command line, answered with a response frame;
//! ids count 1, 2, 3...

use super::*;
use crate::config::RequestMode;
use bench_proto::command::generate_byte;

fn raw_session(allow_exec: bool, now: Instant) -> FramedSession {
    session_with(
        |c| {
            c.requests = RequestMode::Raw;
            c.allow_exec = allow_exec;
        },
        now,
    )
    .0
}

/// One read of `line`, and the reply to it.
fn raw_call(s: &mut FramedSession, line: &[u8], now: Instant) -> (ResponseHeader, Vec<u8>) {
    let buf = s.read_buf();
    buf[..line.len()].copy_from_slice(line);
    s.filled(line.len(), now);
    response(&drain(s, now))
}

#[test]
fn each_read_is_one_command_with_ids_counting_up() {
    let t0 = Instant::now();
    let mut s = raw_session(false, t0);
    assert_eq!(s.read_buf().len(), super::super::RAW_READ);
    let (h, body) = raw_call(&mut s, b"echo hello world\n", t0);
    assert_eq!((h.id, body.as_slice()), (1, &b"hello world"[..]));
    let (h, body) = raw_call(&mut s, b"upper abc\r\n", t0);
    assert_eq!((h.id, body.as_slice()), (2, &b"ABC"[..]));
    let (h, body) = raw_call(&mut s, b"generate 30", t0);
    let pattern: Vec<u8> = (0..30).map(generate_byte).collect();
    assert_eq!((h.id, body), (3, pattern));
    let (h, body) = raw_call(&mut s, b"discard stuff", t0);
    assert_eq!((h.id, body.len()), (4, 0));
    assert_eq!(s.take_served(), 4);
    assert!(s.wants_read() && s.at_boundary());
}

#[test]
fn raw_sleep_and_stats_wait_like_framed_ones() {
    let t0 = Instant::now();
    let mut s = raw_session(false, t0);
    s.read_buf()[..8].copy_from_slice(b"sleep 50");
    s.filled(8, t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(50)));
    s.handle_timeout(t0 + SEC);
    assert_eq!(response(&drain(&mut s, t0 + SEC)).0.id, 1);
    s.read_buf()[..5].copy_from_slice(b"stats");
    s.filled(5, t0);
    assert!(matches!(actions(&mut s).as_slice(), [Action::Stats]));
}

#[test]
fn an_unknown_raw_command_gets_an_error_frame_and_a_linger() {
    let t0 = Instant::now();
    let mut s = raw_session(false, t0);
    raw_call(&mut s, b"echo fine", t0);
    s.read_buf()[..5].copy_from_slice(b"ls -l");
    s.filled(5, t0);
    match actions(&mut s).as_slice() {
        [Action::Fail(f)] => assert_eq!(f.kind, ErrorKind::UnknownCommand),
        other => panic!("expected Fail(unknown_command), got {other:?}"),
    }
    let (h, _) = response(&drain(&mut s, t0));
    assert_eq!((h.id, h.status), (2, Status::Error));
    assert!(matches!(
        actions(&mut s).as_slice(),
        [Action::ShutdownWrite]
    ));
    s.handle_timeout(t0 + SEC);
    assert_closed_cleanly(&mut s);
}

#[test]
fn raw_exec_is_refused_without_allow_exec_and_a_shell_line_with_it() {
    let t0 = Instant::now();
    let mut s = raw_session(false, t0);
    s.read_buf()[..13].copy_from_slice(b"exec uname -a");
    s.filled(13, t0);
    match actions(&mut s).as_slice() {
        [Action::Fail(f)] => assert_eq!(f.kind, ErrorKind::ExecDisabled),
        other => panic!("expected Fail(exec_disabled), got {other:?}"),
    }

    let mut s = raw_session(true, t0);
    s.read_buf()[..6].copy_from_slice(b"ls -l\n");
    s.filled(6, t0);
    match actions(&mut s).as_slice() {
        [Action::Exec { line, .. }] => assert_eq!(line, b"ls -l"),
        other => panic!("expected Exec, got {other:?}"),
    }
}

#[test]
fn a_raw_connection_stops_at_once_between_commands_and_after_one_under_way() {
    let t0 = Instant::now();
    let mut idle = raw_session(false, t0);
    idle.stop(t0);
    assert_closed_cleanly(&mut idle);

    let mut busy = raw_session(false, t0);
    busy.read_buf()[..9].copy_from_slice(b"echo last");
    busy.filled(9, t0);
    busy.stop(t0);
    assert!(actions(&mut busy).is_empty() && !busy.at_boundary());
    assert_eq!(response(&drain(&mut busy, t0)).1, b"last");
    assert_closed_cleanly(&mut busy);
}

#[test]
fn a_raw_peer_closing_is_never_truncated() {
    let t0 = Instant::now();
    let mut s = raw_session(false, t0);
    s.peer_closed(t0);
    assert_closed_cleanly(&mut s);
}

#[test]
fn a_raw_connection_idles_out_but_has_no_frame_deadline() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(
        |c| {
            c.requests = RequestMode::Raw;
            c.idle_timeout = Some(5 * SEC);
            c.frame_timeout = Some(SEC);
        },
        t0,
    );
    assert_eq!(s.poll_timeout(), Some(t0 + 5 * SEC));
    s.handle_timeout(t0 + 5 * SEC);
    assert_closed_with(&mut s, ErrorKind::IdleTimeout);
}
