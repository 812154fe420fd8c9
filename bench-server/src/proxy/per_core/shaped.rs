//! [`Lane`]: one direction of a connection with TCP shaping impairments on (`copy`
//! only): either the plain [`Direction`] (that way is not shaped) or a [`Shaped`]
//! pump, which reads into the [`Shaper`]'s bounded queue, writes what it says may go
//! now, and tells the loop when to look again. The rules of edge-triggered readiness
//! are those of `pump`; the shaping rules are the shaper's.

use std::io;
use std::time::Instant;

use super::pump::{CopyMover, Direction, HalfClose, Moved, Ready, Step, Stream};
use crate::proxy::shape::{Next, Shaper, Tally};

/// Reads and writes one pump call may make per `budget` unit.
const OPS_PER_BUDGET: u32 = 2;

/// One direction of a shaped connection.
// Both lanes live in one box per shaped connection: a plain lane beside a shaped one
// wastes a few hundred bytes there, which is cheaper than a second allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Lane {
    /// Not shaped this way: the fast path's rules.
    Plain(Direction<CopyMover>),
    /// Shaped this way.
    Shaped(Shaped),
}

/// A direction with its shaping plan and how far the stream has got.
#[derive(Debug)]
pub(super) struct Shaped {
    shaper: Shaper,
    /// The source said EOF.
    eof: bool,
    /// EOF forwarded.
    done: bool,
}

/// Where a lane stands: its step and, when it waits for time, until when.
pub(super) type LaneStep = (Step, Option<Instant>);

impl Lane {
    /// Moves what readiness and the plan allow at `now` (see [`Direction::pump`]).
    ///
    /// # Errors
    /// A read, write or shutdown error: the connection ends.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pump<L: Stream + HalfClose + ?Sized>(
        &mut self,
        from: (&L, &mut Ready),
        to: (&L, &mut Ready),
        budget: u32,
        now: Instant,
        moved: &mut Moved,
        tally: &mut Tally,
    ) -> io::Result<LaneStep> {
        match self {
            Lane::Plain(d) => Ok((d.pump(from, to, budget, moved)?, None)),
            Lane::Shaped(s) => s.pump(from, to, budget, now, moved, tally),
        }
    }
}

impl Shaped {
    /// A direction at the start of its stream.
    pub(super) fn new(shaper: Shaper) -> Self {
        Shaped {
            shaper,
            eof: false,
            done: false,
        }
    }

    /// Writes what may go, reads while the queue has room, forwards the FIN when due;
    /// at most `budget` x 2 reads and writes.
    fn pump<L: Stream + HalfClose + ?Sized>(
        &mut self,
        from: (&L, &mut Ready),
        to: (&L, &mut Ready),
        budget: u32,
        now: Instant,
        moved: &mut Moved,
        tally: &mut Tally,
    ) -> io::Result<LaneStep> {
        let ((from, from_ready), (to, to_ready)) = (from, to);
        let mut ops = 0;
        while !self.done {
            if ops >= budget * OPS_PER_BUDGET {
                return Ok((Step::Yield, None));
            }
            let (wrote, wake) = self.write(to, to_ready, now, moved, tally)?;
            if wrote {
                ops += 1;
                continue;
            }
            if self.read(from, from_ready, now, moved, tally)? {
                ops += 1;
                continue;
            }
            return Ok((Step::Blocked, wake));
        }
        Ok((Step::Done, None))
    }

    /// One write (or the FIN) if the plan and readiness allow it: whether a syscall
    /// was made, and when the plan allows more.
    fn write<L: Stream + HalfClose + ?Sized>(
        &mut self,
        to: &L,
        ready: &mut Ready,
        now: Instant,
        moved: &mut Moved,
        tally: &mut Tally,
    ) -> io::Result<(bool, Option<Instant>)> {
        match self.shaper.next(now, tally) {
            Next::Write(_) if !ready.writable => Ok((false, None)),
            Next::Write(n) => {
                match to.write_some(&self.shaper.front()[..n]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(k) => {
                        self.shaper.wrote(k, now, tally);
                        moved.bytes += k as u64;
                        // A partial write filled the send buffer: wait for its edge.
                        if k < n {
                            ready.writable = false;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                Ok((true, None))
            }
            Next::Wait(at) => Ok((false, Some(at))),
            Next::Idle => match self.shaper.fin_at() {
                Some(at) if at <= now => {
                    to.shutdown_write()?;
                    self.done = true;
                    Ok((true, None))
                }
                Some(at) => Ok((false, Some(at))),
                None => Ok((false, None)),
            },
        }
    }

    /// One read into the queue if it has room and the source may have bytes: whether
    /// a syscall was made.
    fn read<L: Stream + ?Sized>(
        &mut self,
        from: &L,
        ready: &mut Ready,
        now: Instant,
        moved: &mut Moved,
        tally: &mut Tally,
    ) -> io::Result<bool> {
        if self.eof || !ready.readable {
            return Ok(false);
        }
        let Some(space) = self.shaper.read_space() else {
            return Ok(false);
        };
        let asked = space.len();
        match from.read_some(space) {
            Ok(0) => {
                self.eof = true;
                self.shaper.closed(now, tally);
            }
            Ok(n) => {
                moved.chunks += 1;
                self.shaper.filled(n, now, tally);
                // A short read emptied the receive queue (see `CopyMover`).
                if n < asked && !ready.peer_closed {
                    ready.readable = false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(true)
    }
}

#[cfg(test)]
#[path = "shaped_tests.rs"]
mod tests;
