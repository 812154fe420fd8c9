//! What the loops of one run share ([`Shared`]), the per-turn budget and the tokens
//! sockets are registered under. A leaf of the per-core wing: the TCP and UDP loops
//! read it, `mod.rs` builds it.

use std::sync::Arc;

use crate::engine::threads::StopFlag;
use crate::proxy::config::ProxyConfig;
use crate::proxy::fds::FdBudget;
use crate::proxy::stats::ProxyStats;
use crate::stats::limiter::LogLimiter;

/// Reads (or datagrams) one socket gets per turn before the others get theirs.
pub(super) const BUDGET: u32 = 32;

/// What every loop of one run shares; nothing in it is touched per chunk or datagram
/// (the counters each loop writes are its own shard of `stats`).
pub(super) struct Shared {
    pub(super) config: ProxyConfig,
    pub(super) stats: Arc<ProxyStats>,
    /// Warning lines about refused or failed connections, one per second.
    pub(super) warnings: LogLimiter,
    pub(super) stop: StopFlag,
    /// The descriptor budget, taken once for the run (the loops share it through the
    /// `active` count).
    pub(super) fds: FdBudget,
}

/// The tokens a loop registers its sockets under: a tag (the engine's top byte) and,
/// for a connection's or session's socket, its slab key. (Its items are `pub(crate)`
/// inside a module only the per-core wing sees.)
pub(super) mod token {
    use crate::engine::slab::{Key, tag_of, tagged, untag};

    /// The loop's waker.
    pub(crate) const WAKER: u8 = 1;
    /// The loop's front socket (listener or UDP socket).
    pub(crate) const FRONT: u8 = 2;
    /// A connection's client socket, or a UDP session's upstream socket.
    pub(crate) const CLIENT: u8 = 3;
    /// A connection's upstream socket.
    pub(crate) const UPSTREAM: u8 = 4;

    /// The token of a loop's own socket of kind `tag`.
    pub(crate) fn own(tag: u8) -> u64 {
        tagged(tag, 0)
    }

    /// The token of `key`'s socket of kind `tag`.
    pub(crate) fn of(tag: u8, key: Key) -> u64 {
        tagged(tag, key.token())
    }

    /// The tag and key of a token.
    pub(crate) fn split(token: u64) -> (u8, Key) {
        (tag_of(token), Key::from_token(untag(token)))
    }
}
