//! The drivers with a session made to misbehave: what no protocol does on purpose, but
//! every driver must survive.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use smol::Async;

use super::admit::Shared;
use super::serve::ConnCtx;
use super::{blocking, drive_async};
use crate::config::{Proto, ServerConfig};
use crate::runtime::Runtime;
use crate::session::{Action, ExecResult, Outgoing, Session, StatsInfo};
use crate::stats::{ErrorKind, Stats};

/// A session with a bug: the first bytes it is given make it panic.
struct PanicsOnRead([u8; 16]);

impl Session for PanicsOnRead {
    fn wants_read(&self) -> bool {
        true
    }
    fn read_buf(&mut self) -> &mut [u8] {
        &mut self.0
    }
    fn filled(&mut self, _n: usize, _now: Instant) {
        panic!("a session bug (this panic is the test's)");
    }
    fn peer_closed(&mut self, _now: Instant) {}
    fn outgoing(&self) -> Outgoing<'_> {
        Outgoing::none()
    }
    fn wrote(&mut self, _n: usize, _now: Instant) {}
    fn poll_action(&mut self) -> Option<Action> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn stop(&mut self, _now: Instant) {}
    fn exec_done(&mut self, _result: ExecResult, _now: Instant) {}
    fn stats_done(&mut self, _info: StatsInfo, _now: Instant) {}
    fn take_served(&mut self) -> u64 {
        0
    }
    fn at_boundary(&self) -> bool {
        true
    }
}

/// A connected pair on loopback: (client, server side), the client having sent a byte.
fn pair() -> (TcpStream, TcpStream, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.write_all(b"x").unwrap();
    let (server, peer) = listener.accept().unwrap();
    (client, server, peer)
}

#[test]
fn a_panicking_session_is_counted_as_io_by_every_driver() {
    let (runtime, _tracker) = Runtime::new();
    let shared = Shared {
        config: Arc::new(ServerConfig::default()),
        runtime,
    };
    let stats = Stats::new(Proto::TcpEcho, "127.0.0.1:9".parse().unwrap());
    let io_errors = || stats.snapshot().error_count(ErrorKind::Io);

    let (_client, server, peer) = pair();
    let ctx = ConnCtx {
        stats: &stats,
        peer,
        shared: &shared,
    };
    ctx.unless_panics(|| blocking::drive(server, PanicsOnRead([0; 16]), &ctx));
    assert_eq!(io_errors(), 1, "threads and iterative");

    let (_client, server, _) = pair();
    server.set_nonblocking(true).unwrap();
    let server = Async::new(server).unwrap();
    smol::block_on(ctx.unless_panics_async(drive_async::drive(
        server,
        PanicsOnRead([0; 16]),
        &ctx,
    )));
    assert_eq!(io_errors(), 2, "async");
}
