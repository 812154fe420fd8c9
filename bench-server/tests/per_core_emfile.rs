//! The per-core loop under a full descriptor table: a failed accept (EMFILE) is
//! counted and retried after a back-off from the loop's timer heap, the connections
//! already open keep being served meanwhile, and the waiting connection is accepted
//! once descriptors free up. Alone in its test binary: the descriptor limit is the
//! whole process's.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use bench_server::{ErrorKind, Model, Proto};
use common::*;
use rustix::process::{Resource, getrlimit, setrlimit};
use socket2::{Domain, Socket, Type};

/// Opens `/dev/null` until the table is full at the current limit; the files fill
/// every free descriptor number below it.
fn fill_the_table() -> Vec<std::fs::File> {
    let mut held = Vec::new();
    for _ in 0..100_000 {
        match std::fs::File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(24), "expected EMFILE: {e}");
                return held;
            }
        }
    }
    panic!("the table never filled");
}

#[test]
fn a_full_descriptor_table_delays_accepts_without_stopping_the_loop() {
    let server = start_with(Proto::TcpEcho, |c| {
        c.model = Model::PerCore;
        c.threads = 1;
    });
    let addr = server.addr(Proto::TcpEcho).unwrap();
    let mut open = connect(addr);
    assert_tcp_echo(&mut open, b"before");
    // Made now: a socket needs a descriptor, a connect does not.
    let waiting = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();

    // The process-wide async-io reactor (the server thread's `block_on`, the
    // `async-io` thread) makes its epoll fd and eventfd on first use, which may come
    // late on a busy machine: made now, it cannot meet the full table and panic.
    smol::block_on(smol::Timer::after(Duration::from_millis(1)));
    let saved = getrlimit(Resource::Nofile);
    let open_now = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let mut low = saved;
    low.current = Some(open_now + 8);
    setrlimit(Resource::Nofile, low).unwrap();
    let held = fill_the_table();

    waiting.connect(&addr.into()).unwrap();
    let failed = eventually(Duration::from_secs(30), || {
        server.stats()[0].error_count(ErrorKind::Io) > 0
    });
    // The open connection needs no new descriptor: it is still served.
    assert_tcp_echo(&mut open, b"during");
    drop(held);
    setrlimit(Resource::Nofile, saved).unwrap();
    assert!(failed, "the accept never failed: {:?}", server.stats());

    let mut waiting: std::net::TcpStream = waiting.into();
    waiting.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    waiting.write_all(b"after").unwrap();
    let mut got = [0u8; 5];
    waiting.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"after");
    drop((open, waiting));
    let stats = stop(server);
    assert_eq!(stats.accepted, 2);
    assert!(stats.error_count(ErrorKind::Io) >= 1);
}
