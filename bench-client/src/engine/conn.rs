//! What a TCP connection and a UDP socket share: how one ends early ([`End`]), running
//! the reader and writer halves in one task, counting a failed connection, and the
//! open-loop accounting of what the schedule still owed.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::time::Instant;

use futures_lite::future;

use crate::record::Recorder;
use crate::report::ErrorKind;
use crate::workload::Failure;

use super::pace::{LocalNotify, Source};
use super::shared::Shared;

/// Why a connection ended early.
#[derive(Debug)]
pub(crate) struct End {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl End {
    pub(crate) fn io(what: &str, err: &io::Error) -> End {
        End {
            kind: ErrorKind::from_io(err),
            message: format!("{what}: {err}"),
        }
    }
}

impl From<Failure> for End {
    fn from(failure: Failure) -> End {
        let kind = ErrorKind::from(&failure);
        let (Failure::Mismatch(message) | Failure::Protocol(message)) = failure;
        End { kind, message }
    }
}

/// Runs a connection's reader and writer in this task until the reader is done or either
/// fails. A writer that finishes first says so (`writer_done`, `work`) and leaves the
/// reader to collect the replies still in flight.
pub(crate) async fn run_halves(
    read_half: impl Future<Output = Result<(), End>>,
    write_half: impl Future<Output = Result<(), End>>,
    writer_done: &Cell<bool>,
    work: &LocalNotify,
) -> Result<(), End> {
    let write_half = async {
        let result = write_half.await;
        writer_done.set(true);
        work.notify();
        match result {
            Ok(()) => future::pending().await,
            Err(end) => Err(end),
        }
    };
    future::or(read_half, write_half).await
}

/// Counts the requests a failed connection had in flight as errors of the failure's
/// kind: at least one, in the recorded part, even when it failed between requests or
/// during the warm-up (a connection lost is lost for the whole run).
pub(crate) fn fail_connection(shared: &Shared, rec: &RefCell<Recorder>, recorded: u64, end: End) {
    shared.connection_failed();
    let End { kind, message } = end;
    rec.borrow_mut()
        .failed(kind, recorded.max(1), true, || message);
}

/// When the recorded part ended for a writer: the end, or the stop if it came first.
fn window_end(shared: &Shared) -> Option<Instant> {
    let end = shared.end()?;
    Some(shared.stopped_at().map_or(end, |at| at.min(end)))
}

/// Open loop, a writer done at the end of the recorded part (or the stop): what its
/// schedule still called for is unfinished ([`Source::close_window`]). `held`: it was
/// waiting for a free pipeline slot.
pub(crate) fn close_window(
    shared: &Shared,
    rec: &RefCell<Recorder>,
    source: &RefCell<Source>,
    held: bool,
) {
    if let Some(until) = window_end(shared) {
        source
            .borrow_mut()
            .close_window(shared, until, held, &mut rec.borrow_mut());
    }
}

/// Open loop, a connection done: what its schedule still called for in the recorded part
/// (nothing, unless it failed before the end) is unsent, and its warm-up backlog dropped.
pub(crate) fn account_unsent(shared: &Shared, rec: &RefCell<Recorder>, source: &RefCell<Source>) {
    let source = source.borrow();
    let mut rec = rec.borrow_mut();
    rec.warmup_dropped += source.warmup_dropped;
    if let Some(until) = window_end(shared) {
        rec.unsent += source.unsent(shared, until);
    }
}
