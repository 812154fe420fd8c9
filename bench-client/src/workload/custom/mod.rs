//! custom: a request/reply protocol described by a workload file (`run custom
//! --workload FILE.toml`, `docs/workloads.md`) instead of Rust code: request templates
//! picked by weight, and reply rules saying where a reply ends and what it must match.
//!
//! Owns: turning a [`Spec`] into a [`StreamWorkload`] (per-connection writer and reader)
//! and checking UDP replies ([`CustomReader::take_datagram`]). Must not touch: sockets
//! and time (the engine's), the file format (`spec`).
//!
//! - `schema`: the TOML keys as serde types; `spec`: their checks, into a [`Spec`].
//! - `template`: request bytes with escapes and fields.
//! - `reply`: reply framing and checks.
//! - `pick`: the seeded weighted choice and `{rand:N}` bytes.
//!
//! Both halves derive which request a sequence number sends (and its random bytes)
//! from the seed, so the reader knows each request's reply rule without a shared queue.

pub mod pick;
pub mod reply;
mod schema;
pub mod spec;
pub mod template;

use std::sync::Arc;

use regex::bytes::CaptureLocations;

use self::reply::{CheckFailure, Framed, Framing, MAX_REPLY, Scan, show};
use self::spec::{Spec, Step, Transport};
use self::template::Ctx;
use super::{Failure, Pattern, ReplyReader, Request, RequestWriter, StreamWorkload};

/// A workload file, checked, with the payload pattern `{size}` is cut from.
#[derive(Debug, Clone)]
pub struct Custom {
    spec: Arc<Spec>,
    pattern: Arc<Pattern>,
}

impl Custom {
    /// The workload `spec` describes.
    pub fn new(spec: Spec, pattern: Arc<Pattern>) -> Custom {
        Custom {
            spec: Arc::new(spec),
            pattern,
        }
    }

    /// TCP or UDP.
    pub fn transport(&self) -> Transport {
        self.spec.transport
    }

    /// The halves of connection (or UDP socket) `conn`.
    pub fn halves(&self, conn: usize) -> (CustomWriter, CustomReader) {
        let conn = conn as u64;
        let writer = CustomWriter {
            workload: self.clone(),
            conn,
            hello_pending: self.spec.hello.is_some(),
            head: Vec::with_capacity(256),
            tail: Vec::with_capacity(64),
        };
        // The reader owns its copy of the rules: a cloned regex gets its own match cache,
        // so connections on other threads never wait on one another's.
        let spec = (*self.spec).clone();
        // One set of capture slots per step (hello last): a regex fills only its own.
        let locs = spec
            .requests
            .iter()
            .chain(&spec.hello)
            .map(|s| match &s.reply.framing {
                Framing::Header(h) => h.regex.capture_locations(),
                _ => no_captures(),
            })
            .collect();
        let reader = CustomReader {
            hello_pending: spec.hello.is_some(),
            spec,
            pattern: self.pattern.clone(),
            conn,
            buf: vec![0; RECV_BUF],
            start: 0,
            end: 0,
            scan: Scan::default(),
            locs,
            scratch: Vec::with_capacity(256),
        };
        (writer, reader)
    }
}

impl StreamWorkload for Custom {
    type Writer = CustomWriter;
    type Reader = CustomReader;

    fn split(&self, conn: usize) -> (CustomWriter, CustomReader) {
        self.halves(conn)
    }
}

/// The request context of `req` on `conn`.
fn ctx<'a>(spec: &Spec, pattern: &'a Pattern, conn: u64, req: &Request) -> Ctx<'a> {
    Ctx {
        seed: spec.seed,
        conn,
        seq: req.id,
        payload: pattern.payload(req),
    }
}

/// custom's sending half: renders requests into two reused buffers around the payload.
#[derive(Debug)]
pub struct CustomWriter {
    workload: Custom,
    conn: u64,
    hello_pending: bool,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl RequestWriter for CustomWriter {
    fn encode(&mut self, req: &Request) -> [&[u8]; 3] {
        let spec = &*self.workload.spec;
        let ctx = ctx(spec, &self.workload.pattern, self.conn, req);
        self.head.clear();
        self.tail.clear();
        if self.hello_pending {
            self.hello_pending = false;
            if let Some(hello) = &spec.hello {
                hello.send.render(&ctx, &mut self.head);
            }
        }
        let step = &spec.requests[spec.picker.pick(self.conn, req.id)];
        match step.split {
            Some(at) => {
                step.send.render_range(0, at, &ctx, &mut self.head);
                step.send
                    .render_range(at + 1, step.send.len(), &ctx, &mut self.tail);
                [&self.head, ctx.payload, &self.tail]
            }
            None => {
                step.send.render(&ctx, &mut self.head);
                [&self.head, &[], &[]]
            }
        }
    }
}

/// Receive buffer to start with; it grows for a reply that does not fit, up to
/// [`MAX_REPLY`].
const RECV_BUF: usize = 16 * 1024;

/// Least free space a read gets, so a nearly full buffer is not read a few bytes at a time.
const MIN_READ: usize = 4 * 1024;

/// custom's receiving half: frames replies in its own buffer and checks them.
#[derive(Debug)]
pub struct CustomReader {
    spec: Spec,
    pattern: Arc<Pattern>,
    conn: u64,
    hello_pending: bool,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    scan: Scan,
    /// Capture slots per step, hello last.
    locs: Vec<CaptureLocations>,
    /// Rendered requests (echo lengths) and expected prefixes.
    scratch: Vec<u8>,
}

impl ReplyReader for CustomReader {
    fn read_buf(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < MIN_READ {
            // Nearly full: move the partial reply to the front, and grow the buffer if the
            // reply alone nearly fills it (a reply is framed only once it is all here).
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end < MIN_READ {
                let grown = (self.buf.len() * 2).min(MAX_REPLY + RECV_BUF);
                self.buf.resize(grown, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    fn filled(&mut self, n: usize) {
        self.end += n;
    }

    fn take_reply(&mut self, req: &Request) -> Result<Option<usize>, Failure> {
        if self.hello_pending {
            let Some(result) = self.take(req, None)? else {
                return Ok(None);
            };
            self.hello_pending = false;
            result.map_err(|f| Failure::Protocol(format!("hello: {}", message(&f))))?;
        }
        let step = self.spec.picker.pick(self.conn, req.id);
        match self.take(req, Some(step))? {
            None => Ok(None),
            Some(Ok(len)) => Ok(Some(len)),
            Some(Err(failure)) => Err(failure),
        }
    }
}

/// Capture slots for a step without a header regex (never filled).
fn no_captures() -> CaptureLocations {
    regex::bytes::Regex::new("")
        .expect("empty regex")
        .capture_locations()
}

fn message(failure: &Failure) -> &str {
    match failure {
        Failure::Mismatch(m) | Failure::Protocol(m) | Failure::Server(m) => m,
    }
}

impl CustomReader {
    /// Frames and checks the reply to `req` (`step`: the request it sent, `None`: the
    /// hello). Outer `Err`: the stream is lost; `Some(Err)`: this reply failed, and was
    /// consumed.
    fn take(
        &mut self,
        req: &Request,
        step: Option<usize>,
    ) -> Result<Option<Result<usize, Failure>>, Failure> {
        let spec = &self.spec;
        let index = step.unwrap_or(spec.requests.len());
        let step: &Step = match step {
            Some(i) => &spec.requests[i],
            None => spec.hello.as_ref().expect("a hello is pending"),
        };
        let ctx = ctx(spec, &self.pattern, self.conn, req);
        let echo_len = match step.reply.framing {
            Framing::Echo => {
                self.scratch.clear();
                step.send.render(&ctx, &mut self.scratch);
                self.scratch.len()
            }
            _ => 0,
        };
        let buffered = &self.buf[self.start..self.end];
        let framed = step
            .reply
            .frame(buffered, echo_len, &mut self.scan, &mut self.locs[index])
            .map_err(|e| {
                Failure::Protocol(format!("reply to request {} ({}): {e}", req.id, step.name))
            })?;
        let Some(framed) = framed else {
            if buffered.len() > MAX_REPLY {
                return Err(Failure::Protocol(format!(
                    "reply to request {} ({}) is longer than {MAX_REPLY} bytes",
                    req.id, step.name
                )));
            }
            return Ok(None);
        };
        self.scan = Scan::default();
        let (len, checked) = match framed {
            Framed::ErrorLine(len) => (len, Err(CheckFailure::Server)),
            Framed::Reply(len) => {
                let reply = &buffered[..len];
                (len, step.reply.check(reply, &ctx, &mut self.scratch))
            }
        };
        let reply = &buffered[..len];
        let result = match checked {
            Ok(()) => Ok(len),
            Err(CheckFailure::Server) => Err(Failure::Server(format!(
                "request {} ({}) got {}",
                req.id,
                step.name,
                show(reply)
            ))),
            Err(CheckFailure::Mismatch(why)) => Err(Failure::Mismatch(format!(
                "reply to request {} ({}) {why}: got {}",
                req.id,
                step.name,
                show(reply)
            ))),
        };
        self.start += len;
        Ok(Some(result))
    }

    /// UDP: checks one whole datagram as the reply to `req`; it must be exactly one
    /// reply by the request's rule (a rule-less UDP reply is the whole datagram).
    pub fn take_datagram(&mut self, req: &Request, datagram: &[u8]) -> Result<usize, Failure> {
        self.start = 0;
        self.end = 0;
        self.scan = Scan::default();
        if self.buf.len() < datagram.len() {
            self.buf.resize(datagram.len(), 0);
        }
        self.buf[..datagram.len()].copy_from_slice(datagram);
        self.end = datagram.len();
        let step = self.spec.picker.pick(self.conn, req.id);
        match self.take(req, Some(step))? {
            None => Err(Failure::Protocol(format!(
                "datagram {} of {} bytes is shorter than its reply",
                req.id,
                datagram.len()
            ))),
            Some(Ok(len)) if len != datagram.len() => Err(Failure::Protocol(format!(
                "datagram {} of {} bytes holds a {len}-byte reply and more",
                req.id,
                datagram.len()
            ))),
            Some(result) => result,
        }
    }

    /// UDP: the bytes of the datagram for `req` (rendered whole, into `out`).
    pub fn render_datagram(workload: &Custom, conn: usize, req: &Request, out: &mut Vec<u8>) {
        let spec = &*workload.spec;
        let ctx = ctx(spec, &workload.pattern, conn as u64, req);
        out.clear();
        spec.requests[spec.picker.pick(conn as u64, req.id)]
            .send
            .render(&ctx, out);
    }
}
