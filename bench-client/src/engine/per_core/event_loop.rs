//! One client loop: opens its connections (non-blocking connect, registered once,
//! edge-triggered), then turns until every one is done: wait, dispatch the edges, pop
//! the due deadlines, notice a stop. Each turn reads until a short read (drained) or
//! `WouldBlock`, lets the session send what is due, and writes until the session has
//! nothing left or the socket is full.
//!
//! Pacing: the loop's only timer is epoll_wait's timeout, taken from the timer heap
//! (`epoll_pwait2`, to the nanosecond): no timer syscall at all, and a due request goes
//! out within a wake-up's time of its intended send time. Requests
//! due by the time the loop looks are sent in one batch, each recorded at the real time
//! of that batch (the session's `poll_send`), so the send lag stays honest.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bench_server::engine::poller::{Events, Poller, Readiness};
use bench_server::engine::slab::{Key, Slab, tag_of};
use bench_server::engine::timers::Timers;
use bench_server::engine::waker::Waker;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::super::conn::End;
use super::super::session::TcpSession;
use super::super::shared::Shared;
use crate::record::Recorder;
use crate::report::ErrorKind;
use crate::workload::StreamWorkload;

/// How close a deadline must be for the loop to poll (a zero timeout) instead of
/// sleeping: below this, a wake-up costs more than it saves.
pub(crate) const SPIN_MARGIN: Duration = Duration::from_micros(20);

/// Events taken per wait.
const EVENTS: usize = 1024;

/// One connection of the loop.
struct Conn<W: StreamWorkload> {
    stream: TcpStream,
    session: TcpSession<W>,
    /// Connecting: until when (then it fails with `connect`).
    connecting: Option<Instant>,
    readable: bool,
    writable: bool,
    /// An edge said the peer closed: read on until 0 or `WouldBlock`.
    hangup: bool,
    /// The earliest deadline this connection has in the heap.
    scheduled: Option<Instant>,
}

/// What one loop owns besides its connections.
struct Loop<'a> {
    shared: &'a Shared,
    rec: &'a mut Recorder,
    timers: Timers<Key>,
}

/// Runs connections `indices` of the run on this thread until each is done.
///
/// # Errors
/// `epoll_wait`'s (a bug); connection errors are the connections' and are recorded.
pub(crate) fn run<W: StreamWorkload>(
    shared: &Shared,
    poller: &Poller,
    waker: &Waker,
    workload: &W,
    indices: impl Iterator<Item = usize>,
    rec: &mut Recorder,
) -> io::Result<()> {
    let mut lp = Loop {
        shared,
        rec,
        timers: Timers::new(),
    };
    let mut conns: Slab<Conn<W>> = Slab::new();
    let now = Instant::now();
    for index in indices {
        lp.open(poller, &mut conns, workload, index, now);
    }
    let mut events = Events::with_capacity(EVENTS);
    let mut stop_seen = false;
    // The end of the recorded part: one deadline of the loop's, not one per session.
    let mut end = shared.end();
    while !conns.is_empty() {
        let next = match (lp.timers.next_deadline(), end) {
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
            if let Some(conn) = conns.get_mut(key) {
                conn.note(r);
            }
            lp.drive(&mut conns, key, now, false);
        }
        while let Some((at, key)) = lp.timers.pop_due(now) {
            if let Some(conn) = conns.get_mut(key)
                && conn.scheduled == Some(at)
            {
                conn.scheduled = None;
            }
            lp.drive(&mut conns, key, now, true);
        }
        if end.is_some_and(|end| now >= end) {
            // Sessions waiting for a free slot finish their writers now.
            end = None;
            for key in conns.keys() {
                lp.drive(&mut conns, key, now, true);
            }
        }
        if !stop_seen && shared.stop_requested() {
            // No new requests: every connection finishes its writer now and waits for
            // what it has in flight (up to the timeout).
            stop_seen = true;
            for key in conns.keys() {
                lp.drive(&mut conns, key, now, true);
            }
        }
    }
    Ok(())
}

/// The wait before the next deadline, to the nanosecond (rustix's `linux_5_11`
/// feature: `epoll_pwait2`; the loop threads' timer slack is 1 us): no timer syscall
/// and no millisecond rounding. A deadline closer than [`SPIN_MARGIN`] is polled for.
pub(crate) fn wait_timeout(next: Option<Instant>, now: Instant) -> Option<Duration> {
    let left = next?.saturating_duration_since(now);
    Some(if left < SPIN_MARGIN {
        Duration::ZERO
    } else {
        left
    })
}

impl<W: StreamWorkload> Conn<W> {
    /// Keeps the edge's news until the reads and writes have used it.
    fn note(&mut self, r: Readiness) {
        self.readable |= r.readable || r.hangup || r.error;
        self.writable |= r.writable || r.error;
        self.hangup |= r.hangup;
    }

    /// Reads until drained (a short read, unless a hangup was seen) or `WouldBlock`;
    /// `Ok(true)`: the peer closed and nothing more is owed.
    fn read(&mut self, now: Instant, rec: &mut Recorder) -> Result<bool, End> {
        while self.readable {
            let buf = self.session.read_buf();
            let room = buf.len();
            match self.stream.read(buf) {
                Ok(0) => return self.session.peer_closed().map(|()| true),
                Ok(n) => {
                    self.session.filled(n, now, rec)?;
                    if n < room && !self.hangup {
                        self.readable = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(End::io("reading a reply", &e)),
            }
        }
        Ok(false)
    }

    /// Writes what the session has until it has nothing or the socket is full.
    fn write(&mut self) -> Result<(), End> {
        while self.writable {
            let out = self.session.pending_write();
            if out.is_empty() {
                return Ok(());
            }
            let offered = out.len();
            match self.stream.write(out) {
                Ok(0) => {
                    return Err(End::io(
                        "writing a request",
                        &io::ErrorKind::WriteZero.into(),
                    ));
                }
                Ok(n) => {
                    self.session.wrote(n);
                    if n < offered {
                        self.writable = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(End::io("writing a request", &e)),
            }
        }
        Ok(())
    }
}

impl Loop<'_> {
    /// Starts connection `index`'s non-blocking connect; a socket that cannot even be
    /// made is a failed connection at once.
    fn open<W: StreamWorkload>(
        &mut self,
        poller: &Poller,
        conns: &mut Slab<Conn<W>>,
        workload: &W,
        index: usize,
        now: Instant,
    ) {
        let session = TcpSession::new(self.shared, index, workload);
        let stream = match start_connect(self.shared, index) {
            Ok(stream) => stream,
            Err(e) => return self.connect_failed(session, &e),
        };
        let deadline = now + self.shared.config().timeout.0;
        let key = conns.insert(Conn {
            stream,
            session,
            connecting: Some(deadline),
            readable: false,
            writable: false,
            hangup: false,
            scheduled: Some(deadline),
        });
        let conn = conns.get_mut(key).expect("just inserted");
        if let Err(e) = poller.add(&conn.stream, key.token()) {
            let conn = conns.remove(key).expect("just inserted");
            return self.connect_failed(conn.session, &e);
        }
        self.timers.schedule(deadline, key);
    }

    fn connect_failed<W: StreamWorkload>(&mut self, session: TcpSession<W>, e: &io::Error) {
        let end = End {
            kind: ErrorKind::Connect,
            message: format!("connecting to {}: {e}", self.shared.addr()),
        };
        session.close(self.shared, self.rec, Err(end));
    }

    /// Moves connection `key` on after an edge or a deadline (`timer`): connect, read,
    /// send what is due, write, then either close it or keep its next deadline.
    fn drive<W: StreamWorkload>(
        &mut self,
        conns: &mut Slab<Conn<W>>,
        key: Key,
        now: Instant,
        timer: bool,
    ) {
        let Some(conn) = conns.get_mut(key) else {
            return; // stale: the connection is gone
        };
        let step = self.step(conn, now, timer);
        match step {
            Ok(false) => self.reschedule(conn, key),
            Ok(true) => {
                let conn = conns.remove(key).expect("live");
                conn.session.close(self.shared, self.rec, Ok(()));
            }
            Err(end) => {
                let conn = conns.remove(key).expect("live");
                conn.session.close(self.shared, self.rec, Err(end));
            }
        }
    }

    /// One step of a connection; `Ok(true)`: it is done.
    fn step<W: StreamWorkload>(
        &mut self,
        conn: &mut Conn<W>,
        now: Instant,
        timer: bool,
    ) -> Result<bool, End> {
        if let Some(deadline) = conn.connecting {
            if !self.connected(conn)? {
                if now >= deadline {
                    return Err(End {
                        kind: ErrorKind::Connect,
                        message: format!(
                            "connecting to {}: no answer within {}",
                            self.shared.addr(),
                            self.shared.config().timeout
                        ),
                    });
                }
                return Ok(false);
            }
            conn.connecting = None;
            conn.session.poll_send(self.shared, self.rec, now);
        }
        if conn.read(now, self.rec)? {
            return Ok(true);
        }
        if timer {
            conn.session.handle_timeout(self.shared, self.rec, now)?;
        } else {
            conn.session.poll_send(self.shared, self.rec, now);
        }
        conn.write()?;
        Ok(conn.session.is_finished())
    }

    /// Whether a connecting socket's connect finished (`Err`: it failed).
    fn connected<W: StreamWorkload>(&self, conn: &mut Conn<W>) -> Result<bool, End> {
        if !conn.writable && !conn.readable {
            return Ok(false);
        }
        let connect_error = |e: io::Error| End {
            kind: ErrorKind::Connect,
            message: format!("connecting to {}: {e}", self.shared.addr()),
        };
        if let Some(e) = conn.stream.take_error().map_err(connect_error)? {
            return Err(connect_error(e));
        }
        match conn.stream.peer_addr() {
            Ok(_) => {}
            // Not connected yet (a spurious edge): wait for the next one.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
            Err(e) => return Err(connect_error(e)),
        }
        conn.stream
            .set_nodelay(self.shared.config().socket.nodelay)
            .map_err(connect_error)?;
        self.shared
            .note_client_socket(SockRef::from(&conn.stream), true);
        Ok(true)
    }

    /// Puts the connection's next deadline in the heap unless an earlier (or the same)
    /// one is there already: a later one is found when the earlier pops (lazy), so a
    /// request's timeout costs a heap entry only when it is the oldest's and none is set.
    fn reschedule<W: StreamWorkload>(&mut self, conn: &mut Conn<W>, key: Key) {
        let at = match conn.connecting {
            Some(deadline) => Some(deadline),
            None => conn.session.poll_timeout(self.shared),
        };
        if let Some(at) = at
            && conn.scheduled.is_none_or(|s| at < s)
        {
            self.timers.schedule(at, key);
            conn.scheduled = Some(at);
        }
    }
}

/// A non-blocking socket with the client's buffer sizes (set before connecting, so the
/// window scale fits them) and its `--bind-source` address, its connect started.
fn start_connect(shared: &Shared, index: usize) -> io::Result<TcpStream> {
    let addr = shared.addr();
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    bench_server::socket::set_buffers(&socket, &shared.config().socket)?;
    if let Some(source) = shared.source_for(index) {
        socket.bind(&source.into()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("binding the source address {source}: {e}"),
            )
        })?;
    }
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from(socket))
}
