//! Recording a run: each worker thread owns one `Recorder` (histograms of ns, error
//! counts, the timeline's intervals), the [`Live`] counters a progress display reads, the
//! timeline's compressor thread, and building the [`Report`](crate::report::Report) from
//! the merged recorder (`RunFacts` is the rest of what it needs).
//!
//! Owns: measurement state and its merge. Must not touch: sockets or the clock of the
//! run (the engine hands it instants), rendering; it uses `report`'s types, and `report`
//! never imports it.

mod build;
mod interval;
mod live;
mod recorder;
mod timeline;

pub(crate) use build::RunFacts;
pub use live::{Live, LiveInterval};
pub(crate) use recorder::{Recorder, Timing};
pub(crate) use timeline::{Compressor, CompressorHandle};
