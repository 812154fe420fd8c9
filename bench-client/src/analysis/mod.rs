//! Analysis: reads reports, never runs. Comparing runs or matrix folders side by side
//! ([`compare`]), `--fail-if` gates ([`gate`]), the SLOs of `sweep` and `search` ([`slo`]),
//! the text tables (the comparison's in `compare`; the overhead table and the table after
//! a run or suite in `table`), the whole percentile spectrum as `.hgrm` text
//! ([`spectrum`]), the timeline as an HdrHistogram interval log ([`hlog`]), and the
//! lossless merge of a sharded run's reports ([`merge`]).
//!
//! Owns: the one [`Field`] table (what a comparison, a gate and the overhead summary can
//! show, and how each reads it: `fields`), the typed report views (`view`), pairing
//! and ratios. Must not touch: sockets or runs (`engine`, `matrix`), pages (`render` uses
//! this wing, not the other way).

pub mod compare;
mod fields;
pub mod gate;
pub mod hlog;
pub mod merge;
pub mod slo;
pub mod spectrum;
mod table;
mod view;

pub use compare::table::{Layout, format};
pub use compare::{CompareError, Comparison, Group, Note, RunView, load, ratio, read_view};
pub use fields::{COLUMNS, CPU_COLUMNS, Field};
pub use gate::{Limit, Op, Threshold, Violation, check};
pub use slo::Slo;
pub use table::{format_overhead_table, format_run_table};
