//! Analysis: reads reports, never runs. Comparing runs or matrix folders side by side
//! ([`compare`]), `--fail-if` gates, the text tables, and the timeline as an HdrHistogram
//! interval log ([`hlog`]).
//!
//! Owns: the [`Field`] table (what a comparison, a gate and the overhead summary can
//! show), pairing and ratios. Must not touch: sockets or runs (`engine`, `matrix`),
//! pages (`render` uses this wing, not the other way).

pub mod compare;
pub mod hlog;
mod table;

pub use compare::{Field, ratio};
pub use table::format_overhead_table;
