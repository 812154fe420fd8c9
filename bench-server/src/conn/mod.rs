//! One accepted TCP connection as the protocol handlers see it ([`Conn`]): reads and
//! writes that give up when the connection makes no progress for `idle_timeout`, that
//! notice the server shutting down and the frame deadline (`watch`), counted bytes and
//! requests, failures counted and logged once (quoting the peer through `quote`), and a
//! lingering close that lets an error frame reach the peer.
//!
//! It must not know any protocol (that is `crate::protocol`, above it) nor how
//! connections are scheduled (`crate::server`); it uses only the runtime's stop signal
//! and the counters.

mod fail;
mod guard;
pub(crate) mod quote;
mod watch;

pub(crate) use fail::{fail, fail_session, io_failure, warn_io};
pub(crate) use guard::ConnGuard;

use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::future::{self, FutureExt as _};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};

use crate::runtime::{StopSignal, YIELD_EVERY};
use crate::stats::limiter::suppressed_note;
use crate::stats::{ErrorKind, Stats};
use quote::{MAX_QUOTE, clip};
pub(crate) use watch::Interrupt;
use watch::{Watch, until_idle};

/// Most bytes of a failure's detail in a log line: a message of ours around at most
/// [`MAX_QUOTE`] bytes of the peer's text.
const LOG_DETAIL: usize = 2 * MAX_QUOTE;

/// How long a connection that got an error frame may keep sending before it is closed:
/// a second lets a pipelining client's requests already in flight arrive (and be
/// discarded) so the close is a FIN, not a reset, without holding a bad client long.
const LINGER: Duration = Duration::from_secs(1);

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

    /// Counts one answered request (endpoint stats too) and yields to the executor after
    /// every [`YIELD_EVERY`] in a row: a client that always has its next request ready
    /// never makes a read return `Pending`, so without it one busy connection would hold
    /// its thread, and the other connections on it, its idle timer and the grace
    /// deadline would not run.
    pub(crate) async fn served_one(&mut self) {
        self.stats.requests.incr();
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
            self.stats.bytes_in.add(n);
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
        self.stats.bytes_out.add(n);
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
