//! [`ReplyWriter`]: one response frame on its way out, as the slices
//! [`crate::session::Session::outgoing`] hands out, in the configured write mode, and how
//! far it got. It encodes headers; where the body is and what follows the frame is the
//! session's business.

use bench_proto::codec::PREFIX_LEN;
use bench_proto::{ResponseHeader, encode_header};

use crate::config::WriteMode;
use crate::protocol::command::{Body, PATTERN};
use crate::session::Outgoing;

/// Most copies of the `generate` pattern handed out at once: about 1 MiB per write,
/// far below IOV_MAX, and with the header within [`crate::session::MAX_SLICES`].
const COPIES: usize = 16;

/// The response frame being written.
pub(super) struct ReplyWriter {
    mode: WriteMode,
    /// Prefix + JSON of the frame (reused: most headers fit its first capacity).
    header: Vec<u8>,
    body: Body,
    body_len: usize,
    /// Bytes of the frame (header, then body) written so far.
    written: usize,
    active: bool,
}

impl ReplyWriter {
    pub(super) fn new(mode: WriteMode) -> Self {
        ReplyWriter {
            mode,
            header: Vec::with_capacity(128),
            body: Body::Empty,
            body_len: 0,
            written: 0,
            active: false,
        }
    }

    /// Starts writing a frame with `header` and `body_len` bytes of `body`.
    pub(super) fn start(&mut self, header: &ResponseHeader, body: Body, body_len: usize) {
        debug_assert!(!self.active, "one reply at a time");
        self.header.clear();
        // Our own header of plain fields and a clipped message always serialises.
        encode_header(header, &mut self.header).expect("a response header encodes");
        self.body = body;
        self.body_len = body_len;
        self.written = 0;
        self.active = true;
    }

    /// Where the body is.
    pub(super) fn body(&self) -> Body {
        self.body
    }

    /// What to write next. `bytes`: the body's bytes (`None` for a pattern body).
    /// Split mode hands out the prefix, the JSON and the body as separate parts;
    /// coalesced mode all that is left at once.
    pub(super) fn outgoing<'a>(&'a self, bytes: Option<&'a [u8]>) -> Outgoing<'a> {
        let mut out = Outgoing::none();
        if !self.active {
            return out;
        }
        let header_len = self.header.len();
        if self.written < header_len {
            let end = match self.mode {
                WriteMode::Split if self.written < PREFIX_LEN => PREFIX_LEN,
                WriteMode::Split => {
                    out.push(&self.header[self.written..]);
                    return out;
                }
                WriteMode::Coalesced => header_len,
            };
            out.push(&self.header[self.written..end]);
            if end < header_len {
                return out;
            }
        }
        let from = self.written.saturating_sub(header_len);
        match bytes {
            Some(bytes) => out.push(&bytes[from..self.body_len]),
            None => push_pattern(&mut out, from, self.body_len),
        }
        out
    }

    /// `n` more bytes went out; true when the frame is complete.
    pub(super) fn wrote(&mut self, n: usize) -> bool {
        self.written += n;
        debug_assert!(self.written <= self.header.len() + self.body_len);
        if self.written >= self.header.len() + self.body_len {
            self.active = false;
        }
        !self.active
    }
}

/// Bytes `from..len` of a `generate` body, as up to [`COPIES`] slices of [`PATTERN`]
/// (byte `i` of the body is `PATTERN[i % PATTERN.len()]`: copies join seamlessly).
fn push_pattern(out: &mut Outgoing<'_>, from: usize, len: usize) {
    let period = PATTERN.len();
    let mut at = from;
    for _ in 0..COPIES {
        if at >= len {
            break;
        }
        let offset = at % period;
        let take = (period - offset).min(len - at);
        out.push(&PATTERN[offset..offset + take]);
        at += take;
    }
}
