//! What the two TCP strategies (`copy`, `splice`) do alike at the end of each direction
//! and between chunks; each strategy's own loop is in its file.

use std::io;
use std::net::{Shutdown, TcpStream};

use smol::Async;
use smol::future;

use crate::runtime::YIELD_EVERY;

/// Shuts down the write half of `to` once its direction has ended. A peer that is
/// already gone (`NotConnected`) has nothing left to tell.
pub(super) fn shutdown_write(to: &Async<TcpStream>) -> io::Result<()> {
    match to.get_ref().shutdown(Shutdown::Write) {
        Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
        _ => Ok(()),
    }
}

/// After one chunk of a direction: every [`YIELD_EVERY`] chunks in a row, yields to the
/// executor (a direction whose socket stays readable never returns `Pending`, so it
/// would hold its thread); otherwise, after a `short` chunk (less than asked for, so the
/// socket is almost surely drained), waits for readiness rather than issue a read that
/// would only say `EAGAIN`.
pub(super) async fn after_chunk(
    from: &Async<TcpStream>,
    chunks: &mut u64,
    short: bool,
) -> io::Result<()> {
    *chunks += 1;
    if chunks.is_multiple_of(YIELD_EVERY) {
        future::yield_now().await;
    } else if short {
        from.readable().await?;
    }
    Ok(())
}
