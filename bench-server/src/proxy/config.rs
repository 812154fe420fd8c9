//! Plain relay configuration: what the CLI (or a test, a bench, the load generator's
//! `overhead` command) decided, checked, with no clap types in it; and the errors that
//! stop a relay from starting.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::impair::Impairments;

/// Most executor threads accepted.
pub const MAX_THREADS: usize = 1024;

/// Largest `buffer` accepted: a larger one only wastes memory per connection.
pub const MAX_BUFFER: usize = 64 << 20;

/// Which transport the relay carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ProxyProto {
    /// One upstream connection per client connection.
    Tcp,
    /// One upstream socket per client address (a session).
    Udp,
}

impl ProxyProto {
    /// The name used in `listening on <proto> <addr>` and in stats.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyProto::Tcp => "proxy-tcp",
            ProxyProto::Udp => "proxy-udp",
        }
    }
}

/// How TCP bytes move from one leg to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// `read` into a user-space buffer of [`ProxyConfig::buffer`] bytes, then `write`.
    #[default]
    Copy,
    /// Linux `splice(2)`: socket -> pipe -> socket, the bytes never enter user space.
    Splice,
}

impl Strategy {
    /// The flag value (`copy`, `splice`).
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Copy => "copy",
            Strategy::Splice => "splice",
        }
    }
}

/// Which engine runs the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum ProxyModel {
    /// Linux: one event loop per thread (epoll, edge-triggered), each with its own front
    /// socket (SO_REUSEPORT), connections, sessions, timers and counters; nothing
    /// shared per chunk or datagram. The default on Linux.
    PerCore,
    /// Tasks on the shared smol executor (`threads` threads). The default elsewhere.
    Async,
}

impl ProxyModel {
    /// The flag value (`per-core`, `async`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyModel::PerCore => "per-core",
            ProxyModel::Async => "async",
        }
    }
}

impl Default for ProxyModel {
    /// `per-core` on Linux, `async` elsewhere (the per-core loops use epoll).
    fn default() -> Self {
        if cfg!(target_os = "linux") {
            ProxyModel::PerCore
        } else {
            ProxyModel::Async
        }
    }
}

/// Everything a relay run needs besides its front socket. Plain and serialisable, so a
/// report can embed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyConfig {
    /// TCP or UDP (must match the [`super::Front`]).
    pub proto: ProxyProto,
    /// Which engine relays (absent in older reports: the default).
    #[serde(default)]
    pub model: ProxyModel,
    /// Where every client connection or session is relayed to.
    pub upstream: SocketAddr,
    /// TCP: how bytes are moved.
    pub strategy: Strategy,
    /// TCP: bytes per read (`copy`: the size of each direction's buffer; `splice`: the
    /// most moved per call, and the pipe size asked for); 1 B to [`MAX_BUFFER`]
    /// ([`ProxyError::BufferOutOfRange`]).
    pub buffer: usize,
    /// TCP_NODELAY on accepted client connections.
    pub nodelay_front: bool,
    /// TCP_NODELAY on upstream connections.
    pub nodelay_back: bool,
    /// TCP: how long an upstream connect may take before the client is closed.
    #[serde(with = "bench_proto::units::duration_text")]
    pub connect_timeout: Duration,
    /// UDP: a session with no datagram either way for this long is closed.
    #[serde(with = "bench_proto::units::duration_text")]
    pub udp_session_timeout: Duration,
    /// UDP: at most this many sessions; datagrams from new clients beyond it are dropped.
    pub max_sessions: usize,
    /// Event loops (`per-core`) or executor threads (`async`): 1 to [`MAX_THREADS`] ([`ProxyError::ThreadsOutOfRange`]).
    pub threads: usize,
    /// On shutdown, how long open TCP connections may keep relaying.
    #[serde(with = "bench_proto::units::duration_text")]
    pub grace: Duration,
    /// TCP: descriptors the relayed connections may use (2 each with `copy`, 6 with
    /// `splice`); a client beyond them is refused and counted (`descriptors`). `None`:
    /// the soft `RLIMIT_NOFILE` less those open at start and a reserve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fds: Option<u64>,
    /// Faults applied on purpose (`--impair`, `--seed`); absent in older reports and
    /// when off.
    #[serde(default, skip_serializing_if = "Impairments::is_off")]
    pub impair: Impairments,
}

impl ProxyConfig {
    /// Defaults for a relay of `proto` to `upstream`: the default [`ProxyModel`], `copy`, 64 KiB buffers, nodelay on
    /// both legs, 3 s connect timeout, 30 s UDP session timeout, 1,024 sessions, one
    /// thread per core, 5 s grace.
    pub fn new(proto: ProxyProto, upstream: SocketAddr) -> Self {
        ProxyConfig {
            proto,
            upstream,
            model: ProxyModel::default(),
            strategy: Strategy::Copy,
            // The default pipe size on Linux, so `copy` and `splice` move alike per call.
            buffer: 64 * 1024,
            nodelay_front: true,
            nodelay_back: true,
            // Room for the first retransmitted SYN (sent after 1 s), not for a dead upstream.
            connect_timeout: Duration::from_secs(3),
            // Linux conntrack's default for a UDP flow (`nf_conntrack_udp_timeout`).
            udp_session_timeout: Duration::from_secs(30),
            max_sessions: 1024,
            threads: crate::config::default_threads(),
            grace: Duration::from_secs(5),
            max_fds: None,
            impair: Impairments::default(),
        }
    }
}

/// Why a relay could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// `threads` is 0 or above [`MAX_THREADS`].
    #[error("--threads {0}: must be between 1 and 1024")]
    ThreadsOutOfRange(usize),
    /// `buffer` is 0 or above [`MAX_BUFFER`].
    #[error("--buffer {}: must be between 1B and 64MiB", bench_proto::ByteSize(*.0 as u64))]
    BufferOutOfRange(usize),
    /// `max_sessions` is 0.
    #[error("--max-sessions 0: at least one session is needed")]
    NoSessions,
    /// A zero `connect_timeout` or `udp_session_timeout`.
    #[error("{0} 0s: must be longer than zero")]
    ZeroTimeout(&'static str),
    /// `per-core` asked for on a system without epoll.
    #[error(
        "--model per-core: the per-core loops use epoll, which exists only on Linux; use --model async"
    )]
    PerCoreUnsupported,
    /// `splice` asked for on a system without `splice(2)`.
    #[error("--strategy splice: splice(2) exists only on Linux; use --strategy copy")]
    SpliceUnsupported,
    /// An impairment of the other transport (`loss` on TCP, `reset` on UDP).
    #[error("--impair {0}: not an impairment of --proto {1}")]
    ImpairProto(String, &'static str),
    /// A TCP impairment that needs the bytes in user space with `--strategy splice`
    /// (on either model: `splice` moves them kernel to kernel).
    #[error(
        "--impair {0} with --strategy splice: shaping needs the bytes in user space; use --strategy copy"
    )]
    ImpairSplice(String),
    /// The front socket's transport is not the config's `proto`.
    #[error("the front socket is {front} but the config says {config}")]
    FrontMismatch {
        /// The front socket's transport.
        front: &'static str,
        /// The config's.
        config: &'static str,
    },
    /// A socket or thread operation failed. The OS error is part of the message and
    /// deliberately not a `source`, so an error chain (`{:#}`) prints it once.
    #[error("{context}: {cause}")]
    Io {
        /// What was being done, with the address.
        context: String,
        /// The OS error.
        cause: io::Error,
    },
}

/// Wraps an OS error with what was being done (`context`, computed only on failure).
pub(super) fn io_err(context: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> ProxyError {
    move |cause| ProxyError::Io {
        context: context(),
        cause,
    }
}

impl ProxyConfig {
    /// Checks the settings on their own (the binary does this before binding).
    ///
    /// ```
    /// use bench_server::proxy::{ProxyConfig, ProxyProto};
    /// let mut config = ProxyConfig::new(ProxyProto::Tcp, "127.0.0.1:7001".parse().unwrap());
    /// assert!(config.check().is_ok());
    /// config.buffer = 0;
    /// assert_eq!(config.check().unwrap_err().to_string(), "--buffer 0B: must be between 1B and 64MiB");
    /// ```
    pub fn check(&self) -> Result<(), ProxyError> {
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(ProxyError::ThreadsOutOfRange(self.threads));
        }
        if self.buffer == 0 || self.buffer > MAX_BUFFER {
            return Err(ProxyError::BufferOutOfRange(self.buffer));
        }
        if self.max_sessions == 0 {
            return Err(ProxyError::NoSessions);
        }
        if self.connect_timeout.is_zero() {
            return Err(ProxyError::ZeroTimeout("--connect-timeout"));
        }
        if self.udp_session_timeout.is_zero() {
            return Err(ProxyError::ZeroTimeout("--udp-session-timeout"));
        }
        if self.model == ProxyModel::PerCore && !cfg!(target_os = "linux") {
            return Err(ProxyError::PerCoreUnsupported);
        }
        if self.strategy == Strategy::Splice && !cfg!(target_os = "linux") {
            return Err(ProxyError::SpliceUnsupported);
        }
        self.check_impair()
    }

    /// Impairments must fit the transport; TCP shaping needs `copy` (on either model).
    fn check_impair(&self) -> Result<(), ProxyError> {
        if self.impair.is_off() {
            return Ok(());
        }
        for way in [&self.impair.up, &self.impair.down] {
            match self.proto {
                ProxyProto::Tcp if way.has_udp_only() => {
                    let words = way.udp_words();
                    return Err(ProxyError::ImpairProto(
                        format!("{words} (UDP only)"),
                        "tcp",
                    ));
                }
                ProxyProto::Udp if way.has_tcp_only() => {
                    let words = way.tcp_words();
                    return Err(ProxyError::ImpairProto(
                        format!("{words} (TCP only)"),
                        "udp",
                    ));
                }
                ProxyProto::Tcp if way.has_shaping() && self.strategy == Strategy::Splice => {
                    return Err(ProxyError::ImpairSplice(way.shaping_words()));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ProxyConfig {
        ProxyConfig::new(ProxyProto::Tcp, "127.0.0.1:7001".parse().unwrap())
    }

    type Change = fn(&mut ProxyConfig);

    #[test]
    fn check_names_each_bad_setting() {
        let cases: [(Change, &str); 7] = [
            (|c| c.threads = 0, "--threads 0"),
            (|c| c.threads = 5000, "--threads 5000"),
            (|c| c.buffer = 0, "--buffer 0B"),
            (|c| c.buffer = MAX_BUFFER + 1, "--buffer 67108865B"),
            (|c| c.max_sessions = 0, "--max-sessions 0"),
            (
                |c| c.connect_timeout = Duration::ZERO,
                "--connect-timeout 0s",
            ),
            (
                |c| c.udp_session_timeout = Duration::ZERO,
                "--udp-session-timeout 0s",
            ),
        ];
        for (change, names) in cases {
            let mut c = config();
            change(&mut c);
            let text = c.check().unwrap_err().to_string();
            assert!(
                text.starts_with(names),
                "{text:?} does not start with {names:?}"
            );
        }
        let mut c = config();
        c.buffer = MAX_BUFFER;
        assert!(c.check().is_ok());
    }

    #[test]
    fn impairments_are_checked_against_the_transport_model_and_strategy() {
        let with = |proto, model, strategy, spec: &str| {
            let mut c = ProxyConfig::new(proto, "127.0.0.1:7001".parse().unwrap());
            (c.model, c.strategy) = (model, strategy);
            c.impair.add(spec).unwrap();
            c.check().map_err(|e| e.to_string())
        };
        let (tcp, udp) = (ProxyProto::Tcp, ProxyProto::Udp);
        let (per_core, asy) = (ProxyModel::PerCore, ProxyModel::Async);
        let (copy, splice) = (Strategy::Copy, Strategy::Splice);
        let shaping = [
            "latency=5ms",
            "jitter=1ms",
            "rate=1Mbit",
            "slice=64B",
            "stall=after:1KiB,for:1s",
            "close-slowly=1s",
        ];
        for spec in shaping {
            if cfg!(target_os = "linux") {
                assert_eq!(with(tcp, per_core, copy, spec), Ok(()), "{spec}");
            }
            assert_eq!(with(tcp, asy, copy, spec), Ok(()), "{spec}");
            for model in [per_core, asy] {
                let refused = with(tcp, model, splice, spec).unwrap_err();
                assert!(refused.contains("with --strategy splice"), "{refused}");
            }
        }
        assert_eq!(with(tcp, asy, splice, "reset=after:1KiB"), Ok(()));
        assert_eq!(with(udp, asy, copy, "loss=1%"), Ok(()));
        assert_eq!(with(udp, asy, copy, "latency=5ms"), Ok(()));
        let refused = with(udp, asy, copy, "stall=after:1KiB,for:1s").unwrap_err();
        assert!(refused.contains("stall (TCP only)"), "{refused}");
        let refused = with(tcp, asy, copy, "dup=1%").unwrap_err();
        assert!(refused.contains("dup=1% (UDP only)"), "{refused}");
    }

    #[test]
    fn config_serialises_plainly_with_text_durations() {
        let json = serde_json::to_value(config()).unwrap();
        assert_eq!(json["proto"], "tcp");
        assert_eq!(json["strategy"], "copy");
        assert_eq!(json["upstream"], "127.0.0.1:7001");
        assert_eq!(json["buffer"], 65536);
        assert_eq!(json["connect_timeout"], "3s");
        assert_eq!(json["model"], ProxyModel::default().as_str());
        assert_eq!(json["udp_session_timeout"], "30s");
        let back: ProxyConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, config());
        // A report written before the model existed still reads, as the default.
        let mut old = json;
        old.as_object_mut().unwrap().remove("model");
        let back: ProxyConfig = serde_json::from_value(old).unwrap();
        assert_eq!(back.model, ProxyModel::default());
    }
}
