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
//! Inside, arrows run one way: `run` -> `tcp`/`udp` -> `conn` -> `pace` -> `shared`
//! (`error`, `preflight` and `cpu`, the CPU accounting sampler, beside them), so no file imports one that imports it back.

mod conn;
mod cpu;
mod error;
mod pace;
mod preflight;
mod run;
mod shared;
mod tcp;
mod udp;

pub use cpu::WatchPid;
pub use error::RunError;
pub use run::Run;
pub(crate) use run::{embedded_server_config, start_embedded};
pub use shared::Stopper;
