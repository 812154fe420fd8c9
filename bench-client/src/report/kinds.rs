//! Why a request failed: the [`ErrorKind`]s a report counts, in report order.

use serde::{Deserialize, Serialize};

/// How many [`ErrorKind`]s there are.
pub const KINDS: usize = 9;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The connection (or UDP socket) could not be opened.
    Connect,
    /// The peer reset the connection (or refused datagrams).
    Reset,
    /// The peer closed the connection with requests outstanding.
    Closed,
    /// No whole reply within `--timeout` (UDP: lost or late).
    Timeout,
    /// A whole reply with the wrong content or length.
    Mismatch,
    /// A reply that breaks the protocol: bad frame, wrong id, error status.
    Protocol,
    /// UDP: the datagram could not be sent (an error from `send`, e.g. EPERM from a
    /// firewall); the socket goes on.
    Send,
    /// UDP: the datagram was refused (ECONNREFUSED: nothing listens on the port, e.g. a
    /// server restarting); the socket goes on.
    Refused,
    /// A whole reply that is the server's own error (a custom workload's `error`
    /// pattern, e.g. RESP's `-ERR`); the connection goes on.
    Server,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; KINDS] = [
        ErrorKind::Connect,
        ErrorKind::Reset,
        ErrorKind::Closed,
        ErrorKind::Timeout,
        ErrorKind::Mismatch,
        ErrorKind::Protocol,
        ErrorKind::Send,
        ErrorKind::Refused,
        ErrorKind::Server,
    ];

    /// The kind's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Reset => "reset",
            ErrorKind::Closed => "closed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Mismatch => "mismatch",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Send => "send",
            ErrorKind::Refused => "refused",
            ErrorKind::Server => "server",
        }
    }

    /// The kind of an I/O error on an open connection.
    pub fn from_io(err: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as K;
        match err.kind() {
            K::ConnectionReset | K::ConnectionAborted | K::ConnectionRefused | K::BrokenPipe => {
                ErrorKind::Reset
            }
            K::TimedOut => ErrorKind::Timeout,
            K::UnexpectedEof | K::WriteZero => ErrorKind::Closed,
            _ => ErrorKind::Reset,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
