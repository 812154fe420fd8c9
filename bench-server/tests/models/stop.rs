//! The stop rules on every model: an idle connection closes at once, a request in
//! progress finishes within the grace period, one (or an `exec`) outlasting it is cut
//! and counted, a pipelining client is closed at a request boundary.

use std::io::{Read, Write};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bench_proto::Status;
use bench_server::{ErrorKind, Model, Proto, ServerHandle, StatsSnapshot};
use serde_json::json;

use super::common::*;

/// Stops `server` on another thread; the join gives its stats and how long it took.
pub(super) fn stop_in_background(server: ServerHandle) -> JoinHandle<(StatsSnapshot, Duration)> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let stats = stop(server);
        (stats, started.elapsed())
    })
}

pub(super) fn idle_at_stop_with(model: Model) {
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
pub(super) fn start_sleep(server: &ServerHandle, s: &mut std::net::TcpStream, id: u64, ms: u64) {
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

pub(super) fn grace_with(model: Model) {
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

pub(super) fn cut_with(model: Model) {
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

pub(super) fn pipelining_stop_with(model: Model) {
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

pub(super) fn exec_cut_with(model: Model) {
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
