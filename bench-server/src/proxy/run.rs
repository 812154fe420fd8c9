//! One relay run: [`validate`], [`run_proxy`] on the calling thread, and
//! [`spawn_proxy`] / [`ProxyHandle`], the same on a background thread. The front
//! socket's transport picks the TCP or the UDP relay.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use smol::Async;

use super::config::{ProxyConfig, ProxyError, ProxyModel, io_err};
use super::ctx::Ctx;
use super::front::Front;
use super::stats::{ProxyStats, ProxySummary};
use super::{tcp, udp};
use crate::runtime::{Background, Runtime};
use crate::stats::limiter::LogLimiter;

/// Checks what [`run_proxy`] would refuse, before anything starts: the config
/// ([`ProxyConfig::check`]) and that the front socket speaks its `proto`.
pub fn validate(front: &Front, config: &ProxyConfig) -> Result<(), ProxyError> {
    config.check()?;
    if front.proto() != config.proto {
        return Err(ProxyError::FrontMismatch {
            front: front.proto().as_str(),
            config: config.proto.as_str(),
        });
    }
    Ok(())
}

/// Relays until `shutdown` completes, then stops gracefully (TCP connections get
/// `grace` to finish; UDP sessions end at once) and returns the counters. Blocks the
/// calling thread; runs `config.threads` event loops (`per-core`) or executor threads
/// (`async`), as `config.model` says. Failures of single
/// connections or sessions are counted in the summary, never returned.
///
/// # Errors
/// What [`validate`] refuses, before anything runs; [`ProxyError::Io`] when the front
/// socket cannot be registered or an executor thread cannot start.
pub fn run_proxy(
    front: Front,
    config: &ProxyConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<ProxySummary, ProxyError> {
    validate(&front, config)?;
    let addr = front
        .local_addr()
        .map_err(io_err(|| "reading bound address".to_owned()))?;
    let stats = Arc::new(new_stats(config, addr));
    let engine = prepare(front, config, &stats)?;
    run_engine(engine, config, stats, shutdown)
}

/// Zeroed counters for a run of `config` on `addr` (a shard per `per-core` loop).
fn new_stats(config: &ProxyConfig, addr: SocketAddr) -> ProxyStats {
    let loops = match config.model {
        ProxyModel::PerCore => config.threads,
        ProxyModel::Async => 0,
    };
    ProxyStats::new(config.proto, addr, config.upstream, loops)
}

/// A relay set up by its model, ready to run.
enum Engine {
    /// The per-core loops, running already.
    #[cfg(target_os = "linux")]
    PerCore(super::per_core::Loops),
    /// The front socket, for tasks on the shared runtime.
    Async(Front),
}

/// What the model sets up before the relay is announced (the `per-core` loops start
/// here), with counters the caller can also read while it runs.
fn prepare(
    front: Front,
    config: &ProxyConfig,
    stats: &Arc<ProxyStats>,
) -> Result<Engine, ProxyError> {
    match config.model {
        #[cfg(target_os = "linux")]
        ProxyModel::PerCore => Ok(Engine::PerCore(super::per_core::start(
            front,
            config,
            Arc::clone(stats),
        )?)),
        #[cfg(not(target_os = "linux"))]
        ProxyModel::PerCore => unreachable!("validate refuses per-core off Linux"),
        ProxyModel::Async => Ok(Engine::Async(front)),
    }
}

/// Runs a prepared relay until `shutdown` and its graceful stop; the counters.
fn run_engine(
    engine: Engine,
    config: &ProxyConfig,
    stats: Arc<ProxyStats>,
    shutdown: impl Future<Output = ()>,
) -> Result<ProxySummary, ProxyError> {
    match engine {
        #[cfg(target_os = "linux")]
        Engine::PerCore(loops) => {
            loops.run(shutdown)?;
            Ok(stats.summary())
        }
        Engine::Async(front) => run_async(front, config, stats, shutdown),
    }
}

/// The `async` model: the TCP or UDP relay as tasks on the shared runtime.
fn run_async(
    front: Front,
    config: &ProxyConfig,
    stats: Arc<ProxyStats>,
    shutdown: impl Future<Output = ()>,
) -> Result<ProxySummary, ProxyError> {
    let addr = stats.addr();
    let (runtime, tracker) = Runtime::new();
    let ctx = Arc::new(Ctx {
        config: config.clone(),
        stats,
        runtime,
        warnings: LogLimiter::new(std::time::Instant::now()),
    });
    let context = || format!("registering {} {addr}", config.proto.as_str());
    match front {
        Front::Tcp(listener) => {
            let listener = Async::new(listener).map_err(io_err(context))?;
            let task = tcp::accept_loop(listener, Arc::clone(&ctx), tracker);
            ctx.runtime.spawn(task);
        }
        Front::Udp(socket) => {
            let socket = Arc::new(Async::new(socket).map_err(io_err(context))?);
            let task = udp::serve(socket, Arc::clone(&ctx), tracker);
            ctx.runtime.spawn(task);
        }
    }
    ctx.runtime
        .drive(config.threads, "bench-proxy", config.grace, shutdown)
        .map_err(io_err(|| "starting executor threads".to_owned()))?;
    Ok(ctx.stats.summary())
}

/// A relay running on a background thread; [`ProxyHandle::stop`] ends it, and dropping
/// the handle stops it too, without waiting.
#[derive(Debug)]
pub struct ProxyHandle {
    addr: SocketAddr,
    stats: Arc<ProxyStats>,
    run: Background<Result<ProxySummary, ProxyError>>,
}

impl ProxyHandle {
    /// The front address clients connect (or send) to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters so far, while the relay runs.
    pub fn summary(&self) -> ProxySummary {
        self.stats.summary()
    }

    /// Starts the graceful stop and waits for it (at most the config's `grace` and a
    /// quarter second); returns the counters, or the error that ended the run.
    pub fn stop(self) -> Result<ProxySummary, ProxyError> {
        self.run.stop().unwrap_or_else(|| {
            Err(ProxyError::Io {
                context: "proxy thread".to_owned(),
                cause: io::Error::other("panicked"),
            })
        })
    }
}

/// Runs [`run_proxy`] on a background thread until [`ProxyHandle::stop`] (dropping the
/// handle stops the relay too, without waiting).
///
/// # Errors
/// What [`validate`] refuses, returned here before anything runs; a failure to read the
/// front address or to start the thread ([`ProxyError::Io`]).
pub fn spawn_proxy(front: Front, config: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
    validate(&front, &config)?;
    let addr = front
        .local_addr()
        .map_err(io_err(|| "reading bound address".to_owned()))?;
    let stats = Arc::new(new_stats(&config, addr));
    let engine = prepare(front, &config, &stats)?;
    let thread_stats = Arc::clone(&stats);
    let run = Background::start("bench-proxy", move |stopped| {
        run_engine(engine, &config, thread_stats, stopped)
    })
    .map_err(io_err(|| "starting the proxy thread".to_owned()))?;
    Ok(ProxyHandle { addr, stats, run })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::config::ProxyProto;

    fn config() -> ProxyConfig {
        ProxyConfig::new(ProxyProto::Tcp, "127.0.0.1:7001".parse().unwrap())
    }

    #[test]
    fn a_front_of_the_other_transport_is_refused() {
        let udp = Front::bind(ProxyProto::Udp, "127.0.0.1:0".parse().unwrap()).unwrap();
        let err = validate(&udp, &config()).unwrap_err();
        assert!(matches!(err, ProxyError::FrontMismatch { .. }), "{err}");
        assert!(spawn_proxy(udp, config()).is_err());
    }
}
