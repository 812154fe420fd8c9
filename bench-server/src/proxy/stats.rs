//! Relay counters: one [`ProxyStats`] per run, updated with relaxed atomics (one add per
//! chunk, datagram or event, never a lock), read as a serialisable [`ProxySummary`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::config::ProxyProto;
use crate::stats::counter::Counter;

/// Why a relayed connection, session or datagram failed. Every variant is one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyErrorKind {
    /// TCP: the upstream refused, was unreachable, or did not accept within
    /// `connect_timeout`; the client connection was closed. UDP: a session's upstream
    /// socket could not be created or connected.
    UpstreamConnect,
    /// UDP: sending to or receiving from the upstream failed (usually ICMP port
    /// unreachable: nothing listens there); the datagram is lost.
    UpstreamUnreachable,
    /// A leg was reset (or its pipe broke) in the middle of the relay.
    Reset,
    /// Cut at the end of the shutdown grace period.
    ShutdownCut,
    /// Any other I/O error (accept, setsockopt, pipe creation, a reply to a client).
    Io,
    /// TCP: a client refused at once because its connection would not fit in the
    /// descriptors the process may open (see `ProxyConfig::max_fds`).
    Descriptors,
}

impl ProxyErrorKind {
    /// Every kind, in counter order.
    pub const ALL: [ProxyErrorKind; 6] = [
        ProxyErrorKind::UpstreamConnect,
        ProxyErrorKind::UpstreamUnreachable,
        ProxyErrorKind::Reset,
        ProxyErrorKind::ShutdownCut,
        ProxyErrorKind::Io,
        ProxyErrorKind::Descriptors,
    ];

    /// The counter's name in stats output.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyErrorKind::UpstreamConnect => "upstream_connect",
            ProxyErrorKind::UpstreamUnreachable => "upstream_unreachable",
            ProxyErrorKind::Reset => "reset",
            ProxyErrorKind::ShutdownCut => "shutdown_cut",
            ProxyErrorKind::Io => "io",
            ProxyErrorKind::Descriptors => "descriptors",
        }
    }

    /// Classifies an I/O error on a relayed connection.
    pub fn from_io(err: &std::io::Error) -> ProxyErrorKind {
        use std::io::ErrorKind as K;
        match err.kind() {
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ProxyErrorKind::Reset,
            _ => ProxyErrorKind::Io,
        }
    }
}

/// Live counters of one relay run. The plain counts are fields the relay adds to
/// directly; what needs more than one add (a datagram and its bytes, a session) is a
/// method.
#[derive(Debug)]
pub(crate) struct ProxyStats {
    started: Instant,
    proto: ProxyProto,
    addr: SocketAddr,
    upstream: SocketAddr,
    connections: Counter,
    /// Client connections (or UDP sessions) open now.
    active: Counter,
    /// Bytes written to the upstream (TCP) or sent to it (UDP).
    pub(crate) bytes_to_upstream: Counter,
    /// Bytes written (or sent) back to a client.
    pub(crate) bytes_to_client: Counter,
    sessions_opened: Counter,
    /// Release/acquire, unlike the others: see [`ProxyStats::session_expired`].
    sessions_expired: AtomicU64,
    /// Datagrams from new clients dropped because the session table was full.
    pub(crate) sessions_refused: Counter,
    datagrams_to_upstream: Counter,
    datagrams_to_client: Counter,
    errors: [Counter; ProxyErrorKind::ALL.len()],
}

impl ProxyStats {
    /// Zeroed counters for a relay from `addr` to `upstream`; the uptime starts now.
    pub(crate) fn new(proto: ProxyProto, addr: SocketAddr, upstream: SocketAddr) -> Self {
        ProxyStats {
            started: Instant::now(),
            proto,
            addr,
            upstream,
            connections: Counter::default(),
            active: Counter::default(),
            bytes_to_upstream: Counter::default(),
            bytes_to_client: Counter::default(),
            sessions_opened: Counter::default(),
            sessions_expired: AtomicU64::new(0),
            sessions_refused: Counter::default(),
            datagrams_to_upstream: Counter::default(),
            datagrams_to_client: Counter::default(),
            errors: std::array::from_fn(|_| Counter::default()),
        }
    }

    /// The front address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counts an accepted client connection. Pair with [`ProxyStats::connection_closed`].
    pub(crate) fn connection_opened(&self) {
        self.connections.incr();
        self.active.incr();
    }

    /// Client connections (or UDP sessions) open now.
    pub(crate) fn active(&self) -> u64 {
        self.active.get()
    }

    /// Counts a closed client connection, or a UDP session ended by shutdown (not
    /// counted as expired).
    pub(crate) fn connection_closed(&self) {
        self.active.decr();
    }

    /// Counts one datagram relayed to the upstream, and its bytes.
    pub(crate) fn datagram_to_upstream(&self, n: usize) {
        self.datagrams_to_upstream.incr();
        self.bytes_to_upstream.add(n);
    }

    /// Counts one datagram relayed back to a client, and its bytes.
    pub(crate) fn datagram_to_client(&self, n: usize) {
        self.datagrams_to_client.incr();
        self.bytes_to_client.add(n);
    }

    /// Counts a UDP session opened (and active until [`ProxyStats::session_expired`]).
    pub(crate) fn session_opened(&self) {
        self.sessions_opened.incr();
        self.active.incr();
    }

    /// Counts a UDP session closed after its idle timeout.
    pub(crate) fn session_expired(&self) {
        // `active` first: a reader that sees the expiry also sees the session gone.
        self.active.decr();
        self.sessions_expired.fetch_add(1, Release);
    }

    /// Counts one error of `kind`.
    pub(crate) fn error(&self, kind: ProxyErrorKind) {
        self.errors[kind as usize].incr();
    }

    /// A consistent-enough copy of the counters (each read once, relaxed).
    pub(crate) fn summary(&self) -> ProxySummary {
        ProxySummary {
            uptime_s: self.started.elapsed().as_secs_f64(),
            proto: self.proto,
            addr: self.addr,
            upstream: self.upstream,
            connections: self.connections.get(),
            active: self.active.get(),
            bytes_to_upstream: self.bytes_to_upstream.get(),
            bytes_to_client: self.bytes_to_client.get(),
            sessions_opened: self.sessions_opened.get(),
            sessions_expired: self.sessions_expired.load(Acquire),
            sessions_refused: self.sessions_refused.get(),
            datagrams_to_upstream: self.datagrams_to_upstream.get(),
            datagrams_to_client: self.datagrams_to_client.get(),
            errors: ProxyErrorKind::ALL
                .iter()
                .map(|&k| (k.as_str().to_owned(), self.errors[k as usize].get()))
                .collect(),
        }
    }
}

/// What a relay run did (`--stats-json`, [`super::ProxyHandle::stop`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxySummary {
    /// How long the relay ran, in seconds.
    pub uptime_s: f64,
    /// Which transport was relayed.
    pub proto: ProxyProto,
    /// The front address clients connected (or sent) to.
    pub addr: SocketAddr,
    /// Where every connection or session was relayed to.
    pub upstream: SocketAddr,
    /// TCP client connections accepted (including those whose upstream failed).
    pub connections: u64,
    /// TCP connections or UDP sessions open at the moment of the summary.
    pub active: u64,
    /// Bytes relayed client -> upstream.
    pub bytes_to_upstream: u64,
    /// Bytes relayed upstream -> client.
    pub bytes_to_client: u64,
    /// UDP sessions opened (one per new client address).
    pub sessions_opened: u64,
    /// UDP sessions closed after `udp_session_timeout` without traffic.
    pub sessions_expired: u64,
    /// Datagrams from new clients dropped because `max_sessions` sessions were open.
    pub sessions_refused: u64,
    /// Datagrams relayed client -> upstream.
    pub datagrams_to_upstream: u64,
    /// Datagrams relayed upstream -> client.
    pub datagrams_to_client: u64,
    /// Errors by kind ([`ProxyErrorKind::as_str`]); every kind is present, most are 0.
    pub errors: BTreeMap<String, u64>,
}

impl ProxySummary {
    /// Errors of `kind` (0 when absent).
    pub fn error_count(&self, kind: ProxyErrorKind) -> u64 {
        self.errors.get(kind.as_str()).copied().unwrap_or(0)
    }
}

impl std::fmt::Display for ProxySummary {
    /// A short table for the terminal.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "uptime {:.1}s", self.uptime_s)?;
        write!(
            f,
            "{} {} -> {}: ",
            self.proto.as_str(),
            self.addr,
            self.upstream
        )?;
        match self.proto {
            ProxyProto::Tcp => write!(f, "{} connections", self.connections)?,
            ProxyProto::Udp => write!(
                f,
                "{} sessions ({} expired, {} datagrams refused), {} datagrams to upstream, {} to clients",
                self.sessions_opened,
                self.sessions_expired,
                self.sessions_refused,
                self.datagrams_to_upstream,
                self.datagrams_to_client
            )?,
        }
        write!(
            f,
            ", {} B to upstream, {} B to clients",
            self.bytes_to_upstream, self.bytes_to_client
        )?;
        let errors: Vec<String> = self
            .errors
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        if errors.is_empty() {
            writeln!(f, ", no errors")
        } else {
            writeln!(f, ", errors: {}", errors.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(proto: ProxyProto) -> ProxyStats {
        ProxyStats::new(
            proto,
            "127.0.0.1:8090".parse().unwrap(),
            "127.0.0.1:7001".parse().unwrap(),
        )
    }

    #[test]
    fn sessions_and_connections_share_the_active_count() {
        let s = stats(ProxyProto::Udp);
        s.session_opened();
        s.session_opened();
        s.session_expired();
        s.sessions_refused.incr();
        s.datagram_to_upstream(10);
        s.datagram_to_client(10);
        let summary = s.summary();
        assert_eq!(
            (
                summary.sessions_opened,
                summary.sessions_expired,
                summary.active
            ),
            (2, 1, 1)
        );
        assert_eq!(summary.sessions_refused, 1);
        assert_eq!(
            (summary.bytes_to_upstream, summary.bytes_to_client),
            (10, 10)
        );
    }

    #[test]
    fn every_error_kind_is_reported_and_shown_when_non_zero() {
        let s = stats(ProxyProto::Tcp);
        s.connection_opened();
        s.error(ProxyErrorKind::UpstreamConnect);
        s.connection_closed();
        let summary = s.summary();
        assert_eq!(summary.errors.len(), ProxyErrorKind::ALL.len());
        assert_eq!(summary.error_count(ProxyErrorKind::UpstreamConnect), 1);
        assert_eq!(summary.active, 0);
        let text = summary.to_string();
        assert!(
            text.contains("proxy-tcp 127.0.0.1:8090 -> 127.0.0.1:7001: 1 connections"),
            "{text}"
        );
        assert!(text.contains("errors: upstream_connect=1"), "{text}");
    }

    #[test]
    fn resets_are_told_apart_from_other_io_errors() {
        use std::io::{Error, ErrorKind as K};
        assert_eq!(
            ProxyErrorKind::from_io(&Error::from(K::ConnectionReset)),
            ProxyErrorKind::Reset
        );
        assert_eq!(
            ProxyErrorKind::from_io(&Error::from(K::BrokenPipe)),
            ProxyErrorKind::Reset
        );
        assert_eq!(
            ProxyErrorKind::from_io(&Error::from(K::PermissionDenied)),
            ProxyErrorKind::Io
        );
    }
}
