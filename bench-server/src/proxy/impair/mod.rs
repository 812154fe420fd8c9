//! Impairments on purpose: what `--impair SPEC` asks the relay to do to the traffic
//! (plain, serialisable [`Impairments`]), how a spec is parsed (`spec`:
//! [`Impairments::add`]), the seeded dice a loop rolls to apply them (`dice`) and what
//! was applied ([`ImpairCounts`]). A leaf: the loops call it and count what it did; it
//! does no I/O and keeps no clock.
//!
//! Implemented (on both relay models; the TCP shaping ones need `--strategy copy`):
//! - UDP: `loss=P%`, `dup=P%`, `corrupt=P%` (one byte of the datagram flipped),
//!   `latency=D`, `jitter=D`, `reorder=P%,gap=D` (datagrams held on the loop's timers),
//!   `rate=10Mbit[,burst=SIZE][,queue=SIZE]` (a token bucket per session and direction
//!   behind a bounded FIFO queue, tail drop: `pace`);
//! - TCP: `latency=D`, `jitter=D` (chunks held, order kept), `rate=10Mbit[,burst=SIZE]`
//!   (a token bucket), `slice=SIZE[,gap=D]` (writes of at most SIZE),
//!   `stall=after:SIZE,for:D`, `close-slowly=D` (the FIN held), and
//!   `reset=after:SIZE` (the connection is reset once SIZE bytes went that way).
//!
//! A spec is `[up:|down:]NAME=VALUE`; without a direction it applies both ways.

pub(crate) mod dice;
pub(crate) mod pace;
mod spec;

use serde::{Deserialize, Serialize};

/// What to do to one direction's traffic. All zero / `None`: nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WayImpairments {
    /// UDP: datagrams dropped, in parts per million.
    #[serde(default)]
    pub loss_ppm: u32,
    /// UDP: datagrams sent twice, in parts per million.
    #[serde(default)]
    pub dup_ppm: u32,
    /// UDP: datagrams with one byte flipped, in parts per million.
    #[serde(default)]
    pub corrupt_ppm: u32,
    /// TCP: reset the connection once this many bytes went this way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_after: Option<u64>,
    /// Every datagram (UDP) or chunk (TCP) held this long (microseconds).
    #[serde(default)]
    pub latency_us: u64,
    /// Plus a uniform extra of 0 up to twice this, less this (so `latency` is the
    /// mean), never below zero (microseconds). TCP keeps the order: a chunk is never
    /// released before the one read before it.
    #[serde(default)]
    pub jitter_us: u64,
    /// UDP: datagrams held `gap_us` longer than the others, in parts per million, so
    /// later ones overtake them.
    #[serde(default)]
    pub reorder_ppm: u32,
    /// UDP: the extra hold of a reordered datagram (microseconds).
    #[serde(default)]
    pub gap_us: u64,
    /// A token bucket's rate, bytes per second (TCP: per connection and direction;
    /// UDP: per session and direction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_bytes_per_s: Option<u64>,
    /// The bucket's size in bytes (`None`: 10 ms of the rate, at least 1 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    /// UDP with `rate`: the most bytes waiting for tokens (`None`: 64 KiB); a
    /// datagram that would take the queue above it is dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_queue: Option<u64>,
    /// TCP: every write at most this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<u64>,
    /// TCP: with `slice`, the pause between two writes (microseconds).
    #[serde(default)]
    pub slice_gap_us: u64,
    /// TCP: once this many bytes went this way, stop for `stall_us`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_after: Option<u64>,
    /// TCP: how long a stall lasts (microseconds).
    #[serde(default)]
    pub stall_us: u64,
    /// TCP: when the source closes, the FIN is passed on this much later
    /// (microseconds; 0: at once).
    #[serde(default)]
    pub close_slowly_us: u64,
}

/// `1.5ms`-style text for `us` microseconds.
fn dur(us: u64) -> String {
    bench_proto::units::HumanDuration(std::time::Duration::from_micros(us)).to_string()
}

impl WayImpairments {
    /// Whether nothing is asked for.
    pub fn is_off(&self) -> bool {
        *self == WayImpairments::default()
    }

    /// Whether an impairment only UDP applies is asked for (`loss`, `dup`, `corrupt`,
    /// `reorder`, and `rate`'s `queue`).
    pub fn has_udp_only(&self) -> bool {
        self.loss_ppm + self.dup_ppm + self.corrupt_ppm + self.reorder_ppm > 0
            || self.rate_queue.is_some()
    }

    /// The UDP-only impairments that are set, as `name=value` words (for errors).
    pub fn udp_words(&self) -> String {
        let pct = |ppm: u32| format!("{}%", f64::from(ppm) / 10_000.0);
        let mut words = Vec::new();
        for (name, ppm) in [
            ("loss", self.loss_ppm),
            ("dup", self.dup_ppm),
            ("corrupt", self.corrupt_ppm),
            ("reorder", self.reorder_ppm),
        ] {
            if ppm > 0 {
                words.push(format!("{name}={}", pct(ppm)));
            }
        }
        if let Some(queue) = self.rate_queue {
            words.push(format!("rate queue={}", bench_proto::ByteSize(queue)));
        }
        words.join(" ")
    }

    /// Whether an impairment only TCP applies is asked for (`reset` and the shaping
    /// ones but `latency`, `jitter` and `rate`).
    pub fn has_tcp_only(&self) -> bool {
        !self.tcp_words().is_empty()
    }

    /// The TCP-only impairments that are set, as words (for errors).
    pub fn tcp_words(&self) -> String {
        let mut words = self.tcp_only_shaping_words();
        words.retain(|&w| w != "rate");
        if self.reset_after.is_some() {
            words.insert(0, "reset");
        }
        words.join(" ")
    }

    fn tcp_only_shaping_words(&self) -> Vec<&'static str> {
        [
            ("rate", self.rate_bytes_per_s.is_some()),
            ("slice", self.slice.is_some()),
            ("stall", self.stall_after.is_some()),
            ("close-slowly", self.close_slowly_us > 0),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }

    /// Whether a TCP impairment that needs the bytes in user space is asked for
    /// (`latency`, `jitter`, `rate`, `slice`, `stall`, `close-slowly`): such a
    /// direction is relayed through the shaping queue instead of the fast path.
    pub fn has_shaping(&self) -> bool {
        self.has_delay() || !self.tcp_only_shaping_words().is_empty()
    }

    /// The shaping impairments that are set, as `name=value` words (for errors).
    pub fn shaping_words(&self) -> String {
        let mut words = Vec::new();
        if self.latency_us > 0 {
            words.push(format!("latency={}", dur(self.latency_us)));
        }
        if self.jitter_us > 0 {
            words.push(format!("jitter={}", dur(self.jitter_us)));
        }
        words.extend(self.tcp_only_shaping_words().into_iter().map(str::to_owned));
        words.join(" ")
    }

    /// Whether datagrams or chunks are held (`latency`, `jitter`, `reorder`).
    pub fn has_delay(&self) -> bool {
        self.latency_us + self.jitter_us > 0 || self.reorder_ppm > 0
    }

    /// The token bucket's size: `burst`, or 10 ms of the rate (at least 1 KiB).
    pub fn burst_bytes(&self) -> Option<u64> {
        let rate = self.rate_bytes_per_s?;
        Some(self.burst.unwrap_or((rate / 100).max(1024)))
    }

    /// UDP: the rate queue's bound in bytes, `queue` or 64 KiB (`None` without
    /// `rate`).
    pub fn rate_queue_bytes(&self) -> Option<u64> {
        self.rate_bytes_per_s?;
        Some(self.rate_queue.unwrap_or(DEFAULT_RATE_QUEUE))
    }
}

/// UDP `rate`: the bytes that may wait for tokens per session and direction when
/// `queue=` is not given (64 KiB: 45 full-size Ethernet datagrams).
pub(crate) const DEFAULT_RATE_QUEUE: u64 = 64 * 1024;

/// Both directions' impairments and the seed of their dice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impairments {
    /// Client -> upstream.
    #[serde(default)]
    pub up: WayImpairments,
    /// Upstream -> client.
    #[serde(default)]
    pub down: WayImpairments,
    /// The dice's seed (`--seed`): the same seed and traffic give the same faults.
    #[serde(default)]
    pub seed: u64,
}

impl Impairments {
    /// Whether nothing is asked for either way.
    pub fn is_off(&self) -> bool {
        self.up.is_off() && self.down.is_off()
    }
}

/// A spec that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImpairError {
    /// Not `[up:|down:]NAME=VALUE`.
    #[error("--impair {0:?}: expected [up:|down:]NAME=VALUE, e.g. up:loss=1%")]
    Malformed(String),
    /// A name the relay does not know.
    #[error(
        "--impair {0:?}: unknown impairment (known: loss, dup, corrupt, latency, jitter, reorder, rate, slice, stall, close-slowly, reset)"
    )]
    Unknown(String),
    /// A value that does not parse or is out of range.
    #[error("--impair {spec:?}: {why}")]
    BadValue {
        /// The whole spec.
        spec: String,
        /// What is wrong with its value.
        why: &'static str,
    },
}

/// What the relay did on purpose, counted (in [`super::ProxySummary::impaired`]), so
/// a report can be checked against it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpairCounts {
    /// UDP datagrams dropped (either way).
    #[serde(default)]
    pub dropped: u64,
    /// UDP datagrams sent a second time.
    #[serde(default)]
    pub duplicated: u64,
    /// UDP datagrams with a byte flipped.
    #[serde(default)]
    pub corrupted: u64,
    /// TCP connections reset on purpose (`reset=after:`).
    #[serde(default)]
    pub reset: u64,
    /// UDP datagrams (`latency`, `jitter`, `reorder`) or TCP chunks (`latency`,
    /// `jitter`) held before being sent.
    #[serde(default)]
    pub delayed: u64,
    /// UDP datagrams held the extra `gap` of `reorder`.
    #[serde(default)]
    pub reordered: u64,
    /// TCP: the bytes of the `delayed` chunks.
    #[serde(default)]
    pub delayed_bytes: u64,
    /// TCP: waits for the `rate` token bucket to refill; UDP: datagrams that waited
    /// in the `rate` queue for their tokens.
    #[serde(default)]
    pub throttled: u64,
    /// TCP: writes of at most the `slice` size.
    #[serde(default)]
    pub sliced: u64,
    /// TCP: stalls (`stall=after:`), at most one per direction and connection.
    #[serde(default)]
    pub stalled: u64,
    /// TCP: FINs held back by `close-slowly`.
    #[serde(default)]
    pub closed_slowly: u64,
    /// UDP: datagrams dropped by `rate` (tail drop of a full queue, or still queued
    /// when their session ended); not in `dropped`, which is `loss` alone.
    #[serde(default)]
    pub rate_dropped: u64,
}

/// Which [`ImpairCounts`] field an applied impairment adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// A datagram dropped.
    Dropped = 0,
    /// A datagram duplicated.
    Duplicated = 1,
    /// A datagram corrupted.
    Corrupted = 2,
    /// A connection reset.
    Reset = 3,
    /// A datagram or chunk held.
    Delayed = 4,
    /// A datagram held the extra reorder gap.
    Reordered = 5,
    /// Bytes of held chunks.
    DelayedBytes = 6,
    /// A wait for tokens.
    Throttled = 7,
    /// A sliced write.
    Sliced = 8,
    /// A stall.
    Stalled = 9,
    /// A FIN held.
    ClosedSlowly = 10,
    /// A datagram dropped by the rate queue.
    RateDropped = 11,
}

impl Applied {
    /// Every kind, in counter order.
    pub(crate) const COUNT: usize = 12;
}

impl ImpairCounts {
    /// The non-zero counts as `name=n` words, the JSON names in name order (empty when
    /// nothing was applied), for the relay's text summary.
    pub fn words(&self) -> String {
        let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) else {
            return String::new();
        };
        let words: Vec<String> = fields
            .iter()
            .filter(|(_, n)| n.as_u64().is_some_and(|n| n > 0))
            .map(|(name, n)| format!("{name}={n}"))
            .collect();
        words.join(" ")
    }

    /// From the counts, in [`Applied`] order.
    pub(crate) fn from_array(n: [u64; Applied::COUNT]) -> Self {
        ImpairCounts {
            dropped: n[0],
            duplicated: n[1],
            corrupted: n[2],
            reset: n[3],
            delayed: n[4],
            reordered: n[5],
            delayed_bytes: n[6],
            throttled: n[7],
            sliced: n[8],
            stalled: n[9],
            closed_slowly: n[10],
            rate_dropped: n[11],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_print_as_the_words_of_those_applied() {
        let mut n = [0u64; Applied::COUNT];
        n[Applied::RateDropped as usize] = 3;
        n[Applied::Throttled as usize] = 40;
        assert_eq!(
            ImpairCounts::from_array(n).words(),
            "rate_dropped=3 throttled=40"
        );
        assert_eq!(ImpairCounts::default().words(), "");
    }
}
