//! The server driver: runs [`crate::endpoint::Endpoint`]s on the shared runtime, the
//! accept loops of the three models (`async`, `threads`, `iterative`), the UDP receive
//! loops, connection limits and the graceful stop. What a connection says is
//! [`crate::protocol`]'s business; binding is [`crate::endpoint`]'s. Nothing below this
//! wing imports it.
//!
//! - `run`: [`run`], one run to its summary on the calling thread.
//! - `accept`: what happens to each accepted connection.
//! - `handle`: [`spawn`] and [`ServerHandle`], the same run on a background thread.

mod accept;
mod admit;
mod blocking;
mod drive_async;
mod handle;
mod run;
mod serve;

pub use handle::{ServerHandle, spawn};
pub use run::run;
