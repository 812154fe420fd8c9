//! `bench-server proxy`: a relay between a front address and one upstream, TCP or UDP,
//! as a library the binary, the load generator's `overhead` command and the benches
//! drive the same way.
//!
//! The wing owns everything of the relay; it must not reach into the servers' wings
//! (`server`, `protocol`, `conn`): what it shares with them comes from below, the
//! runtime, the socket set-up and the log limiter.
//!
//! # Layout
//!
//! From the top (each file uses only those below it; this file only re-exports):
//!
//! - `run`: [`validate`], [`run_proxy`] (the [`ProxyModel`] picks the engine; graceful
//!   stop) and [`spawn_proxy`] / [`ProxyHandle`] (the same on a background thread).
//! - `per_core/` (Linux, the default model): one edge-triggered event loop per thread
//!   with its own front socket, connections or sessions, timers and counters.
//! - `tcp` (the `async` model's TCP relay, on the shared runtime): the accept loop (with the descriptor budget of `fds`), the upstream connect
//!   with its timeout, and the choice of strategy: `copy` (one user-space buffer per
//!   direction) or `splice` (Linux: socket -> pipe -> socket, no copy to user space),
//!   with what both do alike in `stream` (half-close, pacing between chunks); a `copy`
//!   direction with TCP shaping impairments on runs `shaped` instead (reads, writes
//!   and smol timers around the shared `shape`).
//! - `udp` (the `async` model's UDP relay): sessions per client address, each with its own connected upstream socket,
//!   idle expiry and the session bound.
//! - `ctx`: what every task of one run shares.
//! - `front`: [`Front`], the bound front socket.
//! - `fds`: the descriptor budget checked before a client is accepted.
//! - `stats`: the live counters and the [`ProxySummary`] written at shutdown; `shard`
//!   (leaf): one per-core loop's own share of them.
//! - `shape` (leaf, sans-IO): `Shaper`, one TCP direction's shaping plan
//!   (bounded queue, release times that keep the order, token bucket, slices, stall,
//!   slow close), driven by both models.
//! - `impair/` (leaf): [`Impairments`] (`--impair`), their parsing (`spec`), the seeded
//!   dice that apply them (`dice`) and [`ImpairCounts`].
//! - `config` (leaf): [`ProxyConfig`] (plain, serialisable), its checks and
//!   [`ProxyError`].
//!
//! # Example
//!
//! ```
//! use bench_server::proxy::{Front, ProxyConfig, ProxyProto, spawn_proxy};
//! use bench_server::{Endpoint, Proto, ServerConfig};
//! use std::io::{Read, Write};
//!
//! let config = ServerConfig::default();
//! let ep = Endpoint::bind(Proto::TcpEcho, "127.0.0.1:0".parse().unwrap(), &config.socket).unwrap();
//! let server = bench_server::spawn(vec![ep], config).unwrap();
//!
//! let proxy_config = ProxyConfig::new(ProxyProto::Tcp, server.addr(Proto::TcpEcho).unwrap());
//! let front = Front::bind(ProxyProto::Tcp, "127.0.0.1:0".parse().unwrap()).unwrap();
//! let proxy = spawn_proxy(front, proxy_config).unwrap();
//!
//! let mut client = std::net::TcpStream::connect(proxy.addr()).unwrap();
//! client.write_all(b"ping").unwrap();
//! let mut reply = [0u8; 4];
//! client.read_exact(&mut reply).unwrap();
//! assert_eq!(&reply, b"ping");
//! drop(client);
//!
//! let summary = proxy.stop().unwrap();
//! assert_eq!(summary.bytes_to_upstream, 4);
//! server.stop().unwrap();
//! ```

mod config;
mod copy;
mod ctx;
mod fds;
mod front;
mod impair;
#[cfg(target_os = "linux")]
mod per_core;
mod run;
mod shape;
mod shaped;
mod shard;
#[cfg(target_os = "linux")]
mod splice;
mod stats;
mod stream;
mod tcp;
mod udp;

pub use config::{
    MAX_BUFFER, MAX_THREADS, ProxyConfig, ProxyError, ProxyModel, ProxyProto, Strategy,
};
pub use fds::cost as descriptors_per_connection;
pub use front::Front;
pub use impair::{ImpairCounts, ImpairError, Impairments, WayImpairments};
pub use run::{ProxyHandle, run_proxy, spawn_proxy, validate};
pub use stats::{ProxyErrorKind, ProxySummary};
