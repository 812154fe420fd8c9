//! [`Ctx`]: what every task of one relay run shares (the config, the counters, the
//! runtime, the warning rate limit). A leaf of the wing: the TCP and UDP relays read it,
//! the run builds it.

use std::sync::Arc;

use super::config::ProxyConfig;
use super::stats::ProxyStats;
use crate::runtime::Runtime;
use crate::stats::limiter::LogLimiter;

/// What every task of one relay run shares.
pub(crate) struct Ctx {
    pub(crate) config: ProxyConfig,
    pub(crate) stats: Arc<ProxyStats>,
    pub(crate) runtime: Runtime,
    /// Warning lines about refused or failed connections, one per second.
    pub(crate) warnings: LogLimiter,
}

impl Ctx {
    /// Completes when shutdown starts.
    pub(crate) async fn stopped(&self) {
        self.runtime.stopped().await;
    }

    /// See [`Runtime::keep_going`].
    pub(crate) async fn keep_going(&self, turns: &mut u64) -> bool {
        self.runtime.keep_going(turns).await
    }
}
