//! [`Impairer`]: one direction's seeded dice (splitmix64), rolled by a loop for each
//! datagram (loss, duplication, corruption, holds) or TCP chunk (holds). No I/O, no
//! clock: the same seed and the same sequence of calls give the same faults.

use super::WayImpairments;

/// One million: probabilities are held in parts per million.
const PPM: u32 = 1_000_000;

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
    use crate::proxy::Impairments;

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
