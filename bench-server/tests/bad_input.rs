//! Bad input never crashes the server or hurts other connections: each malformed frame
//! gets an error frame while the response stream is still in sync, is counted under its
//! reason, and closes only its own connection.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bench_proto::Status;
use bench_server::{ErrorKind, Proto};
use common::*;
use serde_json::json;

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// The id the error frame must carry.
    id: u64,
    kind: ErrorKind,
    /// Must appear in the error message.
    mentions: &'static str,
}

fn cases() -> Vec<Case> {
    let header = |h: serde_json::Value| {
        let text = h.to_string();
        with_prefix(text.len() as u32, text.as_bytes())
    };
    vec![
        Case {
            name: "header length 0",
            bytes: with_prefix(0, b""),
            id: 0,
            kind: ErrorKind::HeaderLenTooSmall,
            mentions: "header length 0",
        },
        Case {
            name: "header length 1",
            bytes: with_prefix(1, b"{"),
            id: 0,
            kind: ErrorKind::HeaderLenTooSmall,
            mentions: "header length 1",
        },
        Case {
            // Only the prefix is sent: the server must answer without waiting for (or
            // reserving) the 4 GiB it announces.
            name: "header length above max_header",
            bytes: with_prefix(u32::MAX, b""),
            id: 0,
            kind: ErrorKind::HeaderLenTooLarge,
            mentions: "4294967295",
        },
        Case {
            name: "total_size above max_body",
            bytes: header(json!({"cmd": "echo", "id": 41, "total_size": 1u64 << 40})),
            id: 41,
            kind: ErrorKind::BodyTooLarge,
            mentions: "1099511627776",
        },
        Case {
            name: "invalid JSON",
            bytes: with_prefix(12, b"{\"cmd\": echo"),
            id: 0,
            kind: ErrorKind::InvalidJson,
            mentions: "not valid JSON",
        },
        Case {
            name: "JSON that is not an object",
            bytes: with_prefix(7, b"[1,2,3]"),
            id: 0,
            kind: ErrorKind::HeaderNotObject,
            mentions: "an array",
        },
        Case {
            name: "object missing total_size",
            bytes: header(json!({"cmd": "echo", "id": 8})),
            id: 8,
            kind: ErrorKind::BadHeaderField,
            mentions: "total_size",
        },
        Case {
            name: "unknown cmd",
            bytes: frame(json!({"cmd": "fly", "id": 9, "total_size": 2}), b"hi"),
            id: 9,
            kind: ErrorKind::UnknownCommand,
            mentions: "\"fly\"",
        },
        Case {
            name: "generate above max_body",
            bytes: frame(
                json!({"cmd": "generate", "id": 10, "total_size": 0, "size": 1u64 << 40}),
                b"",
            ),
            id: 10,
            kind: ErrorKind::BadArgument,
            mentions: "generate",
        },
        Case {
            name: "sleep without ms",
            bytes: frame(json!({"cmd": "sleep", "id": 11, "total_size": 0}), b""),
            id: 11,
            kind: ErrorKind::BadArgument,
            mentions: "ms",
        },
    ]
}

#[test]
fn malformed_frames_get_an_error_frame_are_counted_and_spare_other_connections() {
    let server = start_with(Proto::Framed, |_| {});
    let addr = server.addr(Proto::Framed).unwrap();
    let mut witness = connect(addr);
    assert_echo_works(&mut witness, 0);
    let cases = cases();
    for (i, case) in cases.iter().enumerate() {
        let mut s = connect(addr);
        s.write_all(&case.bytes).unwrap();
        let (h, body) = read_response(&mut s)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name))
            .unwrap_or_else(|| panic!("{}: closed without an error frame", case.name));
        assert_eq!(h.status, Status::Error, "{}", case.name);
        assert_eq!(h.id, case.id, "{}", case.name);
        let message = h.error.unwrap_or_default();
        assert!(
            message.contains(case.mentions),
            "{}: {message:?}",
            case.name
        );
        assert!(body.is_empty(), "{}", case.name);
        assert_eq!(
            read_until_closed(&mut s),
            Ending::Closed(0),
            "{}: then closed",
            case.name
        );
        // The server keeps serving others, on an old and on a new connection.
        assert_echo_works(&mut witness, i as u64 + 1);
        assert_echo_works(&mut connect(addr), 100);
    }
    drop(witness);
    let stats = stop(server);
    for kind in [
        ErrorKind::HeaderLenTooSmall,
        ErrorKind::HeaderLenTooLarge,
        ErrorKind::BodyTooLarge,
        ErrorKind::InvalidJson,
        ErrorKind::HeaderNotObject,
        ErrorKind::BadHeaderField,
        ErrorKind::UnknownCommand,
        ErrorKind::BadArgument,
    ] {
        let expected = cases.iter().filter(|c| c.kind == kind).count() as u64;
        assert_eq!(stats.error_count(kind), expected, "{}", kind.as_str());
    }
}

/// The live error counter `name` of the endpoint, via the `stats` command.
fn live_errors(s: &mut std::net::TcpStream, name: &str) -> u64 {
    server_stats(s)["endpoint"]["errors"][name]
        .as_u64()
        .unwrap()
}

#[test]
fn frame_truncated_by_the_peer_closing_is_counted() {
    let server = start_with(Proto::Framed, |_| {});
    let addr = server.addr(Proto::Framed).unwrap();
    let mut witness = connect(addr);
    let mut s = connect(addr);
    assert_echo_works(&mut s, 1);
    let whole = frame(
        json!({"cmd": "echo", "id": 2, "total_size": 100}),
        &[b'x'; 100],
    );
    s.write_all(&whole[..whole.len() / 2]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(
        read_until_closed(&mut s),
        Ending::Closed(0),
        "no reply to half a frame"
    );
    assert!(eventually(Duration::from_secs(5), || live_errors(
        &mut witness,
        "truncated"
    ) == 1));
    assert_echo_works(&mut witness, 3);
}

#[test]
fn peer_reset_mid_frame_is_counted() {
    let server = start_with(Proto::Framed, |_| {});
    let addr = server.addr(Proto::Framed).unwrap();
    let mut witness = connect(addr);
    let mut s = connect(addr);
    assert_echo_works(&mut s, 1);
    let whole = frame(
        json!({"cmd": "echo", "id": 2, "total_size": 100}),
        &[b'x'; 100],
    );
    let before = server.stats()[0].bytes_in;
    s.write_all(&whole[..10]).unwrap();
    // The reset comes once the server holds the partial frame.
    assert!(eventually(Duration::from_secs(30), || server.stats()[0]
        .bytes_in
        >= before + 10));
    // SO_LINGER 0: close() sends RST instead of FIN.
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    assert!(eventually(Duration::from_secs(5), || live_errors(
        &mut witness,
        "reset"
    ) == 1));
    assert_echo_works(&mut witness, 3);
}

#[test]
fn slow_dribbling_client_does_not_delay_a_fast_one() {
    let server = start_with(Proto::Framed, |_| {});
    let addr = server.addr(Proto::Framed).unwrap();
    let slow_done = Arc::new(AtomicBool::new(false));
    let slow = {
        let slow_done = Arc::clone(&slow_done);
        std::thread::spawn(move || {
            let mut s = connect(addr);
            let body = b"one byte at a time";
            let wire = frame(
                json!({"cmd": "upper", "id": 1, "total_size": body.len()}),
                body,
            );
            for byte in &wire {
                s.write_all(std::slice::from_ref(byte)).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
            slow_done.store(true, Ordering::SeqCst);
            read_response(&mut s).unwrap().unwrap()
        })
    };
    // The fast client starts once the slow one's first bytes have arrived.
    assert!(eventually(Duration::from_secs(30), || server.stats()[0]
        .bytes_in
        > 0));
    let mut fast = connect(addr);
    for id in 0..50 {
        assert_echo_works(&mut fast, id);
    }
    assert!(
        !slow_done.load(Ordering::SeqCst),
        "the fast client finished only after the slow one had sent everything"
    );
    let (h, body) = slow.join().unwrap();
    assert_eq!((h.id, body.as_slice()), (1, &b"ONE BYTE AT A TIME"[..]));
}

#[test]
fn connections_above_max_conns_are_refused_without_hurting_existing_ones() {
    let server = start_with(Proto::Framed, |c| c.max_conns = Some(3));
    let addr = server.addr(Proto::Framed).unwrap();
    let mut open: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    for (i, s) in open.iter_mut().enumerate() {
        assert_echo_works(s, i as u64);
    }
    let mut extra = connect(addr);
    let (h, _) = read_response(&mut extra).unwrap().expect("an error frame");
    assert_eq!(h.status, Status::Error);
    assert!(h.error.unwrap().contains("--max-conns"));
    assert_eq!(read_until_closed(&mut extra), Ending::Closed(0));
    for (i, s) in open.iter_mut().enumerate() {
        assert_echo_works(s, 10 + i as u64);
    }
    assert_eq!(live_errors(&mut open[0], "max_conns"), 1);
    // A slot freed is a slot available again.
    drop(open.pop());
    assert!(eventually(Duration::from_secs(5), || {
        server_stats(&mut open[0])["endpoint"]["active"] == 2
    }));
    assert_echo_works(&mut connect(addr), 20);
}

#[test]
fn tcp_echo_refuses_above_max_conns_by_closing() {
    let server = start_with(Proto::TcpEcho, |c| c.max_conns = Some(1));
    let addr = server.addr(Proto::TcpEcho).unwrap();
    let mut first = connect(addr);
    first.write_all(b"a").unwrap();
    let mut byte = [0u8; 1];
    std::io::Read::read_exact(&mut first, &mut byte).unwrap();
    let mut extra = connect(addr);
    assert!(matches!(
        read_until_closed(&mut extra),
        Ending::Closed(0) | Ending::Reset
    ));
    first.write_all(b"b").unwrap();
    std::io::Read::read_exact(&mut first, &mut byte).unwrap();
    assert_eq!(&byte, b"b");
    drop((first, extra));
    assert_eq!(stop(server).error_count(ErrorKind::MaxConns), 1);
}

#[test]
fn silent_clients_are_closed_at_the_idle_timeout_and_counted() {
    for proto in [Proto::TcpEcho, Proto::Framed] {
        let server = start_with(proto, |c| c.idle_timeout = Some(Duration::from_millis(300)));
        let addr = server.addr(proto).unwrap();
        let started = std::time::Instant::now();
        // Connects and sends nothing.
        let mut silent = connect(addr);
        // Sends part of a frame header and then nothing (a slowloris client).
        let mut stalled = connect(addr);
        stalled.write_all(&with_prefix(40, b"{\"cmd\"")).unwrap();
        assert_eq!(
            read_until_closed(&mut silent),
            Ending::Closed(0),
            "{proto:?}"
        );
        assert!(
            matches!(
                read_until_closed(&mut stalled),
                Ending::Closed(_) | Ending::Reset
            ),
            "{proto:?}"
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
            "{proto:?}: closed after {waited:?}, idle timeout 300ms"
        );
        // A client that keeps talking is never idle, and others are unaffected.
        let mut busy = connect(addr);
        for i in 0..8 {
            std::thread::sleep(Duration::from_millis(60));
            assert_serves(proto, &mut busy, i);
        }
        drop(busy);
        let stats = stop(server);
        assert_eq!(stats.error_count(ErrorKind::IdleTimeout), 2, "{proto:?}");
    }
}

#[test]
fn a_refused_connection_does_not_hold_a_slot() {
    let server = start_with(Proto::Framed, |c| c.max_conns = Some(2));
    let addr = server.addr(Proto::Framed).unwrap();
    let mut witness = connect(addr);
    let mut a = connect(addr);
    assert_echo_works(&mut witness, 1);
    assert_echo_works(&mut a, 2);
    // Refused, and left open without reading: its refusal lingers for a while.
    let refused = connect(addr);
    assert!(eventually(Duration::from_secs(5), || live_errors(
        &mut witness,
        "max_conns"
    ) == 1));
    drop(a);
    // The freed slot is free at once, not after the refusal has finished lingering.
    assert!(
        eventually(
            Duration::from_millis(800),
            || server_stats(&mut witness)["endpoint"]["active"] == 1
        ),
        "the refused connection still counts as open"
    );
    assert_echo_works(&mut connect(addr), 3);
    drop(refused);
    assert_eq!(live_errors(&mut witness, "max_conns"), 1);
}
