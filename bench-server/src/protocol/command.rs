//! Running one framed (or raw) command: the reply it makes, the per-connection buffers
//! it reuses, the share of the server's memory budget a large request or reply takes,
//! and the [`Failure`] a refused request becomes. Reading and writing frames is
//! [`crate::framed`]'s business.

use std::sync::LazyLock;

use bench_proto::command::generate_byte;
use bench_proto::{Command, CommandError, DecodeError, ResponseHeader};
use serde::Serialize;
use smol::Timer;

use crate::config::{LARGE_BUFFER, ServerConfig, Transform};
use crate::conn::Conn;
use crate::conn::quote::{MAX_QUOTE, clip};
use crate::socket::{SocketReadback, read_back};
use crate::stats::{ErrorKind, Stats, StatsSnapshot};

/// Most bytes of an error frame's message: ours around at most [`MAX_QUOTE`] bytes of
/// the peer's text (a serde error may quote a header field).
const MAX_MESSAGE: usize = 2 * MAX_QUOTE;

/// A request that will not be answered with `ok`, and the counter it goes to.
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl Failure {
    /// A failure whose message may quote the peer: cut to [`MAX_MESSAGE`] bytes.
    fn quoting(kind: ErrorKind, message: String) -> Self {
        let message = match clip(&message, MAX_MESSAGE) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(cut) => cut,
        };
        Failure { kind, message }
    }

    /// A large request or reply that does not fit in what is left of the budget.
    pub(crate) fn over_budget(size: usize, config: &ServerConfig) -> Self {
        Failure {
            kind: ErrorKind::OverBudget,
            message: format!(
                "server busy: {} would exceed the --max-buffered {} budget held by requests in progress; retry later",
                bench_proto::ByteSize(size as u64),
                bench_proto::ByteSize(config.max_buffered),
            ),
        }
    }
}

impl From<&DecodeError> for Failure {
    fn from(e: &DecodeError) -> Self {
        let kind = match e {
            DecodeError::HeaderLenTooSmall { .. } => ErrorKind::HeaderLenTooSmall,
            DecodeError::HeaderLenTooLarge { .. } => ErrorKind::HeaderLenTooLarge,
            DecodeError::InvalidJson { .. } => ErrorKind::InvalidJson,
            DecodeError::HeaderNotObject { .. } => ErrorKind::HeaderNotObject,
            DecodeError::BodyTooLarge { .. } => ErrorKind::BodyTooLarge,
            _ => ErrorKind::BadHeaderField,
        };
        Failure::quoting(kind, e.to_string())
    }
}

impl From<CommandError> for Failure {
    fn from(e: CommandError) -> Self {
        match e {
            // Quote only the start of the name, so the list of known commands survives.
            CommandError::Unknown { name } => {
                let name = clip(&name, MAX_QUOTE).into_owned();
                Failure::quoting(
                    ErrorKind::UnknownCommand,
                    CommandError::Unknown { name }.to_string(),
                )
            }
            e => Failure::quoting(ErrorKind::BadArgument, e.to_string()),
        }
    }
}

/// Reused per-connection buffers, so steady-state requests allocate nothing, and the
/// share of the budget this connection holds.
#[derive(Default)]
pub(crate) struct Buffers {
    /// Transformed bodies, `stats` JSON, `exec` output.
    scratch: Vec<u8>,
    /// Bytes of `max_buffered` held for the request and reply under way.
    held: u64,
}

/// Buffers up to this size stay with the connection between requests; larger ones are
/// given back after the reply, so a thousand connections that each once asked for
/// 16 MiB do not keep 16 GiB.
const KEEP_BUFFER: usize = LARGE_BUFFER;

impl Buffers {
    /// Takes `n` bytes of the budget for this connection; false when they do not fit.
    pub(crate) fn reserve(&mut self, stats: &Stats, n: usize, config: &ServerConfig) -> bool {
        let ok = stats.reserve_buffered(n as u64, config.max_buffered);
        if ok {
            self.held += n as u64;
        }
        ok
    }

    /// Whether this connection holds part of the budget.
    pub(crate) fn holds_budget(&self) -> bool {
        self.held > 0
    }

    /// After a reply: gives back what a large request made the buffers grow to, and
    /// its share of the budget.
    pub(crate) fn release_large(&mut self, stats: &Stats) {
        if self.scratch.capacity() > KEEP_BUFFER {
            self.scratch.truncate(KEEP_BUFFER);
            self.scratch.shrink_to(KEEP_BUFFER);
        }
        self.release_budget(stats);
    }

    /// Gives back this connection's share of the budget (also when it ends early).
    pub(crate) fn release_budget(&mut self, stats: &Stats) {
        if self.held > 0 {
            stats.release_buffered(std::mem::take(&mut self.held));
        }
    }
}

/// The `generate` pattern, a whole number of periods long: any body is a run of copies
/// of it and a prefix, so replies of any size need no buffer of their own. 26 × 2520 =
/// 65,520 bytes: whole 26-byte periods (so copies join seamlessly), just under 64 KiB,
/// so one copy is about what a socket takes in one write.
pub(crate) static PATTERN: LazyLock<Vec<u8>> =
    LazyLock::new(|| (0..26 * 2520).map(generate_byte).collect());

/// What a successful reply carries.
pub(crate) enum Body<'a> {
    /// These bytes.
    Bytes(&'a [u8]),
    /// `n` bytes of the `generate` pattern (see [`PATTERN`]).
    Pattern(usize),
}

impl Body<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Body::Bytes(b) => b.len(),
            Body::Pattern(n) => *n,
        }
    }
}

/// A successful reply: its body and the extra header fields it sets.
pub(crate) struct Reply<'a> {
    pub(crate) body: Body<'a>,
    exit_code: Option<i32>,
    truncated: Option<bool>,
}

impl<'a> Reply<'a> {
    fn body(body: &'a [u8]) -> Self {
        Reply {
            body: Body::Bytes(body),
            exit_code: None,
            truncated: None,
        }
    }

    pub(crate) fn header(&self, id: u64) -> ResponseHeader {
        let mut header = ResponseHeader::ok(id, self.body.len() as u64);
        header.exit_code = self.exit_code;
        header.truncated = self.truncated;
        header
    }
}

/// The `stats` command's body.
#[derive(Serialize)]
struct StatsBody {
    endpoint: StatsSnapshot,
    connection: ConnectionInfo,
}

#[derive(Serialize)]
struct ConnectionInfo {
    peer: std::net::SocketAddr,
    /// Options of this connection's server-side socket, read back with getsockopt.
    socket: Option<SocketReadback>,
}

/// What a command may know of its connection (shareable across the command's awaits).
#[derive(Clone, Copy)]
pub(crate) struct ConnView<'a> {
    stats: &'a Stats,
    peer: std::net::SocketAddr,
    socket: &'a std::net::TcpStream,
}

pub(crate) fn view(conn: &Conn) -> ConnView<'_> {
    ConnView {
        stats: conn.stats(),
        peer: conn.peer(),
        socket: conn.socket(),
    }
}

/// Runs one command. The reply body borrows the request body or the buffers.
pub(crate) async fn execute<'a>(
    command: Command,
    input: &'a [u8],
    bufs: &'a mut Buffers,
    conn: ConnView<'_>,
    config: &ServerConfig,
) -> Result<Reply<'a>, Failure> {
    match command {
        Command::Echo if config.transform == Transform::None => Ok(Reply::body(input)),
        Command::Echo | Command::Upper => {
            // A large transformed copy is a second buffer the size of the body.
            if input.len() > LARGE_BUFFER && !bufs.reserve(conn.stats, input.len(), config) {
                return Err(Failure::over_budget(input.len(), config));
            }
            let scratch = &mut bufs.scratch;
            scratch.clear();
            scratch.extend_from_slice(input);
            scratch.make_ascii_uppercase();
            Ok(Reply::body(scratch))
        }
        Command::Discard => Ok(Reply::body(&[])),
        // `size <= max_body` was checked when the command was parsed.
        Command::Generate { size } => Ok(Reply {
            body: Body::Pattern(size as usize),
            exit_code: None,
            truncated: None,
        }),
        Command::Sleep { ms } => {
            Timer::after(std::time::Duration::from_millis(ms)).await;
            Ok(Reply::body(&[]))
        }
        Command::Stats => {
            let scratch = &mut bufs.scratch;
            scratch.clear();
            let body = StatsBody {
                endpoint: conn.stats.snapshot(),
                connection: ConnectionInfo {
                    peer: conn.peer,
                    socket: read_back(conn.socket.into(), true).ok(),
                },
            };
            serde_json::to_writer(&mut *scratch, &body).expect("stats serialise");
            Ok(Reply::body(scratch))
        }
        Command::Exec if !config.allow_exec => Err(Failure {
            kind: ErrorKind::ExecDisabled,
            message:
                "exec is disabled (start bench-server with --allow-exec on a loopback address)"
                    .to_owned(),
        }),
        Command::Exec => {
            let scratch = &mut bufs.scratch;
            let outcome = super::exec::run(input, scratch, config.limits.max_body)
                .await
                .map_err(|message| Failure::quoting(ErrorKind::ExecFailed, message))?;
            Ok(Reply {
                body: Body::Bytes(scratch),
                exit_code: outcome.exit_code,
                truncated: Some(outcome.truncated),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_is_whole_periods_of_generate_bytes() {
        assert_eq!(PATTERN.len() % 26, 0);
        assert!(
            PATTERN
                .iter()
                .enumerate()
                .all(|(i, &b)| b == generate_byte(i as u64))
        );
    }

    #[test]
    fn an_unknown_command_quotes_at_most_200_bytes_of_its_name() {
        let failure = Failure::from(CommandError::Unknown {
            name: "A".repeat(60_000),
        });
        assert_eq!(failure.kind, ErrorKind::UnknownCommand);
        assert!(failure.message.len() < 400, "{}", failure.message.len());
        assert!(
            failure.message.contains("…(60000 bytes)"),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains("(known: echo"),
            "{}",
            failure.message
        );
    }
}
