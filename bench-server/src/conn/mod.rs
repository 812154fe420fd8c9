//! One accepted TCP connection as the protocol handlers see it: reads and writes that
//! give up when the connection makes no progress for `idle_timeout`, that notice the
//! server shutting down, and a lingering close that lets an error frame reach the peer.
//!
//! Protocol logic lives in [`crate::echo`] and [`crate::framed`]; scheduling (which
//! thread runs a connection) in [`crate::server`].

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use smol::future::{self, FutureExt as _};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};

use crate::stats::limiter::suppressed_note;
use quote::{MAX_QUOTE, clip};

pub(crate) mod quote;
use crate::stats::{ErrorKind, Stats};

/// Most bytes of a failure's detail in a log line: a message of ours around at most
/// [`MAX_QUOTE`] bytes of the peer's text.
const LOG_DETAIL: usize = 2 * MAX_QUOTE;

/// How long a connection that got an error frame may keep sending before it is closed.
const LINGER: Duration = Duration::from_secs(1);

/// A future that completes once, when the server starts shutting down.
pub(crate) type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What interrupted a read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// No progress for `idle_timeout`.
    Idle,
    /// The server started shutting down (reported once).
    Stop,
    /// The frame under way was not completed within the frame timeout.
    SlowFrame,
}

/// The result of [`Conn::read`].
#[derive(Debug)]
pub(crate) enum ReadEvent {
    /// `n > 0` bytes arrived.
    Data(usize),
    /// The peer closed its side.
    Eof,
    /// See [`Interrupt`].
    Interrupted(Interrupt),
}

/// Watches for idleness and shutdown without allocating per read: one timer, re-armed
/// only when it fires, and one stop future polled across reads.
struct Watch {
    idle: Option<Duration>,
    last_progress: Instant,
    timer: Timer,
    /// `None` once shutdown has begun (whoever noticed it first).
    stop: Option<StopSignal>,
    /// The frame deadline: when the frame under way must be complete, if one is.
    frame_due: Option<Instant>,
    /// Armed at most once per deadline in the future, re-armed lazily when it fires (like
    /// the idle timer), so a new frame's deadline costs no timer operation.
    frame_timer: Timer,
    frame_armed: bool,
}

impl Watch {
    fn new(idle: Option<Duration>, stop: StopSignal) -> Self {
        let now = Instant::now();
        Watch {
            idle,
            last_progress: now,
            timer: idle.map_or_else(Timer::never, |d| Timer::at(now + d)),
            stop: Some(stop),
            frame_due: None,
            frame_timer: Timer::never(),
            frame_armed: false,
        }
    }

    fn set_frame_due(&mut self, due: Option<Instant>) {
        self.frame_due = due;
        if let Some(due) = due
            && !self.frame_armed
        {
            self.frame_timer.set_at(due);
            self.frame_armed = true;
        }
    }

    /// Whether the frame deadline has passed (polled only while one may be armed).
    fn poll_frame(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        while self.frame_armed && Pin::new(&mut self.frame_timer).poll(cx).is_ready() {
            match self.frame_due {
                None => self.frame_armed = false,
                Some(due) if Instant::now() >= due => {
                    self.frame_armed = false;
                    self.frame_due = None;
                    return true;
                }
                Some(due) => self.frame_timer.set_at(due),
            }
        }
        false
    }

    fn progress(&mut self) {
        if self.idle.is_some() {
            self.last_progress = Instant::now();
        }
    }

    /// Completes with the next interruption. `Stop` is reported once; after it only
    /// idleness (and, with `frames`, the frame deadline) can interrupt (and
    /// [`Conn::stopping`] stays true).
    async fn interrupted(&mut self, frames: bool) -> Interrupt {
        future::poll_fn(|cx| {
            if let Some(stop) = self.stop.as_mut()
                && stop.as_mut().poll(cx).is_ready()
            {
                self.stop = None;
                return Poll::Ready(Interrupt::Stop);
            }
            if frames && self.poll_frame(cx) {
                return Poll::Ready(Interrupt::SlowFrame);
            }
            while Pin::new(&mut self.timer).poll(cx).is_ready() {
                let deadline = self.last_progress + self.idle.expect("timer armed only with idle");
                if Instant::now() >= deadline {
                    return Poll::Ready(Interrupt::Idle);
                }
                self.timer.set_at(deadline);
            }
            Poll::Pending
        })
        .await
    }
}

/// Runs `io` until it completes or the connection has made no progress for the idle
/// timeout (shutdown is ignored: a started write is finished).
async fn until_idle<T>(
    watch: &mut Watch,
    io: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    io.or(async {
        while watch.interrupted(false).await != Interrupt::Idle {}
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "peer made no progress for the idle timeout",
        ))
    })
    .await
}

/// A connection yields to its executor after this many requests in a row (see
/// [`crate::runtime::YIELD_EVERY`]): otherwise one busy client would hold its thread,
/// and the other connections on it, its idle timer and the grace deadline would not run.
use crate::runtime::YIELD_EVERY;

/// An accepted connection with its counters.
pub(crate) struct Conn {
    stream: Async<TcpStream>,
    peer: SocketAddr,
    stats: Arc<Stats>,
    watch: Watch,
    /// Requests answered on this connection.
    served: u64,
}

impl Conn {
    pub(crate) fn new(
        stream: Async<TcpStream>,
        peer: SocketAddr,
        stats: Arc<Stats>,
        idle: Option<Duration>,
        stop: StopSignal,
    ) -> Self {
        Conn {
            stream,
            peer,
            stats,
            watch: Watch::new(idle, stop),
            served: 0,
        }
    }

    /// Counts one answered request (endpoint stats too) and now and then yields to
    /// the executor (see [`YIELD_EVERY`]).
    pub(crate) async fn served_one(&mut self) {
        self.stats.request();
        self.served += 1;
        if self.served.is_multiple_of(YIELD_EVERY) {
            future::yield_now().await;
        }
    }

    /// Requests answered on this connection so far.
    pub(crate) fn served(&self) -> u64 {
        self.served
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    pub(crate) fn stats_arc(&self) -> &Arc<Stats> {
        &self.stats
    }

    pub(crate) fn socket(&self) -> &TcpStream {
        self.stream.get_ref()
    }

    /// Whether the server has begun shutting down, checked without waiting. Handlers ask
    /// at request boundaries, so a connection that is never idle (a pipelining client)
    /// or that was writing when the stop began still closes at its next boundary.
    pub(crate) async fn stopping(&mut self) -> bool {
        let watch = &mut self.watch;
        if let Some(stop) = watch.stop.as_mut()
            && future::poll_once(stop.as_mut()).await.is_some()
        {
            watch.stop = None;
        }
        watch.stop.is_none()
    }

    /// Sets when the frame under way must be complete (`None`: no frame under way);
    /// [`Conn::read`] reports [`Interrupt::SlowFrame`] once it passes.
    pub(crate) fn set_frame_due(&mut self, due: Option<Instant>) {
        self.watch.set_frame_due(due);
    }

    /// Whether a frame deadline is set.
    pub(crate) fn frame_due(&self) -> bool {
        self.watch.frame_due.is_some()
    }

    /// Reads into `buf`, or reports why no data will come.
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadEvent> {
        let Conn { stream, watch, .. } = self;
        let event = async {
            match stream.read(buf).await? {
                0 => Ok::<_, io::Error>(ReadEvent::Eof),
                n => Ok(ReadEvent::Data(n)),
            }
        }
        .or(async { Ok(ReadEvent::Interrupted(watch.interrupted(true).await)) })
        .await?;
        if let ReadEvent::Data(n) = event {
            self.watch.progress();
            self.stats.bytes_in(n);
        }
        Ok(event)
    }

    /// Writes all of `bufs` (one vectored write when the socket takes it). Shutdown
    /// does not interrupt a write; a peer that stops reading for `idle_timeout` does.
    pub(crate) async fn write_all_vectored(
        &mut self,
        mut bufs: &mut [IoSlice<'_>],
    ) -> io::Result<()> {
        IoSlice::advance_slices(&mut bufs, 0);
        while !bufs.is_empty() {
            let n = until_idle(&mut self.watch, self.stream.write_vectored(bufs)).await?;
            self.wrote(n)?;
            IoSlice::advance_slices(&mut bufs, n);
        }
        Ok(())
    }

    /// Writes all of `buf`, like [`Conn::write_all_vectored`].
    pub(crate) async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = until_idle(&mut self.watch, self.stream.write(buf)).await?;
            self.wrote(n)?;
            buf = &buf[n..];
        }
        Ok(())
    }

    fn wrote(&mut self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.watch.progress();
        self.stats.bytes_out(n);
        Ok(())
    }

    /// Ends the connection after an error frame: sends FIN, then reads and discards
    /// what the peer still sends (for up to a second), so the kernel does not answer
    /// unread data with a reset that would destroy the error frame in flight.
    pub(crate) async fn linger_close(&mut self) {
        let _ = self.stream.get_ref().shutdown(Shutdown::Write);
        let mut sink = [0u8; 4096];
        let drain = async {
            while let Ok(n) = self.stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        drain
            .or(async {
                Timer::after(LINGER).await;
            })
            .await;
    }

    /// Counts `kind` and logs it once for this connection.
    pub(crate) fn fail(&self, kind: ErrorKind, detail: &dyn std::fmt::Display) {
        self.stats.error(kind);
        let proto = self.stats.proto().as_str();
        match kind {
            ErrorKind::Reset | ErrorKind::IdleTimeout | ErrorKind::Truncated => {
                log::info!(
                    "{proto} {}: closing: {}: {detail}",
                    self.peer,
                    kind.as_str()
                );
            }
            _ => {
                // A flood of bad clients must not become a flood of lines: one per
                // second, saying how many were held back; the detail may quote the peer.
                if let Some(held) = self.stats.warn_allowed() {
                    let detail = detail.to_string();
                    log::warn!(
                        "{proto} {}: closing: {}: {}{}",
                        self.peer,
                        kind.as_str(),
                        clip(&detail, LOG_DETAIL),
                        suppressed_note(held)
                    );
                }
            }
        }
    }

    /// Counts and logs an I/O error by its kind.
    pub(crate) fn fail_io(&self, err: &io::Error) {
        let kind = if err.kind() == io::ErrorKind::TimedOut {
            ErrorKind::IdleTimeout
        } else {
            ErrorKind::from_io(err)
        };
        self.fail(kind, err);
    }
}
