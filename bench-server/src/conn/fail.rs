//! How a driver ends a connection that failed: the failure counted in the endpoint's
//! [`Stats`] and logged once (`info` for the everyday endings, a rate-limited `warn`
//! otherwise, the peer's text clipped), and how an I/O error becomes a [`Failure`].
//! The `async`, `threads` and `iterative` drivers log through here, so a failure reads
//! the same whichever model served it (`per-core` has its own copy for now; [`fail`]
//! is meant to replace it).

use std::fmt::Display;
use std::io;
use std::net::SocketAddr;

use crate::session::Failure;
use crate::session::quote::{MAX_QUOTE, clip};
use crate::stats::limiter::suppressed_note;
use crate::stats::{ErrorKind, Stats};

/// Most bytes of a failure's detail in a log line: a message of ours around at most
/// [`MAX_QUOTE`] bytes of the peer's text.
const LOG_DETAIL: usize = 2 * MAX_QUOTE;

/// Counts `kind` for the connection from `peer` and logs it once: resets, idle
/// timeouts and truncated frames are everyday endings (`info`); anything else is a
/// `warn`, at most one line per second with the count of the lines held back, so a
/// flood of bad clients does not become a flood of lines.
pub(crate) fn fail(stats: &Stats, peer: SocketAddr, kind: ErrorKind, detail: &dyn Display) {
    stats.error(kind);
    let proto = stats.proto().as_str();
    match kind {
        ErrorKind::Reset | ErrorKind::IdleTimeout | ErrorKind::Truncated => {
            log::info!("{proto} {peer}: closing: {}: {detail}", kind.as_str());
        }
        _ => {
            if let Some(held) = stats.warn_allowed() {
                let detail = detail.to_string();
                log::warn!(
                    "{proto} {peer}: closing: {}: {}{}",
                    kind.as_str(),
                    clip(&detail, LOG_DETAIL),
                    suppressed_note(held)
                );
            }
        }
    }
}

/// [`fail`] with a session's [`Failure`].
pub(crate) fn fail_session(stats: &Stats, peer: SocketAddr, failure: &Failure) {
    fail(stats, peer, failure.kind, &failure.message);
}

/// The failure an I/O error on a connection is: a timed-out write (a peer that stopped
/// reading) is an idle timeout, the rest as [`ErrorKind::from_io`] says.
pub(crate) fn io_failure(err: &io::Error) -> Failure {
    let kind = match err.kind() {
        io::ErrorKind::TimedOut => ErrorKind::IdleTimeout,
        _ => ErrorKind::from_io(err),
    };
    Failure {
        kind,
        message: err.to_string(),
    }
}

/// Counts and logs a warning that is not about one connection's protocol (a failed
/// accept, a thread that would not start, socket options that would not apply):
/// `io`, one line per second at most.
pub(crate) fn warn_io(stats: &Stats, what: &dyn Display, err: &io::Error) {
    stats.error(ErrorKind::Io);
    if let Some(held) = stats.warn_allowed() {
        log::warn!(
            "{} {}: {what}: {err}{}",
            stats.proto().as_str(),
            stats.addr(),
            suppressed_note(held)
        );
    }
}
