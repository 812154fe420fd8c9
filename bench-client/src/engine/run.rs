//! [`Run`]: one run, from the embedded server and the pre-flight check to the merged
//! recorder and the report.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bench_server::{Endpoint, RequestMode, ServerConfig, ServerHandle, SocketReadback};

use crate::config::{ClientEngine, ConfigError, RequestFormat, RunConfig, Target, WorkloadKind};
use crate::record::{Compressor, CompressorHandle, Live, Recorder, RunFacts};
use crate::report::{Report, SocketInfo, TargetInfo};
use crate::workload::custom::Custom;
use crate::workload::custom::spec::{self, Spec, Transport};
use crate::workload::framed::Framed;
use crate::workload::tcp_echo::TcpEcho;
use crate::workload::{Pattern, Verifier};

use super::cpu::{CpuWatch, WatchPid};
use super::error::RunError;
use super::latch::{Arrival, Latch};
use super::shared::{Shared, Stopper};
use super::start::StartAt;

/// A run that has been configured but not started.
#[derive(Debug)]
pub struct Run {
    config: RunConfig,
    live: Arc<Live>,
    stopper: Stopper,
    /// Custom runs: the workload file, checked.
    spec: Option<Spec>,
    /// The pre-flight result, once checked: the server's socket options, if it told them.
    checked: OnceLock<Option<SocketReadback>>,
    /// `--start-at`: when the warm-up begins.
    start_at: Option<StartAt>,
    /// Other processes whose CPU time the report accounts (`--watch-pid`).
    watched: Vec<WatchPid>,
}

impl Run {
    /// Validates the configuration.
    pub fn new(config: RunConfig) -> Result<Run, ConfigError> {
        Run::with_stopper(config, Stopper::new())
    }

    /// Validates the configuration; `stopper` ends the run early.
    pub fn with_stopper(config: RunConfig, stopper: Stopper) -> Result<Run, ConfigError> {
        config.validate()?;
        super::preflight::check_descriptors(&config)?;
        let spec = match &config.custom {
            Some(file) => Some(spec::parse(&file.text).map_err(|e| ConfigError {
                flag: "--workload",
                value: file.path.clone(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        let workers = config.threads.min(config.connections);
        Ok(Run {
            live: Arc::new(Live::new(workers)),
            stopper,
            config,
            spec,
            checked: OnceLock::new(),
            start_at: None,
            watched: Vec::new(),
        })
    }

    /// Begins the warm-up at a wall-clock instant (a synchronised start of shards), or
    /// refuses to run if that is more than its tolerance past when the run is ready.
    pub fn start_at(mut self, start: StartAt) -> Run {
        self.start_at = Some(start);
        self
    }

    /// Refuses now (before any output) if the start instant is already past its tolerance.
    pub fn check_start(&self) -> Result<(), RunError> {
        self.start_at.map_or(Ok(()), |s| s.check(SystemTime::now()))
    }

    /// Also accounts the CPU time of these processes (`--watch-pid NAME=PID`); refuses
    /// one that is gone or unreadable, before anything runs.
    pub fn watch(mut self, watched: Vec<WatchPid>) -> Result<Run, ConfigError> {
        for w in &watched {
            w.check("--watch-pid")?;
        }
        self.watched = watched;
        Ok(self)
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
        let transport = self.spec.as_ref().map(|s| s.transport);
        let server = super::preflight::check(&self.config, addr, transport)?;
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
        let (start, started_at, start_times) = match &self.start_at {
            Some(at) => {
                let (start, wall, times) = at.wait()?;
                (start, wall, Some(times))
            }
            None => (Instant::now(), SystemTime::now(), None),
        };
        let pattern = Arc::new(Pattern::new(config.size.max.as_usize()));
        let custom = self.spec.clone().map(|s| Custom::new(s, pattern.clone()));
        let verifier = Verifier::new(config, pattern);
        let shared = Arc::new(Shared::new(
            config.clone(),
            addr,
            start,
            verifier,
            custom,
            self.stopper.clone(),
        ));
        let watch = CpuWatch::start(shared.record_start(), shared.end(), self.watched.clone());
        let mut samples = None;
        let all_done = || {
            samples = watch.and_then(CpuWatch::finish);
        };
        let mut rec = match config.engine {
            #[cfg(target_os = "linux")]
            ClientEngine::PerCore if super::per_core::supports(&shared) => {
                super::per_core::run_workers(&shared, &self.live, all_done)?
            }
            _ => run_workers(&shared, &self.live, all_done)?,
        };
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
        let requests = rec.ok + rec.error_count();
        let cpu = samples.map(|s| super::cpu::section(&s, &self.watched, requests));
        let facts = RunFacts {
            cpu,
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
                client: shared.client_socket(),
                server: server_socket,
            },
            start: start_times,
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
    let until = match shared.end() {
        None => {
            let last = rec.last_activity.map_or(finished, |at| at.min(finished));
            match shared.stopped_at() {
                Some(at) if interrupted => last.max(at.min(finished)),
                _ => last,
            }
        }
        Some(end) if interrupted => shared.stopped_at().map_or(end, |at| at.min(end)),
        Some(end) if shared.failed_connections() >= shared.config().connections as u64 => {
            finished.min(end)
        }
        Some(end) => end,
    };
    until.saturating_duration_since(shared.record_start())
}

/// The embedded server's configuration for a run.
pub(crate) fn embedded_server_config(config: &RunConfig) -> Option<ServerConfig> {
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
/// `all_done` runs once every worker has finished its connections and before any thread
/// ends (the CPU accounting's end sample: a thread that ended would take its CPU time
/// with it).
fn run_workers(
    shared: &Arc<Shared>,
    live: &Arc<Live>,
    all_done: impl FnOnce(),
) -> Result<Recorder, RunError> {
    let workers = live.workers();
    let compressor = Compressor::start(live.clone());
    let latch = Arc::new(Latch::default());
    let mut threads: Vec<std::thread::JoinHandle<Recorder>> = Vec::with_capacity(workers);
    for worker in 0..workers {
        let mine = shared.clone();
        let live = live.clone();
        let handle = compressor.handle();
        let arrive = Arrival(latch.clone());
        let thread = std::thread::Builder::new()
            .name(format!("bench-client-{worker}"))
            .spawn(move || {
                let rec = run_worker(&mine, worker, workers, live, handle);
                drop(arrive);
                rec
            })
            .map_err(|cause| RunError::Io {
                context: "starting a worker thread".to_owned(),
                cause,
            });
        let thread = match thread {
            Ok(thread) => thread,
            Err(e) => {
                // Stop the workers already loading the target before giving up.
                shared.stop();
                latch.release();
                for t in threads.drain(..) {
                    let _ = t.join();
                }
                return Err(e);
            }
        };
        threads.push(thread);
    }
    latch.wait_for(threads.len());
    all_done();
    latch.release();
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
    let open = shared.config().is_open_loop();
    let rec = RefCell::new(
        Recorder::new(open, shared.record_start(), shared.end(), live, worker)
            .with_compressor(compressor),
    );
    {
        let ex = smol::LocalExecutor::new();
        let indices = (worker..shared.config().connections).step_by(workers);
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
    let verifier = shared.verifier().clone();
    match shared.config().workload {
        WorkloadKind::UdpEcho => super::udp::run_socket(shared, index, rec).await,
        WorkloadKind::TcpEcho => {
            super::tcp::run_connection(shared, index, rec, &TcpEcho::new(verifier)).await
        }
        WorkloadKind::Framed => {
            let workload = Framed::new(shared.config(), verifier);
            super::tcp::run_connection(shared, index, rec, &workload).await
        }
        WorkloadKind::Custom => {
            let workload = shared.custom().expect("custom runs have a workload");
            match workload.transport() {
                Transport::Tcp => super::tcp::run_connection(shared, index, rec, workload).await,
                Transport::Udp => super::datagram::run_socket(shared, index, rec, workload).await,
            }
        }
    }
}
