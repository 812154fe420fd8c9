//! The `threads` and `iterative` models: plain blocking sockets, no reactor. One
//! accept thread per listener (a nonblocking listener waited on with `poll` and a
//! [`POLL_STOP`] timeout, so it notices the stop); each admitted connection is served
//! by [`drive`] on a thread of its own (`threads`) or on the accept thread itself, one
//! at a time (`iterative`, the next waits in the listen backlog).
//!
//! [`drive`] moves bytes and time for one [`Session`] with blocking reads whose timeout
//! is the time to the session's next deadline (at most [`POLL_STOP`], so the thread
//! sees the stop), blocking writes with a [`POLL_STOP`] timeout (a peer that does not
//! read is then the session's idle rule), and `exec` run inline (the thread is the
//! connection's own) but raced against the stop, so it is cut at the grace end too.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use smol::Timer;
use smol::future::FutureExt as _;

use super::admit::{NotAdmitted, Shared, admit, spawn_blocking_refusal};
use super::serve::{AnySession, ConnCtx, Next};
use crate::config::Model;
use crate::conn::{ConnGuard, fail_session, io_failure, warn_io};
use crate::protocol::exec;
use crate::runtime::{ACCEPT_BACKOFF, Tracker};
use crate::session::{ExecResult, Session, earliest};
use crate::stats::Stats;

/// The longest a blocking call waits before its thread looks at the stop (and the
/// clock) again: short enough that a stop is prompt, long enough that an idle
/// connection's thread wakes only ten times a second.
const POLL_STOP: Duration = Duration::from_millis(100);

/// Starts the accept thread of a `threads` or `iterative` endpoint.
///
/// # Errors
/// Making the listener nonblocking, or starting the thread.
pub(super) fn start(
    listener: TcpListener,
    stats: Arc<Stats>,
    shared: Arc<Shared>,
    tracker: Tracker,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    thread::Builder::new()
        .name("bench-server-accept".to_owned())
        .spawn(move || accept_loop(&listener, &stats, &shared, &tracker))?;
    Ok(())
}

/// Accepts until the stop; the listener closes when the thread ends.
fn accept_loop(
    listener: &TcpListener,
    stats: &Arc<Stats>,
    shared: &Arc<Shared>,
    tracker: &Tracker,
) {
    while !shared.runtime.is_stopping() {
        match listener.accept() {
            Ok((stream, peer)) => serve_accepted(stream, peer, stats, shared, tracker),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(listener, PollFlags::IN)];
                let timeout = Timespec::try_from(POLL_STOP).expect("100 ms fits");
                // EINTR or an error: the next accept says what is wrong.
                let _ = poll(&mut fds, Some(&timeout));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // EMFILE and friends: count, log, and back off instead of spinning.
                warn_io(stats, &"accept failed", &e);
                thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

fn serve_accepted(
    stream: TcpStream,
    peer: SocketAddr,
    stats: &Arc<Stats>,
    shared: &Arc<Shared>,
    tracker: &Tracker,
) {
    let guard = match admit(&stream, peer, stats, shared, tracker) {
        Ok(guard) => guard,
        Err(NotAdmitted::Refused { open }) => {
            return spawn_blocking_refusal(stream, stats, open, shared, tracker);
        }
        Err(NotAdmitted::Failed) => return,
    };
    if let Err(e) = stream.set_nonblocking(false) {
        return warn_io(
            stats,
            &format_args!("{peer}: making the socket blocking"),
            &e,
        );
    }
    match shared.config.model {
        Model::Iterative => serve(stream, peer, guard, shared),
        _ => {
            let shared = Arc::clone(shared);
            let spawned = thread::Builder::new()
                .name("bench-server-conn".to_owned())
                .spawn(move || serve(stream, peer, guard, &shared));
            if let Err(e) = spawned {
                warn_io(stats, &"cannot start a connection thread", &e);
            }
        }
    }
}

/// Serves one admitted connection with its protocol's session; a panic is counted.
fn serve(stream: TcpStream, peer: SocketAddr, guard: ConnGuard, shared: &Shared) {
    let stats = guard.stats();
    let ctx = ConnCtx {
        stats,
        peer,
        shared,
    };
    ctx.unless_panics(|| match ctx.session(stats, Instant::now()) {
        AnySession::Echo(session) => drive(stream, session, &ctx),
        AnySession::Framed(session) => drive(stream, session, &ctx),
    });
}

/// The blocking socket of one connection.
struct Blocking {
    stream: TcpStream,
    /// The read timeout set now (set again only when it changes).
    read_timeout: Option<Duration>,
    eof: bool,
    grace_end: Option<Instant>,
}

/// How [`drive`] ended.
enum End {
    /// The session closed (counted already).
    Closed,
    /// The grace period ran out.
    Cut,
    /// An I/O error, to be counted.
    Failed(io::Error),
}

/// Serves one connection with `session` on this thread until the session closes, an
/// I/O error ends it, or the grace period after the stop runs out.
pub(super) fn drive<S: Session>(stream: TcpStream, mut session: S, ctx: &ConnCtx<'_>) {
    let mut b = Blocking {
        stream,
        read_timeout: None,
        eof: false,
        grace_end: None,
    };
    let end = match b.stream.set_write_timeout(Some(POLL_STOP)) {
        Err(e) => End::Failed(e),
        Ok(()) => loop {
            if let Some(end) = b.turn(&mut session, ctx) {
                break end;
            }
        },
    };
    match end {
        End::Closed => {}
        End::Cut => ctx.cut(&session),
        End::Failed(e) => fail_session(ctx.stats, ctx.peer, &io_failure(&e)),
    }
}

impl Blocking {
    /// One turn of the session loop: the clock and the stop, writes, actions, then
    /// one read (or a sleep to the next deadline); `Some` when the connection is over.
    fn turn(&mut self, session: &mut impl Session, ctx: &ConnCtx<'_>) -> Option<End> {
        let now = Instant::now();
        if !self.keep_time(session, ctx, now) {
            return Some(End::Cut);
        }
        if let Err(e) = self.write(session, ctx, now) {
            return Some(End::Failed(e));
        }
        ctx.count_served(session);
        match ctx.take_actions(session, &self.stream, now) {
            Next::Go => {}
            Next::Close => return Some(End::Closed),
            Next::Exec {
                line,
                mut output,
                max_output,
            } => {
                let Some(outcome) = self.exec(&line, &mut output, max_output, ctx) else {
                    return Some(End::Cut);
                };
                session.exec_done(ExecResult { output, outcome }, Instant::now());
                return None;
            }
        }
        if !session.outgoing().is_empty() {
            // A write timed out: look at the clock and the stop, then write on.
            return None;
        }
        let wait = self.wait_time(session, now);
        if session.wants_read() && !self.eof {
            return self.read(session, ctx, wait).err().map(End::Failed);
        }
        // A `sleep` under way, or a linger: nothing to do until the deadline.
        thread::sleep(wait);
        None
    }

    /// Notices the stop and the session's deadlines at `now`; false when the grace
    /// period is over.
    fn keep_time(&mut self, session: &mut impl Session, ctx: &ConnCtx<'_>, now: Instant) -> bool {
        if self.grace_end.is_none() && ctx.shared.runtime.is_stopping() {
            self.grace_end = Some(now + ctx.shared.config.grace);
            session.stop(now);
        }
        if self.grace_end.is_some_and(|end| now >= end) {
            return false;
        }
        if session.poll_timeout().is_some_and(|due| now >= due) {
            session.handle_timeout(now);
        }
        true
    }

    /// Runs an `exec` on this thread, still watching the stop: `None` when the grace
    /// period ran out first (the command is killed).
    fn exec(
        &self,
        line: &[u8],
        output: &mut Vec<u8>,
        max_output: u64,
        ctx: &ConnCtx<'_>,
    ) -> Option<Result<exec::ExecOutcome, String>> {
        let mut stop = ctx.shared.runtime.stop_signal();
        let (grace, grace_end) = (ctx.shared.config.grace, self.grace_end);
        smol::block_on(
            async { Some(exec::run(line, output, max_output).await) }.or(async {
                match grace_end {
                    Some(end) => {
                        Timer::at(end).await;
                    }
                    None => {
                        stop.as_mut().await;
                        Timer::after(grace).await;
                    }
                }
                None
            }),
        )
    }

    /// Writes what the session has, until it has nothing or a write times out.
    fn write(
        &mut self,
        session: &mut impl Session,
        ctx: &ConnCtx<'_>,
        now: Instant,
    ) -> io::Result<()> {
        loop {
            let out = session.outgoing();
            if out.is_empty() {
                return Ok(());
            }
            match self.stream.write_vectored(out.as_slices()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    ctx.wrote(n);
                    session.wrote(n, now);
                }
                Err(e) if is_timeout(&e) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// How long the next blocking call may wait: until the session's next deadline or
    /// the grace end, at most [`POLL_STOP`], at least a millisecond (a zero timeout
    /// would mean "forever" to the socket).
    fn wait_time(&self, session: &impl Session, now: Instant) -> Duration {
        earliest(session.poll_timeout(), self.grace_end)
            .map_or(POLL_STOP, |due| due.saturating_duration_since(now))
            .clamp(Duration::from_millis(1), POLL_STOP)
    }

    /// One blocking read of at most `wait`.
    fn read(
        &mut self,
        session: &mut impl Session,
        ctx: &ConnCtx<'_>,
        wait: Duration,
    ) -> io::Result<()> {
        if self.read_timeout != Some(wait) {
            self.stream.set_read_timeout(Some(wait))?;
            self.read_timeout = Some(wait);
        }
        match self.stream.read(session.read_buf()) {
            Ok(0) => {
                self.eof = true;
                session.peer_closed(Instant::now());
            }
            Ok(n) => {
                ctx.read(n);
                session.filled(n, Instant::now());
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// Whether a blocking call ended at its timeout (Linux says `EAGAIN`).
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
