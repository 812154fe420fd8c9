//! bench-client: the wirebench load generator, as a library the binary, the suite, the
//! tests and the benches all drive the same way.
//!
//! # Layout
//!
//! - [`config`]: plain [`RunConfig`] (no CLI types) and its validation.
//! - [`workload`]: the [`StreamWorkload`](workload::StreamWorkload) trait (encode a
//!   request, decode and verify its reply) and its tcp-echo and framed implementations.
//! - [`engine`]: [`Run`]: embedded server, pre-flight check, worker threads, report.
//! - `tcp`, `udp`: one connection (or UDP socket): writer and reader halves in one task.
//! - [`pace`]: closed-loop and open-loop (uniform, Poisson) request pacing.
//! - [`recorder`]: per-worker HdrHistograms and error counts.
//! - [`timeline`]: one histogram per second, compressed off the hot path.
//! - [`report`]: the `wirebench.report/v1` JSON report.
//! - [`schedule`]: the report's open-loop part: unfinished, achieved rate, verdict.
//! - [`suite`]: the default matrix on the embedded server, and the folder layout every
//!   matrix (suite, [`nagle`]) shares.
//! - [`nagle`]: client x server TCP_NODELAY x write mode, with [`stall`] verdicts.
//! - [`compare`]: runs (or matrix folders) side by side, with `--fail-if` thresholds.
//! - [`render`]: a self-contained HTML page with SVG charts.
//! - [`hlog`]: the timeline as an HdrHistogram interval log.
//! - [`output`]: every file written and stdout: `-`, symlinks, FIFOs and devices,
//!   atomic replacement, unique names, a quiet end on a broken pipe (a leaf).
//! - [`input`]: every file read, through one size cap (a leaf).
//! - [`overhead`]: direct against proxied in alternating rounds.
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

pub mod compare;
pub mod config;
pub mod engine;
pub mod hlog;
pub mod input;
pub mod nagle;
pub mod output;
pub mod overhead;
pub mod pace;
mod preflight;
pub mod recorder;
pub mod render;
pub mod report;
pub mod schedule;
pub mod stall;
pub mod suite;
mod tcp;
pub mod timeline;
mod udp;
pub mod workload;

pub use config::{
    Arrival, ConfigError, EmbeddedServer, Expect, FramedCmd, LoadModel, RequestFormat, RunConfig,
    RunLength, SizeRange, Target, WorkloadKind,
};
pub use engine::{Run, RunError, Stopper};
pub use recorder::ErrorKind;
pub use report::{Report, ReportError};

/// The server library the load generator embeds (`--target` omitted).
pub use bench_server as server;
