//! One client loop of UDP sockets: the same turn as the TCP loop (wait, edges, due
//! deadlines, the end, a stop) around [`DatagramSession`]s (udp-echo's `UdpSession`, a
//! custom UDP workload's `CustomUdpSession`). A datagram socket is read
//! until `WouldBlock` (each read returns one datagram, so a short read says nothing
//! about what is queued), into one receive buffer the loop's sockets share.

use std::io;
use std::net::UdpSocket;
use std::time::Instant;

use bench_server::engine::poller::{Events, Poller};
use bench_server::engine::slab::{Key, Slab, tag_of};
use bench_server::engine::timers::Timers;
use bench_server::engine::waker::Waker;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::super::shared::Shared;
use super::super::udp::unspecified_for;
use super::super::udp_session::DatagramSession;
use super::event_loop::wait_timeout;
use crate::record::Recorder;
use crate::report::ErrorKind;

/// After a failed send, when the socket tries the next one.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_micros(100);

/// One socket of the loop.
struct Sock<S> {
    socket: UdpSocket,
    session: S,
    readable: bool,
    writable: bool,
    scheduled: Option<Instant>,
}

/// Runs sockets `indices` of the run on this thread until each is done.
///
/// # Errors
/// `epoll_wait`'s (a bug); socket errors are the datagrams' and are recorded.
pub(crate) fn run<S: DatagramSession>(
    shared: &Shared,
    poller: &Poller,
    waker: &Waker,
    indices: impl Iterator<Item = usize>,
    rec: &mut Recorder,
    mut session_for: impl FnMut(usize) -> S,
) -> io::Result<()> {
    let mut socks: Slab<Sock<S>> = Slab::new();
    let mut timers: Timers<Key> = Timers::new();
    let mut buf = vec![0u8; 65_536];
    let now = Instant::now();
    for index in indices {
        let session = session_for(index);
        match open(shared, poller, &mut socks, session) {
            Ok(key) => drive(shared, rec, &mut timers, &mut socks, key, &mut buf, now),
            Err(failed) => {
                let (session, e) = *failed;
                let message = format!("udp socket for {}: {e}", shared.addr());
                shared.connection_failed();
                rec.failed(ErrorKind::Connect, 1, true, || message);
                session.close(shared, rec);
            }
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut end = shared.end();
    let mut stop_seen = false;
    while !socks.is_empty() {
        let next = match (timers.next_deadline(), end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        poller.wait(&mut events, wait_timeout(next, Instant::now()))?;
        let now = Instant::now();
        for r in events.iter() {
            if tag_of(r.token) != 0 {
                waker.reset();
                continue;
            }
            let key = Key::from_token(r.token);
            if let Some(sock) = socks.get_mut(key) {
                sock.readable |= r.readable || r.error;
                sock.writable |= r.writable || r.error;
            }
            drive(shared, rec, &mut timers, &mut socks, key, &mut buf, now);
        }
        while let Some((at, key)) = timers.pop_due(now) {
            if let Some(sock) = socks.get_mut(key)
                && sock.scheduled == Some(at)
            {
                sock.scheduled = None;
            }
            drive(shared, rec, &mut timers, &mut socks, key, &mut buf, now);
        }
        let ended = end.is_some_and(|end| now >= end);
        if ended || (!stop_seen && shared.stop_requested()) {
            end = end.filter(|_| !ended);
            stop_seen |= shared.stop_requested();
            for key in socks.keys() {
                drive(shared, rec, &mut timers, &mut socks, key, &mut buf, now);
            }
        }
    }
    Ok(())
}

/// A socket with the client's options, connected to the target, registered under a
/// new key; `Err` hands the session back with the reason.
fn open<S: DatagramSession>(
    shared: &Shared,
    poller: &Poller,
    socks: &mut Slab<Sock<S>>,
    session: S,
) -> Result<Key, Box<(S, io::Error)>> {
    let socket = match make_socket(shared) {
        Ok(socket) => socket,
        Err(e) => return Err(Box::new((session, e))),
    };
    let key = socks.insert(Sock {
        socket,
        session,
        readable: false,
        writable: true,
        scheduled: None,
    });
    let sock = socks.get_mut(key).expect("just inserted");
    if let Err(e) = poller.add(&sock.socket, key.token()) {
        let sock = socks.remove(key).expect("just inserted");
        return Err(Box::new((sock.session, e)));
    }
    Ok(key)
}

fn make_socket(shared: &Shared) -> io::Result<UdpSocket> {
    let addr = shared.addr();
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    bench_server::socket::set_buffers(&socket, &shared.config().socket)?;
    socket.bind(&unspecified_for(addr).into())?;
    socket.connect(&addr.into())?;
    socket.set_nonblocking(true)?;
    shared.note_client_socket(SockRef::from(&socket), false);
    Ok(UdpSocket::from(socket))
}

/// Moves socket `key` on: receive, expire, send what is due, then close it or keep
/// its next deadline.
fn drive<S: DatagramSession>(
    shared: &Shared,
    rec: &mut Recorder,
    timers: &mut Timers<Key>,
    socks: &mut Slab<Sock<S>>,
    key: Key,
    buf: &mut [u8],
    now: Instant,
) {
    let Some(sock) = socks.get_mut(key) else {
        return;
    };
    while sock.readable {
        match sock.socket.recv(buf) {
            Ok(n) => sock.session.received(&buf[..n], now, shared, rec),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => sock.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => sock.session.recv_failed(&e, rec),
        }
    }
    sock.session.expire(now, shared, rec);
    let mut retry = None;
    while sock.writable {
        let Some(datagram) = sock.session.poll_datagram(shared, rec, now) else {
            break;
        };
        match sock.socket.send(datagram) {
            Ok(_) => sock.session.sent(rec),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => sock.writable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // The datagram fails, the socket goes on; it tries again a little later,
                // so a send that fails at once every time cannot spin the loop.
                sock.session.send_failed(&e, rec);
                retry = Some(now + RETRY_AFTER);
                break;
            }
        }
    }
    if sock.session.is_finished() {
        let sock = socks.remove(key).expect("live");
        sock.session.close(shared, rec);
        return;
    }
    let next = match (sock.session.poll_timeout(shared), retry) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(at) = next
        && sock.scheduled.is_none_or(|s| at < s)
    {
        timers.schedule(at, key);
        sock.scheduled = Some(at);
    }
}
