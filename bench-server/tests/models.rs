//! Every server model serves the same tcp-echo and framed traffic byte-exact with 50
//! concurrent clients and keeps the same rules (idle timeout, the stop at a request
//! boundary, the grace cut, `max_conns` refusals): [`every_model!`] writes one test per
//! model and rule, from one list of the models. `iterative` serves connections one
//! after another, which the last tests make visible.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bench_proto::Status;
use bench_server::{ErrorKind, Model, Proto, ServerHandle, StatsSnapshot};
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

/// Writes, for each `module: model` pair, a module of tests that hold for every model.
macro_rules! every_model {
    ($($module:ident: $model:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[test]
            fn tcp_echo_50_clients() {
                tcp_echo_with($model);
            }

            #[test]
            fn framed_50_clients() {
                framed_with($model);
            }

            #[test]
            fn upper_transform_uppercases_the_echo() {
                upper_with($model);
            }

            #[test]
            fn a_silent_connection_is_closed_at_the_idle_timeout() {
                idle_with($model);
            }

            #[test]
            fn an_idle_connection_closes_at_once_at_the_stop() {
                idle_at_stop_with($model);
            }

            #[test]
            fn a_request_in_progress_finishes_within_the_grace_period() {
                grace_with($model);
            }

            #[test]
            fn a_request_outlasting_the_grace_period_is_cut_and_counted() {
                cut_with($model);
            }

            #[test]
            fn a_pipelining_client_is_closed_at_a_request_boundary() {
                pipelining_stop_with($model);
            }

            #[test]
            fn sleep_stats_and_exec_are_answered() {
                commands_with($model);
            }

            #[test]
            fn a_malformed_frame_gets_an_error_frame_then_a_clean_close() {
                malformed_with($model);
            }

            #[test]
            fn a_trickling_client_is_closed_at_the_frame_deadline() {
                trickle_with($model);
            }

            #[test]
            fn an_exec_outlasting_the_grace_period_is_cut_and_counted() {
                exec_cut_with($model);
            }
        }
    )*};
}

/// The same, for the rules that need connections served side by side (`iterative`
/// keeps the second connection in the backlog, so it never sees it refused).
macro_rules! concurrent_models {
    ($($module:ident: $model:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[test]
            fn connections_are_served_side_by_side() {
                side_by_side_with($model);
            }

            #[test]
            fn a_connection_over_max_conns_gets_an_error_frame_and_is_counted() {
                max_conns_with($model);
            }

            #[test]
            fn an_exec_does_not_hold_up_other_connections() {
                exec_beside_with($model);
            }
        }
    )*};
}

// The one list of models (a new model joins both lists).
every_model! {
    per_core_model: Model::PerCore,
    async_model: Model::Async,
    threads_model: Model::Threads,
    iterative_model: Model::Iterative,
}

concurrent_models! {
    per_core_concurrent: Model::PerCore,
    async_concurrent: Model::Async,
    threads_concurrent: Model::Threads,
}

fn upper_with(model: Model) {
    let server = start_with(Proto::TcpEcho, |c| {
        c.model = model;
        c.transform = bench_server::Transform::Upper;
    });
    let mut s = connect(server.addr(Proto::TcpEcho).unwrap());
    s.write_all(b"shout, please").unwrap();
    let mut got = [0u8; 13];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"SHOUT, PLEASE", "{model:?}");
    drop(s);
    assert_eq!(stop(server).requests, 1, "{model:?}");
}

fn idle_with(model: Model) {
    let server = start_with(Proto::TcpEcho, |c| {
        c.model = model;
        c.idle_timeout = Some(Duration::from_millis(300));
    });
    let mut s = connect(server.addr(Proto::TcpEcho).unwrap());
    assert_tcp_echo(&mut s, b"once");
    assert_eq!(read_until_closed(&mut s), Ending::Closed(0), "{model:?}");
    let stats = stop(server);
    assert_eq!(stats.error_count(ErrorKind::IdleTimeout), 1, "{model:?}");
    assert_eq!(stats.active, 0, "{model:?}");
}

/// Stops `server` on another thread; the join gives its stats and how long it took.
fn stop_in_background(server: ServerHandle) -> JoinHandle<(StatsSnapshot, Duration)> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let stats = stop(server);
        (stats, started.elapsed())
    })
}

fn idle_at_stop_with(model: Model) {
    for proto in [Proto::TcpEcho, Proto::Framed] {
        let server = start_with(proto, |c| {
            c.model = model;
            c.grace = Duration::from_secs(5);
        });
        let mut s = connect(server.addr(proto).unwrap());
        assert_serves(proto, &mut s, 1);
        let (stats, took) = stop_in_background(server).join().unwrap();
        assert!(
            took < Duration::from_secs(3),
            "{model:?} {proto:?}: stop took {took:?} with an idle connection (grace 5s)"
        );
        assert_eq!(
            read_until_closed(&mut s),
            Ending::Closed(0),
            "{model:?} {proto:?}"
        );
        assert_eq!(
            stats.error_count(ErrorKind::ShutdownCut),
            0,
            "{model:?} {proto:?}"
        );
        assert_eq!(stats.active, 0, "{model:?} {proto:?}");
    }
}

/// Sends a framed `sleep` of `ms` and waits until the server has read all of it.
fn start_sleep(server: &ServerHandle, s: &mut std::net::TcpStream, id: u64, ms: u64) {
    let request = frame(
        json!({"cmd": "sleep", "id": id, "ms": ms, "total_size": 0}),
        b"",
    );
    let before = server.stats()[0].bytes_in;
    s.write_all(&request).unwrap();
    let want = before + request.len() as u64;
    assert!(
        eventually(Duration::from_secs(30), || server.stats()[0].bytes_in
            >= want),
        "the server never read the sleep request"
    );
}

fn grace_with(model: Model) {
    let server = start_with(Proto::Framed, |c| {
        c.model = model;
        c.grace = Duration::from_secs(5);
    });
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    start_sleep(&server, &mut s, 9, 300);
    let stopping = stop_in_background(server);
    let (h, _) = read_response(&mut s).unwrap().expect("the sleep's reply");
    assert_eq!((h.id, h.status), (9, Status::Ok), "{model:?}");
    assert_eq!(read_until_closed(&mut s), Ending::Closed(0), "{model:?}");
    let (stats, took) = stopping.join().unwrap();
    assert!(
        took < Duration::from_secs(3),
        "{model:?}: stop took {took:?}"
    );
    assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 0, "{model:?}");
    assert_eq!(stats.requests, 1, "{model:?}");
}

fn cut_with(model: Model) {
    let server = start_with(Proto::Framed, |c| {
        c.model = model;
        c.grace = Duration::from_millis(200);
    });
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    start_sleep(&server, &mut s, 1, 3000);
    let (stats, took) = stop_in_background(server).join().unwrap();
    assert!(
        took < Duration::from_secs(2),
        "{model:?}: stop took {took:?}: the 3 s sleep was not cut at the 200 ms grace"
    );
    assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 1, "{model:?}");
    assert!(matches!(
        read_until_closed(&mut s),
        Ending::Closed(0) | Ending::Reset
    ));
}

fn pipelining_stop_with(model: Model) {
    let server = start_with(Proto::TcpEcho, |c| {
        c.model = model;
        c.grace = Duration::from_secs(5);
    });
    let s = connect(server.addr(Proto::TcpEcho).unwrap());
    // A client that never lets the connection go quiet: a writer thread keeps sending
    // while this thread reads the echoes. Bounded by a deadline.
    let mut writer = s.try_clone().unwrap();
    let writing = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(8);
        let batch = [b'p'; 1024];
        while Instant::now() < deadline && writer.write_all(&batch).is_ok() {}
    });
    let mut reader = s;
    let mut buf = [0u8; 4096];
    let mut got = 0;
    while got < 64 * 1024 {
        got += reader.read(&mut buf).unwrap();
    }
    let draining =
        std::thread::spawn(move || while matches!(reader.read(&mut buf), Ok(n) if n > 0) {});
    let (stats, took) = stop_in_background(server).join().unwrap();
    assert!(
        took < Duration::from_secs(3),
        "{model:?}: stop took {took:?} (grace 5s): the busy connection was not closed"
    );
    assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 0, "{model:?}");
    draining.join().unwrap();
    writing.join().unwrap();
}

fn side_by_side_with(model: Model) {
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

fn max_conns_with(model: Model) {
    let server = start_with(Proto::Framed, |c| {
        c.model = model;
        c.max_conns = Some(1);
    });
    let addr = server.addr(Proto::Framed).unwrap();
    let mut first = connect(addr);
    assert_echo_works(&mut first, 1);
    let mut extra = connect(addr);
    let (h, _) = read_response(&mut extra).unwrap().expect("an error frame");
    assert_eq!(h.status, Status::Error, "{model:?}");
    assert!(
        h.error.unwrap_or_default().contains("--max-conns"),
        "{model:?}"
    );
    assert_eq!(
        read_until_closed(&mut extra),
        Ending::Closed(0),
        "{model:?}"
    );
    assert_echo_works(&mut first, 2);
    drop(first);
    let stats = stop(server);
    assert_eq!(stats.error_count(ErrorKind::MaxConns), 1, "{model:?}");
    assert_eq!(stats.accepted, 2, "{model:?}");
}

fn commands_with(model: Model) {
    let server = start_with(Proto::Framed, |c| {
        c.model = model;
        c.allow_exec = true;
        c.socket.nodelay = false;
    });
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let (h, body) = call(
        &mut s,
        json!({"cmd": "sleep", "id": 1, "ms": 50, "total_size": 0}),
        b"",
    );
    assert_eq!(
        (h.id, h.status, body.len()),
        (1, Status::Ok, 0),
        "{model:?}"
    );
    let stats = server_stats(&mut s);
    assert_eq!(stats["endpoint"]["requests"], 1, "{model:?}");
    assert_eq!(
        stats["connection"]["socket"]["nodelay"], false,
        "{model:?}: the socket options read back"
    );
    let cmd = b"echo out; echo err >&2; exit 3";
    let (h, body) = call(
        &mut s,
        json!({"cmd": "exec", "id": 3, "total_size": cmd.len()}),
        cmd,
    );
    assert_eq!(
        (h.id, h.status, h.exit_code),
        (3, Status::Ok, Some(3)),
        "{model:?}"
    );
    assert_eq!(body, b"out\nerr\n", "{model:?}");
    drop(s);
    let stats = stop(server);
    assert_eq!(stats.requests, 3, "{model:?}");
    assert_eq!(stats.errors.values().sum::<u64>(), 0, "{model:?}");
}

fn malformed_with(model: Model) {
    let server = start_with(Proto::Framed, |c| c.model = model);
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    assert_echo_works(&mut s, 1);
    s.write_all(&with_prefix(8, b"not json")).unwrap();
    let (h, _) = read_response(&mut s).unwrap().expect("an error frame");
    assert_eq!(h.status, Status::Error, "{model:?}");
    // The server lingers for what the client still sends, then closes with a FIN.
    assert_eq!(read_until_closed(&mut s), Ending::Closed(0), "{model:?}");
    let stats = stop(server);
    assert_eq!(stats.error_count(ErrorKind::InvalidJson), 1, "{model:?}");
    assert_eq!(stats.requests, 1, "{model:?}");
}

fn trickle_with(model: Model) {
    let server = start_with(Proto::Framed, |c| {
        c.model = model;
        c.frame_timeout = Some(Duration::from_millis(300));
    });
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    // Half a frame, then nothing: the frame deadline, not the idle timeout, ends it.
    let whole = frame(json!({"cmd": "echo", "id": 2, "total_size": 0}), b"");
    s.write_all(&whole[..whole.len() / 2]).unwrap();
    assert!(matches!(
        read_until_closed(&mut s),
        Ending::Closed(0) | Ending::Reset
    ));
    let stats = stop(server);
    assert_eq!(stats.error_count(ErrorKind::SlowFrame), 1, "{model:?}");
    assert_eq!(stats.error_count(ErrorKind::IdleTimeout), 0, "{model:?}");
}

fn exec_beside_with(model: Model) {
    let server = start_with(Proto::Framed, |c| {
        c.model = model;
        c.allow_exec = true;
        c.threads = 1;
    });
    let addr = server.addr(Proto::Framed).unwrap();
    let mut slow = connect(addr);
    // The command ends only when this test says so: it waits for a file to appear.
    let flag = std::env::temp_dir().join(format!(
        "wirebench-exec-beside-{}-{model:?}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&flag);
    let cmd = format!(
        "i=0; while [ ! -e {} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; echo done",
        flag.display()
    );
    slow.write_all(&frame(
        json!({"cmd": "exec", "id": 1, "total_size": cmd.len()}),
        cmd.as_bytes(),
    ))
    .unwrap();
    // Another connection is answered while the command runs.
    let mut other = connect(addr);
    for i in 0..5 {
        assert_echo_works(&mut other, 10 + i);
    }
    std::fs::write(&flag, b"").unwrap();
    let (h, body) = read_response(&mut slow).unwrap().expect("the exec's reply");
    let _ = std::fs::remove_file(&flag);
    assert_eq!((h.id, h.status), (1, Status::Ok), "{model:?}");
    assert_eq!(body, b"done\n", "{model:?}");
    drop((slow, other));
    assert_eq!(stop(server).requests, 6, "{model:?}");
}

fn exec_cut_with(model: Model) {
    let server = start_with(Proto::Framed, |c| {
        c.model = model;
        c.allow_exec = true;
        c.grace = Duration::from_millis(200);
    });
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let cmd = b"sleep 20";
    let request = frame(
        json!({"cmd": "exec", "id": 1, "total_size": cmd.len()}),
        cmd,
    );
    s.write_all(&request).unwrap();
    let want = request.len() as u64;
    assert!(eventually(Duration::from_secs(30), || server.stats()[0]
        .bytes_in
        >= want));
    let (stats, took) = stop_in_background(server).join().unwrap();
    assert!(
        took < Duration::from_secs(5),
        "{model:?}: stop took {took:?}: the exec was not cut at the 200 ms grace"
    );
    assert_eq!(stats.error_count(ErrorKind::ShutdownCut), 1, "{model:?}");
}
