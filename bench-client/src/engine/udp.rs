//! One udp-echo socket of a run. Each datagram starts with the 16-byte probe header
//! (sequence number, send time); replies are matched to requests by sequence number, so
//! lost, late, duplicated and reordered replies are told apart:
//!
//! - a request with no reply within `--timeout` fails with `timeout`;
//! - a reply that comes after that is `late` (checked on arrival against the send time, so
//!   timer slack never turns a late reply into a success), and the requests that never
//!   got one are `lost` (so `lost + late` = the `timeout` errors);
//! - a send error fails that datagram (`send`; `refused` for ECONNREFUSED), and a receive
//!   error fails the oldest datagram in flight; the socket goes on either way.
//! - a second reply to an answered request is `duplicated`;
//! - a reply older than one already received is `reordered` (and still succeeds).
//!
//! Sequence numbers skip values with a byte in `a..=z`, so they survive a server that
//! uppercases payloads (`--transform upper`, checked with `--expect upper`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use bench_proto::ProbeHeader;
use futures_lite::future;
use smol::{Async, Timer};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::conn::{
    End, Link, account_unsent, fail_connection, open_failed, read_or_timeout, run_halves,
};
use super::pace::{Due, Source, Waits};
use super::shared::Shared;
use crate::record::{Recorder, Timing};
use crate::report::ErrorKind;
use crate::workload::{Request, udp_echo};

/// How many timed-out sequence numbers are remembered, to tell a late reply from a
/// duplicate (every sent number is in flight, timed out, or answered).
const TIMED_OUT_MEMORY: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct InFlight {
    request: Request,
    timing: Timing,
    sent_ns: u64,
}

struct Sock<'a> {
    link: Link<'a, InFlight>,
    socket: &'a Async<UdpSocket>,
    /// Timed-out requests: (sequence number, recorded).
    timed_out_seqs: RefCell<VecDeque<(u64, bool)>>,
    /// The highest sequence number sent so far.
    highest_sent: Cell<Option<u64>>,
    highest_answered: Cell<Option<u64>>,
    timed_out: Cell<u64>,
    late: Cell<u64>,
}

/// Runs socket `index` until its share of the run is done or it fails.
pub async fn run_socket(shared: &Shared, index: usize, rec: &RefCell<Recorder>) {
    let source = RefCell::new(Source::new(shared, index));
    let socket = match open(shared) {
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
        timed_out_seqs: RefCell::new(VecDeque::new()),
        highest_sent: Cell::new(None),
        highest_answered: Cell::new(None),
        timed_out: Cell::new(0),
        late: Cell::new(0),
    };
    let halves = run_halves(
        read_loop(&sock),
        write_loop(&sock),
        &sock.link.writer_done,
        &sock.link.work,
    );
    let result = halves.await;
    if let Err(end) = result {
        let inflight = sock.link.inflight.borrow();
        let recorded = inflight.iter().filter(|f| f.timing.recorded).count() as u64;
        fail_connection(shared, rec, recorded, end);
    }
    rec.borrow_mut().udp.lost += sock.timed_out.get().saturating_sub(sock.late.get());
    account_unsent(shared, rec, &sock.link.source);
}

/// A UDP socket with the client's options, connected to the target.
pub(crate) fn open(shared: &Shared) -> io::Result<Async<UdpSocket>> {
    let addr = shared.addr();
    let opts = &shared.config().socket;
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    bench_server::socket::set_buffers(&socket, opts)?;
    socket.bind(&unspecified_for(addr).into())?;
    socket.connect(&addr.into())?;
    let socket = Async::new(UdpSocket::from(socket))?;
    shared.note_client_socket(SockRef::from(socket.get_ref()), false);
    Ok(socket)
}

async fn write_loop(sock: &Sock<'_>) -> Result<(), End> {
    let shared = sock.link.shared;
    let mut datagram = vec![0u8; shared.config().size.max.as_usize()];
    let mut seq = 0;
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
        seq = udp_echo::next_seq(seq);
        let request = Request { id: seq, ..request };
        seq += 1;
        let sent = Instant::now();
        let sent_ns = sent.saturating_duration_since(shared.start()).as_nanos() as u64;
        let payload = &mut datagram[..request.size];
        udp_echo::fill(shared.verifier(), &request, sent_ns, payload);
        let timing = Timing {
            intended,
            sent,
            recorded,
            held,
        };
        sock.highest_sent.set(Some(request.id));
        sock.link.inflight.borrow_mut().push_back(InFlight {
            request,
            timing,
            sent_ns,
        });
        sock.link.work.notify();
        match sock.socket.send(payload).await {
            Ok(_) => {
                let mut rec = sock.link.rec.borrow_mut();
                rec.sent(&timing, request.size);
                if recorded {
                    rec.udp.sent += 1;
                }
            }
            Err(e) => {
                // The datagram fails, the socket goes on: an EPERM from a firewall or a
                // refusal while the server restarts is one datagram's error. Yield, so a
                // send that fails at once every time cannot starve the other tasks.
                let failed = sock.link.inflight.borrow_mut().pop_back();
                if let Some(failed) = failed {
                    count_error(sock, &failed, &e, true);
                }
                future::yield_now().await;
            }
        }
    }
}

/// Counts one datagram's send or receive error: `refused` (ECONNREFUSED, from the ICMP
/// "port unreachable" of an earlier datagram) or `send` (any other error of `send`; a
/// receive error other than a refusal counts by its kind, see [`ErrorKind::from_io`]).
fn count_error(sock: &Sock<'_>, datagram: &InFlight, err: &io::Error, sending: bool) {
    let kind = if err.kind() == io::ErrorKind::ConnectionRefused {
        ErrorKind::Refused
    } else if sending {
        ErrorKind::Send
    } else {
        ErrorKind::from_io(err)
    };
    let what = if sending {
        "sending datagram"
    } else {
        "datagram"
    };
    let seq = datagram.request.id;
    sock.link
        .rec
        .borrow_mut()
        .failed(kind, 1, datagram.timing.recorded, || {
            format!("{what} {seq}: {err}")
        });
    sock.link.room.notify();
}

async fn read_loop(sock: &Sock<'_>) -> Result<(), End> {
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
            Some(Ok(n)) => reply(sock, &buf[..n], Instant::now()),
            Some(Err(e)) => {
                // A pending socket error (the ICMP refusal of a datagram in flight) is
                // that datagram's, not the socket's: the oldest in flight takes it.
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
    let timeout = sock.link.shared.config().timeout.0;
    let mut inflight = sock.link.inflight.borrow_mut();
    while let Some(front) = inflight.front().copied() {
        if now < front.timing.sent + timeout {
            break;
        }
        inflight.pop_front();
        let recorded = front.timing.recorded;
        let mut timed_out = sock.timed_out_seqs.borrow_mut();
        if timed_out.len() == TIMED_OUT_MEMORY {
            timed_out.pop_front();
        }
        timed_out.push_back((front.request.id, recorded));
        drop(timed_out);
        if recorded {
            sock.timed_out.set(sock.timed_out.get() + 1);
        }
        let seq = front.request.id;
        let limit = sock.link.shared.config().timeout;
        sock.link
            .rec
            .borrow_mut()
            .failed(ErrorKind::Timeout, 1, recorded, || {
                format!("no reply to datagram {seq} within {limit}")
            });
        sock.link.room.notify();
    }
}

/// Matches one reply to its request.
fn reply(sock: &Sock<'_>, datagram: &[u8], done: Instant) {
    let Ok(probe) = ProbeHeader::read_from(datagram) else {
        let len = datagram.len();
        let recorded = in_window(sock.link.shared, done);
        sock.link
            .rec
            .borrow_mut()
            .failed(ErrorKind::Protocol, 1, recorded, || {
                format!("reply of {len} bytes has no probe header")
            });
        return;
    };
    let seq = probe.seq;
    let position = sock
        .link
        .inflight
        .borrow()
        .iter()
        .position(|f| f.request.id == seq);
    let Some(position) = position else {
        stray(sock, seq, in_window(sock.link.shared, done));
        return;
    };
    let entry = sock
        .link
        .inflight
        .borrow_mut()
        .remove(position)
        .expect("found");
    sock.link.room.notify();
    let limit = sock.link.shared.config().timeout;
    if done.saturating_duration_since(entry.timing.sent) > limit.0 {
        // Later than `--timeout`, though its timer had not fired yet: timed out and late,
        // never ok, whatever the timer's slack.
        let recorded = entry.timing.recorded;
        let mut rec = sock.link.rec.borrow_mut();
        rec.failed(ErrorKind::Timeout, 1, recorded, || {
            format!("no reply to datagram {seq} within {limit}")
        });
        if recorded {
            rec.udp.late += 1;
            sock.timed_out.set(sock.timed_out.get() + 1);
            sock.late.set(sock.late.get() + 1);
        }
        return;
    }
    let mut rec = sock.link.rec.borrow_mut();
    if sock.highest_answered.get().is_some_and(|h| h > seq) {
        if entry.timing.recorded {
            rec.udp.reordered += 1;
        }
    } else {
        sock.highest_answered.set(Some(seq));
    }
    match verify(sock, &entry, datagram) {
        Ok(()) => {
            if entry.timing.recorded {
                rec.udp.received += 1;
            }
            rec.ok(&entry.timing, done, datagram.len());
        }
        Err(message) => rec.failed(ErrorKind::Mismatch, 1, entry.timing.recorded, || message),
    }
}

/// A reply to nothing in flight: late (its request timed out), duplicated (its request
/// was answered), or never sent.
fn stray(sock: &Sock<'_>, seq: u64, recorded: bool) {
    let mut rec = sock.link.rec.borrow_mut();
    // Numbers above the highest sent, and the ones the sequence skips, were never sent.
    if sock.highest_sent.get().is_none_or(|h| seq > h) || udp_echo::next_seq(seq) != seq {
        rec.failed(ErrorKind::Protocol, 1, recorded, || {
            format!("reply with sequence number {seq}, which was never sent")
        });
        return;
    }
    let mut timed_out = sock.timed_out_seqs.borrow_mut();
    match timed_out.iter().position(|(s, _)| *s == seq) {
        Some(i) => {
            let (_, recorded) = timed_out.remove(i).expect("found");
            if recorded {
                rec.udp.late += 1;
                sock.late.set(sock.late.get() + 1);
            }
        }
        None if recorded => rec.udp.duplicated += 1,
        None => {}
    }
}

/// Whether `at` falls in the recorded part of the run.
fn in_window(shared: &Shared, at: Instant) -> bool {
    at >= shared.record_start() && shared.end().is_none_or(|end| at < end)
}

fn verify(sock: &Sock<'_>, entry: &InFlight, datagram: &[u8]) -> Result<(), String> {
    let expect = sock.link.shared.config().expect;
    udp_echo::verify(
        sock.link.shared.verifier(),
        expect,
        &entry.request,
        entry.sent_ns,
        datagram,
    )
}

/// The address a UDP socket binds to before connecting to `target`.
pub(crate) fn unspecified_for(target: SocketAddr) -> SocketAddr {
    match target {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("literal"),
        SocketAddr::V6(_) => "[::]:0".parse().expect("literal"),
    }
}
