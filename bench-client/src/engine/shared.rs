//! What every connection of a run shares: [`Shared`] (the configuration, the address,
//! the instants that cut the run into warm-up and recorded part, the request budget) and
//! the [`Stopper`] that ends a run early. Read-only apart from counters, so the hot path
//! takes no locks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use bench_server::SocketReadback;

use crate::config::{RunConfig, RunLength};
use crate::workload::Verifier;
use crate::workload::custom::Custom;

/// Ends a run early (from a signal handler thread, a test, another run).
#[derive(Clone)]
pub struct Stopper {
    flag: Arc<AtomicBool>,
    at: Arc<OnceLock<Instant>>,
    tx: smol::channel::Sender<()>,
    rx: smol::channel::Receiver<()>,
    /// What else to wake on a stop (the per-core loops' wakers): called once each.
    wakes: Arc<Mutex<Vec<Option<StopWake>>>>,
}

/// A wake-up [`Stopper::stop`] runs (a per-core loop's eventfd write).
pub(crate) type StopWake = Box<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopper")
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

impl Default for Stopper {
    fn default() -> Self {
        Stopper::new()
    }
}

impl Stopper {
    /// A stopper not yet triggered. One stopper can serve several runs (a suite): once
    /// triggered, every run given it stops, including runs started later.
    pub fn new() -> Stopper {
        let (tx, rx) = smol::channel::bounded(1);
        Stopper {
            flag: Arc::new(AtomicBool::new(false)),
            at: Arc::new(OnceLock::new()),
            tx,
            rx,
            wakes: Arc::default(),
        }
    }

    /// Whether [`Stopper::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Asks the run to stop: no new requests, replies in flight are awaited (up to the
    /// timeout), and the report is marked interrupted.
    pub fn stop(&self) {
        let _ = self.at.set(Instant::now());
        self.flag.store(true, Ordering::SeqCst);
        self.tx.close();
        let wakes = self.wakes.lock().unwrap_or_else(|e| e.into_inner());
        wakes.iter().flatten().for_each(|wake| wake());
    }

    /// Runs `wake` on a stop (at once if the stop came already), so an event loop asleep
    /// in `epoll_wait` notices it; returns its id for [`Stopper::forget`]. Off the hot
    /// path: once per loop and run.
    pub(crate) fn on_stop(&self, wake: StopWake) -> usize {
        let mut wakes = self.wakes.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_stopped() {
            wake();
        }
        wakes.push(Some(wake));
        wakes.len() - 1
    }

    /// Drops wake-up `id` (its loop is done), so a stopper serving many runs (a suite)
    /// does not keep every finished loop's eventfd open.
    pub(crate) fn forget(&self, id: usize) {
        let mut wakes = self.wakes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = wakes.get_mut(id) {
            *slot = None;
        }
        while wakes.last().is_some_and(Option::is_none) {
            wakes.pop();
        }
    }

    /// When [`Stopper::stop`] was first called.
    pub fn stopped_at(&self) -> Option<Instant> {
        self.at.get().copied()
    }
}

/// What every connection of a run shares (read-only, apart from counters).
#[derive(Debug)]
pub(crate) struct Shared {
    config: RunConfig,
    addr: SocketAddr,
    start: Instant,
    record_start: Instant,
    end: Option<Instant>,
    /// Request-count runs: requests still to claim.
    remaining: Option<AtomicU64>,
    verifier: Verifier,
    /// Custom runs: the checked workload file.
    custom: Option<Custom>,
    client_socket: OnceLock<SocketReadback>,
    failed_connections: AtomicU64,
    stopper: Stopper,
}

impl Shared {
    /// The run's shared state: load starts at `start`, recording after the warm-up.
    pub(crate) fn new(
        config: RunConfig,
        addr: SocketAddr,
        start: Instant,
        verifier: Verifier,
        custom: Option<Custom>,
        stopper: Stopper,
    ) -> Shared {
        let record_start = start + config.warmup.0;
        Shared {
            addr,
            start,
            record_start,
            end: match config.length {
                RunLength::Duration(d) => Some(record_start + d.0),
                RunLength::Requests(_) => None,
            },
            remaining: match config.length {
                RunLength::Requests(n) => Some(AtomicU64::new(n)),
                RunLength::Duration(_) => None,
            },
            verifier,
            custom,
            client_socket: OnceLock::new(),
            failed_connections: AtomicU64::new(0),
            stopper,
            config,
        }
    }

    /// The configuration.
    #[inline]
    pub(crate) fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Where to connect.
    #[inline]
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When the load (warm-up included) starts.
    #[inline]
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// When recording starts (after the warm-up).
    #[inline]
    pub(crate) fn record_start(&self) -> Instant {
        self.record_start
    }

    /// Duration runs: when the last request may go out.
    #[inline]
    pub(crate) fn end(&self) -> Option<Instant> {
        self.end
    }

    /// Replies are checked against this.
    #[inline]
    pub(crate) fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// `--bind-source`: the local address connection `index` connects from (the
    /// addresses taken in turn), port 0 (the kernel picks one per address).
    pub(crate) fn source_for(&self, index: usize) -> Option<SocketAddr> {
        let sources = &self.config.bind_source;
        (!sources.is_empty()).then(|| SocketAddr::new(sources[index % sources.len()], 0))
    }

    /// Custom runs: the workload the file describes.
    #[inline]
    pub(crate) fn custom(&self) -> Option<&Custom> {
        self.custom.as_ref()
    }

    /// Options read back from the first connected client socket.
    pub(crate) fn client_socket(&self) -> Option<SocketReadback> {
        self.client_socket.get().copied()
    }

    /// Counts a connection that ended with an error.
    pub(crate) fn connection_failed(&self) {
        self.failed_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Stops the run (a worker that cannot go on).
    pub(crate) fn stop(&self) {
        self.stopper.stop();
    }

    /// Connections that ended with an error.
    pub(crate) fn failed_connections(&self) -> u64 {
        self.failed_connections.load(Ordering::Relaxed)
    }

    /// Whether a stop was asked for.
    #[inline]
    pub(crate) fn stop_requested(&self) -> bool {
        self.stopper.flag.load(Ordering::Relaxed)
    }

    /// When the stop was asked for.
    pub(crate) fn stopped_at(&self) -> Option<Instant> {
        self.stopper.stopped_at()
    }

    /// The run's stopper (for a loop to register its wake-up).
    pub(crate) fn stopper(&self) -> &Stopper {
        &self.stopper
    }

    /// Resolves when a stop is asked for.
    pub(crate) async fn stopped(&self) {
        let _ = self.stopper.rx.recv().await;
    }

    /// Request-count runs: whether the budget is spent.
    pub(crate) fn budget_spent(&self) -> bool {
        self.remaining
            .as_ref()
            .is_some_and(|left| left.load(Ordering::Relaxed) == 0)
    }

    /// Request-count runs: takes one request of the budget (false: none left).
    #[inline]
    pub(crate) fn claim(&self) -> bool {
        match &self.remaining {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    /// Keeps the options of the first connected client socket, read back with getsockopt,
    /// for the report.
    pub(crate) fn note_client_socket(&self, socket: socket2::SockRef<'_>, is_tcp: bool) {
        if self.client_socket.get().is_none()
            && let Ok(back) = bench_server::socket::read_back(socket, is_tcp)
        {
            let _ = self.client_socket.set(back);
        }
    }

    /// Request-count runs: requests never claimed.
    pub(crate) fn unclaimed(&self) -> u64 {
        self.remaining
            .as_ref()
            .map_or(0, |left| left.load(Ordering::Relaxed))
    }
}
