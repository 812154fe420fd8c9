//! Impairments on purpose: what `--impair SPEC` asks the relay to do to the traffic
//! (plain, serialisable [`Impairments`]), how a spec is parsed ([`Impairments::add`]),
//! and the seeded dice a loop rolls to apply them ([`Impairer`]). A leaf: the loops
//! call it and count what it did; it does no I/O and keeps no clock.
//!
//! Implemented today (per-core model only; `async` refuses `--impair`):
//! - UDP: `loss=P%`, `dup=P%`, `corrupt=P%` (one byte of the datagram flipped),
//!   `latency=D`, `jitter=D`, `reorder=P%,gap=D` (datagrams held on the loop's timers);
//! - TCP: `reset=after:SIZE` (the connection is reset once SIZE bytes went that way).
//!
//! A spec is `[up:|down:]NAME=VALUE`; without a direction it applies both ways. The
//! other impairments of issue 19 (rate, slice, stall, close-slowly, and latency or
//! jitter on TCP) parse to (or are refused by the config check with) [`ImpairError::NotImplemented`], so a script asking for them fails
//! loudly instead of measuring a network that was not impaired.

use bench_proto::ByteSize;
use serde::{Deserialize, Serialize};

/// One million: probabilities are held in parts per million.
const PPM: u32 = 1_000_000;

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
    /// UDP: every datagram held this long (microseconds).
    #[serde(default)]
    pub latency_us: u64,
    /// UDP: plus a uniform extra of 0 up to twice this, less this (so `latency` is the
    /// mean), never below zero (microseconds).
    #[serde(default)]
    pub jitter_us: u64,
    /// UDP: datagrams held `gap_us` longer than the others, in parts per million, so
    /// later ones overtake them.
    #[serde(default)]
    pub reorder_ppm: u32,
    /// UDP: the extra hold of a reordered datagram (microseconds).
    #[serde(default)]
    pub gap_us: u64,
}

impl WayImpairments {
    /// Whether nothing is asked for.
    pub fn is_off(&self) -> bool {
        *self == WayImpairments::default()
    }

    /// Whether a datagram impairment is asked for.
    pub fn has_udp(&self) -> bool {
        self.loss_ppm + self.dup_ppm + self.corrupt_ppm + self.reorder_ppm > 0 || self.has_delay()
    }

    /// The UDP-only impairments that are set, as `name=value` words (for errors).
    pub fn udp_words(&self) -> String {
        let pct = |ppm: u32| format!("{}%", f64::from(ppm) / 10_000.0);
        let dur = |us: u64| {
            bench_proto::units::HumanDuration(std::time::Duration::from_micros(us)).to_string()
        };
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
        for (name, us) in [("latency", self.latency_us), ("jitter", self.jitter_us)] {
            if us > 0 {
                words.push(format!("{name}={}", dur(us)));
            }
        }
        words.join(" ")
    }

    /// Whether datagrams are held (`latency`, `jitter`, `reorder`).
    pub fn has_delay(&self) -> bool {
        self.latency_us + self.jitter_us > 0 || self.reorder_ppm > 0
    }
}

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

/// A spec that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImpairError {
    /// Not `[up:|down:]NAME=VALUE`.
    #[error("--impair {0:?}: expected [up:|down:]NAME=VALUE, e.g. up:loss=1%")]
    Malformed(String),
    /// A name the relay does not know.
    #[error(
        "--impair {0:?}: unknown impairment (known: loss, dup, corrupt, latency, jitter, reorder, reset)"
    )]
    Unknown(String),
    /// A name from issue 19 the relay does not apply yet.
    #[error(
        "--impair {0:?}: not implemented yet (implemented: loss, dup, corrupt, latency, jitter, reorder, reset)"
    )]
    NotImplemented(String),
    /// A value that does not parse or is out of range.
    #[error("--impair {spec:?}: {why}")]
    BadValue {
        /// The whole spec.
        spec: String,
        /// What is wrong with its value.
        why: &'static str,
    },
}

impl Impairments {
    /// Whether nothing is asked for either way.
    pub fn is_off(&self) -> bool {
        self.up.is_off() && self.down.is_off()
    }

    /// Adds one `--impair` spec.
    ///
    /// ```
    /// use bench_server::proxy::Impairments;
    /// let mut imp = Impairments::default();
    /// imp.add("up:loss=1%").unwrap();
    /// imp.add("dup=0.5%").unwrap();
    /// assert_eq!((imp.up.loss_ppm, imp.down.loss_ppm), (10_000, 0));
    /// assert_eq!((imp.up.dup_ppm, imp.down.dup_ppm), (5_000, 5_000));
    /// imp.add("down:latency=5ms").unwrap();
    /// assert_eq!(imp.down.latency_us, 5_000);
    /// assert!(imp.add("rate=10Mbit").is_err());
    /// ```
    ///
    /// # Errors
    /// [`ImpairError`], naming the spec.
    pub fn add(&mut self, spec: &str) -> Result<(), ImpairError> {
        let (ways, rest) = match spec.split_once(':') {
            Some(("up", rest)) => ([true, false], rest),
            Some(("down", rest)) => ([false, true], rest),
            _ => ([true, true], spec),
        };
        let (name, value) = rest
            .split_once('=')
            .ok_or_else(|| ImpairError::Malformed(spec.to_owned()))?;
        let bad = |why| ImpairError::BadValue {
            spec: spec.to_owned(),
            why,
        };
        let set: Box<dyn Fn(&mut WayImpairments)> = match name {
            "loss" | "dup" | "corrupt" => {
                let ppm =
                    percent_ppm(value).ok_or_else(|| bad("expected a percentage 0%..100%"))?;
                match name {
                    "loss" => Box::new(move |w| w.loss_ppm = ppm),
                    "dup" => Box::new(move |w| w.dup_ppm = ppm),
                    _ => Box::new(move |w| w.corrupt_ppm = ppm),
                }
            }
            "reset" => {
                let size = value
                    .strip_prefix("after:")
                    .and_then(|v| v.parse::<ByteSize>().ok())
                    .ok_or_else(|| bad("expected after:SIZE, e.g. after:100KiB"))?;
                let bytes = size.0;
                Box::new(move |w| w.reset_after = Some(bytes))
            }
            "latency" | "jitter" => {
                let us = micros(value).ok_or_else(|| bad("expected a duration, e.g. 5ms"))?;
                if name == "latency" {
                    Box::new(move |w| w.latency_us = us)
                } else {
                    Box::new(move |w| w.jitter_us = us)
                }
            }
            "reorder" => {
                let (share, gap) = value.split_once(",gap=").unwrap_or((value, "10ms"));
                let ppm = percent_ppm(share).ok_or_else(|| bad("expected P%[,gap=DURATION]"))?;
                let gap = micros(gap).ok_or_else(|| bad("expected P%[,gap=DURATION]"))?;
                Box::new(move |w| {
                    w.reorder_ppm = ppm;
                    w.gap_us = gap;
                })
            }
            "rate" | "slice" | "stall" | "close-slowly" => {
                return Err(ImpairError::NotImplemented(spec.to_owned()));
            }
            _ => return Err(ImpairError::Unknown(spec.to_owned())),
        };
        for (way, on) in [&mut self.up, &mut self.down].into_iter().zip(ways) {
            if on {
                set(way);
            }
        }
        Ok(())
    }
}

/// `5ms`, `250us`, `1s` in microseconds (at most an hour).
fn micros(value: &str) -> Option<u64> {
    let d: bench_proto::HumanDuration = value.parse().ok()?;
    (d.0 <= std::time::Duration::from_secs(3600)).then_some(d.0.as_micros() as u64)
}

/// `1%`, `0.1%`, `100%` as parts per million.
fn percent_ppm(value: &str) -> Option<u32> {
    let p: f64 = value.strip_suffix('%')?.parse().ok()?;
    (0.0..=100.0)
        .contains(&p)
        .then(|| (p * 10_000.0).round() as u32)
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
    /// UDP datagrams held (`latency`, `jitter`, `reorder`) before being sent.
    #[serde(default)]
    pub delayed: u64,
    /// UDP datagrams held the extra `gap` of `reorder`.
    #[serde(default)]
    pub reordered: u64,
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
    /// A datagram held.
    Delayed = 4,
    /// A datagram held the extra reorder gap.
    Reordered = 5,
}

impl ImpairCounts {
    /// From the counts, in [`Applied`] order.
    pub(crate) fn from_array(n: [u64; 6]) -> Self {
        ImpairCounts {
            dropped: n[0],
            duplicated: n[1],
            corrupted: n[2],
            reset: n[3],
            delayed: n[4],
            reordered: n[5],
        }
    }
}

/// What happened to one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fate {
    /// Copies to send: 0 (dropped), 1, or 2 (duplicated).
    pub(crate) copies: u8,
    /// One byte was flipped.
    pub(crate) corrupted: bool,
}

/// One direction's impairments with their own dice (one per loop and direction, so no
/// state is shared between threads).
#[derive(Debug)]
pub(crate) struct Impairer {
    way: WayImpairments,
    state: u64,
}

impl Impairer {
    /// The impairer for `way` of loop `index`, or `None` when `way` asks for nothing
    /// (so the data path pays one `if`).
    pub(crate) fn new(way: WayImpairments, seed: u64, index: usize, down: bool) -> Option<Self> {
        (!way.is_off()).then(|| Impairer {
            way,
            state: seed ^ (index as u64).wrapping_mul(0xA24B_AED4_963E_E407) ^ (down as u64),
        })
    }

    /// splitmix64: small, seeded, good enough for dice.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `ppm` / 1,000,000 (no roll when it is 0).
    fn roll(&mut self, ppm: u32) -> bool {
        ppm > 0 && (self.next() % u64::from(PPM)) < u64::from(ppm)
    }

    /// How long to hold the next datagram (`None`: send it now), and whether that
    /// includes the reorder gap.
    pub(crate) fn hold(&mut self) -> Option<(std::time::Duration, bool)> {
        let w = self.way;
        if !w.has_delay() {
            return None;
        }
        let mut us = w.latency_us;
        if w.jitter_us > 0 {
            let extra = self.next() % (2 * w.jitter_us + 1);
            us = (us + extra).saturating_sub(w.jitter_us);
        }
        let reordered = self.roll(w.reorder_ppm);
        if reordered {
            us += w.gap_us;
        }
        (us > 0).then(|| (std::time::Duration::from_micros(us), reordered))
    }

    /// Decides one datagram's fate; flips a byte of it when corrupting.
    pub(crate) fn datagram(&mut self, datagram: &mut [u8]) -> Fate {
        if self.roll(self.way.loss_ppm) {
            return Fate {
                copies: 0,
                corrupted: false,
            };
        }
        let corrupted = !datagram.is_empty() && self.roll(self.way.corrupt_ppm);
        if corrupted {
            let at = (self.next() % datagram.len() as u64) as usize;
            datagram[at] ^= 0xFF;
        }
        let copies = if self.roll(self.way.dup_ppm) { 2 } else { 1 };
        Fate { copies, corrupted }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_their_direction_or_apply_both_ways() {
        let mut imp = Impairments::default();
        imp.add("down:corrupt=0.1%").unwrap();
        imp.add("reset=after:100KiB").unwrap();
        assert_eq!((imp.up.corrupt_ppm, imp.down.corrupt_ppm), (0, 1000));
        assert_eq!(imp.up.reset_after, Some(100 * 1024));
        assert_eq!(imp.down.reset_after, Some(100 * 1024));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let mut imp = Impairments::default();
        for (spec, says) in [
            ("loss", "expected [up:|down:]NAME=VALUE"),
            ("loss=200%", "expected a percentage"),
            ("loss=1", "expected a percentage"),
            ("reset=100KiB", "expected after:SIZE"),
            ("rate=10Mbit", "not implemented yet"),
            ("latency=soon", "expected a duration"),
            ("reorder=5", "expected P%"),
            ("teleport=1", "unknown impairment"),
        ] {
            let text = imp.add(spec).unwrap_err().to_string();
            assert!(text.contains(says), "{spec}: {text}");
            assert!(text.contains(spec), "{spec}: {text}");
        }
        assert!(imp.is_off());
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let way = WayImpairments {
            loss_ppm: 100_000,
            dup_ppm: 100_000,
            corrupt_ppm: 100_000,
            ..WayImpairments::default()
        };
        let fates = |seed| {
            let mut imp = Impairer::new(way, seed, 0, false).unwrap();
            (0..1000)
                .map(|_| imp.datagram(&mut [0u8; 8]))
                .collect::<Vec<_>>()
        };
        assert_eq!(fates(7), fates(7));
        assert_ne!(fates(7), fates(8));
        let dropped = fates(7).iter().filter(|f| f.copies == 0).count();
        assert!((50..150).contains(&dropped), "10% of 1000: {dropped}");
    }

    #[test]
    fn holds_stay_within_latency_and_jitter_and_reorder_adds_the_gap() {
        let mut imp = Impairments::default();
        imp.add("latency=5ms").unwrap();
        imp.add("jitter=2ms").unwrap();
        imp.add("reorder=50%,gap=10ms").unwrap();
        let mut dice = Impairer::new(imp.up, 3, 0, false).unwrap();
        let mut gaps = 0;
        for _ in 0..1000 {
            let (held, reordered) = dice.hold().unwrap();
            let base = if reordered {
                held - std::time::Duration::from_millis(10)
            } else {
                held
            };
            gaps += usize::from(reordered);
            assert!(
                base.as_micros() >= 3_000 && base.as_micros() <= 7_000,
                "{held:?}"
            );
        }
        assert!((400..600).contains(&gaps), "50% of 1000: {gaps}");
    }

    #[test]
    fn nothing_asked_for_builds_no_impairer() {
        assert!(Impairer::new(WayImpairments::default(), 1, 0, false).is_none());
    }
}
