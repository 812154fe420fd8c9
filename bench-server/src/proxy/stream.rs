//! What the two TCP strategies (`copy`, `splice`) do alike at the end of each direction
//! and between chunks (and `reset=after:`, [`ResetAfter`]); each strategy's own loop is
//! in its file.

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

/// `reset=after:` of one direction: the bytes written so far against the limit.
#[derive(Debug, Clone, Copy)]
pub(super) struct ResetAfter {
    limit: Option<u64>,
    written: u64,
}

/// The error a direction ends with when its `reset=after:` limit is reached; the
/// relay turns it into a reset of both legs ([`is_reset_on_purpose`]).
#[derive(Debug)]
struct ResetOnPurpose;

impl std::fmt::Display for ResetOnPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reset on purpose (--impair reset=after:)")
    }
}

impl std::error::Error for ResetOnPurpose {}

impl ResetAfter {
    /// No bytes yet, against `limit` (`None`: never).
    pub(super) fn new(limit: Option<u64>) -> Self {
        ResetAfter { limit, written: 0 }
    }

    /// Counts a written chunk of `n` bytes; the [`ResetOnPurpose`] error once the
    /// limit is reached (at that chunk boundary).
    pub(super) fn wrote(&mut self, n: usize) -> io::Result<()> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        self.written += n as u64;
        if self.written >= limit {
            return Err(io::Error::other(ResetOnPurpose));
        }
        Ok(())
    }
}

/// Whether `e` is a direction ending at its `reset=after:` limit.
pub(super) fn is_reset_on_purpose(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<ResetOnPurpose>())
}
