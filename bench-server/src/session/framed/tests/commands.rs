//! Each command's reply, and the commands that wait: `sleep` (a deadline), `stats` and
//! `exec` (actions the driver carries out).

use super::*;
use crate::config::Transform;
use crate::protocol::exec::ExecOutcome;
use crate::session::{ExecResult, StatsInfo};
use bench_proto::command::generate_byte;

/// Feeds one request and writes its reply.
fn call(s: &mut FramedSession, wire: &[u8], now: Instant) -> (ResponseHeader, Vec<u8>) {
    feed(s, wire, now);
    response(&drain(s, now))
}

#[test]
fn the_data_commands_answer_with_their_bodies() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let echo = call(&mut s, &request(CommandName::Echo, 1, b"Hi there"), t0);
    assert_eq!((echo.0.id, echo.1.as_slice()), (1, &b"Hi there"[..]));
    let upper = call(&mut s, &request(CommandName::Upper, 2, b"Hi there"), t0);
    assert_eq!((upper.0.id, upper.1.as_slice()), (2, &b"HI THERE"[..]));
    let discard = call(&mut s, &request(CommandName::Discard, 3, b"gone"), t0);
    assert_eq!((discard.0.total_size, discard.1.len()), (0, 0));
    let generated = call(&mut s, &generate(4, 100), t0);
    let pattern: Vec<u8> = (0..100).map(generate_byte).collect();
    assert_eq!(generated.1, pattern);
    for (h, _) in [echo, upper, discard, generated] {
        assert_eq!(
            (h.status, h.error, h.exit_code, h.truncated),
            (Status::Ok, None, None, None)
        );
    }
    assert_eq!(s.take_served(), 4);
}

#[test]
fn echo_under_transform_upper_uppercases() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(|c| c.transform = Transform::Upper, t0);
    let (_, body) = call(&mut s, &request(CommandName::Echo, 1, b"abc"), t0);
    assert_eq!(body, b"ABC");
}

#[test]
fn an_empty_echo_is_an_empty_reply() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let (h, body) = call(&mut s, &request(CommandName::Echo, 9, b""), t0);
    assert_eq!((h.id, h.total_size, body.len()), (9, 0, 0));
}

#[test]
fn sleep_answers_when_its_deadline_is_reached_and_not_before() {
    let t0 = Instant::now();
    let mut s = session(t0);
    feed(&mut s, &sleep(3, 250), t0);
    let due = t0 + Duration::from_millis(250);
    assert_eq!(s.poll_timeout(), Some(due));
    assert!(!s.wants_read() && s.outgoing().is_empty() && !s.at_boundary());
    s.handle_timeout(due - Duration::from_millis(1));
    assert!(s.outgoing().is_empty(), "early: nothing yet");
    s.handle_timeout(due);
    let (h, body) = response(&drain(&mut s, due));
    assert_eq!((h.id, h.status, body.len()), (3, Status::Ok, 0));
    assert!(s.wants_read());
    assert_eq!(s.take_served(), 1);
}

#[test]
fn a_long_sleep_does_not_idle_the_connection_out() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(|c| c.idle_timeout = Some(SEC), t0);
    feed(&mut s, &sleep(1, 5_000), t0);
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + 5 * SEC),
        "the sleep, not the idle timeout"
    );
    s.handle_timeout(t0 + 5 * SEC);
    assert!(actions(&mut s).is_empty());
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + 6 * SEC),
        "idle counts from the reply"
    );
    drain(&mut s, t0 + 5 * SEC);
    assert_eq!(s.take_served(), 1);
}

#[test]
fn stats_asks_the_driver_and_answers_with_endpoint_and_connection() {
    let t0 = Instant::now();
    let (mut s, stats) = session_with(|_| {}, t0);
    feed(&mut s, &request(CommandName::Stats, 4, b""), t0);
    assert!(matches!(actions(&mut s).as_slice(), [Action::Stats]));
    assert!(!s.wants_read() && s.outgoing().is_empty() && !s.at_boundary());
    assert_eq!(s.poll_timeout(), None);
    let info = StatsInfo {
        endpoint: stats.snapshot(),
        socket: None,
    };
    s.stats_done(info, t0);
    let (h, body) = response(&drain(&mut s, t0));
    assert_eq!((h.id, h.status), (4, Status::Ok));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["endpoint"]["proto"], "framed");
    assert_eq!(json["connection"]["peer"], peer().to_string());
    assert!(json["connection"]["socket"].is_null());
    assert_eq!(s.take_served(), 1);
}

#[test]
fn exec_lends_its_buffer_to_the_driver_and_answers_with_the_output() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(|c| c.allow_exec = true, t0);
    feed(&mut s, &request(CommandName::Exec, 8, b"echo hi"), t0);
    let mut taken = actions(&mut s);
    let Some(Action::Exec {
        line,
        mut output,
        max_output,
    }) = taken.pop()
    else {
        panic!("expected an exec action, got {taken:?}");
    };
    assert_eq!(
        (line.as_slice(), max_output),
        (&b"echo hi"[..], 16 * 1024 * 1024)
    );
    assert!(!s.wants_read() && !s.at_boundary());
    output.clear();
    output.extend_from_slice(b"hi\n");
    let outcome = Ok(ExecOutcome {
        exit_code: Some(0),
        truncated: false,
    });
    s.exec_done(ExecResult { output, outcome }, t0);
    let (h, body) = response(&drain(&mut s, t0));
    assert_eq!((h.id, h.exit_code, h.truncated), (8, Some(0), Some(false)));
    assert_eq!(body, b"hi\n");
    assert_eq!(s.take_served(), 1);
}

#[test]
fn exec_killed_by_a_signal_has_no_exit_code_and_a_cut_output_says_so() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(|c| c.allow_exec = true, t0);
    feed(&mut s, &request(CommandName::Exec, 2, b"yes"), t0);
    actions(&mut s);
    let outcome = Ok(ExecOutcome {
        exit_code: None,
        truncated: true,
    });
    s.exec_done(
        ExecResult {
            output: b"y\ny\n".to_vec(),
            outcome,
        },
        t0,
    );
    let (h, body) = response(&drain(&mut s, t0));
    assert_eq!(
        (h.exit_code, h.truncated, body.len()),
        (None, Some(true), 4)
    );
}

#[test]
fn an_exec_that_could_not_run_is_an_error_frame_counted_as_exec_failed() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(|c| c.allow_exec = true, t0);
    feed(&mut s, &request(CommandName::Exec, 6, b"sleep 100"), t0);
    actions(&mut s);
    let outcome = Err("exec: still running after 30s, killed".to_owned());
    s.exec_done(
        ExecResult {
            output: Vec::new(),
            outcome,
        },
        t0,
    );
    match actions(&mut s).as_slice() {
        [Action::Fail(f)] => assert_eq!(f.kind, ErrorKind::ExecFailed),
        other => panic!("expected Fail(exec_failed), got {other:?}"),
    }
    let (h, _) = response(&drain(&mut s, t0));
    assert_eq!((h.id, h.status), (6, Status::Error));
    assert!(h.error.unwrap().contains("killed"));
    assert!(matches!(
        actions(&mut s).as_slice(),
        [Action::ShutdownWrite]
    ));
}
