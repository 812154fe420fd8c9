//! wirebench: load-testing and benchmark suite for TCP and UDP servers and the proxies in
//! front of them.
//!
//! The root package hosts the criterion benches (`benches/`) and the cross-crate
//! integration tests (`tests/`); the code lives in the member crates, re-exported here:
//!
//! - [`proto`] (`bench-proto`): wire formats, sans-IO.
//! - [`server`] (`bench-server`): tcp-echo, udp-echo, framed; server models.
//! - [`client`] (`bench-client`): the load generator.
//! - [`fuzzing`]: the bodies of the fuzz targets (`fuzz/`), replayed on stable by
//!   `tests/fuzz_corpus.rs`.
#![forbid(unsafe_code)]

pub use bench_client as client;
pub use bench_proto as proto;
pub use bench_server as server;

pub mod fuzzing;
