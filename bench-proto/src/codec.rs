//! The length-prefixed framed codec.
//!
//! ```text
//! +----------------------+---------------------------+---------------------------+
//! | header_len: u32 LE   | header: UTF-8 JSON object | body: header.total_size B |
//! +----------------------+---------------------------+---------------------------+
//! ```
//!
//! TCP delivers a byte stream, not messages: one read may hold several frames or a piece
//! of one. [`Decoder`] owns the receive buffer, so callers read straight into it
//! ([`Decoder::read_buf`] + [`Decoder::filled`]) or copy chunks in ([`Decoder::feed`]),
//! then call [`Decoder::decode`] until it returns `Ok(None)`. Limits are checked as soon
//! as each length is known, before the buffer grows for the frame.
//!
//! Writing is left to the caller: [`encode_header`] produces prefix + header in a reused
//! buffer, and the body goes out beside it (one vectored write, or separate writes).

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, EncodeError};
use crate::limits::Limits;

/// Length of the `header_len` prefix.
pub const PREFIX_LEN: usize = 4;

/// How much free space [`Decoder::read_buf`] offers at least: 16 KiB takes many small
/// frames (or a good piece of a large one) per read, and is what an idle connection's
/// buffer shrinks back to.
const READ_CHUNK: usize = 16 * 1024;

/// Most the buffer grows ahead of the bytes that actually arrived, while a body is
/// incomplete; keeps a lying `total_size` from reserving memory up front.
const MAX_READ_AHEAD: usize = 256 * 1024;

/// An empty buffer larger than this is shrunk back, so an idle connection that once
/// carried a 16 MiB frame does not keep 16 MiB.
const SHRINK_ABOVE: usize = 1024 * 1024;

/// With a read chunk below [`READ_CHUNK`]: the size above which an empty buffer is
/// shrunk back to the chunk.
const SMALL_SHRINK_ABOVE: usize = 64 * 1024;

/// A header type the decoder can read: it must say how long the body is.
pub trait FrameHeader: DeserializeOwned {
    /// Length of the body following the header, in bytes.
    fn total_size(&self) -> u64;
    /// The request id, echoed in error frames.
    fn id(&self) -> u64;
}

/// One decoded frame. The body borrows the decoder's buffer until the next `decode`.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a, H> {
    /// The parsed JSON header.
    pub header: H,
    /// Exactly `header.total_size()` bytes.
    pub body: &'a [u8],
}

enum State<H> {
    /// Waiting for the prefix and the header.
    Header,
    /// Header parsed (and consumed); waiting for `len` body bytes.
    Body { header: H, len: usize },
}

/// Incremental decoder of frames with headers of type `H`.
///
/// ```
/// use bench_proto::{CommandName, Decoder, Limits, RequestHeader, encode_frame};
/// let mut wire = Vec::new();
/// encode_frame(&RequestHeader::new(CommandName::Echo, 1, 5), b"hello", &mut wire).unwrap();
///
/// let mut dec = Decoder::<RequestHeader>::new(Limits::default());
/// dec.feed(&wire[..3]);
/// assert!(dec.decode().unwrap().is_none()); // need more bytes
/// dec.feed(&wire[3..]);
/// let frame = dec.decode().unwrap().unwrap();
/// assert_eq!(frame.header.id, 1);
/// assert_eq!(frame.body, b"hello");
/// assert_eq!(dec.last_body(), b"hello");
/// ```
pub struct Decoder<H> {
    limits: Limits,
    /// Zero-initialised storage; `start..end` holds received, undecoded bytes.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Body length of the frame returned last, released on the next `decode`.
    consumed: usize,
    state: State<H>,
    /// The free space `read_buf` offers at least (and what an idle buffer shrinks back
    /// to): [`READ_CHUNK`] unless [`Decoder::with_read_chunk`] says otherwise.
    read_chunk: usize,
    _header: PhantomData<fn() -> H>,
}

impl<H: FrameHeader> Decoder<H> {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            buf: Vec::new(),
            start: 0,
            end: 0,
            consumed: 0,
            state: State::Header,
            read_chunk: READ_CHUNK,
            _header: PhantomData,
        }
    }

    /// The same decoder offering at least `chunk` bytes per read (at least 64): a
    /// client that expects small replies keeps a small buffer per connection; large
    /// frames still grow it (and it shrinks back to `chunk` when idle).
    pub fn with_read_chunk(mut self, chunk: usize) -> Self {
        self.read_chunk = chunk.max(64);
        self
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// True when no partial frame is buffered: every byte received so far has been
    /// returned as part of a frame. A peer closing here closed cleanly.
    pub fn at_frame_boundary(&self) -> bool {
        matches!(self.state, State::Header) && self.start + self.consumed == self.end
    }

    /// The header and body length of a frame whose header is decoded but whose body has
    /// not all arrived yet (so a server can budget for the body before reading it).
    pub fn pending_body(&self) -> Option<(&H, usize)> {
        match &self.state {
            State::Body { header, len } => Some((header, *len)),
            State::Header => None,
        }
    }

    /// The body of the frame [`Decoder::decode`] returned last, still readable until the
    /// next `decode`, `read_buf` or `feed` (empty when there is none): a server that
    /// writes the body back (echo) holds no borrow across its own calls.
    pub fn last_body(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.consumed]
    }

    /// Free space to read into; call [`Decoder::filled`] with the number of bytes read.
    pub fn read_buf(&mut self) -> &mut [u8] {
        self.reserve(self.read_chunk);
        &mut self.buf[self.end..]
    }

    /// Marks `n` bytes of the slice returned by [`Decoder::read_buf`] as received.
    ///
    /// # Panics
    /// When `n` exceeds the free space offered.
    pub fn filled(&mut self, n: usize) {
        assert!(self.end + n <= self.buf.len(), "filled past read_buf");
        self.end += n;
    }

    /// Copies `bytes` into the buffer (for callers that already hold the bytes).
    pub fn feed(&mut self, bytes: &[u8]) {
        self.reclaim(bytes.len());
        // Fill the free space, then append the rest: growing with `resize` first would
        // zero-fill bytes only to overwrite them at once. The buffer grows only by what
        // arrived, so no read-ahead is needed here.
        let in_place = bytes.len().min(self.buf.len() - self.end);
        let (head, tail) = bytes.split_at(in_place);
        self.buf[self.end..self.end + in_place].copy_from_slice(head);
        self.buf.extend_from_slice(tail);
        self.end += bytes.len();
    }

    /// Returns the next whole frame, `Ok(None)` when more bytes are needed, or the reason
    /// the stream is invalid. After an error the decoder must not be used again.
    pub fn decode(&mut self) -> Result<Option<Frame<'_, H>>, DecodeError> {
        self.start += std::mem::take(&mut self.consumed);
        if let State::Header = self.state {
            let Some((header, header_end)) = self.decode_header()? else {
                return Ok(None);
            };
            let len = header.total_size();
            self.limits.check_body_len(header.id(), len)?;
            self.start += header_end;
            // `len <= max_body`, which the caller chose to fit in memory.
            let len = usize::try_from(len).expect("max_body fits in usize");
            self.state = State::Body { header, len };
        }
        let State::Body { len, .. } = self.state else {
            unreachable!("header state handled above")
        };
        if self.end - self.start < len {
            return Ok(None);
        }
        let State::Body { header, len } = std::mem::replace(&mut self.state, State::Header) else {
            unreachable!("checked above")
        };
        self.consumed = len;
        Ok(Some(Frame {
            header,
            body: &self.buf[self.start..self.start + len],
        }))
    }

    /// Parses prefix + header when both are complete; returns the header and the number
    /// of bytes they take.
    fn decode_header(&self) -> Result<Option<(H, usize)>, DecodeError> {
        let avail = &self.buf[self.start..self.end];
        let Some(prefix) = avail.first_chunk::<PREFIX_LEN>() else {
            return Ok(None);
        };
        let header_len = u32::from_le_bytes(*prefix);
        self.limits.check_header_len(header_len)?;
        let frame_header_end = PREFIX_LEN + header_len as usize;
        if avail.len() < frame_header_end {
            return Ok(None);
        }
        let header = parse_header(&avail[PREFIX_LEN..frame_header_end])?;
        Ok(Some((header, frame_header_end)))
    }

    /// Makes at least `additional` bytes free after `end`, reclaiming consumed space
    /// first.
    fn reserve(&mut self, additional: usize) {
        self.reclaim(additional);
        let mut want = self.end + additional;
        if let State::Body { len, .. } = self.state {
            // Read a large body in big gulps, but only grow ahead of what has arrived by
            // a bounded amount.
            let missing = len.saturating_sub(self.end - self.start);
            want = want.max(self.end + missing.min(MAX_READ_AHEAD));
        }
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
    }

    /// Releases the bytes of the frame returned last, rewinds an empty buffer (shrinking
    /// a large one), and moves undecoded bytes to the front when fewer than `additional`
    /// bytes are free after them.
    fn reclaim(&mut self, additional: usize) {
        self.start += std::mem::take(&mut self.consumed);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            // A small chunk (a client expecting small frames) shrinks back sooner, but
            // not so soon that a steady stream of mid-sized batches reallocates.
            let above = if self.read_chunk < READ_CHUNK {
                SMALL_SHRINK_ABOVE.max(4 * self.read_chunk)
            } else {
                SHRINK_ABOVE
            };
            if self.buf.len() > above && matches!(self.state, State::Header) {
                self.buf = vec![0; self.read_chunk];
            }
        } else if self.start > 0 && self.buf.len() - self.end < additional {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }
}

/// Parses header bytes, telling "not JSON" from "JSON but not an object" from "an object
/// with a bad field".
fn parse_header<H: DeserializeOwned>(bytes: &[u8]) -> Result<H, DecodeError> {
    serde_json::from_slice(bytes).map_err(|cause| {
        use serde_json::error::Category;
        match cause.classify() {
            Category::Data => match json_kind(bytes) {
                Some(found) => DecodeError::HeaderNotObject { found },
                None => DecodeError::BadField {
                    id: lenient_id(bytes),
                    cause,
                },
            },
            _ => DecodeError::InvalidJson { cause },
        }
    })
}

/// For syntactically valid JSON that failed to deserialize: what it is, if not an object.
fn json_kind(bytes: &[u8]) -> Option<&'static str> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    match first {
        b'{' => None,
        b'[' => Some("an array"),
        b'"' => Some("a string"),
        b't' | b'f' => Some("a boolean"),
        b'n' => Some("null"),
        _ => Some("a number"),
    }
}

/// The `id` of a header that failed to parse, if it is there and a u64.
fn lenient_id(bytes: &[u8]) -> u64 {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: u64,
    }
    serde_json::from_slice::<IdOnly>(bytes).map_or(0, |h| h.id)
}

/// Appends the length prefix and the JSON header to `out` (the body is the caller's).
///
/// ```
/// use bench_proto::{ResponseHeader, encode_header};
/// let mut out = Vec::new();
/// encode_header(&ResponseHeader::ok(1, 0), &mut out).unwrap();
/// assert_eq!(&out[..4], &(out.len() as u32 - 4).to_le_bytes());
/// ```
pub fn encode_header<T: Serialize>(header: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let prefix_at = out.len();
    out.extend_from_slice(&[0; PREFIX_LEN]);
    serde_json::to_writer(&mut *out, header).map_err(EncodeError::Json)?;
    let len = out.len() - prefix_at - PREFIX_LEN;
    let len_u32 = u32::try_from(len).map_err(|_| EncodeError::HeaderTooLong { len })?;
    out[prefix_at..prefix_at + PREFIX_LEN].copy_from_slice(&len_u32.to_le_bytes());
    Ok(())
}

/// Appends a whole frame (prefix, header, body) to `out`.
pub fn encode_frame<T: Serialize>(
    header: &T,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode_header(header, out)?;
    out.extend_from_slice(body);
    Ok(())
}
