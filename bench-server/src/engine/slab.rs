//! [`Slab`]: a loop's connections (or any per-socket state) in a vector with a free
//! list, addressed by a [`Key`] that carries a generation, so an event or a deadline
//! left over for a freed slot is recognised as stale and ignored; and the token
//! helpers that let a loop reserve a few tokens of its own (waker, listeners) beside
//! the keys.
//!
//! Tokens are 64 bits: the top 8 are a tag ([`tagged`], [`tag_of`], [`untag`]); a key's
//! token has tag 0, its generation in bits 32..56 and its index in bits 0..32.

/// Where a token's tag starts.
const TAG_SHIFT: u32 = 56;

/// Generations wrap within 24 bits (they share the token with the tag): a stale key
/// is mistaken for a live one only after 16 million reuses of the same slot between
/// the stale event and its delivery.
const GENERATION_MASK: u32 = (1 << 24) - 1;

/// A token with `tag` (1 to 255 for a loop's own sockets; 0 is the slab's keys) and
/// `low` in its low 56 bits.
pub fn tagged(tag: u8, low: u64) -> u64 {
    (u64::from(tag) << TAG_SHIFT) | (low & ((1 << TAG_SHIFT) - 1))
}

/// The tag of `token` (0: a [`Key`]).
pub fn tag_of(token: u64) -> u8 {
    (token >> TAG_SHIFT) as u8
}

/// The low 56 bits of `token` (what [`tagged`] was given as `low`).
pub fn untag(token: u64) -> u64 {
    token & ((1 << TAG_SHIFT) - 1)
}

/// A slot and the generation it had when the value was inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    index: u32,
    generation: u32,
}

impl Key {
    /// The epoll token for this key (tag 0).
    pub fn token(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The key back from a tag-0 token.
    pub fn from_token(token: u64) -> Key {
        Key {
            index: token as u32,
            generation: (untag(token) >> 32) as u32 & GENERATION_MASK,
        }
    }
}

#[derive(Debug)]
enum Slot<T> {
    Full(T),
    /// Free; the next free slot's index (`u32::MAX`: none).
    Free(u32),
}

#[derive(Debug)]
struct Entry<T> {
    generation: u32,
    slot: Slot<T>,
}

/// Values addressed by generation-checked [`Key`]s.
#[derive(Debug)]
pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    free_head: u32,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slab<T> {
    /// Empty.
    pub fn new() -> Self {
        Slab {
            entries: Vec::new(),
            free_head: u32::MAX,
            len: 0,
        }
    }

    /// Stores `value` in a free slot (reusing freed ones first) and returns its key.
    pub fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if let Some(entry) = self.entries.get_mut(self.free_head as usize) {
            let index = self.free_head;
            let Slot::Free(next) = entry.slot else {
                unreachable!("the free list holds free slots only")
            };
            self.free_head = next;
            entry.slot = Slot::Full(value);
            return Key {
                index,
                generation: entry.generation,
            };
        }
        let index = u32::try_from(self.entries.len()).expect("fewer than 4 billion slots");
        self.entries.push(Entry {
            generation: 0,
            slot: Slot::Full(value),
        });
        Key {
            index,
            generation: 0,
        }
    }

    /// The value under `key`; `None` when the key is stale (its slot was freed,
    /// perhaps reused) or was never handed out.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize) {
            Some(Entry {
                generation,
                slot: Slot::Full(value),
            }) if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// Takes the value under `key` out (`None` when stale); the slot's next key gets a
    /// new generation.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let entry = self.entries.get_mut(key.index as usize)?;
        if entry.generation != key.generation || matches!(entry.slot, Slot::Free(_)) {
            return None;
        }
        let Slot::Full(value) = std::mem::replace(&mut entry.slot, Slot::Free(self.free_head))
        else {
            unreachable!("checked above")
        };
        entry.generation = (entry.generation + 1) & GENERATION_MASK;
        self.free_head = key.index;
        self.len -= 1;
        Some(value)
    }

    /// How many values are stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every live key (allocates: for stop and grace sweeps, not the hot path).
    pub fn keys(&self) -> Vec<Key> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.slot, Slot::Full(_)))
            .map(|(i, e)| Key {
                index: i as u32,
                generation: e.generation,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_key_finds_nothing_after_its_slot_is_reused() {
        let mut slab = Slab::new();
        let a = slab.insert("a");
        let b = slab.insert("b");
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.remove(a), None, "removed once");
        let c = slab.insert("c");
        assert_eq!(c.index, a.index, "the freed slot is reused");
        assert_eq!(slab.get_mut(a), None, "the old key is stale");
        assert_eq!(slab.get_mut(c), Some(&mut "c"));
        assert_eq!(slab.get_mut(b), Some(&mut "b"));
        assert_eq!(slab.len(), 2);
        let mut keys = slab.keys();
        keys.sort_by_key(|k| k.index);
        assert_eq!(keys, [c, b]);
    }

    #[test]
    fn keys_survive_the_token_round_trip_and_tags_stay_apart() {
        let mut slab = Slab::new();
        for _ in 0..3 {
            let k = slab.insert(());
            slab.remove(k);
        }
        let k = slab.insert(());
        assert_eq!(Key::from_token(k.token()), k);
        assert_eq!(tag_of(k.token()), 0);
        let t = tagged(3, 17);
        assert_eq!((tag_of(t), untag(t)), (3, 17));
        assert_ne!(Key::from_token(t), k);
        assert_eq!(
            slab.get_mut(Key::from_token(12345)),
            None,
            "never handed out"
        );
    }

    #[test]
    fn generations_wrap_within_the_token_bits() {
        let mut slab = Slab::new();
        slab.insert(0);
        slab.entries[0].generation = GENERATION_MASK;
        slab.entries[0].slot = Slot::Full(0);
        let last = Key {
            index: 0,
            generation: GENERATION_MASK,
        };
        assert_eq!(slab.remove(last), Some(0));
        let next = slab.insert(1);
        assert_eq!(next.generation, 0);
        assert_eq!(Key::from_token(next.token()), next);
        assert_eq!(
            tag_of(last.token()),
            0,
            "the generation never reaches the tag"
        );
    }
}
