//! The framed protocol's driver-facing rules on every model: commands that need the
//! driver (`sleep`'s deadline, `stats`' read-back, `exec`), the error frame and the
//! linger, the frame deadline, `max_conns` refusals, an `exec` beside other
//! connections.

use std::io::Write;
use std::time::Duration;

use bench_proto::Status;
use bench_server::{ErrorKind, Model, Proto};
use serde_json::json;

use super::common::*;
use super::echoed_within;

pub(super) fn side_by_side_with(model: Model) {
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

pub(super) fn max_conns_with(model: Model) {
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

pub(super) fn commands_with(model: Model) {
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

pub(super) fn malformed_with(model: Model) {
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

pub(super) fn trickle_with(model: Model) {
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

pub(super) fn exec_beside_with(model: Model) {
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
