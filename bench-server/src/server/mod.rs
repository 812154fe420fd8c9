//! The server driver: runs [`crate::endpoint::Endpoint`]s on the shared runtime, the
//! accept loops of the `async`, `threads` and `iterative` models, the `per-core` event
//! loops, the UDP receive loops, connection limits and the graceful stop. What a connection says is
//! [`crate::protocol`]'s business; binding is [`crate::endpoint`]'s. Nothing below this
//! wing imports it.
//!
//! - `run`: [`run`], one run to its summary on the calling thread.
//! - `accept`: what happens to each accepted connection.
//! - `handle`: [`spawn`] and [`ServerHandle`], the same run on a background thread.
//! - `per_core` (Linux): the `per-core` model's event loops, built on `crate::engine`
//!   and the sans-IO sessions.

mod accept;
mod handle;
#[cfg(target_os = "linux")]
mod per_core;
mod run;

pub use handle::{ServerHandle, spawn};
pub use run::run;
