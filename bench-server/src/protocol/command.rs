//! Running one framed (or raw) command: the reply it makes, the per-connection buffers
//! it reuses, the share of the server's memory budget a large request or reply takes,
//! and the [`Failure`] a refused request becomes. Synchronous and sans-IO: the commands
//! that wait (`sleep`) or need the outside world (`stats`, `exec`) come back as a
//! [`Step`] the caller carries out (the framed session turns them into a deadline and
//! actions), then [`stats_reply`] / [`exec_reply`] make their reply. Reading and writing
//! frames is the caller's business.

use std::sync::LazyLock;
use std::time::Duration;

use bench_proto::command::generate_byte;
use bench_proto::{Command, CommandError, DecodeError, ResponseHeader};
use serde::Serialize;

use super::exec::ExecOutcome;
use crate::config::{LARGE_BUFFER, ServerConfig, Transform};
pub(crate) use crate::session::Failure;
use crate::session::StatsInfo;
use crate::session::quote::{MAX_QUOTE, clip};
use crate::socket::SocketReadback;
use crate::stats::{ErrorKind, Stats, StatsSnapshot};

/// Most bytes of an error frame's message: ours around at most [`MAX_QUOTE`] bytes of
/// the peer's text (a serde error may quote a header field).
const MAX_MESSAGE: usize = 2 * MAX_QUOTE;

impl Failure {
    /// A failure whose message may quote the peer: cut to [`MAX_MESSAGE`] bytes.
    pub(crate) fn quoting(kind: ErrorKind, message: String) -> Self {
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

    /// `exec` without `--allow-exec`.
    fn exec_disabled() -> Self {
        Failure {
            kind: ErrorKind::ExecDisabled,
            message:
                "exec is disabled (start bench-server with --allow-exec on a loopback address)"
                    .to_owned(),
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

    /// Lends the scratch buffer (for `exec`'s output, filled elsewhere); hand it back
    /// with [`exec_reply`].
    pub(crate) fn lend_scratch(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.scratch)
    }
}

/// The `generate` pattern, a whole number of periods long: any body is a run of copies
/// of it and a prefix, so replies of any size need no buffer of their own. 26 × 2520 =
/// 65,520 bytes: whole 26-byte periods (so copies join seamlessly), just under 64 KiB,
/// so one copy is about what a socket takes in one write.
pub(crate) static PATTERN: LazyLock<Vec<u8>> =
    LazyLock::new(|| (0..26 * 2520).map(generate_byte).collect());

/// Where a successful reply's body is: named, not borrowed, so a caller can hold a
/// reply across its own calls while the bytes stay where they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// Nothing.
    Empty,
    /// The request's own body, unchanged.
    Input,
    /// [`Buffers::scratch`].
    Scratch,
    /// `n` bytes of the `generate` pattern (see [`PATTERN`]).
    Pattern(usize),
}

impl Body {
    /// The body's bytes, given the request body and the buffers; `None` for a pattern.
    pub(crate) fn bytes<'a>(&self, input: &'a [u8], bufs: &'a Buffers) -> Option<&'a [u8]> {
        match self {
            Body::Empty => Some(&[]),
            Body::Input => Some(input),
            Body::Scratch => Some(&bufs.scratch),
            Body::Pattern(_) => None,
        }
    }
}

/// A successful reply: where its body is, its length and the extra header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) body: Body,
    /// Body length in bytes.
    pub(crate) len: usize,
    exit_code: Option<i32>,
    truncated: Option<bool>,
}

impl Reply {
    fn new(body: Body, len: usize) -> Self {
        Reply {
            body,
            len,
            exit_code: None,
            truncated: None,
        }
    }

    /// An `ok` reply with no body (`discard`, `sleep`).
    pub(crate) fn empty() -> Self {
        Reply::new(Body::Empty, 0)
    }

    /// The response header for request `id`.
    pub(crate) fn header(&self, id: u64) -> ResponseHeader {
        let mut header = ResponseHeader::ok(id, self.len as u64);
        header.exit_code = self.exit_code;
        header.truncated = self.truncated;
        header
    }
}

/// What running a command comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Answer with this reply now.
    Reply(Reply),
    /// Wait this long, then answer with [`Reply::empty`].
    Sleep(Duration),
    /// Read the counters and the socket, then answer with [`stats_reply`].
    Stats,
    /// Run the request body as a shell line (allowed), then answer with [`exec_reply`].
    Exec,
}

/// The `stats` command's body.
#[derive(Serialize)]
struct StatsBody<'a> {
    endpoint: &'a StatsSnapshot,
    connection: ConnectionInfo<'a>,
}

#[derive(Serialize)]
struct ConnectionInfo<'a> {
    peer: std::net::SocketAddr,
    /// Options of this connection's server-side socket, read back with getsockopt.
    socket: &'a Option<SocketReadback>,
}

/// Runs one command on `input`, the request body. `stats` is the endpoint's, for the
/// budget of large transformed copies.
pub(crate) fn execute(
    command: Command,
    input: &[u8],
    bufs: &mut Buffers,
    stats: &Stats,
    config: &ServerConfig,
) -> Result<Step, Failure> {
    let reply = match command {
        Command::Echo if config.transform == Transform::None => {
            Reply::new(Body::Input, input.len())
        }
        Command::Echo | Command::Upper => {
            // A large transformed copy is a second buffer the size of the body.
            if input.len() > LARGE_BUFFER && !bufs.reserve(stats, input.len(), config) {
                return Err(Failure::over_budget(input.len(), config));
            }
            let scratch = &mut bufs.scratch;
            scratch.clear();
            scratch.extend_from_slice(input);
            scratch.make_ascii_uppercase();
            Reply::new(Body::Scratch, input.len())
        }
        Command::Discard => Reply::empty(),
        // `size <= max_body` was checked when the command was parsed.
        Command::Generate { size } => Reply::new(Body::Pattern(size as usize), size as usize),
        Command::Sleep { ms } => return Ok(Step::Sleep(Duration::from_millis(ms))),
        Command::Stats => return Ok(Step::Stats),
        Command::Exec if !config.allow_exec => return Err(Failure::exec_disabled()),
        Command::Exec => return Ok(Step::Exec),
    };
    Ok(Step::Reply(reply))
}

/// The `stats` reply: `{endpoint, connection: {peer, socket}}` as JSON in the scratch
/// buffer.
pub(crate) fn stats_reply(
    bufs: &mut Buffers,
    info: &StatsInfo,
    peer: std::net::SocketAddr,
) -> Reply {
    let scratch = &mut bufs.scratch;
    scratch.clear();
    let body = StatsBody {
        endpoint: &info.endpoint,
        connection: ConnectionInfo {
            peer,
            socket: &info.socket,
        },
    };
    serde_json::to_writer(&mut *scratch, &body).expect("stats serialise");
    Reply::new(Body::Scratch, scratch.len())
}

/// The `exec` reply from the finished command: `output` (the buffer lent with
/// [`Buffers::lend_scratch`]) goes back to the buffers and is the body.
pub(crate) fn exec_reply(
    bufs: &mut Buffers,
    output: Vec<u8>,
    outcome: Result<ExecOutcome, String>,
) -> Result<Reply, Failure> {
    bufs.scratch = output;
    let outcome = outcome.map_err(|message| Failure::quoting(ErrorKind::ExecFailed, message))?;
    Ok(Reply {
        body: Body::Scratch,
        len: bufs.scratch.len(),
        exit_code: outcome.exit_code,
        truncated: Some(outcome.truncated),
    })
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
