//! Every on-disk schema, typed, and reading and writing them: the run report
//! (`wirebench.report/v1`, [`Report`], with its `cpu` section: [`cpu::CpuSection`]), a matrix folder's `summary.json`
//! ([`summary::Summary`]), `overhead.json` ([`overhead::OverheadSummary`]), and the
//! histogram text format they all use ([`Latency`], [`encode_histogram`]).
//!
//! Owns: the types, their names on disk ([`ErrorKind`]), the validation every reader
//! applies (`check`), the histogram codec. Must not touch: the recorder (`record` builds
//! reports from it and imports this wing, never the other way), sockets, rendering.

mod check;
pub mod cpu;
pub mod curve;
mod histogram;
mod io;
mod kinds;
pub mod overhead;
mod run;
mod schedule;
mod shards;
pub mod stall;
pub mod summary;

pub(crate) use histogram::HIST_HIGH_NS;
pub use histogram::{
    HIST_LOW_NS, HIST_SIGFIG, HistogramError, Latency, decode_histogram, decode_histogram_bytes,
    encode_histogram, encode_histogram_bytes, new_histogram,
};
pub use io::write_atomic;
pub use kinds::ErrorKind;
pub(crate) use kinds::KINDS;
pub use run::{
    Host, LatencySummary, Report, ReportError, SCHEMA, SocketInfo, TargetInfo, TimelineEntry, Tool,
    Totals, UdpCounters,
};
pub use schedule::{Schedule, ScheduleVerdict};
pub use shards::{ShardEntry, ShardsSection, StartTimes};
