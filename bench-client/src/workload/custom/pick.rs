//! The seeded choices of a custom workload: which weighted request a sequence number
//! sends, and the bytes of `{rand:N}`. Both are pure functions of (seed, connection,
//! sequence number), so the reply side re-derives them without sharing state with the
//! sending side, and a run with the same seed sends the same bytes.
//!
//! Owns: the generator (splitmix64) and the weighted pick. Must not touch: templates'
//! syntax, replies, sockets.

/// splitmix64's output function: a well-mixed 64-bit value from any input.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator's state for one (seed, connection, sequence number, stream).
#[inline]
fn state(seed: u64, conn: u64, seq: u64, stream: u64) -> u64 {
    mix(mix(mix(seed ^ stream.rotate_left(48)) ^ conn) ^ seq)
}

const ALPHANUMERIC: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Appends `n` alphanumerics for field number `field` of request `seq` on `conn`.
pub fn rand_bytes(seed: u64, conn: u64, seq: u64, field: u64, n: usize, out: &mut Vec<u8>) {
    // Stream 0 is the pick; fields use 1, 2, ...
    let mut s = state(seed, conn, seq, field + 1);
    let mut left = n;
    while left > 0 {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut word = mix(s);
        // Eight characters per word (6 bits each of the low 48 bits would bias less, but
        // keys only need to spread, not to be uniform).
        for _ in 0..left.min(8) {
            out.push(ALPHANUMERIC[(word % 62) as usize]);
            word /= 62;
        }
        left = left.saturating_sub(8);
    }
}

/// Picks one of several requests by weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picker {
    /// Running totals of the weights: request `i` is picked for draws below `bounds[i]`.
    bounds: Vec<u64>,
    seed: u64,
}

impl Picker {
    /// A picker over `weights` (each at least 1, checked by the caller).
    pub fn new(weights: &[u64], seed: u64) -> Picker {
        let bounds = weights
            .iter()
            .scan(0u64, |total, w| {
                *total += w;
                Some(*total)
            })
            .collect();
        Picker { bounds, seed }
    }

    /// The request that sequence number `seq` of connection `conn` sends.
    #[inline]
    pub fn pick(&self, conn: u64, seq: u64) -> usize {
        if self.bounds.len() == 1 {
            return 0;
        }
        let total = *self.bounds.last().expect("at least one request");
        let draw = state(self.seed, conn, seq, 0) % total;
        self.bounds.partition_point(|&b| b <= draw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_follow_the_weights() {
        let picker = Picker::new(&[90, 10], 7);
        let mut counts = [0u32; 2];
        for seq in 0..10_000 {
            counts[picker.pick(1, seq)] += 1;
        }
        assert!((8_700..=9_300).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn the_same_seed_picks_the_same_and_another_seed_differs() {
        let a: Vec<usize> = (0..64)
            .map(|s| Picker::new(&[1, 1], 1).pick(0, s))
            .collect();
        let b: Vec<usize> = (0..64)
            .map(|s| Picker::new(&[1, 1], 1).pick(0, s))
            .collect();
        let c: Vec<usize> = (0..64)
            .map(|s| Picker::new(&[1, 1], 2).pick(0, s))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn random_bytes_have_the_asked_length() {
        for n in [1, 7, 8, 9, 100] {
            let mut out = Vec::new();
            rand_bytes(0, 0, 0, 0, n, &mut out);
            assert_eq!(out.len(), n);
        }
    }
}
