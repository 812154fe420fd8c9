//! The engine: the only wing that knows smol and sockets. [`Run`] starts the embedded
//! server when there is no target, checks that the target answers (`preflight`), runs
//! the connections on `--threads` worker threads (each a smol `LocalExecutor` with its
//! own recorder, so recording takes no locks), paces requests (`pace`), and hands the
//! merged recorder to `record` for the report.
//!
//! Owns: sockets, time, worker threads, the embedded server's lifetime. Must not touch:
//! protocol rules (`workload`), measurement state (`record`), file formats (`report`),
//! matrices of runs (`matrix`).
//!
//! Two engines drive the connections (`--engine`): `per_core` (Linux, the default): one
//! event loop per worker thread on bench-server's engine toolkit, driving sans-IO
//! [`TcpSession`](session::TcpSession)s; and the async one (`tcp`, `udp`): a smol
//! executor per worker thread, a task per connection.
//!
//! Inside, arrows run one way: `run` -> `per_core` -> `session`, and `run` ->
//! `tcp`/`udp`/`datagram` (custom UDP); all -> `conn` -> `pace` -> `shared` (`error`, `preflight`, `start`
//! and `cpu`, the CPU accounting sampler, beside them), so no file imports one that imports it back.

mod conn;
mod cpu;
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod custom_udp_session;
mod datagram;
mod error;
mod latch;
mod pace;
#[cfg(target_os = "linux")]
mod per_core;
mod preflight;
mod run;
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod session;
mod shared;
mod start;
mod tcp;
mod udp;
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod udp_session;

pub use cpu::WatchPid;
pub use error::RunError;
pub use run::Run;
pub(crate) use run::{embedded_server_config, start_embedded};
pub use shared::Stopper;
pub use start::StartAt;
