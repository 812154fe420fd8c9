//! The descriptor budget of the TCP relay: every relayed connection costs descriptors
//! (`copy`: 2, the client and upstream sockets; `splice`: 6, the sockets and one pipe
//! of two ends per direction). Checked when a client is accepted, so a connection the
//! process could not open fully is refused and counted at once instead of failing in
//! the middle (an upstream connect or a pipe hitting `EMFILE`).

use super::config::{ProxyConfig, Strategy};

/// Descriptors left for everything else the process opens (the listener, a stats file,
/// the executor's own), on top of those already open when the relay starts.
const RESERVE: u64 = 32;

/// Open descriptors assumed when `/proc/self/fd` cannot be read.
const UNKNOWN_OPEN: u64 = 64;

/// How many relayed connections fit in the descriptors this process may open.
#[derive(Debug, Clone, Copy)]
pub(super) struct FdBudget {
    /// Descriptors the relay's connections may use.
    available: u64,
    /// Descriptors one relayed connection uses.
    cost: u64,
}

impl FdBudget {
    /// The budget for `config`: its `max_fds` when set (tests), else the soft
    /// `RLIMIT_NOFILE` less the descriptors open now and a [`RESERVE`].
    pub(super) fn for_config(config: &ProxyConfig) -> FdBudget {
        let available = config.max_fds.unwrap_or_else(|| {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
                .current
                .unwrap_or(u64::MAX);
            limit.saturating_sub(open_now() + RESERVE)
        });
        FdBudget {
            available,
            cost: cost(config.strategy),
        }
    }

    /// Whether one more connection fits beside `active` open ones.
    pub(super) fn admits(&self, active: u64) -> bool {
        active
            .saturating_add(1)
            .saturating_mul(self.cost)
            .le(&self.available)
    }

    /// Descriptors one connection uses.
    pub(super) fn cost(&self) -> u64 {
        self.cost
    }

    /// Descriptors the connections may use.
    pub(super) fn available(&self) -> u64 {
        self.available
    }
}

/// Descriptors one relayed connection of `strategy` uses.
pub fn cost(strategy: Strategy) -> u64 {
    match strategy {
        Strategy::Copy => 2,
        Strategy::Splice => 6,
    }
}

/// Descriptors open in this process now (one `/proc/self/fd` listing, at start only).
fn open_now() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(UNKNOWN_OPEN, |dir| dir.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_connections_cost_six_descriptors() {
        let mut config = ProxyConfig::new(
            super::super::ProxyProto::Tcp,
            "127.0.0.1:1".parse().unwrap(),
        );
        config.strategy = Strategy::Splice;
        config.max_fds = Some(13);
        let budget = FdBudget::for_config(&config);
        assert!(budget.admits(0) && budget.admits(1));
        assert!(!budget.admits(2), "a third needs 18 of 13");
        config.strategy = Strategy::Copy;
        assert!(FdBudget::for_config(&config).admits(5));
        assert!(!FdBudget::for_config(&config).admits(6));
    }

    #[test]
    fn the_default_leaves_room_below_the_process_limit() {
        let config = ProxyConfig::new(
            super::super::ProxyProto::Tcp,
            "127.0.0.1:1".parse().unwrap(),
        );
        let budget = FdBudget::for_config(&config);
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(limit) = limit {
            assert!(budget.available() < limit);
        }
    }
}
