//! The `splice` strategy (Linux only): each direction moves bytes socket -> pipe ->
//! socket with `splice(2)`, so they never enter user space. Safe code throughout, via
//! `rustix`.
//!
//! The sockets are non-blocking (smol registered them) and the pipe is created
//! non-blocking, so every `splice` returns at once; `EAGAIN` is answered by awaiting
//! the socket's readiness. The pipe is always drained before the next fill, so an
//! `EAGAIN` while filling means the client socket has nothing to read, and one while
//! draining means the destination socket is full.

use std::io;
use std::net::TcpStream;
use std::os::fd::OwnedFd;

use rustix::io::Errno;
use rustix::pipe::{
    PipeFlags, SpliceFlags, fcntl_getpipe_size, fcntl_setpipe_size, pipe_with, splice,
};
use smol::Async;
use smol::future;

use super::stats::{ProxyStats, Way};
use super::stream::{ResetAfter, after_chunk, shutdown_write};

const FLAGS: SpliceFlags = SpliceFlags::NONBLOCK.union(SpliceFlags::MOVE);

/// Relays both directions at once, each through its own pipe and with its own
/// `reset=after:` limit (`[up, down]`).
pub(super) async fn relay(
    client: &Async<TcpStream>,
    upstream: &Async<TcpStream>,
    buffer: usize,
    stats: &ProxyStats,
    reset: [ResetAfter; 2],
) -> io::Result<()> {
    let [up_reset, down_reset] = reset;
    let up = splice_one_way(client, upstream, buffer, stats, (Way::ToUpstream, up_reset));
    let down = splice_one_way(upstream, client, buffer, stats, (Way::ToClient, down_reset));
    future::try_zip(up, down).await.map(|_| ())
}

/// A non-blocking, close-on-exec pipe, asked to hold `buffer` bytes (the kernel rounds
/// up to pages; above `/proc/sys/fs/pipe-max-size` an unprivileged process is refused
/// and keeps the 64 KiB default, which only means more calls per chunk).
fn new_pipe(buffer: usize) -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
    let _ = fcntl_setpipe_size(&write, buffer);
    Ok((read, write))
}

/// Splices `from` to `to` until `from` reaches EOF, then shuts down `to`'s write half;
/// counts each fill as a chunk of `way` and the bytes as they leave the pipe.
async fn splice_one_way(
    from: &Async<TcpStream>,
    to: &Async<TcpStream>,
    buffer: usize,
    stats: &ProxyStats,
    (way, mut reset): (Way, ResetAfter),
) -> io::Result<()> {
    let (pipe_read, pipe_write) = new_pipe(buffer)?;
    // What one fill can move: the pipe may have kept a smaller size than asked for.
    let capacity = fcntl_getpipe_size(&pipe_write).map_or(buffer, |size| size.min(buffer));
    let mut chunks = 0u64;
    loop {
        let filled = loop {
            match splice(from.get_ref(), None, &pipe_write, None, buffer, FLAGS) {
                Ok(n) => break n,
                Err(Errno::AGAIN) => from.readable().await?,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        };
        if filled == 0 {
            return shutdown_write(to);
        }
        stats.chunks(way).incr();
        let mut left = filled;
        while left > 0 {
            match splice(&pipe_read, None, to.get_ref(), None, left, FLAGS) {
                Ok(n) => {
                    left -= n;
                    stats.bytes(way).add(n);
                }
                Err(Errno::AGAIN) => to.writable().await?,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        reset.wrote(filled)?;
        // A fill shorter than the pipe holds drained the socket (almost surely).
        after_chunk(from, &mut chunks, filled < capacity).await?;
    }
}
