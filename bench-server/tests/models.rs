//! The three server models (`async`, `threads`, `iterative`) serve the same tcp-echo and
//! framed traffic byte-exact with 50 concurrent clients; `iterative` serves them one
//! after another, which the last tests make visible.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use bench_proto::Status;
use bench_server::{ErrorKind, Model, Proto, StatsSnapshot};
use common::*;
use serde_json::json;

const CLIENTS: usize = 50;
const MESSAGES: usize = 20;

/// The payload client `c` sends as its `m`-th message: distinct per client and message,
/// with varying lengths, so a reply routed to the wrong client cannot pass.
fn payload(c: usize, m: usize) -> Vec<u8> {
    let len = 1 + (c * 37 + m * 101) % 3000;
    (0..len)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[(c + m + i) % 36])
        .collect()
}

/// Runs `client` on [`CLIENTS`] threads at once and joins them all.
fn concurrently(addr: SocketAddr, client: fn(SocketAddr, usize)) {
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| std::thread::spawn(move || client(addr, c)))
        .collect();
    for t in threads {
        t.join().expect("a client failed");
    }
}

fn tcp_echo_client(addr: SocketAddr, c: usize) {
    let mut s = connect(addr);
    for m in 0..MESSAGES {
        let sent = payload(c, m);
        s.write_all(&sent).unwrap();
        let mut got = vec![0u8; sent.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, sent, "client {c} message {m}");
    }
}

fn framed_client(addr: SocketAddr, c: usize) {
    let mut s = connect(addr);
    for m in 0..MESSAGES {
        let id = (c * 1000 + m) as u64;
        let sent = payload(c, m);
        let cmd = if m % 2 == 0 { "echo" } else { "upper" };
        let (h, body) = call(
            &mut s,
            json!({"cmd": cmd, "id": id, "total_size": sent.len()}),
            &sent,
        );
        assert_eq!(h.status, Status::Ok, "client {c} message {m}: {h:?}");
        assert_eq!(h.id, id);
        let want = if cmd == "upper" {
            sent.to_ascii_uppercase()
        } else {
            sent
        };
        assert_eq!(body, want, "client {c} message {m}");
    }
}

fn expected_bytes() -> u64 {
    (0..CLIENTS)
        .flat_map(|c| (0..MESSAGES).map(move |m| payload(c, m).len() as u64))
        .sum()
}

fn assert_clean(stats: &StatsSnapshot) {
    let errors: u64 = stats.errors.values().sum();
    assert_eq!(errors, 0, "errors: {:?}", stats.errors);
    assert_eq!(stats.accepted, CLIENTS as u64);
    assert_eq!(stats.active, 0);
}

fn tcp_echo_with(model: Model) {
    let server = start_with(Proto::TcpEcho, |c| c.model = model);
    concurrently(server.addr(Proto::TcpEcho).unwrap(), tcp_echo_client);
    let stats = stop(server);
    assert_clean(&stats);
    assert_eq!(stats.bytes_in, expected_bytes());
    assert_eq!(stats.bytes_out, expected_bytes());
}

fn framed_with(model: Model) {
    let server = start_with(Proto::Framed, |c| c.model = model);
    concurrently(server.addr(Proto::Framed).unwrap(), framed_client);
    let stats = stop(server);
    assert_clean(&stats);
    assert_eq!(stats.requests, (CLIENTS * MESSAGES) as u64);
    // Bodies are echoed one for one; headers and prefixes come on top.
    assert!(stats.bytes_out > expected_bytes());
}

#[test]
fn async_model_tcp_echo_50_clients() {
    tcp_echo_with(Model::Async);
}

#[test]
fn threads_model_tcp_echo_50_clients() {
    tcp_echo_with(Model::Threads);
}

#[test]
fn iterative_model_tcp_echo_50_clients() {
    tcp_echo_with(Model::Iterative);
}

#[test]
fn async_model_framed_50_clients() {
    framed_with(Model::Async);
}

#[test]
fn threads_model_framed_50_clients() {
    framed_with(Model::Threads);
}

#[test]
fn iterative_model_framed_50_clients() {
    framed_with(Model::Iterative);
}

/// Sends a tcp-echo message on `s` and says whether the echo came back within `wait`.
fn echoed_within(s: &mut std::net::TcpStream, msg: &[u8], wait: Duration) -> bool {
    s.write_all(msg).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let mut got = vec![0u8; msg.len()];
    let answered = match s.read_exact(&mut got) {
        Ok(()) => {
            assert_eq!(got, msg);
            true
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            false
        }
        Err(e) => panic!("unexpected error: {e}"),
    };
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    answered
}

#[test]
fn iterative_model_serves_one_connection_at_a_time() {
    let server = start_with(Proto::TcpEcho, |c| c.model = Model::Iterative);
    let addr = server.addr(Proto::TcpEcho).unwrap();

    let mut a = connect(addr);
    assert!(echoed_within(&mut a, b"first", IO_TIMEOUT));

    // B is accepted by the kernel (backlog) but not served while A is open.
    let mut b = connect(addr);
    assert!(
        !echoed_within(&mut b, b"second", Duration::from_millis(300)),
        "the iterative model served B while A was still open"
    );
    // A still works: the server is busy with it, not stuck.
    assert!(echoed_within(&mut a, b"first again", IO_TIMEOUT));

    // Once A leaves, B's queued bytes are answered.
    drop(a);
    let mut got = [0u8; 6];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"second");
    drop(b);

    let stats = stop(server);
    assert_eq!(stats.accepted, 2);
    assert_eq!(stats.errors.values().sum::<u64>(), 0);
}

#[test]
fn async_and_threads_models_serve_connections_side_by_side() {
    for model in [Model::Async, Model::Threads] {
        let server = start_with(Proto::TcpEcho, |c| c.model = model);
        let addr = server.addr(Proto::TcpEcho).unwrap();
        let mut a = connect(addr);
        assert!(echoed_within(&mut a, b"first", IO_TIMEOUT));
        let mut b = connect(addr);
        assert!(
            echoed_within(&mut b, b"second", IO_TIMEOUT),
            "{model:?}: B was not served while A was open"
        );
        drop((a, b));
        let stats = stop(server);
        assert_eq!(stats.accepted, 2, "{model:?}");
    }
}

#[test]
fn iterative_model_frees_the_slot_when_the_idle_timeout_fires() {
    let server = start_with(Proto::TcpEcho, |c| {
        c.model = Model::Iterative;
        c.idle_timeout = Some(Duration::from_millis(300));
    });
    let addr = server.addr(Proto::TcpEcho).unwrap();
    // A sends once and then goes quiet: it holds the only slot until the idle timeout.
    let mut a = connect(addr);
    assert!(echoed_within(&mut a, b"hi", IO_TIMEOUT));
    let mut b = connect(addr);
    assert!(echoed_within(&mut b, b"queued", Duration::from_secs(5)));
    assert_eq!(read_until_closed(&mut a), Ending::Closed(0));
    drop(b);
    let stats = stop(server);
    assert!(stats.error_count(ErrorKind::IdleTimeout) >= 1);
}

#[test]
fn per_core_model_tcp_echo_50_clients() {
    tcp_echo_with(Model::PerCore);
}

#[test]
fn per_core_model_framed_50_clients() {
    framed_with(Model::PerCore);
}
