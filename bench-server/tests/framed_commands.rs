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
    // Without --allow-exec, another word is an unknown command...
    let (h, _) = raw_call(&mut s, b"uname -a");
    assert_eq!(h.status, Status::Error);
    assert!(h.error.unwrap().contains("unknown command \"uname\""));
    assert_eq!(read_until_closed(&mut s), Ending::Closed(0));
    // ...and an explicit `exec` is refused, naming the flag.
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let (h, _) = raw_call(&mut s, b"exec uname -a");
    assert_eq!(h.status, Status::Error);
    assert!(h.error.unwrap().contains("--allow-exec"));
    assert_eq!(read_until_closed(&mut s), Ending::Closed(0));
    let stats = stop(server);
    assert_eq!(stats.error_count(ErrorKind::UnknownCommand), 1);
    assert_eq!(stats.error_count(ErrorKind::ExecDisabled), 1);
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

/// Whether any process's command line contains `needle` (reads /proc).
fn process_running(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(needle)
            })
            .unwrap_or(false)
    })
}

#[test]
fn exec_background_jobs_neither_delay_the_reply_nor_outlive_it() {
    let server = start_with(Proto::Framed, |c| c.allow_exec = true);
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    // A distinctive duration, so the check below finds only this test's process.
    let cmd = b"sleep 97.3125 & echo started";
    let started = std::time::Instant::now();
    let (h, body) = call(
        &mut s,
        json!({"cmd": "exec", "id": 1, "total_size": cmd.len()}),
        cmd,
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the reply waited {:?} for a background job",
        started.elapsed()
    );
    assert_eq!((h.status, h.exit_code), (Status::Ok, Some(0)));
    assert_eq!(body, b"started\n");
    assert!(
        eventually(std::time::Duration::from_secs(5), || !process_running(
            "sleep 97.3125"
        )),
        "the background job outlived the request"
    );
    assert_echo_works(&mut s, 2);
}

#[test]
fn large_request_bodies_arrive_whole() {
    let server = start_with(Proto::Framed, |_| {});
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    for (id, size) in [(1u64, 4 << 20), (2, (1 << 20) + 7), (3, 3 << 20)] {
        let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let cmd = if id == 2 { "upper" } else { "echo" };
        let (h, got) = call(
            &mut s,
            json!({"cmd": cmd, "id": id, "total_size": size}),
            &body,
        );
        assert_eq!((h.id, h.status), (id, Status::Ok));
        let want = if cmd == "upper" {
            body.to_ascii_uppercase()
        } else {
            body
        };
        assert!(got == want, "{size}-byte {cmd} came back different");
    }
    let stats = stop(server);
    assert_eq!(stats.requests, 3);
}

#[test]
fn limits_hold_exactly_at_the_boundary() {
    let server = start_with(Proto::Framed, |c| {
        c.limits.max_header = 64;
        c.limits.max_body = 1000;
    });
    let addr = server.addr(Proto::Framed).unwrap();
    // A header of exactly max_header bytes (padded with spaces) is accepted...
    let header_of = |len: usize| {
        let mut text = json!({"cmd": "echo", "id": 5, "total_size": 2}).to_string();
        text.insert_str(1, &" ".repeat(len - text.len()));
        assert_eq!(text.len(), len);
        let mut wire = with_prefix(len as u32, text.as_bytes());
        wire.extend_from_slice(b"ok");
        wire
    };
    let mut s = connect(addr);
    s.write_all(&header_of(64)).unwrap();
    let (h, body) = read_response(&mut s).unwrap().unwrap();
    assert_eq!((h.status, body.as_slice()), (Status::Ok, &b"ok"[..]));
    // ...one byte more is not.
    s.write_all(&header_of(65)).unwrap();
    let (h, _) = read_response(&mut s).unwrap().unwrap();
    assert_eq!(h.status, Status::Error);
    assert!(h.error.unwrap().contains("65"));

    // A body of exactly max_body is accepted, one byte more is not.
    let mut s = connect(addr);
    let (h, body) = call(
        &mut s,
        json!({"cmd": "echo", "id": 6, "total_size": 1000}),
        &[b'z'; 1000],
    );
    assert_eq!((h.status, body.len()), (Status::Ok, 1000));
    let (h, _) = call(
        &mut s,
        json!({"cmd": "generate", "id": 7, "size": 1000, "total_size": 0}),
        b"",
    );
    assert_eq!(h.status, Status::Ok);
    s.write_all(&frame(
        json!({"cmd": "echo", "id": 8, "total_size": 1001}),
        b"",
    ))
    .unwrap();
    let (h, _) = read_response(&mut s).unwrap().unwrap();
    assert_eq!((h.id, h.status), (8, Status::Error));
    let (h, _) = call(
        &mut connect(addr),
        json!({"cmd": "generate", "id": 9, "size": 1001, "total_size": 0}),
        b"",
    );
    assert_eq!((h.id, h.status), (9, Status::Error));
    let stats = stop(server);
    assert_eq!(stats.error_count(ErrorKind::HeaderLenTooLarge), 1);
    assert_eq!(stats.error_count(ErrorKind::BodyTooLarge), 1);
    assert_eq!(stats.error_count(ErrorKind::BadArgument), 1);
}

#[test]
fn tcp_echo_transform_upper_uppercases_ascii_only() {
    let server = start_with(Proto::TcpEcho, |c| c.transform = Transform::Upper);
    let mut s = connect(server.addr(Proto::TcpEcho).unwrap());
    let sent = "mixed Case, ümlaut, 0-9 and ~".as_bytes();
    s.write_all(sent).unwrap();
    let mut got = vec![0u8; sent.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, "MIXED CASE, üMLAUT, 0-9 AND ~".as_bytes());
}

#[test]
fn options_apply_to_listeners_made_elsewhere() {
    // A plain std listener: no TCP_NODELAY, kernel buffer sizes. The config's options
    // must still reach every accepted socket.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = test_config();
    config.socket.nodelay = true;
    config.socket.recv_buf = Some(300_000);
    let ep = bench_server::Endpoint::from_tcp(Proto::Framed, listener);
    let server = bench_server::spawn(vec![ep], config).unwrap();
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let socket = &server_stats(&mut s)["connection"]["socket"];
    assert_eq!(socket["nodelay"], true);
    // Linux reports twice the size set (its bookkeeping share).
    assert!(socket["recv_buf"].as_u64().unwrap() >= 300_000, "{socket}");

    // A TCP listener cannot serve udp-echo.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = bench_server::Endpoint::from_tcp(Proto::UdpEcho, listener);
    let err = bench_server::spawn(vec![ep], test_config()).unwrap_err();
    assert!(matches!(err, ServerError::UdpOnTcpListener { .. }), "{err}");
}

#[test]
fn a_udp_port_in_use_is_not_bound_twice() {
    let opts = bench_server::SocketOptions::default();
    let first = bench_server::Endpoint::bind(Proto::UdpEcho, "127.0.0.1:0".parse().unwrap(), &opts)
        .unwrap();
    let addr = first.local_addr().unwrap();
    let second = bench_server::Endpoint::bind(Proto::UdpEcho, addr, &opts);
    let err = second.expect_err("a second udp-echo bound the same port");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
