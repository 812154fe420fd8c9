//! Impairments on purpose: what `--impair SPEC` asks the relay to do to the traffic
//! (plain, serialisable [`Impairments`]), how a spec is parsed ([`Impairments::add`]),
//! and the seeded dice a loop rolls to apply them ([`Impairer`]). A leaf: the loops
//! call it and count what it did; it does no I/O and keeps no clock.
//!
//! Implemented today (per-core model only; `async` refuses `--impair`):
//! - UDP: `loss=P%`, `dup=P%`, `corrupt=P%` (one byte of the datagram flipped);
//! - TCP: `reset=after:SIZE` (the connection is reset once SIZE bytes went that way).
//!
//! A spec is `[up:|down:]NAME=VALUE`; without a direction it applies both ways. The
//! other impairments of issue 19 (latency, jitter, rate, slice, stall, close-slowly,
//! reorder) parse to [`ImpairError::NotImplemented`], so a script asking for them fails
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
}

impl WayImpairments {
    /// Whether nothing is asked for.
    pub fn is_off(&self) -> bool {
        *self == WayImpairments::default()
    }

    /// Whether a datagram impairment is asked for.
    pub fn has_udp(&self) -> bool {
        self.loss_ppm + self.dup_ppm + self.corrupt_ppm > 0
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
    #[error("--impair {0:?}: unknown impairment (known: loss, dup, corrupt, reset)")]
    Unknown(String),
    /// A name from issue 19 the relay does not apply yet.
    #[error("--impair {0:?}: not implemented yet (implemented: loss, dup, corrupt, reset)")]
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
    /// assert!(imp.add("latency=5ms").is_err());
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
            "latency" | "jitter" | "rate" | "slice" | "stall" | "close-slowly" | "reorder" => {
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
}

impl ImpairCounts {
    /// From the four counts, in [`Applied`] order.
    pub(crate) fn from_array(n: [u64; 4]) -> Self {
        ImpairCounts {
            dropped: n[0],
            duplicated: n[1],
            corrupted: n[2],
            reset: n[3],
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
            ("jitter=2ms", "not implemented yet"),
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
            reset_after: None,
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
    fn nothing_asked_for_builds_no_impairer() {
        assert!(Impairer::new(WayImpairments::default(), 1, 0, false).is_none());
    }
}
