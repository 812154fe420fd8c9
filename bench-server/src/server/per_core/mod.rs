//! The `per-core` model: `config.threads` event loops, one per OS thread, each owning
//! its epoll [`Poller`](crate::engine::poller::Poller), [`Waker`], timer heap, slab of
//! connections, its own SO_REUSEPORT listener per TCP endpoint and SO_REUSEPORT socket
//! per UDP endpoint (or a `try_clone` of a socket bound elsewhere, shared), and its own
//! counter [`Lane`](crate::stats::lane::Lane): nothing is shared per request. Each
//! connection is a sans-IO [`Session`](crate::session::Session) the loop drives as
//! `session/mod.rs` describes; `exec` runs on a helper thread that hands its result back
//! through a channel and the loop's waker.
//!
//! - `sockets`: each loop's listeners and UDP sockets, bound or cloned before anything
//!   starts.
//! - `parts`: the plain types the files below share (the endpoint context, deadlines,
//!   ready-list entries, listener and UDP socket state, a finished `exec`).
//! - `event_loop`: the loop itself: events, deadlines, the ready list, the stop.
//! - `conn`: one connection: its socket, session and readiness flags, driven in steps.
//! - `exec`: `exec` on helper threads, cancelled with their connection.
//! - `listen`: accepting, `max_conns` refusals (`refuse`: the framed error frame as a
//!   tiny session), accept back-off.
//! - `udp`: udp-echo on a loop's socket.
//!
//! Arrows run one way: `exec`, `listen` and `udp` add methods to `event_loop`'s
//! [`Loop`](event_loop::Loop) in `impl Loop` blocks and import it; `event_loop` calls
//! those methods but imports none of the three, only `conn`, `parts` and `sockets`;
//! `parts`, `sockets` and `refuse` import no other file here. A failed connection is
//! counted and logged by `crate::conn`, as in every model.
//!
//! It uses the `engine`, `session`, `conn`, `protocol::exec`, `stats`, `socket` and
//! `config` wings, and must not touch the smol runtime's tasks (the other models').

mod conn;
mod event_loop;
mod exec;
mod listen;
mod parts;
mod refuse;
mod sockets;
mod udp;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use crate::config::ServerConfig;
use crate::endpoint::{Endpoint, ServerError, io_err};
use crate::engine::threads::{StopFlag, spawn_loops};
use crate::engine::waker::Waker;
use crate::stats::{ServerSummary, Stats};
use event_loop::Loop;
use parts::EndpointCtx;

/// Runs `endpoints` on `config.threads` loops until `shutdown` completes, then stops
/// them (each closes its listeners, asks its sessions to stop, and cuts what is left
/// after `config.grace`) and returns the counters. Blocks the calling thread, which
/// only waits for `shutdown`.
///
/// # Errors
/// [`ServerError::Io`] when a sibling socket cannot be bound, an epoll instance or
/// eventfd made, a loop thread started, or a loop's wait fails.
pub(super) fn run(
    endpoints: Vec<Endpoint>,
    config: &ServerConfig,
    stats: Vec<Arc<Stats>>,
    shutdown: impl Future<Output = ()>,
) -> Result<ServerSummary, ServerError> {
    let started = Instant::now();
    let threads = config.threads.max(1);
    let mut per_loop = sockets::split(endpoints, threads, &config.socket)?;
    let ctx: Arc<[EndpointCtx]> = stats
        .iter()
        .map(|s| EndpointCtx {
            proto: s.proto(),
            stats: Arc::clone(s),
        })
        .collect();
    let config = Arc::new(config.clone());
    let stop = StopFlag::new();
    let build = |i: usize| -> std::io::Result<(Loop, Waker)> {
        let sockets = std::mem::take(&mut per_loop[i]);
        Loop::new(
            i,
            sockets,
            Arc::clone(&ctx),
            Arc::clone(&config),
            stop.clone(),
        )
    };
    let loops = spawn_loops("bench-server", threads, &stop, build, |_, lp: Loop| {
        lp.run()
    })
    .map_err(io_err(|| "starting the per-core loops".to_owned()))?;
    smol::block_on(shutdown);
    loops.stop();
    let mut failure = None;
    for outcome in loops.join() {
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_panic) => failure = failure.or(Some(std::io::Error::other("panicked"))),
        }
    }
    if let Some(cause) = failure {
        return Err(ServerError::Io {
            context: "a per-core loop".to_owned(),
            cause,
        });
    }
    Ok(ServerSummary {
        uptime_s: started.elapsed().as_secs_f64(),
        endpoints: stats.iter().map(|s| s.snapshot()).collect(),
    })
}
