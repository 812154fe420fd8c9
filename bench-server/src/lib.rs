//! bench-server: the servers wirebench measures (and a relay to put in front of them), as a library the binary, the tests, the
//! benches and the load generator's embedded mode all drive the same way.
//!
//! # Layout
//!
//! - [`config`]: plain [`ServerConfig`] (no CLI types), protocols, models, modes.
//! - [`socket`]: binding with socket options, applying them to accepted connections,
//!   reading them back with getsockopt.
//! - `endpoint`: [`Endpoint`] (a bound socket and its protocol), [`bind_all`],
//!   [`validate`] and [`ServerError`].
//! - `server`: [`run`] (accept loops for the `async`, `threads` and `iterative` models,
//!   UDP loops, graceful shutdown) and, here, [`spawn`] (the same on a background
//!   thread, for tests and the embedded mode).
//! - `runtime`: the executor threads, stop channel, task tracker and grace wait the
//!   servers and the relay share.
//! - `conn`: one TCP connection: idle timeout, shutdown notice, lingering close.
//! - `echo`, `udp`, `framed`, `exec`: the protocols.
//! - [`stats`]: per-endpoint counters and the shutdown summary.
//! - [`proxy`]: the TCP/UDP relay (`bench-server proxy`) with its own config, counters
//!   and handle ([`proxy::spawn_proxy`], [`proxy::ProxyHandle`]).
//! - [`cli_support`]: the one-line usage errors both wirebench binaries print.
//!
//! # Example
//!
//! ```
//! use bench_server::{Endpoint, Proto, ServerConfig};
//! use std::io::{Read, Write};
//!
//! let config = ServerConfig::default();
//! let ep = Endpoint::bind(Proto::TcpEcho, "127.0.0.1:0".parse().unwrap(), &config.socket).unwrap();
//! let server = bench_server::spawn(vec![ep], config).unwrap();
//!
//! let mut client = std::net::TcpStream::connect(server.addr(Proto::TcpEcho).unwrap()).unwrap();
//! client.write_all(b"ping").unwrap();
//! let mut reply = [0u8; 4];
//! client.read_exact(&mut reply).unwrap();
//! assert_eq!(&reply, b"ping");
//! drop(client);
//!
//! let summary = server.stop().unwrap();
//! assert_eq!(summary.endpoints[0].bytes_in, 4);
//! ```
#![forbid(unsafe_code)]

pub mod cli_support;
pub mod config;
mod conn;
mod endpoint;
mod protocol;
pub mod proxy;
mod runtime;
mod server;
pub mod socket;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

pub use config::{Model, Proto, RequestMode, ServerConfig, Transform, WriteMode};
pub use endpoint::{Endpoint, ServerError, bind_all, validate};
pub use protocol::exec::EXEC_TIMEOUT;
pub use server::run;
pub use socket::{SocketOptions, SocketReadback};
pub use stats::{ErrorKind, ServerSummary, StatsSnapshot};

/// A server running on a background thread; [`ServerHandle::stop`] ends it.
#[derive(Debug)]
pub struct ServerHandle {
    addrs: Vec<(Proto, SocketAddr)>,
    stats: Vec<Arc<stats::Stats>>,
    stop: smol::channel::Sender<()>,
    thread: Option<JoinHandle<Result<ServerSummary, ServerError>>>,
}

impl ServerHandle {
    /// The bound address of the first endpoint speaking `proto`.
    pub fn addr(&self, proto: Proto) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|(p, _)| *p == proto)
            .map(|(_, a)| *a)
    }

    /// Every endpoint and its address.
    pub fn endpoints(&self) -> &[(Proto, SocketAddr)] {
        &self.addrs
    }

    /// The counters so far of every endpoint (in [`ServerHandle::endpoints`] order),
    /// while the server runs.
    pub fn stats(&self) -> Vec<StatsSnapshot> {
        self.stats.iter().map(|s| s.snapshot()).collect()
    }

    /// Starts the graceful stop and waits for it; returns the counters.
    pub fn stop(mut self) -> Result<ServerSummary, ServerError> {
        self.stop.close();
        let thread = self.thread.take().expect("joined once");
        thread.join().unwrap_or_else(|_| {
            Err(ServerError::Io {
                context: "server thread".to_owned(),
                cause: std::io::Error::other("panicked"),
            })
        })
    }
}

/// Runs [`run`] on a background thread until [`ServerHandle::stop`] (dropping the handle
/// stops the server too, without waiting). Configuration errors are returned here.
pub fn spawn(endpoints: Vec<Endpoint>, config: ServerConfig) -> Result<ServerHandle, ServerError> {
    validate(&endpoints, &config)?;
    let stats = server::endpoint_stats(&endpoints)?;
    let addrs = stats.iter().map(|s| (s.proto(), s.addr())).collect();
    let thread_stats = stats.clone();
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let thread = std::thread::Builder::new()
        .name("bench-server".to_owned())
        .spawn(move || {
            server::run_counted(endpoints, &config, thread_stats, async move {
                let _ = stopped.recv().await;
            })
        })
        .map_err(|cause| ServerError::Io {
            context: "starting the server thread".to_owned(),
            cause,
        })?;
    Ok(ServerHandle {
        addrs,
        stats,
        stop,
        thread: Some(thread),
    })
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop.close();
    }
}
