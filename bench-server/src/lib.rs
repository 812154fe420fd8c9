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

#[cfg(feature = "cli")]
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

pub use config::{Model, Proto, RequestMode, ServerConfig, Transform, WriteMode};
pub use endpoint::{Endpoint, ServerError, bind_all, validate};
pub use protocol::exec::EXEC_TIMEOUT;
pub use server::{ServerHandle, run, spawn};
pub use socket::{SocketOptions, SocketReadback};
pub use stats::{ErrorKind, ServerSummary, StatsSnapshot};
