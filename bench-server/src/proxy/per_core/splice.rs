//! The `splice` strategy's [`Mover`] for the per-core loops: a chunk moves socket ->
//! pipe -> socket with nonblocking `splice(2)` (rustix, safe), never entering user
//! space. One pipe per direction, made when the connection is accepted.

use std::io;
use std::net::TcpStream;
use std::os::fd::OwnedFd;

use rustix::pipe::{PipeFlags, SpliceFlags, fcntl_setpipe_size, pipe_with, splice};

use super::pump::Mover;

const FLAGS: SpliceFlags = SpliceFlags::NONBLOCK.union(SpliceFlags::MOVE);

/// A pipe holding at most one chunk of one direction.
#[derive(Debug)]
pub(super) struct SpliceMover {
    read: OwnedFd,
    write: OwnedFd,
    /// Bytes in the pipe.
    held: usize,
    /// The most one fill asks for.
    ask: usize,
}

impl SpliceMover {
    /// A nonblocking, close-on-exec pipe asked to hold `buffer` bytes (above
    /// `/proc/sys/fs/pipe-max-size` an unprivileged process keeps the 64 KiB default,
    /// which only means more calls per chunk).
    pub(super) fn new(buffer: usize) -> io::Result<Self> {
        let (read, write) = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
        let _ = fcntl_setpipe_size(&write, buffer);
        Ok(SpliceMover {
            read,
            write,
            held: 0,
            ask: buffer,
        })
    }
}

impl Mover<TcpStream> for SpliceMover {
    fn fill(&mut self, from: &TcpStream) -> io::Result<usize> {
        let n = splice(from, None, &self.write, None, self.ask, FLAGS)?;
        self.held = n;
        Ok(n)
    }

    fn drain(&mut self, to: &TcpStream) -> io::Result<usize> {
        let n = splice(&self.read, None, to, None, self.held, FLAGS)?;
        self.held -= n;
        Ok(n)
    }

    fn held(&self) -> usize {
        self.held
    }

    /// Never: a fill can stop short because the pipe ran out of slots (one per socket
    /// buffer, however small) while more waits in the socket, and with edge-triggered
    /// readiness no edge would come for it; so `splice` reads until `EAGAIN`.
    fn drained_by(&self, _n: usize) -> bool {
        false
    }
}
