//! One timeline interval's counts and histogram ([`IntervalPart`]), as a worker closes
//! it, and its compressed form ([`StoredInterval`]) as the compressor keeps it. A leaf of
//! `record`: the timeline, the live counters and the recorder all use it.

use hdrhistogram::Histogram;

/// One worker's share of a finished timeline interval, its histogram compressed (a live
/// histogram takes ~220 KB; a compressed interval a few hundred bytes).
#[derive(Debug, Clone)]
pub struct StoredInterval {
    pub(crate) index: u64,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) unfinished: u64,
    pub(crate) bytes_received: u64,
    pub(crate) latency: Vec<u8>,
}

/// One timeline interval.
#[derive(Debug, Clone)]
pub struct IntervalPart {
    /// Interval number from the start of recording.
    pub index: u64,
    /// Successful requests completed in it.
    pub ok: u64,
    /// Failed requests in it.
    pub errors: u64,
    /// Open loop, the last interval: requests unfinished at the end (in `latency` at their
    /// lower bound).
    pub unfinished: u64,
    /// Payload bytes of the verified replies completed in it.
    pub bytes_received: u64,
    /// Latencies of the requests completed (or unfinished) in it.
    pub latency: Histogram<u64>,
}

impl IntervalPart {
    pub(crate) fn store(&self) -> StoredInterval {
        StoredInterval {
            index: self.index,
            ok: self.ok,
            errors: self.errors,
            unfinished: self.unfinished,
            bytes_received: self.bytes_received,
            latency: crate::report::encode_histogram_bytes(&self.latency),
        }
    }
}
