//! Workloads: how one request is written and how its reply is read and verified, for the
//! protocols over a byte stream (tcp-echo, framed, framed in raw mode, and `custom`: a
//! protocol described by a workload file). The engine owns
//! sockets, timing and recording; a workload only turns requests into bytes and bytes into
//! verified replies, so a new protocol plugs in by implementing [`StreamWorkload`].
//! udp-echo has datagram boundaries and its own loop (`engine::udp`), but uses the same
//! [`Pattern`] and [`Expected`] replies.
//!
//! Owns: protocol rules (what a request looks like on the wire, what a right reply is).
//! Must not touch: sockets, the clock or recording (the engine drives a workload and
//! records what it says); it names failures with `report`'s [`ErrorKind`].

use std::sync::Arc;

use crate::config::{Expect, FramedCmd, RunConfig, WorkloadKind};
use crate::report::ErrorKind;

/// One request: its id (per connection, from 0) and its size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Sequence number on its connection; framed ids, pattern offsets and UDP sequence
    /// numbers come from it.
    pub id: u64,
    /// Request body size (reply size for `generate`).
    pub size: usize,
}

impl Request {
    /// Where in the pattern this request's payload starts, so consecutive requests carry
    /// different bytes and a reply to the wrong request does not verify.
    pub fn offset(&self) -> usize {
        (self.id % 26) as usize
    }
}

/// Why a reply did not count as a success (the connection-level failures, `reset`,
/// `closed` and `timeout`, are the engine's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The reply arrived whole but its content or length is wrong. The stream is still in
    /// step, so the connection goes on.
    Mismatch(String),
    /// The reply does not follow the protocol (bad frame, wrong id, error status). The
    /// stream can no longer be trusted, so the connection ends.
    Protocol(String),
    /// A whole reply that is the server's error (a custom workload's `error` pattern
    /// matched). The stream is still in step, so the connection goes on.
    Server(String),
}

/// The report's error kind of a failed reply.
impl From<&Failure> for ErrorKind {
    fn from(failure: &Failure) -> ErrorKind {
        match failure {
            Failure::Mismatch(_) => ErrorKind::Mismatch,
            Failure::Protocol(_) => ErrorKind::Protocol,
            Failure::Server(_) => ErrorKind::Server,
        }
    }
}

/// The payload bytes: `a..z` repeated, and the same uppercased. Requests are slices of
/// it, so building a request never allocates or copies.
#[derive(Debug)]
pub struct Pattern {
    lower: Vec<u8>,
    upper: Vec<u8>,
}

impl Pattern {
    /// A pattern long enough for payloads of `max_size` at every offset.
    pub fn new(max_size: usize) -> Pattern {
        let lower: Vec<u8> = (0..max_size as u64 + 26)
            .map(bench_proto::command::generate_byte)
            .collect();
        let upper = lower.to_ascii_uppercase();
        Pattern { lower, upper }
    }

    /// The payload of `req`.
    pub fn payload(&self, req: &Request) -> &[u8] {
        &self.lower[req.offset()..req.offset() + req.size]
    }

    fn slice(&self, upper: bool, offset: usize, len: usize) -> &[u8] {
        let bytes = if upper { &self.upper } else { &self.lower };
        &bytes[offset..offset + len]
    }
}

/// What the reply to a request must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected<'a> {
    /// Its length in bytes.
    pub len: usize,
    /// Its content, unless only the length is checked.
    pub content: Option<&'a [u8]>,
}

/// Turns a config into expected replies.
#[derive(Debug, Clone)]
pub struct Verifier {
    pattern: Arc<Pattern>,
    expect: Expect,
    /// Framed command, or `None` for the echo workloads.
    cmd: Option<FramedCmd>,
}

impl Verifier {
    /// The verifier for a run.
    pub fn new(config: &RunConfig, pattern: Arc<Pattern>) -> Verifier {
        Verifier {
            pattern,
            expect: config.expect,
            cmd: (config.workload == WorkloadKind::Framed).then_some(config.cmd),
        }
    }

    /// The pattern requests are cut from.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// Payload bytes the request carries (`generate` and `sleep` send none).
    pub fn request_len(&self, req: &Request) -> usize {
        match self.cmd {
            Some(cmd) if !cmd.sends_body() => 0,
            _ => req.size,
        }
    }

    /// The reply `req` must get.
    pub fn expected(&self, req: &Request) -> Expected<'_> {
        let (offset, len) = match self.cmd {
            None | Some(FramedCmd::Echo | FramedCmd::Upper) => (req.offset(), req.size),
            Some(FramedCmd::Generate) => (0, req.size),
            Some(FramedCmd::Discard | FramedCmd::Sleep) => (0, 0),
        };
        let content = match self.expect {
            Expect::Length => None,
            Expect::Exact => Some(self.pattern.slice(false, offset, len)),
            Expect::Upper => Some(self.pattern.slice(true, offset, len)),
        };
        Expected { len, content }
    }
}

/// Describes the first differing byte, for the error sample in the report.
pub fn describe_mismatch(id: u64, expected: &[u8], got: &[u8], at: usize) -> String {
    match expected.iter().zip(got).position(|(a, b)| a != b) {
        Some(i) => format!(
            "reply to request {id} differs at byte {}: expected {:?}, got {:?}",
            at + i,
            expected[i] as char,
            got[i] as char
        ),
        None => format!(
            "reply to request {id} is {} bytes, expected {}",
            at + got.len(),
            at + expected.len()
        ),
    }
}

/// A request/response protocol over a byte stream. The engine gets one writer and one
/// reader per connection and drives them from two halves of one task: the writer while
/// there is room in the pipeline, the reader as bytes arrive.
pub trait StreamWorkload: Send + Sync + 'static {
    /// Encodes requests.
    type Writer: RequestWriter;
    /// Decodes and verifies replies.
    type Reader: ReplyReader;

    /// Fresh state for connection `conn` (its index in the run, from 0).
    fn split(&self, conn: usize) -> (Self::Writer, Self::Reader);

    /// Whether each part of a request ([`RequestWriter::encode`]) goes out in its own
    /// write (a server's handling of a frame cut at the header is what is measured), or
    /// all parts of the ready requests in one. The workload decides; the engine does
    /// not look at workload kinds.
    fn split_writes(&self) -> bool {
        false
    }
}

/// The sending half of a workload.
pub trait RequestWriter {
    /// The bytes of `req` as up to three parts (prefix, header, body; empty parts are
    /// skipped). Coalesced mode writes them in one vectored write, split mode one by one.
    fn encode(&mut self, req: &Request) -> [&[u8]; 3];
}

/// The receiving half of a workload: owns the receive buffer.
pub trait ReplyReader {
    /// Free space to read into (never empty).
    fn read_buf(&mut self) -> &mut [u8];
    /// `n` bytes were read into [`ReplyReader::read_buf`].
    fn filled(&mut self, n: usize);
    /// Consumes the reply to `req` if all of it has arrived and returns its payload length:
    /// `Ok(None)` means more bytes are needed; an `Err` consumes the reply too (for
    /// mismatches).
    fn take_reply(&mut self, req: &Request) -> Result<Option<usize>, Failure>;
}

// The protocols import this file; it does not re-export them (no file imports one that
// imports it back).
pub mod custom;
pub mod framed;
pub mod tcp_echo;
pub mod udp_echo;
