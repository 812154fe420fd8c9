//! One server run: fresh counters per endpoint, then the model's driver: the
//! `per-core` loops ([`super::per_core`], on Linux), or the shared [`Runtime`] with an
//! accept loop per TCP endpoint and `threads` receive loops per UDP endpoint; then the
//! graceful stop. What happens to an accepted connection is [`super::accept`]'s (or
//! the per-core loop's) business.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use smol::Async;

use super::accept::{Shared, accept_loop};
use crate::config::{Model, ServerConfig};
use crate::endpoint::{BoundSocket, Endpoint, ServerError, io_err, validate};
use crate::protocol::udp_echo;
use crate::runtime::{Runtime, Tracker};
use crate::stats::{ServerSummary, Stats};

/// Serves `endpoints` until `shutdown` completes, then stops gracefully and returns the
/// counters. Blocks the calling thread; runs `config.threads` executor threads. A
/// connection at a request boundary closes at once when the stop begins; one in the
/// middle of a request gets `config.grace` to finish, then is cut (`shutdown_cut`).
/// Failures of single connections are counted in the summary, never returned.
///
/// # Errors
/// What [`crate::validate`] refuses, before anything runs; [`ServerError::Io`] when a
/// socket cannot be registered or an executor thread cannot start.
pub fn run(
    endpoints: Vec<Endpoint>,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<ServerSummary, ServerError> {
    validate(&endpoints, config)?;
    let stats = endpoint_stats(&endpoints, config)?;
    run_counted(endpoints, config, stats, shutdown)
}

/// Fresh counters for each endpoint, in order, with a counter lane per loop thread.
pub(super) fn endpoint_stats(
    endpoints: &[Endpoint],
    config: &ServerConfig,
) -> Result<Vec<Arc<Stats>>, ServerError> {
    endpoints
        .iter()
        .map(|ep| {
            let addr = ep
                .local_addr()
                .map_err(io_err(|| "reading bound address".to_owned()))?;
            Ok(Arc::new(Stats::with_lanes(
                ep.proto(),
                addr,
                config.threads,
            )))
        })
        .collect()
}

/// [`run`] with counters (from [`endpoint_stats`]) the caller can also read while it
/// runs.
pub(super) fn run_counted(
    endpoints: Vec<Endpoint>,
    config: &ServerConfig,
    stats: Vec<Arc<Stats>>,
    shutdown: impl Future<Output = ()>,
) -> Result<ServerSummary, ServerError> {
    #[cfg(target_os = "linux")]
    if config.model == Model::PerCore {
        return super::per_core::run(endpoints, config, stats, shutdown);
    }
    let started = Instant::now();
    let (runtime, tracker) = Runtime::new();
    let shared = Arc::new(Shared {
        config: config.clone(),
        runtime,
    });
    for (ep, stats) in endpoints.into_iter().zip(&stats) {
        start_endpoint(ep, Arc::clone(stats), &shared, &tracker)?;
    }
    drop(tracker);
    shared
        .runtime
        .drive(config.threads, "bench-server", config.grace, shutdown)
        .map_err(io_err(|| "starting executor threads".to_owned()))?;
    Ok(ServerSummary {
        uptime_s: started.elapsed().as_secs_f64(),
        endpoints: stats.iter().map(|s| s.snapshot()).collect(),
    })
}

fn start_endpoint(
    ep: Endpoint,
    stats: Arc<Stats>,
    shared: &Arc<Shared>,
    tracker: &Tracker,
) -> Result<(), ServerError> {
    let (proto, addr) = (stats.proto(), stats.addr());
    let context = || format!("registering {} {addr}", proto.as_str());
    match ep.socket {
        BoundSocket::Tcp(listener) => {
            let listener = Async::new(listener).map_err(io_err(context))?;
            let task = accept_loop(
                listener,
                Arc::clone(&stats),
                Arc::clone(shared),
                tracker.clone(),
            );
            shared.runtime.spawn(task);
        }
        BoundSocket::Udp(socket) => {
            let socket = Arc::new(Async::new(socket).map_err(io_err(context))?);
            for _ in 0..shared.config.threads {
                let (socket, stats, tracker) =
                    (Arc::clone(&socket), Arc::clone(&stats), tracker.clone());
                let task_shared = Arc::clone(shared);
                shared.runtime.spawn(async move {
                    let _tracker = tracker;
                    let transform = task_shared.config.transform;
                    udp_echo::serve(socket, transform, stats, &task_shared.runtime).await;
                });
            }
        }
    }
    Ok(())
}
