//! The engine: starts the embedded server when there is no target, checks that the target
//! answers, runs the connections on `--threads` worker threads (each a smol
//! `LocalExecutor` with its own [`Recorder`], so recording takes no locks), merges the
//! recorders and builds the [`Report`].

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bench_server::{Endpoint, RequestMode, ServerConfig, ServerHandle, SocketReadback};

use crate::config::{ConfigError, RequestFormat, RunConfig, RunLength, Target, WorkloadKind};
use crate::recorder::{Live, Recorder};
use crate::report::{Report, RunFacts, SocketInfo, TargetInfo};
use crate::timeline::{Compressor, CompressorHandle};
use crate::workload::{Framed, Pattern, TcpEcho, Verifier};

/// Why a run could not start (once started, a run always ends with a report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The target does not answer.
    #[error("{flag} {addr}: {reason}")]
    Unreachable {
        /// The flag that named it, as the user typed it (`--target`, `--direct`, ...).
        flag: &'static str,
        /// The target.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
    /// The embedded server did not start.
    // No `#[from]`: a source would make `{:#}` print the server's error a second time.
    #[error("embedded server: {0}")]
    Server(bench_server::ServerError),
    /// Something else in setting up.
    #[error("{context}: {cause}")]
    Io {
        /// What was being done.
        context: String,
        /// What failed (named `cause`, not `source`, so it is printed once).
        cause: std::io::Error,
    },
}

impl From<bench_server::ServerError> for RunError {
    fn from(e: bench_server::ServerError) -> Self {
        RunError::Server(e)
    }
}

impl RunError {
    /// Whether the error is the user's input (exit code 2) rather than the environment.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, RunError::Config(_) | RunError::Unreachable { .. })
    }

    /// The same error, naming `flag` as the one that gave the target (a run's target
    /// is `--target` unless a caller such as `overhead --direct` says otherwise).
    pub fn for_flag(self, flag: &'static str) -> RunError {
        match self {
            RunError::Unreachable { addr, reason, .. } => {
                RunError::Unreachable { flag, addr, reason }
            }
            other => other,
        }
    }
}

/// Ends a run early (from a signal handler thread, a test, another run).
#[derive(Debug, Clone)]
pub struct Stopper {
    flag: Arc<AtomicBool>,
    at: Arc<OnceLock<Instant>>,
    tx: smol::channel::Sender<()>,
    rx: smol::channel::Receiver<()>,
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
    }

    /// When [`Stopper::stop`] was first called.
    pub fn stopped_at(&self) -> Option<Instant> {
        self.at.get().copied()
    }
}

/// A run that has been configured but not started.
#[derive(Debug)]
pub struct Run {
    config: RunConfig,
    live: Arc<Live>,
    stopper: Stopper,
    /// The pre-flight result, once checked: the server's socket options, if it told them.
    checked: OnceLock<Option<SocketReadback>>,
}

/// What every connection of a run shares (read-only, apart from counters).
#[derive(Debug)]
pub struct Shared {
    /// The configuration.
    pub config: RunConfig,
    /// Where to connect.
    pub addr: SocketAddr,
    /// When the load (warm-up included) starts.
    pub start: Instant,
    /// When recording starts (after the warm-up).
    pub record_start: Instant,
    /// Duration runs: when the last request may go out.
    pub end: Option<Instant>,
    /// Request-count runs: requests still to claim.
    remaining: Option<AtomicU64>,
    /// Replies are checked against this.
    pub verifier: Verifier,
    /// Options read back from the first connected client socket.
    pub client_socket: OnceLock<SocketReadback>,
    /// Connections that ended with an error.
    pub failed_connections: AtomicU64,
    stopper: Stopper,
}

impl Shared {
    /// Whether a stop was asked for.
    #[inline]
    pub fn stop_requested(&self) -> bool {
        self.stopper.flag.load(Ordering::Relaxed)
    }

    /// When the stop was asked for.
    pub fn stopped_at(&self) -> Option<Instant> {
        self.stopper.stopped_at()
    }

    /// Resolves when a stop is asked for.
    pub async fn stopped(&self) {
        let _ = self.stopper.rx.recv().await;
    }

    /// Request-count runs: whether the budget is spent.
    pub fn budget_spent(&self) -> bool {
        self.remaining
            .as_ref()
            .is_some_and(|left| left.load(Ordering::Relaxed) == 0)
    }

    /// Request-count runs: takes one request of the budget (false: none left).
    #[inline]
    pub fn claim(&self) -> bool {
        match &self.remaining {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    /// Keeps the options of the first connected client socket, read back with getsockopt,
    /// for the report.
    pub fn note_client_socket(&self, socket: socket2::SockRef<'_>, is_tcp: bool) {
        if self.client_socket.get().is_none()
            && let Ok(back) = bench_server::socket::read_back(socket, is_tcp)
        {
            let _ = self.client_socket.set(back);
        }
    }

    /// Request-count runs: requests never claimed.
    pub fn unclaimed(&self) -> u64 {
        self.remaining
            .as_ref()
            .map_or(0, |left| left.load(Ordering::Relaxed))
    }
}

impl Run {
    /// Validates the configuration.
    pub fn new(config: RunConfig) -> Result<Run, ConfigError> {
        Run::with_stopper(config, Stopper::new())
    }

    /// Validates the configuration; `stopper` ends the run early.
    pub fn with_stopper(config: RunConfig, stopper: Stopper) -> Result<Run, ConfigError> {
        config.validate()?;
        crate::preflight::check_descriptors(&config)?;
        let workers = config.threads.min(config.connections);
        Ok(Run {
            live: Arc::new(Live::new(workers)),
            stopper,
            config,
            checked: OnceLock::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// A handle that ends the run early.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Counters a progress display can read while the run goes on.
    pub fn live(&self) -> Arc<Live> {
        self.live.clone()
    }

    /// Checks that an external target answers (an embedded server always does), so a
    /// caller can refuse a dead `--target` before creating any output.
    pub fn preflight(&self) -> Result<(), RunError> {
        match self.config.target {
            Target::External { addr } => self.check(addr).map(drop),
            Target::Embedded(_) => Ok(()),
        }
    }

    /// The pre-flight check of `addr`, done once per run.
    fn check(&self, addr: SocketAddr) -> Result<Option<SocketReadback>, RunError> {
        if let Some(done) = self.checked.get() {
            return Ok(*done);
        }
        let server = crate::preflight::check(&self.config, addr)?;
        let _ = self.checked.set(server);
        Ok(server)
    }

    /// Runs to the end (or until stopped) and returns the report.
    pub fn execute(self) -> Result<Report, RunError> {
        let config = &self.config;
        let server = start_embedded(config)?;
        let addr = match (&server, config.target) {
            (Some((handle, _)), _) => handle.addr(config.workload.proto()).expect("bound"),
            (None, Target::External { addr }) => addr,
            (None, Target::Embedded(_)) => unreachable!("embedded server started"),
        };
        let server_socket = self.check(addr)?;
        let started_at = SystemTime::now();
        let start = Instant::now();
        let record_start = start + config.warmup.0;
        let shared = Arc::new(Shared {
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
            verifier: Verifier::new(config, Arc::new(Pattern::new(config.size.max.as_usize()))),
            client_socket: OnceLock::new(),
            failed_connections: AtomicU64::new(0),
            stopper: self.stopper.clone(),
            config: config.clone(),
        });
        let mut rec = run_workers(&shared, &self.live)?;
        let finished = Instant::now();
        let interrupted = shared.stop_requested();
        if config.is_open_loop() && !interrupted {
            // Count runs: budget no connection was left to send (they all failed).
            rec.unsent += shared.unclaimed();
        }
        let recorded = recorded_time(&shared, &rec, finished, interrupted);
        let (server_config, embedded) = match server {
            Some((handle, server_config)) => {
                let _ = handle.stop();
                (Some(server_config), true)
            }
            None => (None, false),
        };
        let facts = RunFacts {
            config: config.clone(),
            started_at,
            recorded,
            interrupted,
            target: TargetInfo {
                addr: addr.to_string(),
                embedded,
                server: server_config,
            },
            socket: SocketInfo {
                client: shared.client_socket.get().copied(),
                server: server_socket,
            },
        };
        Ok(Report::new(facts, &rec))
    }
}

/// How long the recorded part lasted. Duration runs: the whole duration, unless the run was
/// stopped (until the stop) or every connection failed first (until the last did); the replies
/// awaited after the end or the stop do not stretch it. Count runs: until the last recorded
/// send or reply (the final wait for replies that never come, up to `--timeout`, is not
/// load), or until the stop.
fn recorded_time(
    shared: &Shared,
    rec: &Recorder,
    finished: Instant,
    interrupted: bool,
) -> Duration {
    let until = match shared.end {
        None => {
            let last = rec.last_activity.map_or(finished, |at| at.min(finished));
            match shared.stopper.stopped_at() {
                Some(at) if interrupted => last.max(at.min(finished)),
                _ => last,
            }
        }
        Some(end) if interrupted => shared.stopper.stopped_at().map_or(end, |at| at.min(end)),
        Some(end)
            if shared.failed_connections.load(Ordering::Relaxed)
                >= shared.config.connections as u64 =>
        {
            finished.min(end)
        }
        Some(end) => end,
    };
    until.saturating_duration_since(shared.record_start)
}

/// The embedded server's configuration for a run.
pub fn embedded_server_config(config: &RunConfig) -> Option<ServerConfig> {
    let Target::Embedded(settings) = config.target else {
        return None;
    };
    let mut server = ServerConfig::default();
    server.socket.nodelay = settings.nodelay;
    server.model = settings.model;
    server.write_mode = settings.write_mode;
    if config.requests == RequestFormat::Raw {
        server.requests = RequestMode::Raw;
    }
    // Connections close when the client is done; a long idle timeout would only keep
    // a stuck client's connection alive past its own timeout.
    server.idle_timeout = Some(Duration::from_secs(120));
    Some(server)
}

pub(crate) fn start_embedded(
    config: &RunConfig,
) -> Result<Option<(ServerHandle, ServerConfig)>, RunError> {
    let Some(server_config) = embedded_server_config(config) else {
        return Ok(None);
    };
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal");
    let proto = config.workload.proto();
    let endpoint = Endpoint::bind(proto, addr, &server_config.socket)?;
    let handle = bench_server::spawn(vec![endpoint], server_config.clone())?;
    Ok(Some((handle, server_config)))
}

/// Runs every connection on the worker threads; returns the merged recorder.
fn run_workers(shared: &Arc<Shared>, live: &Arc<Live>) -> Result<Recorder, RunError> {
    let workers = live.workers();
    let compressor = Compressor::start();
    let mut threads: Vec<std::thread::JoinHandle<Recorder>> = Vec::with_capacity(workers);
    for worker in 0..workers {
        let mine = shared.clone();
        let live = live.clone();
        let handle = compressor.handle();
        let thread = std::thread::Builder::new()
            .name(format!("bench-client-{worker}"))
            .spawn(move || run_worker(&mine, worker, workers, live, handle))
            .map_err(|cause| RunError::Io {
                context: "starting a worker thread".to_owned(),
                cause,
            });
        let thread = match thread {
            Ok(thread) => thread,
            Err(e) => {
                // Stop the workers already loading the target before giving up.
                shared.stopper.stop();
                for t in threads.drain(..) {
                    let _ = t.join();
                }
                return Err(e);
            }
        };
        threads.push(thread);
    }
    let mut merged: Option<Recorder> = None;
    for thread in threads {
        let rec = thread.join().expect("worker thread panicked");
        match &mut merged {
            Some(m) => m.merge(rec),
            None => merged = Some(rec),
        }
    }
    let mut merged = merged.expect("at least one worker");
    merged.add_intervals(compressor.finish());
    Ok(merged)
}

/// One worker thread: connections `worker`, `worker + workers`, ... on a local executor.
fn run_worker(
    shared: &Arc<Shared>,
    worker: usize,
    workers: usize,
    live: Arc<Live>,
    compressor: CompressorHandle,
) -> Recorder {
    let open = shared.config.is_open_loop();
    let rec = RefCell::new(
        Recorder::new(open, shared.record_start, shared.end, live, worker)
            .with_compressor(compressor),
    );
    {
        let ex = smol::LocalExecutor::new();
        let indices = (worker..shared.config.connections).step_by(workers);
        smol::block_on(ex.run(async {
            let tasks: Vec<_> = indices
                .map(|index| ex.spawn(connection(shared, index, &rec)))
                .collect();
            for task in tasks {
                task.await;
            }
        }));
    }
    let mut rec = rec.into_inner();
    rec.finish();
    rec
}

/// One connection (or UDP socket) of the run, whichever workload it speaks.
async fn connection(shared: &Shared, index: usize, rec: &RefCell<Recorder>) {
    let verifier = shared.verifier.clone();
    match shared.config.workload {
        WorkloadKind::UdpEcho => crate::udp::run_socket(shared, index, rec).await,
        WorkloadKind::TcpEcho => {
            crate::tcp::run_connection(shared, index, rec, &TcpEcho::new(verifier)).await
        }
        WorkloadKind::Framed => {
            let workload = Framed::new(&shared.config, verifier);
            crate::tcp::run_connection(shared, index, rec, &workload).await
        }
    }
}
