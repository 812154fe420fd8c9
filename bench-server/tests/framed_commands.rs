//! The framed command set against a real server on 127.0.0.1:0: every built-in command,
//! both write modes, `--transform upper`, `exec` behind `--allow-exec`, and the raw
//! request mode that old tutorial clients speak.

mod common;

use std::io::{Read, Write};

use bench_proto::command::generate_byte;
use bench_proto::{Status, codec::PREFIX_LEN};
use bench_server::{ErrorKind, Proto, RequestMode, ServerError, Transform, WriteMode};
use common::*;
use serde_json::json;

#[test]
fn echo_upper_discard_return_what_they_promise() {
    let server = start_with(Proto::Framed, |_| {});
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let (h, body) = call(
        &mut s,
        json!({"cmd": "echo", "id": 1, "total_size": 11}),
        b"Hello, 123!",
    );
    assert_eq!(
        (h.id, h.status, body.as_slice()),
        (1, Status::Ok, &b"Hello, 123!"[..])
    );
    let (h, body) = call(
        &mut s,
        json!({"cmd": "upper", "id": 2, "total_size": 11}),
        b"Hello, 123!",
    );
    assert_eq!((h.id, body.as_slice()), (2, &b"HELLO, 123!"[..]));
    let (h, body) = call(
        &mut s,
        json!({"cmd": "discard", "id": 3, "total_size": 4}),
        b"gone",
    );
    assert_eq!((h.id, h.total_size, body.len()), (3, 0, 0));
    let (h, body) = call(
        &mut s,
        json!({"cmd": "echo", "id": 4, "total_size": 0}),
        b"",
    );
    assert_eq!((h.id, h.status, body.len()), (4, Status::Ok, 0));
    drop(s);
    let stats = stop(server);
    assert_eq!(stats.requests, 4);
    assert!(stats.errors.values().all(|&n| n == 0), "{:?}", stats.errors);
}

#[test]
fn transform_upper_uppercases_echo() {
    let server = start_with(Proto::Framed, |c| c.transform = Transform::Upper);
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let (_, body) = call(
        &mut s,
        json!({"cmd": "echo", "id": 1, "total_size": 9}),
        b"abc xyz 9",
    );
    assert_eq!(body, b"ABC XYZ 9");
}

#[test]
fn generate_one_mebibyte_arrives_whole_when_read_in_small_pieces() {
    let server = start_with(Proto::Framed, |_| {});
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let size = 1 << 20;
    s.write_all(&frame(
        json!({"cmd": "generate", "id": 7, "total_size": 0, "size": size}),
        b"",
    ))
    .unwrap();
    // Read the whole frame 100 bytes at a time, decoding by hand.
    let mut wire = Vec::new();
    let mut piece = [0u8; 100];
    let mut expected_len = None;
    while expected_len != Some(wire.len()) {
        let n = s.read(&mut piece).unwrap();
        assert!(n > 0, "server closed after {} bytes", wire.len());
        wire.extend_from_slice(&piece[..n]);
        if expected_len.is_none() && wire.len() >= PREFIX_LEN {
            let hlen = u32::from_le_bytes(wire[..4].try_into().unwrap()) as usize;
            if wire.len() >= PREFIX_LEN + hlen {
                let h: serde_json::Value = serde_json::from_slice(&wire[4..4 + hlen]).unwrap();
                assert_eq!(h["status"], "ok");
                assert_eq!(h["id"], 7);
                assert_eq!(h["total_size"], size);
                expected_len = Some(PREFIX_LEN + hlen + size);
            }
        }
    }
    let hlen = u32::from_le_bytes(wire[..4].try_into().unwrap()) as usize;
    let body = &wire[PREFIX_LEN + hlen..];
    assert_eq!(body.len(), size);
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, &b)| b == generate_byte(i as u64)),
        "generate body is not the documented pattern"
    );
}

#[test]
fn sleep_waits_then_answers_empty() {
    let server = start_with(Proto::Framed, |_| {});
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let started = std::time::Instant::now();
    let (h, body) = call(
        &mut s,
        json!({"cmd": "sleep", "id": 5, "total_size": 0, "ms": 50}),
        b"",
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(50));
    assert_eq!((h.id, h.status, body.len()), (5, Status::Ok, 0));
}

#[test]
fn stats_reports_counters_and_the_socket_options_read_back() {
    for nodelay in [true, false] {
        let server = start_with(Proto::Framed, |c| c.socket.nodelay = nodelay);
        let mut s = connect(server.addr(Proto::Framed).unwrap());
        assert_echo_works(&mut s, 1);
        let stats = server_stats(&mut s);
        assert_eq!(stats["endpoint"]["proto"], "framed");
        assert_eq!(stats["endpoint"]["requests"], 1);
        assert_eq!(stats["endpoint"]["active"], 1);
        assert_eq!(
            stats["connection"]["peer"],
            s.local_addr().unwrap().to_string()
        );
        assert_eq!(
            stats["connection"]["socket"]["nodelay"], nodelay,
            "nodelay={nodelay}"
        );
        assert!(stats["connection"]["socket"]["recv_buf"].as_u64().unwrap() > 0);
    }
}

#[test]
fn buffer_sizes_reach_accepted_sockets() {
    let server = start_with(Proto::Framed, |c| {
        c.socket.recv_buf = Some(64 * 1024);
        c.socket.send_buf = Some(96 * 1024);
    });
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let stats = server_stats(&mut s);
    // Linux doubles SO_RCVBUF/SO_SNDBUF for bookkeeping; other kernels report the value.
    let recv = stats["connection"]["socket"]["recv_buf"].as_u64().unwrap();
    let send = stats["connection"]["socket"]["send_buf"].as_u64().unwrap();
    assert!(recv == 64 * 1024 || recv == 128 * 1024, "recv_buf {recv}");
    assert!(send == 96 * 1024 || send == 192 * 1024, "send_buf {send}");
}

#[test]
fn split_write_mode_sends_the_same_frames() {
    let server = start_with(Proto::Framed, |c| c.write_mode = WriteMode::Split);
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    for id in 0..20 {
        assert_echo_works(&mut s, id);
    }
    let (h, body) = call(
        &mut s,
        json!({"cmd": "discard", "id": 99, "total_size": 3}),
        b"abc",
    );
    assert_eq!((h.id, body.len()), (99, 0));
}

#[test]
fn exec_is_refused_without_allow_exec() {
    let server = start_with(Proto::Framed, |_| {});
    let addr = server.addr(Proto::Framed).unwrap();
    let mut s = connect(addr);
    let (h, body) = call(
        &mut s,
        json!({"cmd": "exec", "id": 3, "total_size": 5}),
        b"id -u",
    );
    assert_eq!(h.status, Status::Error);
    assert_eq!(h.id, 3);
    assert!(h.error.unwrap().contains("--allow-exec"));
    assert!(body.is_empty());
    assert_eq!(read_until_closed(&mut s), Ending::Closed(0));
    assert_echo_works(&mut connect(addr), 1);
    assert_eq!(stop(server).error_count(ErrorKind::ExecDisabled), 1);
}

#[test]
fn exec_runs_shell_commands_with_stdout_and_stderr() {
    let server = start_with(Proto::Framed, |c| c.allow_exec = true);
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let cmd = b"echo out; echo err >&2; exit 3";
    let (h, body) = call(
        &mut s,
        json!({"cmd": "exec", "id": 1, "total_size": cmd.len()}),
        cmd,
    );
    assert_eq!(h.status, Status::Ok);
    assert_eq!(h.exit_code, Some(3));
    assert_eq!(h.truncated, Some(false));
    assert_eq!(String::from_utf8(body).unwrap(), "out\nerr\n");
}

#[test]
fn exec_output_is_cut_at_max_body() {
    let server = start_with(Proto::Framed, |c| {
        c.allow_exec = true;
        c.limits.max_body = 1000;
    });
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let cmd = b"head -c 5000 /dev/zero";
    let (h, body) = call(
        &mut s,
        json!({"cmd": "exec", "id": 1, "total_size": cmd.len()}),
        cmd,
    );
    assert_eq!(h.truncated, Some(true));
    assert_eq!(body.len(), 1000);
}

#[test]
fn allow_exec_is_refused_on_a_non_loopback_bind() {
    let mut config = test_config();
    config.allow_exec = true;
    let ep =
        bench_server::Endpoint::bind(Proto::Framed, "0.0.0.0:0".parse().unwrap(), &config.socket)
            .unwrap();
    let err = bench_server::spawn(vec![ep], config).unwrap_err();
    assert!(
        matches!(err, ServerError::ExecNeedsLoopback { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--allow-exec"), "{err}");
}

/// Sends one raw command line and reads the framed reply.
fn raw_call(s: &mut std::net::TcpStream, line: &[u8]) -> (bench_proto::ResponseHeader, Vec<u8>) {
    s.write_all(line).unwrap();
    read_response(s).unwrap().expect("a framed reply")
}

#[test]
fn raw_mode_takes_one_command_line_per_read() {
    let server = start_with(Proto::Framed, |c| c.requests = RequestMode::Raw);
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let (h, body) = raw_call(&mut s, b"upper hello");
    assert_eq!(
        (h.id, h.status, body.as_slice()),
        (1, Status::Ok, &b"HELLO"[..])
    );
    let (h, body) = raw_call(&mut s, b"generate 100000\n");
    assert_eq!((h.id, body.len()), (2, 100_000));
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, &b)| b == generate_byte(i as u64))
    );
    let (h, body) = raw_call(&mut s, b"echo as is");
    assert_eq!((h.id, body.as_slice()), (3, &b"as is"[..]));
    // Anything else is a shell command, refused without --allow-exec.
    let (h, _) = raw_call(&mut s, b"uname -a");
    assert_eq!(h.status, Status::Error);
    assert!(h.error.unwrap().contains("--allow-exec"));
    assert_eq!(read_until_closed(&mut s), Ending::Closed(0));
}

#[test]
fn raw_mode_runs_shell_commands_with_allow_exec() {
    let server = start_with(Proto::Framed, |c| {
        c.requests = RequestMode::Raw;
        c.allow_exec = true;
    });
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let (h, body) = raw_call(&mut s, b"echo tutorial");
    assert_eq!(body, b"tutorial", "builtin echo wins over the shell");
    assert_eq!(h.exit_code, None);
    let (h, body) = raw_call(&mut s, b"printf '%s' shell-ran");
    assert_eq!((h.status, h.exit_code), (Status::Ok, Some(0)));
    assert_eq!(body, b"shell-ran");
}

#[test]
fn raw_mode_bad_argument_gets_an_error_frame() {
    let server = start_with(Proto::Framed, |c| c.requests = RequestMode::Raw);
    let addr = server.addr(Proto::Framed).unwrap();
    let mut s = connect(addr);
    let (h, _) = raw_call(&mut s, b"generate lots");
    assert_eq!(h.status, Status::Error);
    assert!(h.error.unwrap().contains("size"));
    assert_eq!(stop(server).error_count(ErrorKind::BadArgument), 1);
}
