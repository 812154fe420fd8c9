//! tcp-echo: raw bytes out, the same bytes back; replies are cut by length, so any
//! split or merge of the stream is fine.

use super::{
    Failure, ReplyReader, Request, RequestWriter, StreamWorkload, Verifier, describe_mismatch,
};

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
/// needs only a small receive buffer. The buffer starts at [`RECV_MIN`] (a 64 B echo
/// needs no more), doubles while reads fill it (up to [`RECV_MAX`]) and halves back
/// when reads use less than a quarter of it, so memory follows the replies.
#[derive(Debug)]
pub struct TcpEchoReader {
    verifier: Verifier,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Free space offered by the last `read_buf`.
    offered: usize,
    /// Bytes of the current reply already consumed.
    done: usize,
    /// First difference in the current reply.
    mismatch: Option<String>,
}

/// The receive buffer's first and smallest size.
pub const RECV_MIN: usize = 512;
/// The receive buffer's largest size.
pub const RECV_MAX: usize = 64 * 1024;

impl StreamWorkload for TcpEcho {
    type Writer = TcpEchoWriter;
    type Reader = TcpEchoReader;

    fn split(&self, _conn: usize) -> (TcpEchoWriter, TcpEchoReader) {
        (
            TcpEchoWriter {
                verifier: self.verifier.clone(),
            },
            TcpEchoReader {
                verifier: self.verifier.clone(),
                buf: vec![0; RECV_MIN],
                start: 0,
                end: 0,
                offered: 0,
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
        } else if self.end == self.buf.len() {
            // Only part of a reply is left: move it to the front.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.offered = self.buf.len() - self.end;
        &mut self.buf[self.end..]
    }

    fn filled(&mut self, n: usize) {
        self.end += n;
        let len = self.buf.len();
        if n == self.offered && len < RECV_MAX {
            // The read took all it was offered: more was waiting.
            self.buf.resize(len * 2, 0);
        } else if n < len / 4 && len > RECV_MIN && self.end <= len / 2 {
            self.buf.truncate(len / 2);
            self.buf.shrink_to_fit();
        }
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
