//! framed: the length-prefixed command protocol (DESIGN.md section 2), or with `raw`
//! command lines out and frames back. Replies are decoded by bench-proto's sans-IO
//! decoder and checked against the request they answer (id, status, body).

use std::io::Write as _;

use bench_proto::{CommandName, Decoder, Limits, RequestHeader, ResponseHeader, Status};

use crate::config::{FramedCmd, RequestFormat, RunConfig};

use super::{
    Failure, ReplyReader, Request, RequestWriter, StreamWorkload, Verifier, describe_mismatch,
};

/// The length-prefixed command protocol (or, with `raw`, command lines out and frames
/// back).
#[derive(Debug, Clone)]
pub struct Framed {
    verifier: Verifier,
    cmd: FramedCmd,
    sleep_ms: u64,
    raw: bool,
    /// `--write-mode split`: prefix, header and body in separate writes.
    split: bool,
    /// The reply decoder's read chunk: room for a pipeline of the largest replies.
    read_chunk: usize,
}

impl Framed {
    /// The framed workload a config describes.
    pub fn new(config: &RunConfig, verifier: Verifier) -> Framed {
        Framed {
            verifier,
            cmd: config.cmd,
            sleep_ms: config.sleep.0.as_millis() as u64,
            raw: config.requests == RequestFormat::Raw,
            split: config.write_mode == bench_server::WriteMode::Split
                && config.requests == RequestFormat::Framed,
            read_chunk: read_chunk(config),
        }
    }
}

/// A reply is its header (well under [`REPLY_HEADER`] bytes) and its body; the decoder
/// offers room for a whole pipeline of them, at least 512 B and at most 16 KiB (the
/// decoder's default), so a 64 B echo keeps a small buffer per connection and a read
/// shorter than the room offered means drained.
fn read_chunk(config: &RunConfig) -> usize {
    let reply = REPLY_HEADER + config.size.max.as_usize();
    (reply.saturating_mul(config.pipeline) + 1)
        .next_power_of_two()
        .clamp(512, 16 * 1024)
}

/// Room for one reply's prefix and JSON header.
const REPLY_HEADER: usize = 128;

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

    fn split_writes(&self) -> bool {
        self.split
    }

    fn split(&self, _conn: usize) -> (FramedWriter, FramedReader) {
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
                decoder: Decoder::new(limits).with_read_chunk(self.read_chunk),
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
