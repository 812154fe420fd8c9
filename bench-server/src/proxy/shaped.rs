//! The `async` model's shaped TCP direction (`copy` only): it reads into the shared
//! [`Shaper`]'s bounded queue, writes what the shaper says may go now, and otherwise
//! waits for whichever comes first: the source turning readable (only while the queue
//! has room, so a full queue is back-pressure on the sender), the destination turning
//! writable (only while a write is due) or the shaper's next instant (a smol
//! [`Timer`]). The shaping rules (holds that keep the order, the token bucket, slices,
//! the stall, the slow close) are the shaper's; this file only moves bytes and time,
//! and adds the shaper's [`Tally`] to the same counters the per-core model does.

use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use std::time::Instant;

use smol::future::{self, FutureExt as _};
use smol::{Async, Timer};

use super::config::ProxyConfig;
use super::impair::dice::Impairer;
use super::shape::{Next, QUEUE_LIMIT, Shaper, Tally};
use super::stats::{ProxyStats, Way};
use super::stream::{ResetAfter, shutdown_write};
use crate::runtime::YIELD_EVERY;

/// The shaping plan of one direction of connection `serial` (`down`: upstream ->
/// client), or `None` when that way has no shaping impairment (it keeps the plain
/// `copy` loop).
pub(super) fn shaper_for(config: &ProxyConfig, serial: u64, down: bool) -> Option<Shaper> {
    let imp = &config.impair;
    let way = if down { imp.down } else { imp.up };
    if !way.has_shaping() {
        return None;
    }
    // Each connection rolls its own dice (as on the per-core loops), so their holds do
    // not repeat in step.
    let seed = imp.seed ^ serial.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let dice = Impairer::new(way, seed, 0, down);
    let limit = QUEUE_LIMIT.max(config.buffer);
    Some(Shaper::new(way, dice, limit, Instant::now()))
}

/// Relays `from` to `to` through `shaper` until `from` reaches EOF and the FIN is due,
/// then shuts down `to`'s write half; counts each read as a chunk of `way` and the
/// bytes as they are written; ends with the reset-on-purpose error once `reset`'s
/// limit is written.
pub(super) async fn shape_one_way(
    from: &Async<TcpStream>,
    to: &Async<TcpStream>,
    shaper: Shaper,
    stats: &ProxyStats,
    (way, mut reset): (Way, ResetAfter),
) -> io::Result<()> {
    let mut lane = Lane::new(shaper);
    let mut ops = 0u64;
    loop {
        let step = lane.step(from, to, Instant::now(), stats, way);
        lane.flush(stats);
        match step? {
            Step::Wrote(n) => reset.wrote(n)?,
            Step::Tried => {}
            Step::Done => return Ok(()),
            Step::Wait(wait) => {
                lane.wait(from, to, wait).await?;
                continue;
            }
        }
        // A direction whose sockets stay ready never returns `Pending`: let others run.
        ops += 1;
        if ops.is_multiple_of(YIELD_EVERY) {
            future::yield_now().await;
        }
    }
}

/// What one [`Lane::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Wrote this many bytes.
    Wrote(usize),
    /// Made a syscall that wrote nothing: a read (bytes, EOF or `WouldBlock`), or a
    /// write that said `WouldBlock`.
    Tried,
    /// The FIN went: the direction has ended.
    Done,
    /// Nothing can move until one of these.
    Wait(Wait),
}

/// What a blocked lane waits for (at least one is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wait {
    /// The source turning readable (the queue has room).
    read: bool,
    /// The destination turning writable (a write is due).
    write: bool,
    /// The shaper's next instant (a hold, tokens, a gap, a stall, the FIN).
    until: Option<Instant>,
}

/// Which of a [`Wait`]'s events came first.
enum Woke {
    Readable,
    Writable,
    Time,
}

/// One shaped direction: the plan, what the last syscalls said about each socket, and
/// the counts not yet added to the relay's counters.
struct Lane {
    shaper: Shaper,
    /// The source said EOF.
    eof: bool,
    /// The source may have bytes (false after `WouldBlock` or a short read).
    readable: bool,
    /// The destination may take bytes (false after `WouldBlock` or a short write).
    writable: bool,
    tally: Tally,
}

impl Lane {
    fn new(shaper: Shaper) -> Self {
        Lane {
            shaper,
            eof: false,
            readable: true,
            writable: true,
            tally: Tally::default(),
        }
    }

    /// One syscall if the plan and what the sockets last said allow it (a write first,
    /// so held bytes leave before more come in), else what to wait for.
    fn step(
        &mut self,
        from: &Async<TcpStream>,
        to: &Async<TcpStream>,
        now: Instant,
        stats: &ProxyStats,
        way: Way,
    ) -> io::Result<Step> {
        let (write, until) = match self.shaper.next(now, &mut self.tally) {
            Next::Write(n) if self.writable => return self.write(to.get_ref(), n, now, stats, way),
            Next::Write(_) => (true, None),
            Next::Wait(at) => (false, Some(at)),
            Next::Idle => match self.shaper.fin_at() {
                Some(at) if at <= now => {
                    shutdown_write(to)?;
                    return Ok(Step::Done);
                }
                fin => (false, fin),
            },
        };
        let room = !self.eof && self.shaper.read_space().is_some();
        if room && self.readable {
            self.read(from.get_ref(), now, stats, way)?;
            return Ok(Step::Tried);
        }
        Ok(Step::Wait(Wait {
            read: room,
            write,
            until,
        }))
    }

    /// Writes at most `n` bytes of the queue's front.
    fn write(
        &mut self,
        mut to: &TcpStream,
        n: usize,
        now: Instant,
        stats: &ProxyStats,
        way: Way,
    ) -> io::Result<Step> {
        match to.write(&self.shaper.front()[..n]) {
            Ok(0) => Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => {
                self.shaper.wrote(k, now, &mut self.tally);
                stats.bytes(way).add(k);
                // A partial write filled the send buffer.
                self.writable = k == n;
                Ok(Step::Wrote(k))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.writable = false;
                Ok(Step::Tried)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Step::Tried),
            Err(e) => Err(e),
        }
    }

    /// One read into the queue (the caller checked it has room).
    fn read(
        &mut self,
        mut from: &TcpStream,
        now: Instant,
        stats: &ProxyStats,
        way: Way,
    ) -> io::Result<()> {
        let Some(space) = self.shaper.read_space() else {
            return Ok(());
        };
        let asked = space.len();
        match from.read(space) {
            Ok(0) => {
                self.eof = true;
                self.shaper.closed(now, &mut self.tally);
            }
            Ok(n) => {
                stats.chunks(way).incr();
                self.shaper.filled(n, now, &mut self.tally);
                // A short read almost surely drained the socket: wait for readiness
                // rather than make a read that would only say `WouldBlock`.
                self.readable = n == asked;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Waits for the first of `wait`'s events and notes which it was.
    async fn wait(
        &mut self,
        from: &Async<TcpStream>,
        to: &Async<TcpStream>,
        wait: Wait,
    ) -> io::Result<()> {
        debug_assert!(wait.read || wait.write || wait.until.is_some(), "{wait:?}");
        let readable = async {
            if !wait.read {
                future::pending::<()>().await;
            }
            from.readable().await.map(|()| Woke::Readable)
        };
        let writable = async {
            if !wait.write {
                future::pending::<()>().await;
            }
            to.writable().await.map(|()| Woke::Writable)
        };
        let time = async {
            match wait.until {
                Some(at) => Timer::at(at).await,
                None => future::pending().await,
            };
            Ok(Woke::Time)
        };
        match readable.or(writable).or(time).await? {
            Woke::Readable => self.readable = true,
            Woke::Writable => self.writable = true,
            Woke::Time => {}
        }
        Ok(())
    }

    /// Adds what the shaping did to the relay's counters (nothing when it did nothing:
    /// no atomic per chunk).
    fn flush(&mut self, stats: &ProxyStats) {
        if self.tally == Tally::default() {
            return;
        }
        for (what, n) in self.tally.counts() {
            if n > 0 {
                stats.impaired_n(what, n);
            }
        }
        self.tally = Tally::default();
    }
}
