//! bench-server: the servers wirebench measures (and a relay to put in front of them),
//! as a library the binary, the tests, the benches and the load generator's embedded
//! mode all drive the same way: bind [`Endpoint`]s, then [`run`] them on the calling
//! thread until a shutdown future completes, or [`spawn`] them and [`ServerHandle::stop`]
//! later. The wire formats themselves are `bench_proto`'s.
//!
//! # Layout
//!
//! From the top; a wing uses only the wings below it, and each says in its own `//!`
//! what it owns and what it leaves alone.
//!
//! - `server/` (the drivers): [`run`], [`spawn`] and [`ServerHandle`]; the accept
//!   loops and session drivers of the `async` (a task per connection) and `threads` /
//!   `iterative` (blocking sockets, no reactor) models, the UDP receive loops,
//!   `max_conns` refusals, the grace period.
//! - `server/per_core/` (Linux): the `per-core` model (the default there): one event
//!   loop per thread, each with its own SO_REUSEPORT listener, epoll, timers,
//!   connections and counter lane, driving the sans-IO sessions.
//! - [`proxy`]/ (the relay, `bench-server proxy`): its own config, front socket, TCP
//!   (`copy`, `splice`) and UDP relays on two models (`per-core` loops on the engine
//!   toolkit, the default on Linux; `async` tasks on the runtime), counters and handle.
//!   Shares only the engine, the runtime and the log limiter with the servers.
//! - [`engine`]/ (Linux): the per-core toolkit (public: bench-client's per-core engine uses it too): epoll poller, eventfd waker, timer heap,
//!   slab with generation-checked tokens, loop threads and their stop flag. No
//!   protocols; the per-core driver and the relay build their loops from it.
//! - `conn/`: what every connection driver shares: a failure counted and logged once
//!   (rate-limited, the peer's text clipped) and the guard an admitted connection holds.
//! - `session/`: sans-IO connection state machines (tcp-echo, framed): bytes and time
//!   in, bytes, actions and deadlines out; every driver moves bytes for them.
//! - `protocol/`: the helpers below the sessions (a framed command's reply, the
//!   budget, `exec`) and udp-echo's receive loop.
//! - `endpoint` (leaf): [`Endpoint`] (a bound socket and its protocol), [`bind_all`],
//!   [`validate`] and [`ServerError`].
//! - `runtime` (leaf): the executor threads, stop channel, task tracker, grace wait and
//!   background thread that the servers and the relay share.
//! - [`stats`]/: per-endpoint counters ([`StatsSnapshot`], [`ErrorKind`]) with per-loop
//!   lanes, the shutdown [`ServerSummary`], and the one-line-per-second warning limit.
//! - [`socket`] (leaf): binding with [`SocketOptions`], applying them to accepted
//!   connections, reading them back with getsockopt ([`SocketReadback`]).
//! - [`config`] (leaf): the plain [`ServerConfig`] (no CLI types) and its enums.
//! - `cli_support` (leaf, `cli` feature only): the one-line usage errors both wirebench
//!   binaries print.
//!
//! # Features
//!
//! `cli` (default): clap, `clap::ValueEnum` on the enums the binary takes as flag values
//! ([`Model`], [`Transform`], [`RequestMode`], [`WriteMode`], [`proxy::ProxyProto`],
//! [`proxy::ProxyModel`], [`proxy::Strategy`]), `cli_support`, and the binary. Without it the library has no
//! clap in its dependency tree.
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
#[cfg(target_os = "linux")]
pub mod engine;
mod protocol;
pub mod proxy;
mod runtime;
mod server;
mod session;
pub mod socket;
pub mod stats;

pub use config::{Model, Proto, RequestMode, ServerConfig, Transform, WriteMode};
pub use endpoint::{Endpoint, ServerError, bind_all, validate};
pub use protocol::exec::EXEC_TIMEOUT;
pub use server::{ServerHandle, run, spawn};
pub use socket::{SocketOptions, SocketReadback};
pub use stats::{ErrorKind, ServerSummary, StatsSnapshot};
