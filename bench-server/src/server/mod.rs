//! The server drivers: run [`crate::endpoint::Endpoint`]s, the accept loops and
//! session drivers of the models (`async`, `threads`, `iterative` on the shared
//! runtime, `per-core` on its own event loops), the UDP receive loops, connection
//! limits and the graceful stop. What a connection says is [`crate::session`]'s
//! business (the drivers only move its bytes and time); binding is
//! [`crate::endpoint`]'s. Nothing below this wing imports it.
//!
//! - `run`: [`run`], one run to its summary on the calling thread.
//! - `admit`: counting an accepted connection, `max_conns` refusals, socket options.
//! - `serve`: what every session driver does besides moving bytes (actions, counts,
//!   the grace cut).
//! - `accept` and `drive_async`: the `async` model, a task per connection.
//! - `blocking`: the `threads` and `iterative` models, blocking sockets, no reactor.
//! - `handle`: [`spawn`] and [`ServerHandle`], the same run on a background thread.
//! - `per_core` (Linux): the `per-core` model's event loops, built on `crate::engine`
//!   and the sans-IO sessions.

mod accept;
mod admit;
mod blocking;
mod drive_async;
mod handle;
#[cfg(target_os = "linux")]
mod per_core;
mod run;
mod serve;

pub use handle::{ServerHandle, spawn};
pub use run::run;

#[cfg(test)]
mod tests;
