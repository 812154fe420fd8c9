//! Relay counters: one [`ProxyStats`] per run, read as a serialisable [`ProxySummary`].
//! The `async` tasks update shared relaxed atomics (one add per chunk, datagram or
//! event, never a lock); each `per-core` loop counts its chunks and datagrams in its own
//! cache-line-aligned [`LoopCounters`] (no shared cache line per chunk), and only
//! connections and sessions opening or closing touch the shared `active` count.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::config::ProxyProto;
use super::impair::{Applied, ImpairCounts};
pub(crate) use super::shard::{LoopCounters, Way};
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
    /// Client connections (or UDP sessions) open now; compare-and-swapped when the
    /// descriptor budget or the session bound must hold across loops.
    active: AtomicU64,
    /// Bytes written to the upstream (TCP) or sent to it (UDP).
    pub(crate) bytes_to_upstream: Counter,
    /// Bytes written (or sent) back to a client.
    pub(crate) bytes_to_client: Counter,
    /// TCP chunks (reads that returned bytes) from a client.
    pub(crate) chunks_to_upstream: Counter,
    /// TCP chunks from the upstream.
    pub(crate) chunks_to_client: Counter,
    sessions_opened: Counter,
    /// Release/acquire, unlike the others: see [`ProxyStats::session_expired`].
    sessions_expired: AtomicU64,
    /// Datagrams from new clients dropped because the session table was full.
    pub(crate) sessions_refused: Counter,
    datagrams_to_upstream: Counter,
    datagrams_to_client: Counter,
    errors: [Counter; ProxyErrorKind::ALL.len()],
    /// Impairments applied, by [`Applied`] (touched only when one fires).
    impaired: [Counter; Applied::COUNT],
    /// One per `per-core` loop (none for `async`).
    loops: Box<[LoopCounters]>,
}

impl ProxyStats {
    /// Zeroed counters for a relay from `addr` to `upstream`, with `loops` per-loop
    /// shards; the uptime starts now.
    pub(crate) fn new(
        proto: ProxyProto,
        addr: SocketAddr,
        upstream: SocketAddr,
        loops: usize,
    ) -> Self {
        ProxyStats {
            started: Instant::now(),
            proto,
            addr,
            upstream,
            connections: Counter::default(),
            active: AtomicU64::new(0),
            bytes_to_upstream: Counter::default(),
            bytes_to_client: Counter::default(),
            chunks_to_upstream: Counter::default(),
            chunks_to_client: Counter::default(),
            sessions_opened: Counter::default(),
            sessions_expired: AtomicU64::new(0),
            sessions_refused: Counter::default(),
            datagrams_to_upstream: Counter::default(),
            datagrams_to_client: Counter::default(),
            errors: std::array::from_fn(|_| Counter::default()),
            impaired: std::array::from_fn(|_| Counter::default()),
            loops: (0..loops).map(|_| LoopCounters::default()).collect(),
        }
    }

    /// Loop `index`'s own counters (write them from that loop only).
    pub(crate) fn shard(&self, index: usize) -> &LoopCounters {
        &self.loops[index]
    }

    /// Counts a chunk of `n` bytes read and written (`async`).
    pub(crate) fn chunk(&self, way: Way, n: usize) {
        self.chunks(way).incr();
        self.bytes(way).add(n);
    }

    /// The shared byte counter of `way` (`async`).
    pub(crate) fn bytes(&self, way: Way) -> &Counter {
        match way {
            Way::ToUpstream => &self.bytes_to_upstream,
            Way::ToClient => &self.bytes_to_client,
        }
    }

    /// The shared chunk counter of `way` (`async`).
    pub(crate) fn chunks(&self, way: Way) -> &Counter {
        match way {
            Way::ToUpstream => &self.chunks_to_upstream,
            Way::ToClient => &self.chunks_to_client,
        }
    }

    /// Opens a connection (counted as with [`ProxyStats::connection_opened`]) when
    /// `admits(active)` holds, atomically, so loops accepting at once cannot together
    /// exceed the bound; false (nothing counted) when it does not.
    pub(crate) fn try_open_connection(&self, admits: impl Fn(u64) -> bool) -> bool {
        let opened = self.try_raise_active(admits);
        if opened {
            self.connections.incr();
        }
        opened
    }

    /// Takes one place of the UDP session bound (`max` open at once), atomically
    /// across loops and tasks; false when every place is taken. Follow it with
    /// [`ProxyStats::session_opened`], or give the place back with
    /// [`ProxyStats::connection_closed`] when the session could not be opened.
    pub(crate) fn try_reserve_session(&self, max: usize) -> bool {
        self.try_raise_active(|active| active < max as u64)
    }

    fn try_raise_active(&self, admits: impl Fn(u64) -> bool) -> bool {
        self.active
            .fetch_update(Relaxed, Relaxed, |active| {
                admits(active).then_some(active + 1)
            })
            .is_ok()
    }

    /// The front address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counts an accepted client connection. Pair with [`ProxyStats::connection_closed`].
    pub(crate) fn connection_opened(&self) {
        self.connections.incr();
        self.active.fetch_add(1, Relaxed);
    }

    /// Client connections (or UDP sessions) open now.
    pub(crate) fn active(&self) -> u64 {
        self.active.load(Relaxed)
    }

    /// Counts a closed client connection, or a UDP session ended by shutdown (not
    /// counted as expired).
    pub(crate) fn connection_closed(&self) {
        self.active.fetch_sub(1, Relaxed);
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

    /// Counts a UDP session opened in a place [`ProxyStats::try_reserve_session`]
    /// took (active until [`ProxyStats::session_expired`] or the stop).
    pub(crate) fn session_opened(&self) {
        self.sessions_opened.incr();
    }

    /// Counts a UDP session closed after its idle timeout.
    pub(crate) fn session_expired(&self) {
        // `active` first: a reader that sees the expiry also sees the session gone.
        self.active.fetch_sub(1, Relaxed);
        self.sessions_expired.fetch_add(1, Release);
    }

    /// Counts one impairment applied.
    pub(crate) fn impaired(&self, what: Applied) {
        self.impaired[what as usize].incr();
    }

    /// Counts `n` of an impairment applied (a loop's tally of one turn).
    pub(crate) fn impaired_n(&self, what: Applied, n: u64) {
        self.impaired[what as usize].add(n as usize);
    }

    /// Counts one error of `kind`.
    pub(crate) fn error(&self, kind: ProxyErrorKind) {
        self.errors[kind as usize].incr();
    }

    /// A shared count plus every loop's share of it.
    fn total(&self, shared: &Counter, of_loop: impl Fn(&LoopCounters) -> u64) -> u64 {
        let loops: u64 = self.loops.iter().map(of_loop).sum();
        shared.get().wrapping_add(loops)
    }

    /// A consistent-enough copy of the counters (each read once, relaxed).
    pub(crate) fn summary(&self) -> ProxySummary {
        ProxySummary {
            uptime_s: self.started.elapsed().as_secs_f64(),
            proto: self.proto,
            addr: self.addr,
            upstream: self.upstream,
            connections: self.connections.get(),
            active: self.active(),
            bytes_to_upstream: self.total(&self.bytes_to_upstream, |l| l.bytes(Way::ToUpstream)),
            bytes_to_client: self.total(&self.bytes_to_client, |l| l.bytes(Way::ToClient)),
            chunks_to_upstream: self.total(&self.chunks_to_upstream, |l| l.chunks(Way::ToUpstream)),
            chunks_to_client: self.total(&self.chunks_to_client, |l| l.chunks(Way::ToClient)),
            sessions_opened: self.sessions_opened.get(),
            sessions_expired: self.sessions_expired.load(Acquire),
            sessions_refused: self.sessions_refused.get(),
            datagrams_to_upstream: self.total(&self.datagrams_to_upstream, |l| {
                l.datagrams(Way::ToUpstream)
            }),
            datagrams_to_client: self
                .total(&self.datagrams_to_client, |l| l.datagrams(Way::ToClient)),
            errors: ProxyErrorKind::ALL
                .iter()
                .map(|&k| (k.as_str().to_owned(), self.errors[k as usize].get()))
                .collect(),
            impaired: ImpairCounts::from_array(self.impaired.each_ref().map(Counter::get)),
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
    /// TCP: chunks read from clients (reads that returned bytes; the unit syscall
    /// counts are compared with).
    #[serde(default)]
    pub chunks_to_upstream: u64,
    /// TCP: chunks read from the upstream.
    #[serde(default)]
    pub chunks_to_client: u64,
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
    /// Impairments applied on purpose (`--impair`); absent in older summaries.
    #[serde(default)]
    pub impaired: ImpairCounts,
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
            writeln!(f, ", no errors")?;
        } else {
            writeln!(f, ", errors: {}", errors.join(" "))?;
        }
        // What --impair did, when it did anything (one line, the JSON names).
        let impaired = self.impaired.words();
        if !impaired.is_empty() {
            writeln!(f, "impaired: {impaired}")?;
        }
        Ok(())
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
            2,
        )
    }

    #[test]
    fn sessions_and_connections_share_the_active_count() {
        let s = stats(ProxyProto::Udp);
        for _ in 0..2 {
            assert!(s.try_reserve_session(2));
            s.session_opened();
        }
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
    fn loop_shares_add_to_the_shared_counts() {
        let s = stats(ProxyProto::Tcp);
        s.chunk(Way::ToUpstream, 5);
        s.shard(0).moved(Way::ToUpstream, 1, 3);
        s.shard(1).moved(Way::ToClient, 1, 8);
        s.shard(1).datagram(Way::ToClient, 2);
        let summary = s.summary();
        assert_eq!(
            (summary.chunks_to_upstream, summary.bytes_to_upstream),
            (2, 8)
        );
        assert_eq!((summary.chunks_to_client, summary.bytes_to_client), (1, 10));
        assert_eq!(summary.datagrams_to_client, 1);
    }

    #[test]
    fn the_bounds_hold_when_opening_atomically() {
        let s = stats(ProxyProto::Udp);
        assert!(s.try_reserve_session(2) && s.try_reserve_session(2));
        assert!(!s.try_reserve_session(2));
        s.session_expired();
        assert!(s.try_reserve_session(2));
        s.connection_closed();
        assert_eq!(s.active(), 1);
        let t = stats(ProxyProto::Tcp);
        assert!(t.try_open_connection(|active| active < 1));
        assert!(!t.try_open_connection(|active| active < 1));
        assert_eq!(t.summary().connections, 1);
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
