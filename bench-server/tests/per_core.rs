//! The `per-core` model's own behaviour: connections spread over its loops are all
//! answered, a udp-echo flood is answered on every loop's socket, the stop closes idle
//! connections at once and cuts one stuck mid-echo after the grace period, and
//! `max_conns` refuses without holding up the loop (framed clients get an error
//! frame), a frame half-received at the stop is finished or cut at the grace, and a
//! `sleep` or `exec` on one connection does not hold up the others on its loop.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use bench_proto::Status;
use bench_server::{ErrorKind, Model, Proto, ServerConfig, ServerHandle};
use common::*;
use serde_json::json;

/// [`test_config`] on the per-core model with `threads` loops.
fn per_core(threads: usize) -> impl FnOnce(&mut ServerConfig) {
    move |c| {
        c.model = Model::PerCore;
        c.threads = threads;
    }
}

fn start(proto: Proto, threads: usize, change: impl FnOnce(&mut ServerConfig)) -> ServerHandle {
    start_with(proto, |c| {
        per_core(threads)(c);
        change(c);
    })
}

#[test]
fn many_connections_over_two_loops_are_all_answered() {
    const CONNS: usize = 64;
    let server = start(Proto::TcpEcho, 2, |_| {});
    let addr = server.addr(Proto::TcpEcho).unwrap();
    // All open at once, served in turns: with two SO_REUSEPORT listeners the kernel
    // hands some to each loop, and every one must be answered, whichever it is.
    let mut conns: Vec<_> = (0..CONNS).map(|_| connect(addr)).collect();
    for round in 0..5 {
        for (i, s) in conns.iter_mut().enumerate() {
            assert_tcp_echo(s, format!("conn {i} round {round}").as_bytes());
        }
    }
    drop(conns);
    let stats = stop(server);
    assert_eq!(stats.accepted, CONNS as u64);
    assert_eq!(stats.requests, 5 * CONNS as u64);
    assert_eq!(stats.errors.values().sum::<u64>(), 0, "{:?}", stats.errors);
}

#[test]
fn a_udp_flood_from_many_peers_is_answered_on_every_loops_socket() {
    // The kernel spreads peers over the two SO_REUSEPORT sockets by address hash: with
    // 32 peers, both sockets get some (all on one: odds of 2 in 4 billion), so a loop
    // that did not serve its socket leaves about half the peers unanswered.
    const PEERS: usize = 32;
    const EACH: usize = 40;
    let server = start(Proto::UdpEcho, 2, |_| {});
    let addr = server.addr(Proto::UdpEcho).unwrap();
    let peers: Vec<_> = (0..PEERS)
        .map(|p| {
            std::thread::spawn(move || {
                let s = udp_client(addr);
                let mut buf = [0u8; 64];
                for m in 0..EACH {
                    let msg = format!("peer {p} datagram {m}");
                    s.send(msg.as_bytes()).unwrap();
                    let n = s.recv(&mut buf).unwrap_or_else(|e| {
                        panic!("peer {p} datagram {m}: no echo: {e}");
                    });
                    assert_eq!(&buf[..n], msg.as_bytes());
                }
            })
        })
        .collect();
    for p in peers {
        p.join().expect("a peer went unanswered");
    }
    let stats = stop(server);
    assert_eq!(stats.requests, (PEERS * EACH) as u64);
    assert_eq!(stats.errors.values().sum::<u64>(), 0, "{:?}", stats.errors);
}

/// Starts a client on `addr` that writes far more than the buffers hold and never
/// reads, so the server's echo stalls mid-write. Waits until it has: bytes are read
/// but not all written back, and the count stays put from one look to the next.
fn stall_an_echo(server: &ServerHandle, addr: SocketAddr) -> std::net::TcpStream {
    let s = connect(addr);
    let mut writer = s.try_clone().unwrap();
    std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        // Ends with an error when the server cuts the connection, or at the timeout.
        for _ in 0..1024 {
            if writer.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let mut last_out = u64::MAX;
    let stalled = eventually(Duration::from_secs(30), || {
        let st = &server.stats()[0];
        let stuck = st.bytes_in > st.bytes_out && st.bytes_out == last_out;
        last_out = st.bytes_out;
        stuck
    });
    assert!(stalled, "the echo never stalled: {:?}", server.stats());
    s
}

#[test]
fn the_stop_closes_idle_connections_at_once_and_cuts_a_stalled_echo_at_the_grace() {
    let server = start(Proto::TcpEcho, 1, |c| {
        c.grace = Duration::from_millis(300);
        // Small buffers: the stall comes after a few KiB, not megabytes.
        c.socket.send_buf = Some(16 * 1024);
        c.socket.recv_buf = Some(16 * 1024);
    });
    let addr = server.addr(Proto::TcpEcho).unwrap();
    let mut idle = connect(addr);
    assert_tcp_echo(&mut idle, b"hello");
    let _stalled = stall_an_echo(&server, addr);
    let stats = stop(server);
    assert_eq!(read_until_closed(&mut idle), Ending::Closed(0));
    assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 1, "{stats:?}");
    assert_eq!(stats.active, 0);
}

#[test]
fn max_conns_refuses_the_next_connection_while_the_open_one_keeps_working() {
    let server = start(Proto::TcpEcho, 1, |c| c.max_conns = Some(1));
    let addr = server.addr(Proto::TcpEcho).unwrap();
    let mut a = connect(addr);
    assert_tcp_echo(&mut a, b"first");
    let mut b = connect(addr);
    let _ = b.write_all(b"refused?");
    let mut buf = [0u8; 16];
    let refused = match b.read(&mut buf) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    };
    assert!(
        refused,
        "the second connection was served past --max-conns 1"
    );
    assert_tcp_echo(&mut a, b"still here");
    drop((a, b));
    // Once A is gone its slot is free again.
    assert!(eventually(Duration::from_secs(30), || server.stats()[0]
        .active
        == 0));
    let mut c = connect(addr);
    assert_tcp_echo(&mut c, b"third");
    drop(c);
    let stats = stop(server);
    assert_eq!(stats.error_count(ErrorKind::MaxConns), 1);
    assert_eq!(stats.accepted, 3);
}

#[test]
fn a_listener_bound_elsewhere_is_shared_by_every_loop() {
    // No SO_REUSEPORT on it: the loops cannot bind siblings, so each takes from this
    // one (a try_clone each), and every connection is answered whichever loop wins.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = test_config();
    per_core(2)(&mut config);
    let ep = bench_server::Endpoint::from_tcp(Proto::TcpEcho, listener);
    let server = bench_server::spawn(vec![ep], config).unwrap();
    let mut conns: Vec<_> = (0..32).map(|_| connect(addr)).collect();
    for (i, s) in conns.iter_mut().enumerate() {
        assert_tcp_echo(s, format!("shared {i}").as_bytes());
    }
    drop(conns);
    let stats = stop(server);
    assert_eq!(stats.accepted, 32);
    assert_eq!(stats.errors.values().sum::<u64>(), 0, "{:?}", stats.errors);
    // Closed at the stop by every loop: nothing listens any more.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn a_udp_socket_bound_elsewhere_is_shared_by_every_loop() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let mut config = test_config();
    per_core(2)(&mut config);
    let server =
        bench_server::spawn(vec![bench_server::Endpoint::from_udp(socket)], config).unwrap();
    for p in 0..8 {
        let s = udp_client(addr);
        let mut buf = [0u8; 32];
        for m in 0..10 {
            let msg = format!("peer {p} msg {m}");
            s.send(msg.as_bytes()).unwrap();
            let n = s.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], msg.as_bytes());
        }
    }
    let stats = stop(server);
    assert_eq!(stats.requests, 80);
}

/// Sends `request` (a long `sleep` or `exec`) on a connection of `server` and waits
/// until the server has read it; then 20 echoes on `other`, a connection on the same
/// (only) loop, must all be answered while that reply is still due (a reader blocked
/// on it has seen nothing). A loop that waited for the command would answer none of
/// them (the client's reads time out first). Then the stop, with a short grace, cuts
/// the long command.
fn others_are_served_while(server: ServerHandle, request: serde_json::Value, body: &[u8]) {
    let addr = server.addr(Proto::Framed).unwrap();
    let mut other = connect(addr);
    assert_echo_works(&mut other, 0);
    let mut slow = connect(addr);
    let sent = frame(request, body);
    let before = server.stats()[0].bytes_in;
    slow.write_all(&sent).unwrap();
    assert!(eventually(Duration::from_secs(30), || {
        server.stats()[0].bytes_in >= before + sent.len() as u64
    }));
    let replied = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&replied);
    let reader = std::thread::spawn(move || {
        let ending = read_until_closed(&mut slow);
        flag.store(true, SeqCst);
        ending
    });
    for id in 1..=20 {
        assert_echo_works(&mut other, id);
    }
    assert!(
        !replied.load(SeqCst),
        "the long command ended before the echoes"
    );
    drop(other);
    let stats = stop(server);
    // Cut at the grace's end without a reply (no bytes before the close).
    assert!(matches!(
        reader.join().unwrap(),
        Ending::Closed(0) | Ending::Reset
    ));
    assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 1, "{stats:?}");
    assert_eq!(stats.requests, 21, "the echoes, and not the long command");
}

#[test]
fn a_sleep_on_one_connection_does_not_hold_up_another_on_the_same_loop() {
    let server = start(Proto::Framed, 1, |c| c.grace = Duration::from_millis(100));
    let request = json!({"cmd": "sleep", "id": 77, "ms": 20_000, "total_size": 0});
    others_are_served_while(server, request, b"");
}

#[test]
fn an_exec_on_one_connection_does_not_hold_up_another_on_the_same_loop() {
    let server = start(Proto::Framed, 1, |c| {
        c.allow_exec = true;
        c.grace = Duration::from_millis(100);
    });
    // Cut with its connection: the shell's process group is killed, not left to run.
    let cmd = b"sleep 20; echo done";
    let request = json!({"cmd": "exec", "id": 78, "total_size": cmd.len()});
    others_are_served_while(server, request, cmd);
}

#[test]
fn a_framed_connection_over_max_conns_gets_an_error_frame() {
    let server = start(Proto::Framed, 2, |c| c.max_conns = Some(1));
    let addr = server.addr(Proto::Framed).unwrap();
    let mut a = connect(addr);
    assert_echo_works(&mut a, 1);
    let mut b = connect(addr);
    let (h, _) = read_response(&mut b).unwrap().expect("an error frame");
    assert_eq!(h.status, Status::Error);
    let message = h.error.unwrap_or_default();
    assert!(message.contains("--max-conns"), "{message}");
    assert_eq!(read_until_closed(&mut b), Ending::Closed(0));
    assert_echo_works(&mut a, 2);
    drop(a);
    let stats = stop(server);
    assert_eq!(stats.error_count(ErrorKind::MaxConns), 1);
    assert_eq!(stats.active, 0);
}

#[test]
fn the_stats_command_sums_every_loop() {
    let server = start(Proto::Framed, 2, |_| {});
    let addr = server.addr(Proto::Framed).unwrap();
    let mut conns: Vec<_> = (0..16).map(|_| connect(addr)).collect();
    for (i, s) in conns.iter_mut().enumerate() {
        assert_echo_works(s, i as u64);
    }
    // 16 echoes, on whichever loops (each counts a reply just after writing it, so
    // wait for the last count), and this stats request is not counted yet.
    assert!(eventually(Duration::from_secs(30), || server.stats()[0]
        .requests
        == 16));
    let stats = server_stats(&mut conns[0]);
    assert_eq!(stats["endpoint"]["requests"].as_u64(), Some(16), "{stats}");
    assert_eq!(stats["endpoint"]["accepted"].as_u64(), Some(16));
    drop(conns);
    stop(server);
}

#[test]
fn a_frame_cut_off_mid_way_at_the_stop_counts_as_shutdown_cut() {
    let server = start(Proto::Framed, 1, |c| c.grace = Duration::from_millis(200));
    let addr = server.addr(Proto::Framed).unwrap();
    let mut idle = connect(addr);
    assert_echo_works(&mut idle, 1);
    let mut half = connect(addr);
    let whole = frame(
        json!({"cmd": "echo", "id": 2, "total_size": 100}),
        &[b'z'; 100],
    );
    let before = server.stats()[0].bytes_in;
    half.write_all(&whole[..whole.len() / 2]).unwrap();
    assert!(eventually(Duration::from_secs(30), || {
        server.stats()[0].bytes_in >= before + (whole.len() / 2) as u64
    }));
    // The rest never comes: the frame is still under way when the grace ends.
    let stats = stop(server);
    assert_eq!(read_until_closed(&mut idle), Ending::Closed(0));
    assert!(matches!(
        read_until_closed(&mut half),
        Ending::Closed(0) | Ending::Reset
    ));
    assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 1, "{stats:?}");
}
