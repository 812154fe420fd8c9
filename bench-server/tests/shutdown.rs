//! Graceful stop: idle connections do not hold it up, a request in progress finishes
//! within the grace period, one that would outlast it is cut and counted, and a frame
//! half-received when the stop begins is still completed and answered.

mod common;

use std::io::Write;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bench_proto::Status;
use bench_server::{ErrorKind, Proto, ServerHandle, StatsSnapshot};
use common::*;
use serde_json::json;

/// Sends a framed `sleep` of `ms` and waits until the server has read it all (it runs
/// a command as soon as its frame is complete).
fn start_sleep(server: &ServerHandle, s: &mut std::net::TcpStream, id: u64, ms: u64) {
    let request = frame(
        json!({"cmd": "sleep", "id": id, "ms": ms, "total_size": 0}),
        b"",
    );
    let before = server.stats()[0].bytes_in;
    s.write_all(&request).unwrap();
    wait_for_bytes_in(server, before + request.len() as u64);
}

/// Waits until the server's only endpoint has received `n` bytes in all.
fn wait_for_bytes_in(server: &ServerHandle, n: u64) {
    assert!(
        eventually(Duration::from_secs(30), || server.stats()[0].bytes_in >= n),
        "the server never received {n} bytes"
    );
}

/// Waits until the stop has begun: the accept loop has ended and its listener is
/// closed, so a new connection is refused.
fn wait_for_stop_begun(addr: std::net::SocketAddr) {
    assert!(
        eventually(Duration::from_secs(30), || std::net::TcpStream::connect(
            addr
        )
        .is_err()),
        "{addr} still accepts: the stop did not begin"
    );
}

/// Stops `server` on another thread; the join gives its stats and how long it took.
fn stop_in_background(server: ServerHandle) -> JoinHandle<(StatsSnapshot, Duration)> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let stats = stop(server);
        (stats, started.elapsed())
    })
}

#[test]
fn idle_connections_do_not_delay_the_stop() {
    for proto in [Proto::TcpEcho, Proto::Framed] {
        let server = start_with(proto, |c| c.grace = Duration::from_secs(5));
        let addr = server.addr(proto).unwrap();
        let mut clients: Vec<_> = (0..5).map(|_| connect(addr)).collect();
        for (i, s) in clients.iter_mut().enumerate() {
            assert_serves(proto, s, i as u64);
        }
        let (stats, took) = stop_in_background(server).join().unwrap();
        assert!(
            took < Duration::from_secs(3),
            "{proto:?}: stop took {took:?} with only idle connections (grace 5s)"
        );
        for s in &mut clients {
            assert_eq!(read_until_closed(s), Ending::Closed(0), "{proto:?}");
        }
        assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 0, "{proto:?}");
        assert_eq!(stats.active, 0, "{proto:?}");
    }
}

#[test]
fn a_request_in_progress_finishes_within_the_grace_period() {
    let server = start_with(Proto::Framed, |c| c.grace = Duration::from_secs(5));
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    start_sleep(&server, &mut s, 9, 300);
    let stopping = stop_in_background(server);
    let (h, body) = read_response(&mut s).unwrap().expect("the sleep's reply");
    assert_eq!((h.id, h.status), (9, Status::Ok));
    assert!(body.is_empty());
    // Answered at a frame boundary during shutdown: the server closes.
    assert_eq!(read_until_closed(&mut s), Ending::Closed(0));
    let (stats, took) = stopping.join().unwrap();
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
    assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 0);
    assert_eq!(stats.requests, 1);
}

#[test]
fn a_request_outlasting_the_grace_period_is_cut_and_counted() {
    let server = start_with(Proto::Framed, |c| c.grace = Duration::from_millis(200));
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    start_sleep(&server, &mut s, 1, 3000);
    let (stats, took) = stop_in_background(server).join().unwrap();
    assert!(
        took < Duration::from_secs(2),
        "stop took {took:?}: the 3 s sleep was not cut at the 200 ms grace"
    );
    assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 1);
    assert!(matches!(
        read_until_closed(&mut s),
        Ending::Closed(0) | Ending::Reset
    ));
}

#[test]
fn a_frame_half_received_at_the_stop_is_completed_and_answered() {
    let server = start_with(Proto::Framed, |c| c.grace = Duration::from_secs(5));
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    assert_echo_works(&mut s, 1);
    let body = b"finished during the grace period";
    let whole = frame(
        json!({"cmd": "upper", "id": 2, "total_size": body.len()}),
        body,
    );
    let (first, rest) = whole.split_at(whole.len() / 2);
    let addr = server.addr(Proto::Framed).unwrap();
    let before = server.stats()[0].bytes_in;
    s.write_all(first).unwrap();
    wait_for_bytes_in(&server, before + first.len() as u64);
    let stopping = stop_in_background(server);
    // The rest goes out only once the stop has begun.
    wait_for_stop_begun(addr);
    s.write_all(rest).unwrap();
    let (h, got) = read_response(&mut s)
        .unwrap()
        .expect("a reply to the frame");
    assert_eq!((h.id, h.status), (2, Status::Ok));
    assert_eq!(got, body.to_ascii_uppercase());
    // Then the server closes instead of waiting for the grace period to run out.
    assert_eq!(read_until_closed(&mut s), Ending::Closed(0));
    let (stats, took) = stopping.join().unwrap();
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
    assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 0);
    assert_eq!(stats.requests, 2);
}

#[test]
fn udp_endpoints_stop_promptly() {
    let server = start_with(Proto::UdpEcho, |c| c.grace = Duration::from_secs(5));
    let s = udp_client(server.addr(Proto::UdpEcho).unwrap());
    s.send(b"x").unwrap();
    let mut b = [0u8; 8];
    assert_eq!(s.recv(&mut b).unwrap(), 1);
    let (stats, took) = stop_in_background(server).join().unwrap();
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
    assert_eq!(stats.requests, 1);
}

#[test]
fn a_pipelining_client_is_closed_at_a_request_boundary() {
    for proto in [Proto::TcpEcho, Proto::Framed] {
        let server = start_with(proto, |c| c.grace = Duration::from_secs(5));
        let addr = server.addr(proto).unwrap();
        let s = connect(addr);
        // A client that never lets the connection go quiet: a writer thread keeps
        // sending whole requests while this thread reads the replies.
        let mut writer = s.try_clone().unwrap();
        let request = match proto {
            Proto::Framed => frame(
                json!({"cmd": "echo", "id": 1, "total_size": 64}),
                &[b'p'; 64],
            ),
            _ => vec![b'p'; 64],
        };
        let writing = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(8);
            let batch = request.repeat(16);
            while Instant::now() < deadline {
                if writer.write_all(&batch).is_err() {
                    return;
                }
            }
        });
        let mut reader = s;
        let mut buf = [0u8; 4096];
        let mut got = 0;
        while got < 64 * 100 {
            got += std::io::Read::read(&mut reader, &mut buf).unwrap();
        }
        // Keep reading the replies (until the server closes) while it stops.
        let draining = std::thread::spawn(move || {
            while matches!(std::io::Read::read(&mut reader, &mut buf), Ok(n) if n > 0) {}
        });
        let (stats, took) = stop_in_background(server).join().unwrap();
        assert!(
            took < Duration::from_secs(3),
            "{proto:?}: stop took {took:?} (grace 5s): the busy connection was not closed"
        );
        assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 0, "{proto:?}");
        draining.join().unwrap();
        writing.join().unwrap();
    }
}

#[test]
fn a_reply_being_written_at_the_stop_is_finished_then_closed() {
    let server = start_with(Proto::Framed, |c| c.grace = Duration::from_secs(5));
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    // 8 MiB does not fit in the socket buffers: the server is mid-write when the stop
    // begins, because this client only starts reading afterwards.
    let size = 8 << 20;
    s.write_all(&frame(
        json!({"cmd": "generate", "id": 4, "size": size, "total_size": 0}),
        b"",
    ))
    .unwrap();
    // Mid-write: the reply has started going out (and cannot all fit in the buffers).
    assert!(
        eventually(Duration::from_secs(30), || server.stats()[0].bytes_out > 0),
        "the reply never started"
    );
    let addr = server.addr(Proto::Framed).unwrap();
    let stopping = stop_in_background(server);
    wait_for_stop_begun(addr);
    let (h, body) = read_response(&mut s).unwrap().expect("the whole reply");
    assert_eq!((h.id, h.status, body.len()), (4, Status::Ok, size));
    assert_eq!(read_until_closed(&mut s), Ending::Closed(0));
    let (stats, took) = stopping.join().unwrap();
    assert!(
        took < Duration::from_secs(3),
        "stop took {took:?} (grace 5s)"
    );
    assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 0);
}

#[test]
fn a_udp_echo_flood_does_not_delay_the_stop_beyond_the_grace() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    let grace = Duration::from_secs(1);
    // One receive loop and a deep receive buffer: the senders (one syscall a datagram
    // against the loop's two) fill it faster than the loop drains it, so it stays
    // readable and only the loop's own look at the stop can end it.
    let server = start_with(Proto::UdpEcho, |c| {
        c.grace = grace;
        c.threads = 1;
        c.socket.recv_buf = Some(4 << 20);
    });
    let addr = server.addr(Proto::UdpEcho).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let replies = Arc::new(AtomicU64::new(0));
    // Senders that never wait for a reply keep the server's socket always readable.
    let flooders: Vec<_> = (0..4)
        .map(|_| {
            let (done, replies) = (Arc::clone(&done), Arc::clone(&replies));
            std::thread::spawn(move || {
                let s = udp_client(addr);
                s.set_nonblocking(true).unwrap();
                let deadline = Instant::now() + Duration::from_secs(30);
                let datagram = [b'f'; 32];
                let mut buf = [0u8; 64];
                let mut sent = 0u64;
                while !done.load(Relaxed) && Instant::now() < deadline {
                    // Errors (a full buffer, a refusal once the server is gone) are
                    // part of a flood: keep sending.
                    let _ = s.send(&datagram);
                    sent += 1;
                    if sent.is_multiple_of(64) && s.recv(&mut buf).is_ok() {
                        replies.fetch_add(1, Relaxed);
                    }
                }
            })
        })
        .collect();
    assert!(
        eventually(Duration::from_secs(30), || replies.load(Relaxed) > 0),
        "the flood never got an echo back"
    );
    let (stats, took) = stop_in_background(server).join().unwrap();
    done.store(true, Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    assert!(
        took < grace + Duration::from_secs(10),
        "stop took {took:?} under a flood (grace {grace:?})"
    );
    assert!(stats.requests > 0, "{stats:?}");
}
