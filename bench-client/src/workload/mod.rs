//! Workloads: how one request is written and how its reply is read and verified, for the
//! protocols over a byte stream (tcp-echo, framed, framed in raw mode). The engine owns
//! sockets, timing and recording; a workload only turns requests into bytes and bytes into
//! verified replies, so a new protocol plugs in by implementing [`StreamWorkload`].
//! udp-echo has datagram boundaries and its own loop (`udp`), but uses the same
//! [`Pattern`] and [`Expected`] replies.

use std::io::Write as _;
use std::sync::Arc;

use bench_proto::{CommandName, Decoder, Limits, RequestHeader, ResponseHeader, Status};

use crate::config::{Expect, FramedCmd, RequestFormat, RunConfig, WorkloadKind};
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
}

/// The report's error kind of a failed reply.
impl From<&Failure> for ErrorKind {
    fn from(failure: &Failure) -> ErrorKind {
        match failure {
            Failure::Mismatch(_) => ErrorKind::Mismatch,
            Failure::Protocol(_) => ErrorKind::Protocol,
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

    /// Fresh per-connection state.
    fn split(&self) -> (Self::Writer, Self::Reader);
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

// ---------------------------------------------------------------------------------------
// tcp-echo

/// Raw bytes out, the same bytes back; replies are cut by length.
#[derive(Debug, Clone)]
pub struct TcpEcho {
    verifier: Verifier,
}

impl TcpEcho {
    /// tcp-echo replies checked by `verifier`.
    pub fn new(verifier: Verifier) -> TcpEcho {
        TcpEcho { verifier }
    }
}

/// tcp-echo's sending half.
#[derive(Debug)]
pub struct TcpEchoWriter {
    verifier: Verifier,
}

/// tcp-echo's receiving half: verifies replies as they stream in, so a reply of any size
/// needs only the fixed receive buffer.
#[derive(Debug)]
pub struct TcpEchoReader {
    verifier: Verifier,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of the current reply already consumed.
    done: usize,
    /// First difference in the current reply.
    mismatch: Option<String>,
}

const RECV_BUF: usize = 16 * 1024;

impl StreamWorkload for TcpEcho {
    type Writer = TcpEchoWriter;
    type Reader = TcpEchoReader;

    fn split(&self) -> (TcpEchoWriter, TcpEchoReader) {
        (
            TcpEchoWriter {
                verifier: self.verifier.clone(),
            },
            TcpEchoReader {
                verifier: self.verifier.clone(),
                buf: vec![0; RECV_BUF],
                start: 0,
                end: 0,
                done: 0,
                mismatch: None,
            },
        )
    }
}

impl RequestWriter for TcpEchoWriter {
    fn encode(&mut self, req: &Request) -> [&[u8]; 3] {
        [self.verifier.pattern().payload(req), &[], &[]]
    }
}

impl ReplyReader for TcpEchoReader {
    fn read_buf(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        &mut self.buf[self.end..]
    }

    fn filled(&mut self, n: usize) {
        self.end += n;
    }

    fn take_reply(&mut self, req: &Request) -> Result<Option<usize>, Failure> {
        let expected = self.verifier.expected(req);
        let take = (self.end - self.start).min(expected.len - self.done);
        let got = &self.buf[self.start..self.start + take];
        if let Some(content) = expected.content {
            let want = &content[self.done..self.done + take];
            if self.mismatch.is_none() && want != got {
                self.mismatch = Some(describe_mismatch(req.id, want, got, self.done));
            }
        }
        self.start += take;
        self.done += take;
        if self.done < expected.len {
            return Ok(None);
        }
        self.done = 0;
        match self.mismatch.take() {
            Some(text) => Err(Failure::Mismatch(text)),
            None => Ok(Some(expected.len)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// framed

/// The length-prefixed command protocol (or, with `raw`, command lines out and frames
/// back).
#[derive(Debug, Clone)]
pub struct Framed {
    verifier: Verifier,
    cmd: FramedCmd,
    sleep_ms: u64,
    raw: bool,
}

impl Framed {
    /// The framed workload a config describes.
    pub fn new(config: &RunConfig, verifier: Verifier) -> Framed {
        Framed {
            verifier,
            cmd: config.cmd,
            sleep_ms: config.sleep.0.as_millis() as u64,
            raw: config.requests == RequestFormat::Raw,
        }
    }
}

/// framed's sending half: encodes headers into one reused buffer.
#[derive(Debug)]
pub struct FramedWriter {
    workload: Framed,
    head: Vec<u8>,
}

/// framed's receiving half: the sans-IO decoder of `bench-proto`.
pub struct FramedReader {
    verifier: Verifier,
    decoder: Decoder<ResponseHeader>,
    raw: bool,
}

impl StreamWorkload for Framed {
    type Writer = FramedWriter;
    type Reader = FramedReader;

    fn split(&self) -> (FramedWriter, FramedReader) {
        let limits = Limits {
            max_header: 64 * 1024,
            max_body: crate::config::MAX_SIZE,
        };
        (
            FramedWriter {
                workload: self.clone(),
                head: Vec::with_capacity(128),
            },
            FramedReader {
                verifier: self.verifier.clone(),
                decoder: Decoder::new(limits),
                raw: self.raw,
            },
        )
    }
}

impl FramedWriter {
    fn name(&self) -> CommandName {
        match self.workload.cmd {
            FramedCmd::Echo => CommandName::Echo,
            FramedCmd::Upper => CommandName::Upper,
            FramedCmd::Discard => CommandName::Discard,
            FramedCmd::Generate => CommandName::Generate,
            FramedCmd::Sleep => CommandName::Sleep,
        }
    }
}

impl RequestWriter for FramedWriter {
    fn encode(&mut self, req: &Request) -> [&[u8]; 3] {
        let cmd = self.workload.cmd;
        let body = if cmd.sends_body() {
            self.workload.verifier.pattern().payload(req)
        } else {
            &[]
        };
        self.head.clear();
        if self.workload.raw {
            // One command line: "upper abc...", "generate 100", "sleep 5".
            let _ = match cmd {
                FramedCmd::Generate => write!(self.head, "generate {}", req.size),
                FramedCmd::Sleep => write!(self.head, "sleep {}", self.workload.sleep_ms),
                _ => write!(self.head, "{} ", cmd.as_str()),
            };
            return [&self.head, body, &[]];
        }
        let mut header = RequestHeader::new(self.name(), req.id, body.len() as u64);
        match cmd {
            FramedCmd::Generate => header.size = Some(req.size as u64),
            FramedCmd::Sleep => header.ms = Some(self.workload.sleep_ms),
            _ => {}
        }
        bench_proto::encode_header(&header, &mut self.head).expect("request header encodes");
        let (prefix, json) = self.head.split_at(bench_proto::codec::PREFIX_LEN);
        [prefix, json, body]
    }
}

impl std::fmt::Debug for FramedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramedReader")
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

impl ReplyReader for FramedReader {
    fn read_buf(&mut self) -> &mut [u8] {
        self.decoder.read_buf()
    }

    fn filled(&mut self, n: usize) {
        self.decoder.filled(n);
    }

    fn take_reply(&mut self, req: &Request) -> Result<Option<usize>, Failure> {
        let frame = match self.decoder.decode() {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Failure::Protocol(format!("bad reply frame: {e}"))),
        };
        let header = &frame.header;
        if header.status == Status::Error {
            let text = header.error.as_deref().unwrap_or("(no message)");
            return Err(Failure::Protocol(format!(
                "server answered request {} with an error: {text}",
                header.id
            )));
        }
        // Raw requests carry no id: the server numbers them from 1 per connection.
        let want_id = if self.raw { req.id + 1 } else { req.id };
        if header.id != want_id {
            return Err(Failure::Protocol(format!(
                "reply has id {}, expected {want_id} (replies out of order)",
                header.id
            )));
        }
        let expected = self.verifier.expected(req);
        if frame.body.len() != expected.len {
            return Err(Failure::Mismatch(format!(
                "reply to request {} has a {}-byte body, expected {}",
                req.id,
                frame.body.len(),
                expected.len
            )));
        }
        match expected.content {
            Some(want) if want != frame.body => Err(Failure::Mismatch(describe_mismatch(
                req.id, want, frame.body, 0,
            ))),
            _ => Ok(Some(expected.len)),
        }
    }
}
