//! The JSON headers of the framed protocol: one request header type, one response header
//! type. Field names are the wire names; unknown fields are ignored, so newer clients can
//! send extra arguments to older servers.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::codec::FrameHeader;

/// The `cmd` field of a request, parsed without allocating for the built-in commands.
///
/// An unknown name is kept as [`CommandName::Other`] so the error can name it; turning a
/// name into a runnable [`crate::Command`] happens in [`crate::Command::from_header`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandName {
    /// `echo`: the body back (uppercased when the server runs `--transform upper`).
    Echo,
    /// `upper`: the body back, ASCII-uppercased.
    Upper,
    /// `discard`: an empty body back.
    Discard,
    /// `generate`: `size` bytes back.
    Generate,
    /// `sleep`: wait `ms` milliseconds, then an empty body back.
    Sleep,
    /// `stats`: the server's counters as a JSON body.
    Stats,
    /// `exec`: run the body as a shell command (only with `--allow-exec`).
    Exec,
    /// Any other name.
    Other(String),
}

impl CommandName {
    /// The wire name (`echo`, ...; an unknown name as it was received).
    pub fn as_str(&self) -> &str {
        match self {
            CommandName::Echo => "echo",
            CommandName::Upper => "upper",
            CommandName::Discard => "discard",
            CommandName::Generate => "generate",
            CommandName::Sleep => "sleep",
            CommandName::Stats => "stats",
            CommandName::Exec => "exec",
            CommandName::Other(name) => name,
        }
    }

    /// Parses a wire name; unknown names become [`CommandName::Other`].
    pub fn parse(name: &str) -> CommandName {
        match name {
            "echo" => CommandName::Echo,
            "upper" => CommandName::Upper,
            "discard" => CommandName::Discard,
            "generate" => CommandName::Generate,
            "sleep" => CommandName::Sleep,
            "stats" => CommandName::Stats,
            "exec" => CommandName::Exec,
            other => CommandName::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CommandName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CommandName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = CommandName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a command name string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandName, E> {
                Ok(CommandName::parse(v))
            }
        }
        d.deserialize_str(NameVisitor)
    }
}

/// A request header: `{"cmd": "...", "id": u64, "total_size": u64, ...args}`.
///
/// `cmd` and `total_size` are required; `id` defaults to 0. The arguments the built-in
/// commands use are typed fields; anything else is ignored.
///
/// ```
/// use bench_proto::{CommandName, RequestHeader};
/// let h: RequestHeader =
///     serde_json::from_str(r#"{"cmd":"generate","id":7,"total_size":0,"size":100}"#).unwrap();
/// assert_eq!(h.cmd, CommandName::Generate);
/// assert_eq!(h.size, Some(100));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestHeader {
    /// The command to run (required; an unknown name is kept so the error can say it).
    pub cmd: CommandName,
    /// Chosen by the client, copied into the response.
    #[serde(default)]
    pub id: u64,
    /// Length of the body that follows the header, in bytes.
    pub total_size: u64,
    /// `generate`: how many bytes to send back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// `sleep`: how long to wait, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

impl RequestHeader {
    /// A request header with no arguments.
    pub fn new(cmd: CommandName, id: u64, total_size: u64) -> Self {
        RequestHeader {
            cmd,
            id,
            total_size,
            size: None,
            ms: None,
        }
    }
}

impl FrameHeader for RequestHeader {
    fn total_size(&self) -> u64 {
        self.total_size
    }
    fn id(&self) -> u64 {
        self.id
    }
}

/// Outcome of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The command ran; the body is its result.
    Ok,
    /// The command did not run (or failed); `error` says why.
    Error,
}

/// A response header: `{"id": u64, "status": "ok"|"error", "total_size": u64, ...}`.
///
/// ```
/// use bench_proto::ResponseHeader;
/// let ok = ResponseHeader::ok(3, 64);
/// assert_eq!(serde_json::to_string(&ok).unwrap(), r#"{"id":3,"status":"ok","total_size":64}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHeader {
    /// The request's id (0 when the request could not be parsed far enough to know it).
    pub id: u64,
    /// Whether the command ran.
    pub status: Status,
    /// Length of the body that follows, in bytes.
    pub total_size: u64,
    /// Why the request failed, when `status` is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `exec`: the shell's exit code (absent when it was killed by a signal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// `exec`: true when the output was cut at the server's `max_body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

impl ResponseHeader {
    /// A success header for a body of `total_size` bytes.
    pub fn ok(id: u64, total_size: u64) -> Self {
        ResponseHeader {
            id,
            status: Status::Ok,
            total_size,
            error: None,
            exit_code: None,
            truncated: None,
        }
    }

    /// An error header with no body.
    pub fn error(id: u64, message: impl Into<String>) -> Self {
        ResponseHeader {
            id,
            status: Status::Error,
            total_size: 0,
            error: Some(message.into()),
            exit_code: None,
            truncated: None,
        }
    }
}

impl FrameHeader for ResponseHeader {
    fn total_size(&self) -> u64 {
        self.total_size
    }
    fn id(&self) -> u64 {
        self.id
    }
}
