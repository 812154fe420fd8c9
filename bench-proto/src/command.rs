//! The command set, parsed once from a request header (framed mode) or from one raw
//! command line (`--requests raw`), so servers dispatch on an enum, never on strings.
//! Running the commands is the server's business.

use crate::header::{CommandName, RequestHeader};
use crate::limits::Limits;

/// Longest `sleep` a request may ask for, in milliseconds (the histogram range of the
/// load generator ends at 60 s).
pub const MAX_SLEEP_MS: u64 = 60_000;

/// A validated command with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// The body back (uppercased under `--transform upper`).
    Echo,
    /// The body back, ASCII-uppercased.
    Upper,
    /// An empty body back.
    Discard,
    /// `size` bytes of the generate pattern back (see [`generate_byte`]).
    Generate {
        /// Bytes to send.
        size: u64,
    },
    /// Wait, then an empty body back.
    Sleep {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// The server counters as JSON.
    Stats,
    /// Run the body as a `sh -c` command line; stdout then stderr back.
    Exec,
}

/// Why a request does not name a runnable command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The name is not a built-in command.
    #[error("unknown command {name:?} (known: echo, upper, discard, generate, sleep, stats, exec)")]
    Unknown {
        /// The name received.
        name: String,
    },
    /// A required argument is missing or not a number.
    #[error("{cmd}: argument {arg:?} is missing or not a non-negative integer")]
    BadArgument {
        /// The command.
        cmd: &'static str,
        /// The argument name.
        arg: &'static str,
    },
    /// `generate` asked for more than the server's `max_body`.
    #[error("generate: size {size} exceeds max_body {max}")]
    GenerateTooLarge {
        /// Bytes asked for.
        size: u64,
        /// The limit in force.
        max: u64,
    },
    /// `sleep` asked for more than [`MAX_SLEEP_MS`].
    #[error("sleep: ms {ms} exceeds the maximum of {max}")]
    SleepTooLong {
        /// Milliseconds asked for.
        ms: u64,
        /// The limit, [`MAX_SLEEP_MS`].
        max: u64,
    },
}

impl CommandError {
    /// A stable snake_case name for counters and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            CommandError::Unknown { .. } => "unknown_command",
            CommandError::BadArgument { .. }
            | CommandError::GenerateTooLarge { .. }
            | CommandError::SleepTooLong { .. } => "bad_argument",
        }
    }
}

impl Command {
    /// Validates a framed request header.
    ///
    /// ```
    /// use bench_proto::{Command, CommandName, Limits, RequestHeader};
    /// let mut h = RequestHeader::new(CommandName::Sleep, 1, 0);
    /// h.ms = Some(5);
    /// assert_eq!(Command::from_header(&h, &Limits::default()), Ok(Command::Sleep { ms: 5 }));
    /// ```
    pub fn from_header(header: &RequestHeader, limits: &Limits) -> Result<Command, CommandError> {
        let command = match &header.cmd {
            CommandName::Echo => Command::Echo,
            CommandName::Upper => Command::Upper,
            CommandName::Discard => Command::Discard,
            CommandName::Stats => Command::Stats,
            CommandName::Exec => Command::Exec,
            CommandName::Generate => Command::Generate {
                size: header.size.ok_or(CommandError::BadArgument {
                    cmd: "generate",
                    arg: "size",
                })?,
            },
            CommandName::Sleep => Command::Sleep {
                ms: header.ms.ok_or(CommandError::BadArgument {
                    cmd: "sleep",
                    arg: "ms",
                })?,
            },
            CommandName::Other(name) => return Err(CommandError::Unknown { name: name.clone() }),
        };
        command.check(limits)
    }

    fn check(self, limits: &Limits) -> Result<Command, CommandError> {
        match self {
            Command::Generate { size } if size > limits.max_body => {
                Err(CommandError::GenerateTooLarge {
                    size,
                    max: limits.max_body,
                })
            }
            Command::Sleep { ms } if ms > MAX_SLEEP_MS => Err(CommandError::SleepTooLong {
                ms,
                max: MAX_SLEEP_MS,
            }),
            ok => Ok(ok),
        }
    }
}

/// One request of the raw compatibility mode: the bytes of one read, as a command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawRequest<'a> {
    /// A built-in command; `body` is the rest of the line (`upper hello` -> `hello`).
    Builtin {
        /// The command.
        command: Command,
        /// Its input.
        body: &'a [u8],
    },
    /// `exec LINE`, or (when parsed with `shell_fallback`) any other line: a shell
    /// command line, run only with `--allow-exec`. A leading `exec ` is stripped.
    Shell {
        /// The command line.
        line: &'a [u8],
    },
}

impl<'a> RawRequest<'a> {
    /// Parses one raw command line; a trailing `\r\n` or `\n` is ignored. With
    /// `shell_fallback` (the server allows exec) a line that starts with no built-in
    /// command is a shell line; without, it is an unknown command.
    ///
    /// ```
    /// use bench_proto::{Command, Limits, RawRequest};
    /// let limits = Limits::default();
    /// assert_eq!(
    ///     RawRequest::parse(b"upper hello\n", &limits, false),
    ///     Ok(RawRequest::Builtin { command: Command::Upper, body: b"hello" })
    /// );
    /// assert_eq!(
    ///     RawRequest::parse(b"generate 100000", &limits, false),
    ///     Ok(RawRequest::Builtin { command: Command::Generate { size: 100000 }, body: b"" })
    /// );
    /// assert_eq!(RawRequest::parse(b"ls -l", &limits, true), Ok(RawRequest::Shell { line: b"ls -l" }));
    /// assert!(RawRequest::parse(b"ls -l", &limits, false).is_err());
    /// ```
    pub fn parse(
        line: &'a [u8],
        limits: &Limits,
        shell_fallback: bool,
    ) -> Result<RawRequest<'a>, CommandError> {
        let line = trim_line_end(line);
        let (word, rest) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &line[line.len()..]),
        };
        let command = match word {
            b"echo" => Command::Echo,
            b"upper" => Command::Upper,
            b"discard" => Command::Discard,
            b"stats" => Command::Stats,
            b"generate" => Command::Generate {
                size: parse_number(rest, "generate", "size")?,
            },
            b"sleep" => Command::Sleep {
                ms: parse_number(rest, "sleep", "ms")?,
            },
            b"exec" => return Ok(RawRequest::Shell { line: rest }),
            _ if shell_fallback => return Ok(RawRequest::Shell { line }),
            _ => {
                return Err(CommandError::Unknown {
                    name: String::from_utf8_lossy(word).into_owned(),
                });
            }
        };
        // Only the data commands take the rest of the line as input.
        let body = match command {
            Command::Echo | Command::Upper | Command::Discard => rest,
            _ => &rest[rest.len()..],
        };
        Ok(RawRequest::Builtin {
            command: command.check(limits)?,
            body,
        })
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_number(text: &[u8], cmd: &'static str, arg: &'static str) -> Result<u64, CommandError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or(CommandError::BadArgument { cmd, arg })
}

/// Byte `i` of a `generate` reply: the lowercase alphabet, repeated. Clients can verify a
/// reply without having sent anything, and `upper` of it is easy to check.
///
/// ```
/// assert_eq!(bench_proto::command::generate_byte(27), b'b');
/// ```
pub fn generate_byte(i: u64) -> u8 {
    b'a' + (i % 26) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_framed_command_is_named() {
        let h = RequestHeader::new(CommandName::parse("frobnicate"), 1, 0);
        let err = Command::from_header(&h, &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("\"frobnicate\""), "{err}");
        assert_eq!(err.reason(), "unknown_command");
    }

    #[test]
    fn generate_needs_size_within_max_body() {
        let limits = Limits {
            max_header: 1024,
            max_body: 10,
        };
        let mut h = RequestHeader::new(CommandName::Generate, 1, 0);
        assert!(matches!(
            Command::from_header(&h, &limits),
            Err(CommandError::BadArgument { arg: "size", .. })
        ));
        h.size = Some(11);
        assert!(matches!(
            Command::from_header(&h, &limits),
            Err(CommandError::GenerateTooLarge { size: 11, max: 10 })
        ));
        h.size = Some(10);
        assert_eq!(
            Command::from_header(&h, &limits),
            Ok(Command::Generate { size: 10 })
        );
    }

    #[test]
    fn sleep_is_bounded() {
        let mut h = RequestHeader::new(CommandName::Sleep, 1, 0);
        h.ms = Some(MAX_SLEEP_MS + 1);
        assert!(matches!(
            Command::from_header(&h, &Limits::default()),
            Err(CommandError::SleepTooLong { .. })
        ));
    }

    #[test]
    fn raw_lines_parse_builtins_and_shell() {
        let l = Limits::default();
        assert_eq!(
            RawRequest::parse(b"echo a b\r\n", &l, false),
            Ok(RawRequest::Builtin {
                command: Command::Echo,
                body: b"a b"
            })
        );
        assert_eq!(
            RawRequest::parse(b"exec uname -a", &l, false),
            Ok(RawRequest::Shell { line: b"uname -a" })
        );
        assert!(matches!(
            RawRequest::parse(b"generate lots", &l, false),
            Err(CommandError::BadArgument {
                cmd: "generate",
                ..
            })
        ));
        assert_eq!(
            RawRequest::parse(b"stats", &l, false),
            Ok(RawRequest::Builtin {
                command: Command::Stats,
                body: b""
            })
        );
    }
}
