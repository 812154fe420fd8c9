//! The `async` model's driver: one [`Session`] on one `Async<TcpStream>`, a task on the
//! shared smol runtime, moving bytes and time as `crate::session` describes. One read
//! per readiness (a short read means drained: the next read waits for readability
//! instead of hearing `EAGAIN`), one vectored write of [`Session::outgoing`] at a time,
//! one timer re-armed only when the session's next deadline comes earlier than the one
//! armed (a later one is picked up when the armed one fires), the stop signal polled
//! only while the task waits (and every [`YIELD_EVERY`] turns of a connection that is
//! always ready), and `exec` run as a future beside the connection, so the stop and the
//! grace cut are still watched while it runs.

use std::future::Future;
use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use smol::{Async, Timer, future};

use super::serve::{ConnCtx, Next};
use crate::conn::{fail_session, io_failure};
use crate::protocol::exec;
use crate::runtime::{StopSignal, YIELD_EVERY};
use crate::session::{ExecResult, Session, earliest};

/// An `exec` under way: its output and outcome when done.
type ExecTask = Pin<Box<dyn Future<Output = ExecResult> + Send>>;

/// What ended a wait.
enum Wake {
    /// The socket may have changed (or there was work to do without waiting).
    Io,
    /// The armed deadline passed.
    Timer,
    /// The server began shutting down.
    Stop,
    /// The `exec` under way finished.
    Exec(ExecResult),
}

/// The socket and time side of one connection.
struct Driver {
    stream: Async<TcpStream>,
    /// Whether a read or write may succeed without waiting (false after a short read,
    /// `WouldBlock` or a short write, until the reactor says otherwise).
    readable: bool,
    writable: bool,
    /// The peer closed its side: nothing more to read.
    eof: bool,
    timer: Timer,
    /// When `timer` fires (`None`: not armed).
    armed: Option<Instant>,
    /// `None` once the stop was seen.
    stop: Option<StopSignal>,
    /// When the grace period ends, once the stop was seen.
    grace_end: Option<Instant>,
    exec: Option<ExecTask>,
    /// Turns in a row that found work without waiting.
    turns: u64,
}

/// Serves one connection with `session` until the session closes, an I/O error ends
/// it, or the grace period after the stop runs out. Counts everything in `ctx.stats`.
pub(super) async fn drive<S: Session>(stream: Async<TcpStream>, mut session: S, ctx: &ConnCtx<'_>) {
    let mut d = Driver::new(stream, ctx);
    loop {
        let now = Instant::now();
        if let Err(e) = d.move_bytes(&mut session, ctx, now) {
            return fail_session(ctx.stats, ctx.peer, &io_failure(&e));
        }
        ctx.count_served(&mut session);
        match ctx.take_actions(&mut session, d.stream.get_ref(), now) {
            Next::Go => {}
            Next::Close => return,
            Next::Exec {
                line,
                output,
                max_output,
            } => d.exec = Some(start_exec(line, output, max_output)),
        }
        d.arm(&session);
        let wake = d.wait(&session).await;
        if !d.woke(wake, &mut session, ctx) {
            return ctx.cut(&session);
        }
    }
}

/// Runs an `exec` as a future of its own (dropping it kills the command).
fn start_exec(line: Vec<u8>, mut output: Vec<u8>, max_output: u64) -> ExecTask {
    Box::pin(async move {
        let outcome = exec::run(&line, &mut output, max_output).await;
        ExecResult { output, outcome }
    })
}

impl Driver {
    fn new(stream: Async<TcpStream>, ctx: &ConnCtx<'_>) -> Self {
        Driver {
            stream,
            readable: true,
            writable: true,
            eof: false,
            timer: Timer::never(),
            armed: None,
            stop: Some(ctx.shared.runtime.stop_signal()),
            grace_end: None,
            exec: None,
            turns: 0,
        }
    }

    /// Hands what ended a wait to the session; false when the grace period is over.
    fn woke(&mut self, wake: Wake, session: &mut impl Session, ctx: &ConnCtx<'_>) -> bool {
        let now = Instant::now();
        match wake {
            Wake::Io => {}
            Wake::Exec(result) => session.exec_done(result, now),
            Wake::Stop => {
                self.grace_end = Some(now + ctx.shared.config.grace);
                session.stop(now);
            }
            Wake::Timer if self.grace_end.is_some_and(|end| now >= end) => return false,
            Wake::Timer => session.handle_timeout(now),
        }
        true
    }

    /// One read when the session wants bytes and the socket may have some, then writes
    /// until the session has nothing to write or the socket takes no more.
    fn move_bytes(
        &mut self,
        session: &mut impl Session,
        ctx: &ConnCtx<'_>,
        now: Instant,
    ) -> io::Result<()> {
        if session.wants_read() && self.readable && !self.eof {
            self.read_once(session, ctx, now)?;
        }
        while self.writable {
            let out = session.outgoing();
            if out.is_empty() {
                break;
            }
            let total = out.total();
            match self.stream.get_ref().write_vectored(out.as_slices()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    ctx.wrote(n);
                    session.wrote(n, now);
                    // A short write: the send buffer is full.
                    self.writable = n == total;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn read_once(
        &mut self,
        session: &mut impl Session,
        ctx: &ConnCtx<'_>,
        now: Instant,
    ) -> io::Result<()> {
        let buf = session.read_buf();
        let room = buf.len();
        match self.stream.get_ref().read(buf) {
            Ok(0) => {
                self.eof = true;
                session.peer_closed(now);
            }
            Ok(n) => {
                ctx.read(n);
                session.filled(n, now);
                // A short read drained the socket: wait for the next readiness.
                self.readable = n == room;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Arms the timer at the session's next deadline (or the grace end) when that is
    /// earlier than the one armed; a later deadline waits until the armed one fires.
    fn arm(&mut self, session: &impl Session) {
        let Some(due) = earliest(session.poll_timeout(), self.grace_end) else {
            return;
        };
        if self.armed.is_none_or(|armed| due < armed) {
            self.timer.set_at(due);
            self.armed = Some(due);
        }
    }

    /// Whether there is work without waiting: bytes the session wants that the socket
    /// may hold, or bytes to write that the socket may take.
    fn ready(&self, session: &impl Session) -> bool {
        (session.wants_read() && self.readable && !self.eof)
            || (self.writable && !session.outgoing().is_empty())
    }

    /// Waits for the socket (what the session needs of it), the timer, the stop or the
    /// `exec`. With work ready it returns at once, but every [`YIELD_EVERY`] turns it
    /// yields to the executor first and looks at the stop and the timer, so a client
    /// that always has its next request ready neither holds the thread nor escapes the
    /// stop.
    async fn wait(&mut self, session: &impl Session) -> Wake {
        let ready = self.ready(session);
        if ready {
            self.turns += 1;
            if !self.turns.is_multiple_of(YIELD_EVERY) {
                return Wake::Io;
            }
            future::yield_now().await;
        } else {
            self.turns = 0;
        }
        let want_read = session.wants_read() && !self.eof && !self.readable;
        let want_write = !self.writable && !session.outgoing().is_empty();
        future::poll_fn(|cx| self.poll_wake(cx, ready, want_read, want_write)).await
    }

    /// One look at everything a connection waits on, in order: the stop, the `exec`,
    /// the timer, then the socket's readiness in the directions wanted.
    fn poll_wake(
        &mut self,
        cx: &mut Context<'_>,
        ready: bool,
        want_read: bool,
        want_write: bool,
    ) -> Poll<Wake> {
        if let Some(stop) = self.stop.as_mut()
            && stop.as_mut().poll(cx).is_ready()
        {
            self.stop = None;
            return Poll::Ready(Wake::Stop);
        }
        if let Some(exec) = self.exec.as_mut()
            && let Poll::Ready(result) = exec.as_mut().poll(cx)
        {
            self.exec = None;
            return Poll::Ready(Wake::Exec(result));
        }
        if self.armed.is_some() && Pin::new(&mut self.timer).poll(cx).is_ready() {
            self.armed = None;
            return Poll::Ready(Wake::Timer);
        }
        let mut woke = ready;
        // An error is readiness too: the next read or write reports it.
        if want_read && self.stream.poll_readable(cx).is_ready() {
            self.readable = true;
            woke = true;
        }
        if want_write && self.stream.poll_writable(cx).is_ready() {
            self.writable = true;
            woke = true;
        }
        if woke {
            Poll::Ready(Wake::Io)
        } else {
            Poll::Pending
        }
    }
}
