//! [`spawn`]: a server run on a background thread, for tests, benches and the load
//! generator's embedded mode, and the [`ServerHandle`] that reads its counters and stops
//! it.

use std::net::SocketAddr;
use std::sync::Arc;

use super::run::{endpoint_stats, run_counted};
use crate::config::{Proto, ServerConfig};
use crate::endpoint::{Endpoint, ServerError, validate};
use crate::runtime::Background;
use crate::stats::{ServerSummary, Stats, StatsSnapshot};

/// A server running on a background thread; [`ServerHandle::stop`] ends it, and
/// dropping the handle stops it too, without waiting.
#[derive(Debug)]
pub struct ServerHandle {
    addrs: Vec<(Proto, SocketAddr)>,
    stats: Vec<Arc<Stats>>,
    run: Background<Result<ServerSummary, ServerError>>,
}

impl ServerHandle {
    /// The bound address of the first endpoint speaking `proto` (`None`: no such
    /// endpoint).
    pub fn addr(&self, proto: Proto) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|(p, _)| *p == proto)
            .map(|(_, a)| *a)
    }

    /// Every endpoint's protocol and bound address, in the order given to [`spawn`].
    pub fn endpoints(&self) -> &[(Proto, SocketAddr)] {
        &self.addrs
    }

    /// The counters so far of every endpoint (in [`ServerHandle::endpoints`] order),
    /// while the server runs.
    pub fn stats(&self) -> Vec<StatsSnapshot> {
        self.stats.iter().map(|s| s.snapshot()).collect()
    }

    /// Starts the graceful stop and waits for it (at most the config's `grace` and a
    /// quarter second); returns the counters, or the error that ended the run.
    pub fn stop(self) -> Result<ServerSummary, ServerError> {
        self.run.stop().unwrap_or_else(|| {
            Err(ServerError::Io {
                context: "server thread".to_owned(),
                cause: std::io::Error::other("panicked"),
            })
        })
    }
}

/// Runs [`crate::run`] on a background thread until [`ServerHandle::stop`] (dropping the
/// handle stops the server too, without waiting).
///
/// # Errors
/// What [`crate::validate`] refuses, returned here before anything runs; a failure to
/// read an endpoint's address or to start the thread ([`ServerError::Io`]).
pub fn spawn(endpoints: Vec<Endpoint>, config: ServerConfig) -> Result<ServerHandle, ServerError> {
    validate(&endpoints, &config)?;
    let stats = endpoint_stats(&endpoints, &config)?;
    let addrs = stats.iter().map(|s| (s.proto(), s.addr())).collect();
    let thread_stats = stats.clone();
    let run = Background::start("bench-server", move |stopped| {
        run_counted(endpoints, &config, thread_stats, stopped)
    })
    .map_err(|cause| ServerError::Io {
        context: "starting the server thread".to_owned(),
        cause,
    })?;
    Ok(ServerHandle { addrs, stats, run })
}
