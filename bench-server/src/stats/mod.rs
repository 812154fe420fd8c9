//! Server counters: one live set per endpoint, updated with relaxed atomics (one add
//! per request or per syscall, never a lock; see `counter`), the request and byte
//! counts split into per-loop `lane::Lane`s so per-core loops never share a cache
//! line (see `lane`), read as a serialisable
//! [`StatsSnapshot`] by the `stats` command, by [`crate::ServerHandle::stats`] and at
//! shutdown ([`ServerSummary`]); [`ErrorKind`], the counter each failure goes to; and
//! `limiter`, the one-warning-line-per-second limit the servers and the relay share.
//!
//! A leaf wing: it knows the [`Proto`] of an endpoint and nothing of sockets,
//! connections or protocols; whoever counts decides what an event is.

pub(crate) mod counter;
pub(crate) mod lane;
pub(crate) mod limiter;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::Proto;
use counter::Counter;
use lane::Lane;
use limiter::LogLimiter;

/// Why a connection ended badly or a request failed. Every variant is one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Framed: `header_len` below 2.
    HeaderLenTooSmall,
    /// Framed: `header_len` above `max_header`.
    HeaderLenTooLarge,
    /// Framed: the header is not valid JSON.
    InvalidJson,
    /// Framed: the header is JSON but not an object.
    HeaderNotObject,
    /// Framed: a header field is missing or has the wrong type.
    BadHeaderField,
    /// Framed: `total_size` above `max_body`.
    BodyTooLarge,
    /// Framed or raw: the command is not known.
    UnknownCommand,
    /// Framed or raw: a command argument is missing or out of range.
    BadArgument,
    /// `exec` asked for without `--allow-exec`.
    ExecDisabled,
    /// `exec` could not run or timed out.
    ExecFailed,
    /// The peer closed in the middle of a frame.
    Truncated,
    /// The peer reset the connection (or the pipe broke).
    Reset,
    /// No progress for `idle_timeout`.
    IdleTimeout,
    /// Refused: `max_conns` reached.
    MaxConns,
    /// Cut at the end of the shutdown grace period.
    ShutdownCut,
    /// Any other I/O error.
    Io,
    /// Framed: a large request refused because the server's `max_buffered` budget was
    /// spent.
    OverBudget,
    /// Framed: a frame not completed within `frame_timeout` of its first byte.
    SlowFrame,
}

impl ErrorKind {
    /// Every kind, in counter order.
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::HeaderLenTooSmall,
        ErrorKind::HeaderLenTooLarge,
        ErrorKind::InvalidJson,
        ErrorKind::HeaderNotObject,
        ErrorKind::BadHeaderField,
        ErrorKind::BodyTooLarge,
        ErrorKind::UnknownCommand,
        ErrorKind::BadArgument,
        ErrorKind::ExecDisabled,
        ErrorKind::ExecFailed,
        ErrorKind::Truncated,
        ErrorKind::Reset,
        ErrorKind::IdleTimeout,
        ErrorKind::MaxConns,
        ErrorKind::ShutdownCut,
        ErrorKind::Io,
        ErrorKind::OverBudget,
        ErrorKind::SlowFrame,
    ];

    /// The counter's name in stats output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::HeaderLenTooSmall => "header_len_too_small",
            ErrorKind::HeaderLenTooLarge => "header_len_too_large",
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::HeaderNotObject => "header_not_object",
            ErrorKind::BadHeaderField => "bad_header_field",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::UnknownCommand => "unknown_command",
            ErrorKind::BadArgument => "bad_argument",
            ErrorKind::ExecDisabled => "exec_disabled",
            ErrorKind::ExecFailed => "exec_failed",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Reset => "reset",
            ErrorKind::IdleTimeout => "idle_timeout",
            ErrorKind::MaxConns => "max_conns",
            ErrorKind::ShutdownCut => "shutdown_cut",
            ErrorKind::Io => "io",
            ErrorKind::OverBudget => "over_budget",
            ErrorKind::SlowFrame => "slow_frame",
        }
    }

    /// Classifies an I/O error from a connection.
    pub fn from_io(err: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as K;
        match err.kind() {
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ErrorKind::Reset,
            K::UnexpectedEof => ErrorKind::Truncated,
            _ => ErrorKind::Io,
        }
    }
}

/// Live counters of one endpoint. The plain counts are fields the connections add to
/// directly; what needs more than one add (opening a connection, the budget) is a method.
#[derive(Debug)]
pub(crate) struct Stats {
    proto: Proto,
    addr: SocketAddr,
    /// TCP connections accepted, refused ones included.
    accepted: Counter,
    /// TCP connections open now.
    active: Counter,
    /// Requests answered (a framed or raw request, a tcp-echo read, a datagram echoed)
    /// by drivers that count with shared adds; [`Stats::lane`]s hold the rest.
    pub(crate) requests: Counter,
    /// Bytes received (shared adds; see `requests`).
    pub(crate) bytes_in: Counter,
    /// Bytes sent (shared adds; see `requests`).
    pub(crate) bytes_out: Counter,
    /// One lane per loop of the run (at least one); summed by [`Stats::snapshot`].
    lanes: Box<[Lane]>,
    errors: [Counter; ErrorKind::ALL.len()],
    /// Bytes of large requests and replies held now (the `max_buffered` budget).
    buffered: AtomicU64,
    /// Warning lines about refused or failed connections, one per second.
    warnings: LogLimiter,
}

impl Stats {
    /// Zeroed counters for the endpoint at `addr`, with one lane (tests, and drivers
    /// that only add with `fetch_add`).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn new(proto: Proto, addr: SocketAddr) -> Self {
        Self::with_lanes(proto, addr, 1)
    }

    /// Zeroed counters with `lanes` lanes (one per loop thread; at least one).
    pub(crate) fn with_lanes(proto: Proto, addr: SocketAddr, lanes: usize) -> Self {
        Stats {
            lanes: (0..lanes.max(1)).map(|_| Lane::default()).collect(),
            proto,
            addr,
            accepted: Counter::default(),
            active: Counter::default(),
            requests: Counter::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            errors: std::array::from_fn(|_| Counter::default()),
            buffered: AtomicU64::new(0),
            warnings: LogLimiter::new(Instant::now()),
        }
    }

    /// Takes `n` bytes of the `max` budget; false (nothing taken) when they do not fit.
    /// Only large requests and replies call this, so small ones touch no shared counter.
    pub(crate) fn reserve_buffered(&self, n: u64, max: u64) -> bool {
        self.buffered
            .fetch_update(Relaxed, Relaxed, |used| {
                used.checked_add(n).filter(|&total| total <= max)
            })
            .is_ok()
    }

    /// Gives back `n` bytes taken with [`Stats::reserve_buffered`].
    pub(crate) fn release_buffered(&self, n: u64) {
        self.buffered.fetch_sub(n, Relaxed);
    }

    /// Whether a warning about a refused or failed connection may be logged now:
    /// `Some(n)` with the number held back since the last one (see [`LogLimiter`]).
    pub(crate) fn warn_allowed(&self) -> Option<u64> {
        if !log::log_enabled!(log::Level::Warn) {
            return None;
        }
        self.warnings.allow(Instant::now())
    }

    /// The endpoint's protocol.
    pub(crate) fn proto(&self) -> Proto {
        self.proto
    }

    /// The endpoint's bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counts an accepted connection and returns how many are active now, itself
    /// included. Pair with [`Stats::connection_closed`].
    pub(crate) fn connection_opened(&self) -> u64 {
        self.accepted.incr();
        self.active.incr() + 1
    }

    /// Counts a closed connection.
    pub(crate) fn connection_closed(&self) {
        self.active.decr();
    }

    /// Lane `i` (loop `i`'s; `i` beyond the lane count wraps around, so any thread
    /// index is a valid lane for the `fetch_add` methods). A per-core loop uses only
    /// its own lane, with the `owner_` methods.
    pub(crate) fn lane(&self, i: usize) -> &Lane {
        &self.lanes[i % self.lanes.len()]
    }

    /// Counts one error of `kind`.
    pub(crate) fn error(&self, kind: ErrorKind) {
        self.errors[kind as usize].incr();
    }

    /// A consistent-enough copy of the counters (each is read once, relaxed).
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let (mut requests, mut bytes_in, mut bytes_out) = (
            self.requests.get(),
            self.bytes_in.get(),
            self.bytes_out.get(),
        );
        for lane in self.lanes.iter() {
            let (r, i, o) = lane.read();
            requests += r;
            bytes_in += i;
            bytes_out += o;
        }
        StatsSnapshot {
            proto: self.proto,
            addr: self.addr,
            accepted: self.accepted.get(),
            active: self.active.get(),
            requests,
            bytes_in,
            bytes_out,
            errors: ErrorKind::ALL
                .iter()
                .map(|&k| (k.as_str().to_owned(), self.errors[k as usize].get()))
                .collect(),
            buffered_bytes: self.buffered.load(Relaxed),
        }
    }
}

/// Counters of one endpoint at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// The endpoint's protocol.
    pub proto: Proto,
    /// Its bound address.
    pub addr: SocketAddr,
    /// TCP connections accepted (including refused ones); 0 for UDP.
    pub accepted: u64,
    /// TCP connections open at the moment of the snapshot.
    pub active: u64,
    /// Requests answered (datagrams echoed, for UDP; reads echoed, for tcp-echo).
    pub requests: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Errors by kind; every kind is present, most are 0.
    pub errors: BTreeMap<String, u64>,
    /// Framed: bytes of large requests and replies held at the moment of the snapshot,
    /// counted against `max_buffered` (0 in reports written before it existed).
    #[serde(default)]
    pub buffered_bytes: u64,
}

impl StatsSnapshot {
    /// Errors of `kind` (0 when the snapshot lacks the counter, as one read from a report
    /// written before the kind existed does).
    pub fn error_count(&self, kind: ErrorKind) -> u64 {
        self.errors.get(kind.as_str()).copied().unwrap_or(0)
    }
}

/// What a whole server run did, written at shutdown (`--stats-json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSummary {
    /// How long the server ran, in seconds.
    pub uptime_s: f64,
    /// One entry per endpoint.
    pub endpoints: Vec<StatsSnapshot>,
}

impl std::fmt::Display for ServerSummary {
    /// A short table for the terminal.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "uptime {:.1}s", self.uptime_s)?;
        for e in &self.endpoints {
            write!(
                f,
                "{} {}: {} connections, {} requests, {} B in, {} B out",
                e.proto.as_str(),
                e.addr,
                e.accepted,
                e.requests,
                e.bytes_in,
                e.bytes_out
            )?;
            let errors: Vec<String> = e
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
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_sums_every_lane_and_the_shared_counters() {
        let stats = Stats::with_lanes(Proto::TcpEcho, "127.0.0.1:1".parse().unwrap(), 3);
        stats.lane(0).owner_add_requests(1);
        stats.lane(2).owner_add_bytes_in(10);
        stats.lane(5).owner_add_bytes_out(4); // wraps to lane 2
        stats.requests.incr();
        stats.bytes_in.add(1);
        let snap = stats.snapshot();
        assert_eq!((snap.requests, snap.bytes_in, snap.bytes_out), (2, 11, 4));
    }
}
