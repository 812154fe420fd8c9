//! The relay (`bench-server proxy`): TCP traffic through it is byte-exact for both
//! strategies with many concurrent connections, half-close travels both ways, a refusing
//! upstream closes clients promptly and is counted, UDP sessions keep clients apart,
//! expire and are bounded, and the binary listens, relays, stops and reports. Every
//! behaviour holds on both models: each test runs as `<test>::per_core` and
//! `<test>::async_model`.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bench_proto::{Decoder, Limits, RequestHeader, ResponseHeader, Status};
use bench_server::proxy::{
    Front, ProxyConfig, ProxyErrorKind, ProxyHandle, ProxyModel, ProxyProto, ProxySummary,
    Strategy, spawn_proxy,
};
use bench_server::{Endpoint, Proto, ServerHandle};
use common::*;

const STRATEGIES: [Strategy; 2] = [Strategy::Copy, Strategy::Splice];

/// Each test below takes the model it runs on; this makes it two tests,
/// `<test>::per_core` and `<test>::async_model`.
macro_rules! on_both_models {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[test]
            fn per_core() {
                super::$test(bench_server::proxy::ProxyModel::PerCore);
            }

            #[test]
            fn async_model() {
                super::$test(bench_server::proxy::ProxyModel::Async);
            }
        }
    )*};
}

on_both_models!(
    tcp_echo_is_byte_exact_through_both_strategies_with_50_connections,
    framed_traffic_is_byte_exact_through_both_strategies_with_50_connections,
    client_half_close_still_delivers_every_echoed_byte_then_eof,
    upstream_half_close_reaches_the_client_which_can_still_send,
    a_refusing_upstream_closes_clients_promptly_is_counted_and_recovers,
    udp_clients_get_only_their_own_replies,
    idle_udp_sessions_expire_and_the_next_datagram_opens_a_new_one,
    the_udp_session_bound_drops_new_clients_and_counts_them,
    binary_relays_tcp_stops_on_sigterm_and_writes_stats_json,
    binary_relays_udp_and_stops_on_sigint,
    an_upstream_that_never_answers_times_out_and_is_counted,
    a_udp_upstream_with_nothing_listening_is_counted_not_fatal,
    the_stop_lets_open_connections_relay_for_the_grace_period_then_cuts_them,
    a_front_listener_made_elsewhere_is_served_by_every_loop,
    connection_churn_is_relayed_connection_after_connection,
);

/// A relay config for tests on `model`: two threads, a short grace period, a 16 KiB
/// buffer (so messages larger than the buffer are easy to send).
fn relay_config(proto: ProxyProto, upstream: SocketAddr, model: ProxyModel) -> ProxyConfig {
    ProxyConfig {
        model,
        threads: 2,
        grace: Duration::from_secs(1),
        buffer: 16 * 1024,
        ..ProxyConfig::new(proto, upstream)
    }
}

/// Starts a relay on 127.0.0.1:0 with `config`.
fn start_proxy(config: ProxyConfig) -> ProxyHandle {
    let front = Front::bind(config.proto, "127.0.0.1:0".parse().unwrap()).unwrap();
    spawn_proxy(front, config).unwrap()
}

/// An upstream server of `proto` and a TCP relay on `model` in front of it using
/// `strategy`.
fn tcp_relay_to(
    proto: Proto,
    strategy: Strategy,
    model: ProxyModel,
) -> (ServerHandle, ProxyHandle) {
    let server = start_server(proto, test_config());
    let mut config = relay_config(ProxyProto::Tcp, server.addr(proto).unwrap(), model);
    config.strategy = strategy;
    (server, start_proxy(config))
}

/// `len` bytes that differ by `seed`, so a byte from the wrong place shows.
fn payload(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed * 7) % 251) as u8)
        .collect()
}

/// Writes `data` from a second thread, then shuts down the write half; reads until EOF
/// meanwhile (so neither side can block the other) and returns what was read.
fn send_then_read_to_eof(s: TcpStream, data: Vec<u8>) -> Vec<u8> {
    let mut writer = s.try_clone().unwrap();
    let sending = thread::spawn(move || {
        writer.write_all(&data).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    let mut reader = s;
    reader.read_to_end(&mut got).unwrap();
    sending.join().unwrap();
    got
}

/// Sizes for connection `i`: small, around the 16 KiB buffer and well above it.
fn sizes_for(i: usize) -> Vec<usize> {
    let all = [1, 7, 100, 4096, 16 * 1024, 16 * 1024 + 1, 70_000, 300_000];
    (0..3).map(|k| all[(i + k * 3) % all.len()]).collect()
}

fn assert_no_errors(summary: &ProxySummary) {
    let errors: u64 = summary.errors.values().sum();
    assert_eq!(errors, 0, "errors: {:?}", summary.errors);
}

fn tcp_echo_is_byte_exact_through_both_strategies_with_50_connections(model: ProxyModel) {
    for strategy in STRATEGIES {
        let (server, proxy) = tcp_relay_to(Proto::TcpEcho, strategy, model);
        let addr = proxy.addr();
        let sent_total: usize = thread::scope(|scope| {
            let clients: Vec<_> = (0..50)
                .map(|i| {
                    scope.spawn(move || {
                        let mut s = connect(addr);
                        // A few round trips first, then one large stream with half-close.
                        for (k, &len) in sizes_for(i).iter().take(2).enumerate() {
                            let msg = payload(len.min(4096), i * 10 + k);
                            assert_tcp_echo(&mut s, &msg);
                        }
                        let big = payload(sizes_for(i)[2], i);
                        let got = send_then_read_to_eof(s, big.clone());
                        assert!(got == big, "{strategy:?} connection {i}: echo differs");
                        big.len()
                            + sizes_for(i)
                                .iter()
                                .take(2)
                                .map(|&l| l.min(4096))
                                .sum::<usize>()
                    })
                })
                .collect();
            clients.into_iter().map(|c| c.join().unwrap()).sum()
        });
        let summary = proxy.stop().unwrap();
        assert_eq!(summary.connections, 50, "{strategy:?}");
        assert_eq!(summary.active, 0, "{strategy:?}");
        assert_eq!(summary.bytes_to_upstream, sent_total as u64, "{strategy:?}");
        assert_eq!(summary.bytes_to_client, sent_total as u64, "{strategy:?}");
        assert_no_errors(&summary);
        // One upstream connection per client connection.
        assert_eq!(stop(server).accepted, 50, "{strategy:?}");
    }
}

/// Framed echo requests of `sizes`, encoded back to back.
fn framed_requests(sizes: &[usize], seed: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut wire = Vec::new();
    let mut bodies = Vec::new();
    for (id, &len) in sizes.iter().enumerate() {
        let body = payload(len, seed + id);
        let header = RequestHeader::new(bench_proto::CommandName::Echo, id as u64, len as u64);
        bench_proto::encode_frame(&header, &body, &mut wire).unwrap();
        bodies.push(body);
    }
    (wire, bodies)
}

fn framed_traffic_is_byte_exact_through_both_strategies_with_50_connections(model: ProxyModel) {
    for strategy in STRATEGIES {
        let (server, proxy) = tcp_relay_to(Proto::Framed, strategy, model);
        let addr = proxy.addr();
        thread::scope(|scope| {
            for i in 0..50 {
                scope.spawn(move || {
                    let sizes = sizes_for(i);
                    let (wire, bodies) = framed_requests(&sizes, i);
                    // Every request pipelined at once, the responses decoded from
                    // whatever chunks the relay delivers.
                    let got = send_then_read_to_eof(connect(addr), wire);
                    let mut decoder = Decoder::<ResponseHeader>::new(Limits::default());
                    decoder.feed(&got);
                    for (id, body) in bodies.iter().enumerate() {
                        let frame = decoder.decode().unwrap().expect("a whole response");
                        assert_eq!(frame.header.id, id as u64, "{strategy:?} conn {i}");
                        assert_eq!(frame.header.status, Status::Ok, "{strategy:?} conn {i}");
                        assert!(frame.body == body.as_slice(), "{strategy:?} conn {i}: body");
                    }
                    assert!(decoder.decode().unwrap().is_none());
                    assert!(
                        decoder.at_frame_boundary(),
                        "{strategy:?} conn {i}: extra bytes"
                    );
                });
            }
        });
        let summary = proxy.stop().unwrap();
        assert_eq!(summary.connections, 50, "{strategy:?}");
        assert_no_errors(&summary);
        assert_eq!(stop(server).requests, 150, "{strategy:?}");
    }
}

fn client_half_close_still_delivers_every_echoed_byte_then_eof(model: ProxyModel) {
    for strategy in STRATEGIES {
        let (server, proxy) = tcp_relay_to(Proto::TcpEcho, strategy, model);
        let mut s = connect(proxy.addr());
        let msg = payload(200_000, 3);
        s.write_all(&msg[..1000]).unwrap();
        let mut first = vec![0u8; 1000];
        s.read_exact(&mut first).unwrap();
        assert_eq!(first, msg[..1000]);
        let rest = send_then_read_to_eof(s, msg[1000..].to_vec());
        assert!(
            rest == msg[1000..],
            "{strategy:?}: {} bytes back",
            rest.len()
        );
        let summary = proxy.stop().unwrap();
        assert_eq!(summary.bytes_to_client, 200_000, "{strategy:?}");
        assert_no_errors(&summary);
        stop(server);
    }
}

fn upstream_half_close_reaches_the_client_which_can_still_send(model: ProxyModel) {
    for strategy in STRATEGIES {
        // An upstream that greets, shuts down its write half, then counts what it reads.
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        let (received_tx, received) = mpsc::channel();
        let upstream_thread = thread::spawn(move || {
            let (mut s, _) = upstream.accept().unwrap();
            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            s.write_all(b"hello, then silence").unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            received_tx.send(got).unwrap();
        });
        let mut config = relay_config(ProxyProto::Tcp, upstream_addr, model);
        config.strategy = strategy;
        let proxy = start_proxy(config);

        let mut s = connect(proxy.addr());
        let mut greeting = Vec::new();
        s.read_to_end(&mut greeting).unwrap();
        assert_eq!(greeting, b"hello, then silence", "{strategy:?}");
        let msg = payload(100_000, 9);
        s.write_all(&msg).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let got = received.recv_timeout(IO_TIMEOUT).expect("upstream got EOF");
        assert!(got == msg, "{strategy:?}: upstream got {} bytes", got.len());
        upstream_thread.join().unwrap();
        assert_no_errors(&proxy.stop().unwrap());
    }
}

/// A TCP socket bound on 127.0.0.1 but not listening: connections to it are refused,
/// and nobody else can take its port until it listens (no free-port race).
fn bound_not_listening() -> (socket2::Socket, SocketAddr) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    (socket, addr)
}

fn a_refusing_upstream_closes_clients_promptly_is_counted_and_recovers(model: ProxyModel) {
    for strategy in STRATEGIES {
        let (reserved, upstream) = bound_not_listening();
        let mut config = relay_config(ProxyProto::Tcp, upstream, model);
        config.strategy = strategy;
        // Far longer than the bound below: a close that only came from the timeout fails.
        config.connect_timeout = Duration::from_secs(30);
        let proxy = start_proxy(config);

        for attempt in 0..3 {
            let started = Instant::now();
            let mut s = connect(proxy.addr());
            // The write may already fail if the relay has closed; either way it must end.
            let _ = s.write_all(b"anyone there?");
            let ending = read_until_closed(&mut s);
            let took = started.elapsed();
            assert!(
                matches!(ending, Ending::Closed(0) | Ending::Reset),
                "{strategy:?} attempt {attempt}: {ending:?}"
            );
            assert!(
                took < Duration::from_secs(5),
                "{strategy:?} attempt {attempt}: closed after {took:?}"
            );
        }
        assert!(
            eventually(IO_TIMEOUT, || {
                proxy.summary().error_count(ProxyErrorKind::UpstreamConnect) == 3
            }),
            "{strategy:?}: {:?}",
            proxy.summary().errors
        );

        // The upstream comes back on the same port: the relay serves again.
        reserved.listen(128).unwrap();
        let ep = Endpoint::from_tcp(Proto::TcpEcho, reserved.into());
        let server = bench_server::spawn(vec![ep], test_config()).unwrap();
        let mut s = connect(proxy.addr());
        assert_tcp_echo(&mut s, b"back again");
        drop(s);
        let summary = proxy.stop().unwrap();
        assert_eq!(summary.connections, 4, "{strategy:?}");
        assert_eq!(summary.error_count(ProxyErrorKind::UpstreamConnect), 3);
        stop(server);
    }
}

/// Many short connections one after another (each leaves a connect deadline behind in a
/// per-core loop, which the loop sweeps as they pile up).
fn connection_churn_is_relayed_connection_after_connection(model: ProxyModel) {
    let (server, proxy) = tcp_relay_to(Proto::TcpEcho, Strategy::Copy, model);
    for i in 0..300 {
        let mut s = connect(proxy.addr());
        assert_tcp_echo(&mut s, format!("connection {i}").as_bytes());
    }
    let summary = proxy.stop().unwrap();
    assert_eq!((summary.connections, summary.active), (300, 0));
    assert_no_errors(&summary);
    assert_eq!(stop(server).accepted, 300);
}

fn a_front_listener_made_elsewhere_is_served_by_every_loop(model: ProxyModel) {
    let server = start_server(Proto::TcpEcho, test_config());
    let config = relay_config(ProxyProto::Tcp, server.addr(Proto::TcpEcho).unwrap(), model);
    // No SO_REUSEPORT: the loops share this one listener.
    let front = Front::from(TcpListener::bind("127.0.0.1:0").unwrap());
    let proxy = spawn_proxy(front, config).unwrap();
    let addr = proxy.addr();
    thread::scope(|scope| {
        for i in 0..10 {
            scope.spawn(move || assert_tcp_echo(&mut connect(addr), &payload(5000, i)));
        }
    });
    let summary = proxy.stop().unwrap();
    assert_eq!((summary.connections, summary.active), (10, 0));
    assert_eq!(summary.bytes_to_client, 50_000);
    assert_no_errors(&summary);
    stop(server);
}

fn the_stop_lets_open_connections_relay_for_the_grace_period_then_cuts_them(model: ProxyModel) {
    let server = start_server(Proto::TcpEcho, test_config());
    let mut config = relay_config(ProxyProto::Tcp, server.addr(Proto::TcpEcho).unwrap(), model);
    config.grace = Duration::from_secs(2);
    let proxy = start_proxy(config);
    let addr = proxy.addr();
    let mut held = connect(addr);
    assert_tcp_echo(&mut held, b"before the stop");

    let stopping = thread::spawn(move || proxy.stop().unwrap());
    // The stop has begun once the front refuses new clients.
    assert!(
        eventually(IO_TIMEOUT, || TcpStream::connect(addr).is_err()),
        "the front still accepts"
    );
    assert_tcp_echo(&mut held, b"still relayed during the grace period");
    let ending = read_until_closed(&mut held);
    assert!(
        matches!(ending, Ending::Closed(0) | Ending::Reset),
        "{ending:?}"
    );
    let summary = stopping.join().unwrap();
    assert_eq!(summary.error_count(ProxyErrorKind::ShutdownCut), 1);
    assert_eq!(summary.active, 0);
    stop(server);
}

/// A UDP relay on `model` in front of a udp-echo server, with `change` applied to its
/// config.
fn udp_relay(
    model: ProxyModel,
    change: impl FnOnce(&mut ProxyConfig),
) -> (ServerHandle, ProxyHandle) {
    let server = start_server(Proto::UdpEcho, test_config());
    let mut config = relay_config(ProxyProto::Udp, server.addr(Proto::UdpEcho).unwrap(), model);
    change(&mut config);
    (server, start_proxy(config))
}

/// Sends `msg` and returns the reply, or `None` when none comes within `wait`.
fn udp_round_trip(s: &UdpSocket, msg: &[u8], wait: Duration) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(wait)).unwrap();
    s.send(msg).unwrap();
    let mut buf = vec![0u8; 70_000];
    match s.recv(&mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => panic!("udp receive: {e}"),
    }
}

fn udp_clients_get_only_their_own_replies(model: ProxyModel) {
    let (server, proxy) = udp_relay(model, |_| {});
    let addr = proxy.addr();
    let per_client = 300;
    thread::scope(|scope| {
        for name in ["alpha", "bravo"] {
            scope.spawn(move || {
                let s = udp_client(addr);
                for seq in 0..per_client {
                    let msg = format!("{name} {seq} {}", "x".repeat(seq % 100));
                    let reply = udp_round_trip(&s, msg.as_bytes(), IO_TIMEOUT)
                        .unwrap_or_else(|| panic!("{name} {seq}: no reply"));
                    assert_eq!(String::from_utf8(reply).unwrap(), msg);
                }
            });
        }
    });
    let summary = proxy.stop().unwrap();
    assert_eq!(summary.sessions_opened, 2);
    // Sessions ended by the stop are no longer active.
    assert_eq!(summary.active, 0);
    assert_eq!(summary.datagrams_to_upstream, 2 * per_client as u64);
    assert_eq!(summary.datagrams_to_client, 2 * per_client as u64);
    assert_eq!(summary.bytes_to_upstream, summary.bytes_to_client);
    assert_no_errors(&summary);
    stop(server);
}

fn idle_udp_sessions_expire_and_the_next_datagram_opens_a_new_one(model: ProxyModel) {
    let (server, proxy) = udp_relay(model, |c| {
        c.udp_session_timeout = Duration::from_millis(200)
    });
    let s = udp_client(proxy.addr());
    assert_eq!(udp_round_trip(&s, b"one", IO_TIMEOUT).unwrap(), b"one");
    assert!(
        eventually(IO_TIMEOUT, || proxy.summary().sessions_expired == 1),
        "{:?}",
        proxy.summary()
    );
    assert_eq!(proxy.summary().active, 0);
    assert_eq!(udp_round_trip(&s, b"two", IO_TIMEOUT).unwrap(), b"two");
    let summary = proxy.stop().unwrap();
    assert_eq!(summary.sessions_opened, 2);
    assert_eq!(summary.sessions_expired, 1);
    assert_no_errors(&summary);
    stop(server);
}

fn the_udp_session_bound_drops_new_clients_and_counts_them(model: ProxyModel) {
    let (server, proxy) = udp_relay(model, |c| {
        c.max_sessions = 2;
        c.udp_session_timeout = Duration::from_secs(2);
    });
    let clients: Vec<UdpSocket> = (0..3).map(|_| udp_client(proxy.addr())).collect();
    for (i, s) in clients[..2].iter().enumerate() {
        let msg = format!("client {i}");
        assert_eq!(
            udp_round_trip(s, msg.as_bytes(), IO_TIMEOUT).unwrap(),
            msg.as_bytes()
        );
    }
    let third = udp_round_trip(&clients[2], b"no room", Duration::from_millis(300));
    assert_eq!(third, None, "a third session beyond --max-sessions 2");
    let summary = proxy.summary();
    assert_eq!(summary.sessions_refused, 1);
    assert_eq!(summary.sessions_opened, 2);

    // Once the two sessions expire, the third client gets one.
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut served = false;
    while !served && Instant::now() < deadline {
        served = udp_round_trip(&clients[2], b"room now", Duration::from_millis(200)).is_some();
    }
    assert!(served, "{:?}", proxy.summary());
    // One expiry is enough to make room; on a loaded machine the other may come a turn
    // later (its own deadline), so wait for it rather than assume both went together.
    common::eventually(IO_TIMEOUT, || proxy.summary().sessions_expired >= 2);
    let summary = proxy.stop().unwrap();
    assert_eq!(summary.sessions_opened, 3);
    assert!(summary.sessions_expired >= 2, "{summary:?}");
    stop(server);
}

fn binary_relays_tcp_stops_on_sigterm_and_writes_stats_json(model: ProxyModel) {
    let upstream = start_server(Proto::TcpEcho, test_config());
    let dir = std::env::temp_dir().join(format!(
        "wirebench-proxy-{}-{}",
        std::process::id(),
        model.as_str()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let json_path = dir.join("proxy.json");
    let upstream_addr = upstream.addr(Proto::TcpEcho).unwrap().to_string();
    for strategy in ["copy", "splice"] {
        let proxy = Server::start(&[
            "proxy",
            "--upstream",
            &upstream_addr,
            "--bind",
            "127.0.0.1:0",
            "--strategy",
            strategy,
            "--model",
            model.as_str(),
            "--grace",
            "1s",
            "--stats-json",
            json_path.to_str().unwrap(),
        ]);
        let addr = proxy.listening("proxy-tcp");
        assert_tcp_echo(&mut connect(addr), b"through the relay");
        proxy.signal("TERM");
        let (status, out, err) = proxy.wait();
        assert!(status.success(), "{strategy}: {status}, stderr: {err}");
        assert!(
            out.contains(&format!(
                "proxy-tcp {addr} -> {upstream_addr}: 1 connections"
            )),
            "{strategy}: {out:?}"
        );
        let summary: ProxySummary =
            serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
        assert_eq!((summary.connections, summary.bytes_to_client), (1, 17));
        assert_eq!(summary.addr, addr);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    stop(upstream);
}

fn binary_relays_udp_and_stops_on_sigint(model: ProxyModel) {
    let upstream = start_server(Proto::UdpEcho, test_config());
    let upstream_addr = upstream.addr(Proto::UdpEcho).unwrap().to_string();
    let proxy = Server::start(&[
        "proxy",
        "--proto",
        "udp",
        "--upstream",
        &upstream_addr,
        "--bind",
        "127.0.0.1:0",
        "--udp-session-timeout",
        "500ms",
        "--model",
        model.as_str(),
    ]);
    let addr = proxy.listening("proxy-udp");
    let s = udp_client(addr);
    assert_eq!(
        udp_round_trip(&s, b"datagram", IO_TIMEOUT).unwrap(),
        b"datagram"
    );
    proxy.signal("INT");
    let (status, out, err) = proxy.wait();
    assert!(status.success(), "{status}, stderr: {err}");
    assert!(out.contains("1 sessions"), "{out:?}");
    stop(upstream);
}

#[test]
fn proxy_bad_flags_give_one_line_naming_the_value_and_exit_2() {
    let up = ["--upstream", "127.0.0.1:7001"];
    let cases: &[(&[&str], &str)] = &[
        (&["--strategy", "foo"], "foo"),
        (&["--buffer", "0"], "--buffer 0"),
        (&["--buffer", "1GiB"], "--buffer 1GiB"),
        (&["--buffer", "lots"], "lots"),
        (&["--proto", "sctp"], "sctp"),
        (&["--nodelay-front", "maybe"], "maybe"),
        (&["--nodelay-back", "perhaps"], "perhaps"),
        (&["--connect-timeout", "0s"], "--connect-timeout 0s"),
        (&["--udp-session-timeout", "soon"], "soon"),
        (&["--max-sessions", "0"], "--max-sessions 0"),
        (&["--threads", "0"], "--threads 0"),
        (&["--model", "threads"], "threads"),
        (&["--bind", "nowhere"], "nowhere"),
    ];
    for (extra, names) in cases {
        let mut args = vec!["proxy"];
        args.extend_from_slice(&up);
        args.extend_from_slice(extra);
        check_usage_error(&args, names);
    }
    check_usage_error(&["proxy", "--upstream", "nonsense"], "nonsense");
    check_usage_error(&["proxy", "--upstream", "127.0.0.1"], "127.0.0.1");
    check_usage_error(&["proxy"], "--upstream");
}

fn check_usage_error(args: &[&str], names: &str) {
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

/// A listener whose accept queue is full and never drained: further connects get no
/// answer (Linux drops their SYNs), which is what a hung upstream looks like.
fn silent_upstream() -> (socket2::Socket, Vec<TcpStream>) {
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => fillers.push(s),
            Err(_) => break,
        }
    }
    (listener, fillers)
}

fn an_upstream_that_never_answers_times_out_and_is_counted(model: ProxyModel) {
    let (listener, _fillers) = silent_upstream();
    let upstream = listener.local_addr().unwrap().as_socket().unwrap();
    let mut config = relay_config(ProxyProto::Tcp, upstream, model);
    config.connect_timeout = Duration::from_millis(300);
    let proxy = start_proxy(config);
    let started = Instant::now();
    let mut s = connect(proxy.addr());
    let ending = read_until_closed(&mut s);
    let took = started.elapsed();
    assert!(
        matches!(ending, Ending::Closed(0) | Ending::Reset),
        "{ending:?}"
    );
    // Not refused at once: the relay waited for its connect timeout, then gave up.
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "closed after {took:?}"
    );
    let summary = proxy.stop().unwrap();
    assert_eq!(summary.error_count(ProxyErrorKind::UpstreamConnect), 1);
}

fn a_udp_upstream_with_nothing_listening_is_counted_not_fatal(model: ProxyModel) {
    let upstream = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = start_proxy(relay_config(ProxyProto::Udp, upstream, model));
    let s = udp_client(proxy.addr());
    // The first datagram draws an ICMP port unreachable, reported on the session's
    // socket; later ones keep the relay going.
    assert!(
        eventually(IO_TIMEOUT, || {
            let _ = udp_round_trip(&s, b"hello?", Duration::from_millis(50));
            proxy
                .summary()
                .error_count(ProxyErrorKind::UpstreamUnreachable)
                > 0
        }),
        "{:?}",
        proxy.summary()
    );
    // The upstream comes back on that port: the same session now gets replies.
    let server = bench_server::spawn(
        vec![Endpoint::from_udp(UdpSocket::bind(upstream).unwrap())],
        test_config(),
    )
    .unwrap();
    let mut reply = None;
    for _ in 0..50 {
        reply = udp_round_trip(&s, b"back", Duration::from_millis(200));
        if reply.is_some() {
            break;
        }
    }
    assert_eq!(reply.as_deref(), Some(&b"back"[..]));
    assert_eq!(proxy.stop().unwrap().sessions_opened, 1);
    stop(server);
}
