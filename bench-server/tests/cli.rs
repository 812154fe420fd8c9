//! The `bench-server` binary end to end: the `listening on` lines, real traffic, SIGTERM
//! and SIGINT stops with the summary and `--stats-json`, and one-line errors with exit
//! code 2 for bad flags.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use bench_server::proxy::ProxySummary;
use bench_server::{Proto, ServerSummary};
use common::*;
use serde_json::json;

fn udp_once(addr: SocketAddr, msg: &[u8]) {
    let s = udp_client(addr);
    s.send(msg).unwrap();
    let mut got = vec![0u8; msg.len() + 1];
    let n = s.recv(&mut got).unwrap();
    assert_eq!(&got[..n], msg);
}

#[test]
fn each_subcommand_listens_serves_and_stops_on_sigterm() {
    for (sub, proto) in [
        ("tcp-echo", "tcp-echo"),
        ("udp-echo", "udp-echo"),
        ("framed", "framed"),
    ] {
        let server = Server::start(&[sub, "--bind", "127.0.0.1:0", "--grace", "1s"]);
        let addr = server.listening(proto);
        match sub {
            "tcp-echo" => assert_tcp_echo(&mut connect(addr), b"hello over tcp"),
            "udp-echo" => udp_once(addr, b"hello over udp"),
            _ => assert_echo_works(&mut connect(addr), 7),
        }
        server.signal("TERM");
        let (status, out, err) = server.wait();
        assert!(status.success(), "{sub}: {status}, stderr: {err}");
        assert!(out.contains("uptime"), "{sub}: no summary in {out:?}");
        assert!(
            out.contains(&format!("{proto} {addr}: ")) && out.contains(", 1 requests,"),
            "{sub}: summary does not count the request: {out:?}"
        );
    }
}

#[test]
fn all_binds_three_consecutive_ports_and_writes_stats_json_on_sigint() {
    let dir = std::env::temp_dir().join(format!("wirebench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("stats.json");
    let server = Server::start(&[
        "all",
        "--bind",
        "127.0.0.1:0",
        "--stats-json",
        json_path.to_str().unwrap(),
    ]);
    let tcp = server.listening("tcp-echo");
    let udp = server.listening("udp-echo");
    let framed = server.listening("framed");
    assert_eq!(udp.port(), tcp.port() + 1);
    assert_eq!(framed.port(), tcp.port() + 2);
    assert_tcp_echo(&mut connect(tcp), b"abc");
    udp_once(udp, b"defg");
    let mut s = connect(framed);
    assert_echo_works(&mut s, 1);
    assert_echo_works(&mut s, 2);
    drop(s);

    server.signal("INT");
    let (status, _, err) = server.wait();
    assert!(status.success(), "{status}, stderr: {err}");
    let summary: ServerSummary =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let requests: Vec<(String, u64)> = summary
        .endpoints
        .iter()
        .map(|e| (e.addr.to_string(), e.requests))
        .collect();
    assert_eq!(
        requests,
        [
            (tcp.to_string(), 1),
            (udp.to_string(), 1),
            (framed.to_string(), 2)
        ]
    );
    assert_eq!(summary.endpoints[1].bytes_in, 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nodelay_flag_reaches_accepted_sockets() {
    for (flag, want) in [("on", true), ("off", false)] {
        let server = Server::start(&["framed", "--bind", "127.0.0.1:0", "--nodelay", flag]);
        let mut s = connect(server.listening("framed"));
        let stats = server_stats(&mut s);
        assert_eq!(
            stats["connection"]["socket"]["nodelay"], want,
            "--nodelay {flag}"
        );
    }
}

#[test]
fn options_change_behaviour_through_the_binary() {
    let server = Server::start(&[
        "framed",
        "--bind",
        "127.0.0.1:0",
        "--max-frame",
        "1KiB",
        "--transform",
        "upper",
    ]);
    let mut s = connect(server.listening("framed"));
    let (h, body) = call(
        &mut s,
        json!({"cmd": "echo", "id": 1, "total_size": 5}),
        b"shout",
    );
    assert_eq!(
        (h.status, body.as_slice()),
        (bench_proto::Status::Ok, &b"SHOUT"[..])
    );
    let (h, _) = call(
        &mut s,
        json!({"cmd": "generate", "id": 2, "size": 2048, "total_size": 0}),
        b"",
    );
    assert_eq!(
        h.status,
        bench_proto::Status::Error,
        "2 KiB over --max-frame 1KiB"
    );
}

#[test]
fn bad_flags_give_one_line_naming_the_value_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["tcp-echo", "--bind", "nowhere:1"], "nowhere:1"),
        (&["tcp-echo", "--threads", "0"], "--threads 0"),
        (&["tcp-echo", "--threads", "many"], "many"),
        (&["framed", "--max-conns", "0"], "--max-conns 0"),
        (&["framed", "--idle-timeout", "soon"], "soon"),
        (&["framed", "--idle-timeout", "0s"], "0s"),
        (&["framed", "--max-frame", "12XB"], "12XB"),
        (&["framed", "--max-header", "1B"], "1B"),
        (&["tcp-echo", "--recv-buf", "0B"], "--recv-buf 0B"),
        (&["tcp-echo", "--send-buf", "3GiB"], "--send-buf 3GiB"),
        (&["tcp-echo", "--model", "forked"], "forked"),
        (&["tcp-echo", "--nodelay", "maybe"], "maybe"),
        (&["tcp-echo", "--transform", "lower"], "lower"),
        (&["framed", "--write-mode", "batched"], "batched"),
        (&["framed", "--requests", "lines"], "lines"),
        (&["framed", "--grace", "-1s"], "-1s"),
        (&["tcp-echo", "--threads", "-1"], "-1"),
        (&["framed", "--max-frame", "-5B"], "-5B"),
        (&["tcp-echo", "--no-such-flag"], "--no-such-flag"),
        (&["framed", "--max-buffered", "0B"], "--max-buffered 0B"),
        (&["framed", "--frame-timeout", "0s"], "--frame-timeout 0s"),
        (&["framed", "--frame-timeout", "soon"], "soon"),
        // Framed-only flags are refused where they would be ignored.
        (&["tcp-echo", "--write-mode", "split"], "--write-mode"),
        (&["tcp-echo", "--max-frame", "1KiB"], "--max-frame"),
        (&["tcp-echo", "--requests", "raw"], "--requests"),
        (&["udp-echo", "--allow-exec"], "--allow-exec"),
        (&["udp-echo", "--max-header", "1KiB"], "--max-header"),
        (&["tcp-echo", "--max-buffered", "1MiB"], "--max-buffered"),
        (&["tcp-echo", "--frame-timeout", "1s"], "--frame-timeout"),
        (&["gopher"], "gopher"),
        // Impairments: bad specs, shaping with splice (on either model), the wrong
        // transport.
        (
            &[
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--impair",
                "up:latency=5ms",
                "--model",
                "async",
                "--strategy",
                "splice",
            ],
            "latency=5ms with --strategy splice",
        ),
        (
            &[
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--impair",
                "up:loss=1%",
            ],
            "--proto tcp",
        ),
        (
            &[
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--impair",
                "reset=after:1KiB",
                "--proto",
                "udp",
            ],
            "--proto udp",
        ),
        (
            &[
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--impair",
                "reorder=5%",
            ],
            "reorder=5%",
        ),
        (
            &[
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--impair",
                "up:latency=5ms",
                "--strategy",
                "splice",
            ],
            "latency=5ms with --strategy splice",
        ),
        (
            &[
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--impair",
                "close-slowly=1s",
                "--proto",
                "udp",
            ],
            "close-slowly",
        ),
        (
            &[
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--impair",
                "rate=fast",
            ],
            "rate=fast",
        ),
        (
            &["proxy", "--upstream", "127.0.0.1:1", "--impair", "slice=0B"],
            "slice=0B",
        ),
        (
            &[
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--impair",
                "stall=after:x",
            ],
            "stall=after:x",
        ),
        (
            &[
                "proxy",
                "--upstream",
                "127.0.0.1:1",
                "--impair",
                "loss=101%",
            ],
            "loss=101%",
        ),
    ];
    for (args, names) in cases {
        let (code, out, err) = run_failing(args);
        assert_eq!(code, Some(2), "{args:?}: stderr {err:?}");
        assert!(out.is_empty(), "{args:?}: printed {out:?}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: not one line: {err:?}");
        assert!(
            lines[0].starts_with("bench-server: error: ") && lines[0].contains(names),
            "{args:?}: {:?} does not name {names:?}",
            lines[0]
        );
    }
}

#[test]
fn the_async_relay_shapes_tcp_and_counts_it_in_its_stats_json() {
    let upstream = start_server(Proto::TcpEcho, test_config());
    let upstream_addr = upstream.addr(Proto::TcpEcho).unwrap().to_string();
    let dir = std::env::temp_dir().join(format!("wirebench-cli-shape-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("relay.json");
    let relay = Server::start(&[
        "proxy",
        "--model",
        "async",
        "--upstream",
        &upstream_addr,
        "--bind",
        "127.0.0.1:0",
        "--impair",
        "up:latency=5ms",
        "--impair",
        "down:slice=4B",
        "--seed",
        "3",
        "--grace",
        "1s",
        "--stats-json",
        json_path.to_str().unwrap(),
    ]);
    let addr = relay.listening("proxy-tcp");
    assert_tcp_echo(&mut connect(addr), b"hello over tcp");
    relay.signal("TERM");
    let (status, _, err) = relay.wait();
    assert!(status.success(), "{status}, stderr: {err}");
    let summary: ProxySummary =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(summary.bytes_to_client, 14, "{summary:?}");
    // The request was held on the way up; the 14 B reply went down in 4 B slices.
    let done = summary.impaired;
    assert!(done.delayed >= 1 && done.delayed_bytes >= 14, "{done:?}");
    assert!(done.sliced >= 4, "{done:?}");
    std::fs::remove_dir_all(&dir).unwrap();
    stop(upstream);
}

#[test]
fn runtime_failures_exit_non_zero_without_listening() {
    // Exec on an address other machines can reach is refused before anything listens.
    let (code, out, err) = run_failing(&["framed", "--bind", "0.0.0.0:0", "--allow-exec"]);
    assert_eq!(code, Some(1));
    assert!(!out.contains("listening"), "{out:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.contains("--allow-exec") && err.contains("0.0.0.0"),
        "{err:?}"
    );

    // A port already taken is named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, out, err) = run_failing(&["tcp-echo", "--bind", &addr]);
    assert_eq!(code, Some(1));
    assert!(!out.contains("listening"), "{out:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains(&addr), "{err:?} does not name {addr}");
    // The OS error once, not once per layer of context.
    assert_eq!(err.matches("(os error").count(), 1, "{err:?}");
    assert_eq!(err.matches("in use").count(), 1, "{err:?}");
}

#[test]
fn bind_resolves_a_host_name() {
    let server = Server::start(&["tcp-echo", "--bind", "localhost:0"]);
    let addr = server.listening("tcp-echo");
    assert!(addr.ip().is_loopback(), "{addr}");
    let mut s = connect(addr);
    assert_tcp_echo(&mut s, b"by name");
}

#[test]
fn framed_only_flags_are_accepted_where_framed_runs() {
    let server = Server::start(&["all", "--bind", "127.0.0.1:0", "--write-mode", "split"]);
    server.listening("tcp-echo");
    server.listening("udp-echo");
    let addr = server.listening("framed");
    assert_echo_works(&mut connect(addr), 1);
}

#[test]
fn help_exits_zero() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in ["tcp-echo", "udp-echo", "framed", "all", "proxy"] {
        assert!(text.contains(sub), "--help does not list {sub}");
    }
    let out = Command::new(BIN)
        .args(["framed", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("--allow-exec")
    );
}

#[test]
fn a_flood_of_refused_connections_logs_a_few_lines_not_one_each() {
    let server = Server::start(&["framed", "--bind", "127.0.0.1:0", "--max-conns", "1"]);
    let addr = server.listening("framed");
    let mut kept = connect(addr);
    assert_echo_works(&mut kept, 1);
    for _ in 0..200 {
        let mut refused = connect(addr);
        let (h, _) = read_response(&mut refused)
            .unwrap()
            .expect("a refusal frame");
        assert_eq!(h.status, bench_proto::Status::Error);
    }
    server.signal("INT");
    let (status, out, err) = server.wait();
    assert!(status.success(), "{err}");
    assert!(
        out.contains("max_conns=200"),
        "every refusal is counted: {out}"
    );
    let lines = err.lines().filter(|l| l.contains("refused")).count();
    // One a second at most: the flood takes a few seconds even on a busy machine.
    assert!((1..20).contains(&lines), "{lines} refusal lines: {err}");
}

#[test]
fn bad_udp_rate_specs_give_one_line_naming_the_value() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "udp",
            "down:rate=10Mbit,queue=lots",
            "expected a queue size",
        ),
        ("udp", "rate=10Mbit,depth=8KiB", "expected a rate"),
        ("udp", "up:rate=10Mbit,burst=0B", "expected a burst"),
        (
            "tcp",
            "up:rate=10Mbit,queue=8KiB",
            "rate queue=8KiB (UDP only)",
        ),
    ];
    for &(proto, spec, why) in cases {
        let args = [
            "proxy",
            "--proto",
            proto,
            "--upstream",
            "127.0.0.1:1",
            "--impair",
            spec,
        ];
        let (code, out, err) = run_failing(&args);
        assert_eq!(code, Some(2), "{spec}: stderr {err:?}");
        assert!(out.is_empty(), "{spec}: printed {out:?}");
        assert_eq!(err.lines().count(), 1, "{spec}: not one line: {err:?}");
        let names = if why.contains("UDP only") { why } else { spec };
        assert!(err.contains(names) && err.contains(why), "{spec}: {err:?}");
    }
}

#[test]
fn a_udp_relay_paces_replies_to_its_rate_and_its_summary_says_so() {
    let upstream = Server::start(&["udp-echo", "--bind", "127.0.0.1:0"]);
    let upstream_addr = upstream.listening("udp-echo").to_string();
    // 1,000 B/s with a 1 KiB bucket: the second 1 KiB reply waits about a second.
    let proxy = Server::start(&[
        "proxy",
        "--proto",
        "udp",
        "--upstream",
        &upstream_addr,
        "--bind",
        "127.0.0.1:0",
        "--impair",
        "down:rate=8Kbit,burst=1KiB,queue=8KiB",
    ]);
    let s = udp_client(proxy.listening("proxy-udp"));
    let datagram = vec![7u8; 1024];
    s.send(&datagram).unwrap();
    s.send(&datagram).unwrap();
    let mut got = vec![0u8; 2048];
    for _ in 0..2 {
        assert_eq!(s.recv(&mut got).unwrap(), 1024);
    }
    proxy.signal("INT");
    let (status, out, err) = proxy.wait();
    assert!(status.success(), "{status}, stderr: {err}");
    assert!(out.contains("impaired: throttled=1"), "{out:?}");
    upstream.signal("INT");
    upstream.wait();
}
