//! One direction of a relayed TCP connection as a state machine over edge-triggered
//! readiness: [`Direction`] reads a chunk from one leg, writes it to the other, and
//! forwards the end of the stream (half-close) once every byte is out. How a chunk is
//! held (a user-space buffer, a pipe) is a [`Mover`]'s business; this file owns the
//! rules both strategies follow and knows nothing of polling or connections.
//!
//! The rules, for an edge-triggered socket: read until `WouldBlock` or a read the
//! mover says drained the socket (for `copy`, a short read: the next would only say
//! `EAGAIN`); write until done or `WouldBlock`, and after a partial write stop
//! reading this direction until the destination is writable again; after EOF, flush
//! then `shutdown(Write)` the other leg.

use std::io;
use std::net::{Shutdown, TcpStream};

/// What the last edges said about one socket; work resumes from it without a syscall.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ready {
    /// A read may return bytes (or EOF, or an error).
    pub(super) readable: bool,
    /// A write may take bytes (or fail).
    pub(super) writable: bool,
    /// The peer has shut down its write half (`EPOLLRDHUP`): a short read no longer
    /// means drained, since the EOF that follows comes with no further edge.
    pub(super) peer_closed: bool,
}

impl Ready {
    /// Takes in one edge: `hangup` (the peer closed its write half, or all of it) makes
    /// the socket readable, so the next read sees the EOF; `error` makes it readable and
    /// writable, so the next call sees the error. (A socket whose sending side is shut
    /// reports itself writable, so a write there fails rather than waits.)
    pub(super) fn update(&mut self, readable: bool, writable: bool, hangup: bool, error: bool) {
        self.readable |= readable || hangup || error;
        self.writable |= writable || error;
        self.peer_closed |= hangup;
    }
}

/// Where one direction stands after [`Direction::pump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Waiting for an edge (a readable source or a writable destination).
    Blocked,
    /// Stopped at its budget with bytes still to read: run again next turn, without
    /// waiting for an edge.
    Yield,
    /// EOF forwarded: every byte written and the destination's write half shut down.
    Done,
}

/// Chunks read and bytes written by [`Direction::pump`] calls, for the counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Moved {
    /// Reads that returned bytes.
    pub(super) chunks: u64,
    /// Bytes written to the destination.
    pub(super) bytes: u64,
}

/// A socket the relay can shut the write half of.
pub(super) trait HalfClose {
    /// `shutdown(Write)`; a peer already gone (`NotConnected`) has nothing left to tell.
    fn shutdown_write(&self) -> io::Result<()>;
}

impl HalfClose for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
            _ => Ok(()),
        }
    }
}

/// How one direction holds a chunk between reading and writing it.
pub(super) trait Mover<L: ?Sized> {
    /// Reads from `from` into the (empty) holding space: the bytes read, 0 at EOF.
    fn fill(&mut self, from: &L) -> io::Result<usize>;
    /// Writes held bytes to `to`: how many went.
    fn drain(&mut self, to: &L) -> io::Result<usize>;
    /// Bytes held, read but not yet written.
    fn held(&self) -> usize;
    /// Whether a fill of `n` bytes shows the socket drained (so the next fill would
    /// only say `EAGAIN` and the loop waits for an edge instead).
    fn drained_by(&self, n: usize) -> bool;
}

/// One direction of a connection: its mover and how far the stream has got.
#[derive(Debug)]
pub(super) struct Direction<M> {
    mover: M,
    /// The source said EOF.
    eof: bool,
    /// EOF forwarded.
    done: bool,
}

impl<M> Direction<M> {
    /// A direction at the start of its stream.
    pub(super) fn new(mover: M) -> Self {
        Direction {
            mover,
            eof: false,
            done: false,
        }
    }

    /// Whether the end of the stream has been forwarded.
    #[cfg(test)]
    pub(super) fn is_done(&self) -> bool {
        self.done
    }

    /// Moves bytes from `from` to `to` as far as their readiness allows, reading at
    /// most `budget` times; counts into `moved`.
    ///
    /// # Errors
    /// A read, write or shutdown error: the connection ends.
    pub(super) fn pump<L: HalfClose + ?Sized>(
        &mut self,
        from: (&L, &mut Ready),
        to: (&L, &mut Ready),
        budget: u32,
        moved: &mut Moved,
    ) -> io::Result<Step>
    where
        M: Mover<L>,
    {
        let ((from, from_ready), (to, to_ready)) = (from, to);
        let mut reads = 0;
        while !self.done {
            if !self.flush(to, to_ready, moved)? {
                return Ok(Step::Blocked);
            }
            if self.eof {
                to.shutdown_write()?;
                self.done = true;
            } else if !from_ready.readable {
                return Ok(Step::Blocked);
            } else if reads == budget {
                return Ok(Step::Yield);
            } else {
                reads += 1;
                self.fill(from, from_ready, moved)?;
            }
        }
        Ok(Step::Done)
    }

    /// One read into the mover, with what it says about the source's readiness.
    fn fill<L: ?Sized>(&mut self, from: &L, ready: &mut Ready, moved: &mut Moved) -> io::Result<()>
    where
        M: Mover<L>,
    {
        match self.mover.fill(from) {
            Ok(0) => self.eof = true,
            Ok(n) => {
                moved.chunks += 1;
                if self.mover.drained_by(n) && !ready.peer_closed {
                    ready.readable = false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Writes what the mover holds; true once it holds nothing.
    fn flush<L: ?Sized>(&mut self, to: &L, ready: &mut Ready, moved: &mut Moved) -> io::Result<bool>
    where
        M: Mover<L>,
    {
        while self.mover.held() > 0 {
            if !ready.writable {
                return Ok(false);
            }
            match self.mover.drain(to) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    moved.bytes += n as u64;
                    // A partial write filled the send buffer: wait for its edge.
                    if self.mover.held() > 0 {
                        ready.writable = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// The `copy` strategy's mover: one user-space buffer (allocated once per connection).
#[derive(Debug)]
pub(super) struct CopyMover {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl CopyMover {
    /// A mover reading up to `buffer` bytes at a time.
    pub(super) fn new(buffer: usize) -> Self {
        CopyMover {
            buf: vec![0u8; buffer].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }
}

/// A stream socket read and written through a shared reference.
pub(super) trait Stream {
    /// One `read`.
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// One `write`.
    fn write_some(&self, buf: &[u8]) -> io::Result<usize>;
}

impl Stream for TcpStream {
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &*self, buf)
    }

    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut &*self, buf)
    }
}

impl<L: Stream + ?Sized> Mover<L> for CopyMover {
    fn fill(&mut self, from: &L) -> io::Result<usize> {
        let n = from.read_some(&mut self.buf)?;
        (self.start, self.end) = (0, n);
        Ok(n)
    }

    fn drain(&mut self, to: &L) -> io::Result<usize> {
        let n = to.write_some(&self.buf[self.start..self.end])?;
        self.start += n;
        Ok(n)
    }

    fn held(&self) -> usize {
        self.end - self.start
    }

    /// A read shorter than the buffer emptied the receive queue: the kernel copies
    /// everything queued up to the length asked for.
    fn drained_by(&self, n: usize) -> bool {
        n < self.buf.len()
    }
}

#[cfg(test)]
#[path = "pump_tests.rs"]
mod tests;
