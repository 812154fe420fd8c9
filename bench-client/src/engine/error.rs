//! [`RunError`]: why a run could not start.

use std::net::SocketAddr;

use crate::config::ConfigError;

/// Why a run could not start (once started, a run always ends with a report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The target does not answer.
    #[error("{flag} {addr}: {reason}")]
    Unreachable {
        /// The flag that named it, as the user typed it (`--target`, `--direct`, ...).
        flag: &'static str,
        /// The target.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
    /// The embedded server did not start.
    // No `#[from]`: a source would make `{:#}` print the server's error a second time.
    #[error("embedded server: {0}")]
    Server(bench_server::ServerError),
    /// `--start-at` had passed by more than the tolerance when the run could start.
    #[error("--start-at {at}: started {late_ms}ms late, beyond --start-tolerance {tolerance}")]
    StartMissed {
        /// The intended start, RFC 3339.
        at: String,
        /// How late, ms.
        late_ms: u64,
        /// The tolerance.
        tolerance: bench_proto::HumanDuration,
    },
    /// Something else in setting up.
    #[error("{context}: {cause}")]
    Io {
        /// What was being done.
        context: String,
        /// What failed (named `cause`, not `source`, so it is printed once).
        cause: std::io::Error,
    },
}

impl From<bench_server::ServerError> for RunError {
    fn from(e: bench_server::ServerError) -> Self {
        RunError::Server(e)
    }
}

impl RunError {
    /// Whether the error is the user's input (exit code 2) rather than the environment.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, RunError::Config(_) | RunError::Unreachable { .. })
    }

    /// The same error, naming `flag` as the one that gave the target (a run's target
    /// is `--target` unless a caller such as `overhead --direct` says otherwise).
    pub fn for_flag(self, flag: &'static str) -> RunError {
        match self {
            RunError::Unreachable { addr, reason, .. } => {
                RunError::Unreachable { flag, addr, reason }
            }
            other => other,
        }
    }
}
