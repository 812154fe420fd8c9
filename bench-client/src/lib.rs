//! bench-client: the wirebench load generator, as a library the binary, the suite, the
//! tests and the benches all drive the same way.
//!
//! # Layout
//!
//! Wings, from the top; a wing uses the ones below it, never one above (`analysis` and
//! `render` sit beside the run path and only read `report`):
//!
//! - [`matrix`]: many runs into one folder: the suite, the Nagle matrix, the proxy
//!   overhead measurement, the rate sweep and the SLO search; never draws pages (the
//!   binary does, through [`render`]).
//! - `engine`: [`Run`]: embedded server, pre-flight check, worker threads, pacing,
//!   TCP connections and UDP sockets, CPU accounting ([`WatchPid`]); the only wing that
//!   knows smol and sockets.
//! - [`workload`]: sans-IO protocols: the [`StreamWorkload`](workload::StreamWorkload)
//!   trait (encode a request, decode and verify its reply), tcp-echo, framed, udp-echo,
//!   and `custom` (a protocol from a workload file, `docs/workloads.md`).
//! - [`record`]: per-worker recorders, the timeline, and building the [`Report`].
//! - [`report`]: every on-disk schema, typed, read and written: run report, matrix
//!   summary, overhead summary, sweep/search summary, the histogram codec, the stall
//!   verdict.
//! - [`analysis`]: reads reports, never runs: compare, `--fail-if` gates, SLOs, tables,
//!   hlog.
//! - [`render`]: a self-contained HTML page with SVG charts, from `report` types only.
//! - [`config`] (leaf): plain [`RunConfig`] (no CLI types) and its validation.
//! - [`shard`] (leaf beside `config`): one run split over N processes: the shares, the
//!   striped open-loop schedule ([`shard::Lane`]), the [`shard::Shard`] a config carries.
//! - [`output`] (leaf): every file written and stdout, atomic replacement, unique names,
//!   time stamps. [`input`] (leaf): every file read, through one size cap.
//!
//! # Example
//!
//! ```
//! use bench_client::{Run, RunConfig, RunLength};
//!
//! let config = RunConfig {
//!     length: RunLength::Requests(200),
//!     warmup: "0s".parse().unwrap(),
//!     ..RunConfig::default() // tcp-echo, 64 B, closed loop, embedded server
//! };
//! let report = Run::new(config).unwrap().execute().unwrap();
//! assert_eq!(report.totals.ok, 200);
//! assert_eq!(report.totals.error_count, 0);
//! assert!(report.latency.p50_ns > 0);
//! ```
#![forbid(unsafe_code)]

pub mod analysis;
pub mod config;
mod engine;
pub mod input;
pub mod matrix;
pub mod output;
pub mod record;
pub mod render;
pub mod report;
pub mod shard;
pub mod workload;

pub use config::{
    Arrival, ClientEngine, ConfigError, EmbeddedServer, Expect, FramedCmd, LoadModel,
    RequestFormat, RunConfig, RunLength, SizeRange, Target, WorkloadKind,
};
pub use engine::{Run, RunError, StartAt, Stopper, WatchPid};
pub use report::{ErrorKind, Report, ReportError};

/// The server library the load generator embeds (`--target` omitted).
pub use bench_server as server;
