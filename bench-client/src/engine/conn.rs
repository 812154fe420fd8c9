//! What a TCP connection and a UDP socket share: how one ends early ([`End`]), running
//! the reader and writer halves in one task, counting a failed connection, and the
//! open-loop accounting of what the schedule still owed.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::time::Instant;

use futures_lite::future;
use smol::Timer;

use crate::record::Recorder;
use crate::report::ErrorKind;
use crate::workload::Failure;

use super::pace::{Due, LocalNotify, Source, Waits, next_due};
use super::shared::Shared;

/// The state both halves of a connection (or UDP socket) share, besides the socket:
/// one task, so plain cells.
pub(crate) struct Link<'a, T> {
    pub(crate) shared: &'a Shared,
    pub(crate) rec: &'a RefCell<Recorder>,
    /// Requests on the wire, oldest first.
    pub(crate) inflight: RefCell<VecDeque<T>>,
    pub(crate) writer_done: Cell<bool>,
    /// Wakes the writer when a reply frees a pipeline slot.
    pub(crate) room: LocalNotify,
    /// Wakes the reader when a request goes out or the writer finishes.
    pub(crate) work: LocalNotify,
    pub(crate) source: RefCell<Source>,
}

impl<'a, T> Link<'a, T> {
    /// Nothing in flight yet, room for `--pipeline` requests.
    pub(crate) fn new(
        shared: &'a Shared,
        rec: &'a RefCell<Recorder>,
        source: RefCell<Source>,
    ) -> Self {
        Link {
            shared,
            rec,
            inflight: RefCell::new(VecDeque::with_capacity(shared.config().pipeline)),
            writer_done: Cell::new(false),
            room: LocalNotify::default(),
            work: LocalNotify::default(),
            source,
        }
    }

    /// Whether another request may go out (`--pipeline`).
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.inflight.borrow().len() < self.shared.config().pipeline
    }

    /// The writer's next request, once the schedule has one and the pipeline has room;
    /// `None`: the writer is done, and what its schedule still owed is accounted for.
    pub(crate) async fn next_request<F: Future<Output = ()>>(
        &self,
        waits: &mut Waits<'_, F>,
    ) -> Option<Due> {
        let has_room = || self.has_room();
        let due = next_due(self.shared, &self.source, &self.room, has_room, waits).await;
        if due.is_none() {
            close_window(self.shared, self.rec, &self.source, waits.held);
        }
        due
    }
}

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
        let (Failure::Mismatch(message) | Failure::Protocol(message) | Failure::Server(message)) =
            failure;
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

/// A connection (or UDP socket) that could not be opened: one connect error in the
/// recorded part (`message` names the address and the cause), and its schedule unsent.
pub(crate) fn open_failed(
    shared: &Shared,
    rec: &RefCell<Recorder>,
    source: &RefCell<Source>,
    message: impl FnOnce() -> String,
) {
    shared.connection_failed();
    rec.borrow_mut()
        .failed(ErrorKind::Connect, 1, true, message);
    account_unsent(shared, rec, source);
}

/// Counts the requests a failed connection had in flight as errors of the failure's
/// kind: at least one, in the recorded part, even when it failed between requests or
/// during the warm-up (a connection lost is lost for the whole run).
pub(crate) fn fail_connection(shared: &Shared, rec: &RefCell<Recorder>, recorded: u64, end: End) {
    fail_connection_in(shared, &mut rec.borrow_mut(), recorded, end);
}

/// [`fail_connection`] for a driver that owns its recorder outright.
pub(crate) fn fail_connection_in(shared: &Shared, rec: &mut Recorder, recorded: u64, end: End) {
    shared.connection_failed();
    let End { kind, message } = end;
    rec.failed(kind, recorded.max(1), true, || message);
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
    close_window_in(
        shared,
        &mut rec.borrow_mut(),
        &mut source.borrow_mut(),
        held,
    );
}

/// [`close_window`] for a driver that owns its recorder and source outright.
pub(crate) fn close_window_in(
    shared: &Shared,
    rec: &mut Recorder,
    source: &mut Source,
    held: bool,
) {
    if let Some(until) = window_end(shared) {
        source.close_window(shared, until, held, rec);
    }
}

/// Open loop, a connection done: what its schedule still called for in the recorded part
/// (nothing, unless it failed before the end) is unsent, and its warm-up backlog dropped.
pub(crate) fn account_unsent(shared: &Shared, rec: &RefCell<Recorder>, source: &RefCell<Source>) {
    account_unsent_in(shared, &mut rec.borrow_mut(), &source.borrow());
}

/// [`account_unsent`] for a driver that owns its recorder and source outright (the
/// per-core loops).
pub(crate) fn account_unsent_in(shared: &Shared, rec: &mut Recorder, source: &Source) {
    rec.warmup_dropped += source.warmup_dropped;
    if let Some(until) = window_end(shared) {
        rec.unsent += source.unsent(shared, until);
    }
}

/// The reader's next step: `None` when the writer is done and nothing is in flight;
/// else the oldest request's send time and the result of `read`, or `None` for it when
/// the timer (armed for the oldest request's timeout whenever it is not) fired first.
pub(crate) async fn read_or_timeout<T, O, F: Future<Output = O>>(
    link: &Link<'_, T>,
    sent: impl Fn(&T) -> Instant,
    timer: &mut Timer,
    armed: &mut bool,
    read: impl FnOnce() -> F,
) -> Option<(Instant, Option<O>)> {
    let oldest = loop {
        if let Some(oldest) = link.inflight.borrow().front().map(&sent) {
            break oldest;
        }
        if link.writer_done.get() {
            return None;
        }
        link.work
            .wait_until(|| !link.inflight.borrow().is_empty() || link.writer_done.get())
            .await;
    };
    // The timer is re-armed only when it fires: replies normally come long before the
    // timeout, so arming it per request would cost a timer-wheel update each time.
    if !*armed {
        timer.set_at(oldest + link.shared.config().timeout.0);
        *armed = true;
    }
    let read = read();
    let got = future::or(async { Some(read.await) }, async {
        (&mut *timer).await;
        None
    })
    .await;
    Some((oldest, got))
}
