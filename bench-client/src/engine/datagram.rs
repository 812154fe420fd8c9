//! One UDP socket of a custom workload: one datagram per request, and each datagram
//! that comes back is the reply to the oldest request still waiting (arbitrary protocols
//! carry no sequence number the client could match on).
//!
//! Counted: `ok`, `mismatch`, `server` and `protocol` per reply datagram (checked by the
//! workload file's rules), `timeout` for a request with no datagram within `--timeout`,
//! `send`/`refused` for datagrams that could not go out. Not counted: loss, lateness,
//! duplication and reordering as such (udp-echo's probe header tells those apart; here
//! a late datagram is taken as the reply to the next request waiting, so use
//! `--pipeline 1` when replies may be late).

use std::cell::RefCell;
use std::io;
use std::net::UdpSocket;
use std::time::Instant;

use futures_lite::future;
use smol::{Async, Timer};

use super::conn::{
    End, Link, account_unsent, fail_connection, open_failed, read_or_timeout, run_halves,
};
use super::pace::{Due, Source, Waits};
use super::shared::Shared;
use crate::record::{Recorder, Timing};
use crate::report::ErrorKind;
use crate::workload::custom::{Custom, CustomReader};

#[derive(Debug, Clone, Copy)]
struct InFlight {
    request: crate::workload::Request,
    timing: Timing,
}

struct Sock<'a> {
    link: Link<'a, InFlight>,
    socket: &'a Async<UdpSocket>,
    workload: &'a Custom,
    index: usize,
}

/// Runs socket `index` of a custom UDP workload until its share of the run is done.
pub async fn run_socket(shared: &Shared, index: usize, rec: &RefCell<Recorder>, workload: &Custom) {
    let source = RefCell::new(Source::new(shared, index));
    let socket = match super::udp::open(shared) {
        Ok(socket) => socket,
        Err(e) => {
            let addr = shared.addr();
            open_failed(shared, rec, &source, || {
                format!("udp socket for {addr}: {e}")
            });
            return;
        }
    };
    let sock = Sock {
        link: Link::new(shared, rec, source),
        socket: &socket,
        workload,
        index,
    };
    let (_, mut reader) = workload.halves(index);
    let halves = run_halves(
        read_loop(&sock, &mut reader),
        write_loop(&sock),
        &sock.link.writer_done,
        &sock.link.work,
    );
    if let Err(end) = halves.await {
        let inflight = sock.link.inflight.borrow();
        let recorded = inflight.iter().filter(|f| f.timing.recorded).count() as u64;
        fail_connection(shared, rec, recorded, end);
    }
    account_unsent(shared, rec, &sock.link.source);
}

async fn write_loop(sock: &Sock<'_>) -> Result<(), End> {
    let shared = sock.link.shared;
    let mut datagram = Vec::with_capacity(shared.config().size.max.as_usize() + 256);
    let stop = std::pin::pin!(shared.stopped());
    let mut waits = Waits::new(shared, stop);
    loop {
        let Some(Due {
            request,
            intended,
            recorded,
            held,
        }) = sock.link.next_request(&mut waits).await
        else {
            return Ok(());
        };
        CustomReader::render_datagram(sock.workload, sock.index, &request, &mut datagram);
        let timing = Timing {
            intended,
            sent: Instant::now(),
            recorded,
            held,
        };
        sock.link
            .inflight
            .borrow_mut()
            .push_back(InFlight { request, timing });
        sock.link.work.notify();
        match sock.socket.send(&datagram).await {
            Ok(_) => sock.link.rec.borrow_mut().sent(&timing, datagram.len()),
            Err(e) => {
                // This datagram fails, the socket goes on (as udp-echo's).
                let failed = sock.link.inflight.borrow_mut().pop_back();
                if let Some(failed) = failed {
                    count_error(sock, &failed, &e, true);
                }
                future::yield_now().await;
            }
        }
    }
}

fn count_error(sock: &Sock<'_>, datagram: &InFlight, err: &io::Error, sending: bool) {
    let kind = match err.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
        _ if sending => ErrorKind::Send,
        _ => ErrorKind::from_io(err),
    };
    let seq = datagram.request.id;
    sock.link
        .rec
        .borrow_mut()
        .failed(kind, 1, datagram.timing.recorded, || {
            format!("datagram {seq}: {err}")
        });
    sock.link.room.notify();
}

async fn read_loop(sock: &Sock<'_>, reader: &mut CustomReader) -> Result<(), End> {
    let mut buf = vec![0u8; 65_536];
    let mut timer = Timer::never();
    let mut armed = false;
    loop {
        let sent = |f: &InFlight| f.timing.sent;
        let into = &mut buf;
        let recv = move || {
            let into = into;
            sock.socket.recv(into)
        };
        let next = read_or_timeout(&sock.link, sent, &mut timer, &mut armed, recv).await;
        let Some((_, received)) = next else {
            return Ok(());
        };
        match received {
            Some(Ok(n)) => reply(sock, reader, &buf[..n], Instant::now()),
            Some(Err(e)) => {
                let oldest = sock.link.inflight.borrow_mut().pop_front();
                if let Some(oldest) = oldest {
                    count_error(sock, &oldest, &e, false);
                }
            }
            None => {
                expire(sock, Instant::now());
                armed = false;
            }
        }
    }
}

/// Fails the requests whose timeout has passed.
fn expire(sock: &Sock<'_>, now: Instant) {
    let limit = sock.link.shared.config().timeout;
    let mut inflight = sock.link.inflight.borrow_mut();
    while let Some(front) = inflight.front().copied() {
        if now < front.timing.sent + limit.0 {
            break;
        }
        inflight.pop_front();
        let seq = front.request.id;
        sock.link
            .rec
            .borrow_mut()
            .failed(ErrorKind::Timeout, 1, front.timing.recorded, || {
                format!("no reply to datagram {seq} within {limit}")
            });
        sock.link.room.notify();
    }
}

/// Checks one datagram as the reply to the oldest request waiting.
fn reply(sock: &Sock<'_>, reader: &mut CustomReader, datagram: &[u8], done: Instant) {
    let Some(entry) = sock.link.inflight.borrow_mut().pop_front() else {
        let len = datagram.len();
        let shared = sock.link.shared;
        let recorded = done >= shared.record_start() && shared.end().is_none_or(|e| done < e);
        sock.link
            .rec
            .borrow_mut()
            .failed(ErrorKind::Protocol, 1, recorded, || {
                format!("a {len}-byte datagram came with no request waiting")
            });
        return;
    };
    sock.link.room.notify();
    let limit = sock.link.shared.config().timeout;
    let mut rec = sock.link.rec.borrow_mut();
    if done.saturating_duration_since(entry.timing.sent) > limit.0 {
        let seq = entry.request.id;
        rec.failed(ErrorKind::Timeout, 1, entry.timing.recorded, || {
            format!("no reply to datagram {seq} within {limit}")
        });
        return;
    }
    match reader.take_datagram(&entry.request, datagram) {
        Ok(len) => rec.ok(&entry.timing, done, len),
        Err(failure) => {
            let end = End::from(failure);
            rec.failed(end.kind, 1, entry.timing.recorded, || end.message);
        }
    }
}
