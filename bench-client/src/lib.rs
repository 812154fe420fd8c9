//! bench-client: the wirebench load generator.
//!
//! This crate is a placeholder in the workspace layout: it has no commands yet. The load
//! generator (workloads, load models, recorder, reports) is built out by its own issue;
//! until then the servers are driven by their integration tests and by any TCP/UDP client.
#![forbid(unsafe_code)]

/// The server library the load generator embeds (`--target` omitted).
pub use bench_server as server;
