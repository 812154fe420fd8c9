//! Reply rules of a custom workload: where a reply ends in the byte stream ([`Framing`],
//! optionally repeated [`Rule::until`] a terminator), and what a whole reply must look
//! like (`error`, `expect`). Pure functions over buffered bytes: `Ok(None)` means more
//! bytes are needed, so any split of the stream frames the same.
//!
//! Owns: framing and checking one reply. Must not touch: the receive buffer's life
//! (the reader in `custom`), request choice, sockets.

use regex::bytes::{CaptureLocations, Regex};

use super::template::{Ctx, Template};

/// Longest reply (all parts) the client buffers: the largest `--size` plus room for
/// headers.
pub const MAX_REPLY: usize = crate::config::MAX_SIZE as usize + 64 * 1024;

/// Most bytes a `header` regex is tried on before the reply counts as a protocol error.
pub const MAX_HEADER: usize = 64 * 1024;

/// A `length_prefix` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LengthPrefix {
    /// Where the field starts in the reply.
    pub offset: usize,
    /// Its width in bytes, 1 to 8.
    pub width: usize,
    /// Network byte order.
    pub big: bool,
    /// Added to `offset + width + value` to get the reply's length.
    pub adjust: i64,
}

/// A `header` rule: the reply starts with a match of `regex`, whose first group is a
/// decimal N; `body = "N+K"` bytes follow the match (none when N < 0, RESP's nil).
#[derive(Debug, Clone)]
pub struct Header {
    /// Anchored at the reply's start.
    pub regex: Regex,
    /// K in `body = "N+K"` (negative for `N-K`).
    pub add: i64,
}

/// Where one part of a reply ends.
#[derive(Debug, Clone)]
pub enum Framing {
    /// Exactly this many bytes.
    Fixed(usize),
    /// As many bytes as the request had.
    Echo,
    /// Up to and including the first occurrence of these bytes (never empty).
    Delimiter(Vec<u8>),
    /// A length field in the reply says.
    LengthPrefix(LengthPrefix),
    /// A header line says.
    Header(Header),
    /// UDP without a rule: the whole datagram.
    Datagram,
}

/// What a whole reply must match.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Somewhere in the reply (anchor it with `^` for a prefix).
    Regex(Regex),
    /// The reply starts with these bytes, rendered like the request (same `{seq}`,
    /// `{size}`, `{rand:N}`).
    Prefix(Template),
}

/// How one request's reply is framed and checked.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where a part ends.
    pub framing: Framing,
    /// Multi-part replies: parts repeat until these bytes come where a part would start;
    /// they end the reply.
    pub until: Option<Vec<u8>>,
    /// What a right reply looks like (else `mismatch`).
    pub expect: Option<Expect>,
    /// A reply matching this is a server error (kind `server`).
    pub error: Option<Regex>,
}

/// How far framing the current reply got; kept across calls, so bytes are scanned once.
#[derive(Debug, Default, Clone, Copy)]
pub struct Scan {
    /// Bytes of the parts already framed.
    done: usize,
    /// Delimiter: bytes of the current part already searched.
    searched: usize,
}

/// A framed reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framed {
    /// A reply of this many bytes.
    Reply(usize),
    /// A line of this many bytes that the header rule could not read but `error`
    /// matches: a server error in place of the reply.
    ErrorLine(usize),
}

impl Rule {
    /// Frames the reply at the start of `buf` (`echo_len`: the request's length).
    pub fn frame(
        &self,
        buf: &[u8],
        echo_len: usize,
        scan: &mut Scan,
        locs: &mut CaptureLocations,
    ) -> Result<Option<Framed>, String> {
        loop {
            let rest = &buf[scan.done..];
            if let Some(until) = &self.until {
                if rest.len() < until.len() && until.starts_with(rest) {
                    return Ok(None);
                }
                if rest.starts_with(until) {
                    return Ok(Some(Framed::Reply(scan.done + until.len())));
                }
            }
            let part = match self.frame_part(rest, echo_len, &mut scan.searched, locs)? {
                None => return Ok(None),
                Some(Framed::ErrorLine(n)) => return Ok(Some(Framed::ErrorLine(scan.done + n))),
                Some(Framed::Reply(n)) => n,
            };
            scan.searched = 0;
            if self.until.is_none() {
                return Ok(Some(Framed::Reply(part)));
            }
            scan.done += part;
            if scan.done > MAX_REPLY {
                return Err(format!("reply has more than {MAX_REPLY} bytes of parts"));
            }
        }
    }

    fn frame_part(
        &self,
        rest: &[u8],
        echo_len: usize,
        searched: &mut usize,
        locs: &mut CaptureLocations,
    ) -> Result<Option<Framed>, String> {
        let whole = |len: usize| (rest.len() >= len).then_some(Framed::Reply(len));
        match &self.framing {
            Framing::Fixed(n) => Ok(whole(*n)),
            Framing::Echo => Ok(whole(echo_len)),
            Framing::Delimiter(delim) => Ok(find(rest, delim, searched).map(Framed::Reply)),
            Framing::LengthPrefix(prefix) => prefix.frame(rest).map(|len| len.and_then(whole)),
            Framing::Header(header) => header.frame(rest, self.error.as_ref(), locs),
            Framing::Datagram => Ok(Some(Framed::Reply(rest.len()))),
        }
    }

    /// Checks a whole reply: a server error, or a mismatch against `expect`. `scratch`
    /// takes the rendered prefix.
    pub fn check(
        &self,
        reply: &[u8],
        ctx: &Ctx<'_>,
        scratch: &mut Vec<u8>,
    ) -> Result<(), CheckFailure> {
        if let Some(error) = &self.error
            && error.is_match(reply)
        {
            return Err(CheckFailure::Server);
        }
        match &self.expect {
            None => Ok(()),
            Some(Expect::Regex(regex)) if regex.is_match(reply) => Ok(()),
            Some(Expect::Regex(regex)) => Err(CheckFailure::Mismatch(format!(
                "does not match expect regex `{}`",
                regex.as_str()
            ))),
            Some(Expect::Prefix(template)) => {
                scratch.clear();
                template.render(ctx, scratch);
                match scratch.iter().zip(reply).position(|(a, b)| a != b) {
                    None if reply.len() >= scratch.len() => Ok(()),
                    None => Err(CheckFailure::Mismatch(format!(
                        "is {} bytes, shorter than its expected prefix of {}",
                        reply.len(),
                        scratch.len()
                    ))),
                    Some(at) => Err(CheckFailure::Mismatch(format!(
                        "differs from its expected prefix at byte {at}: expected {}",
                        show(&scratch[at..])
                    ))),
                }
            }
        }
    }
}

/// Why a whole reply is not a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckFailure {
    /// It matches `error`.
    Server,
    /// It does not match `expect` (what is wrong).
    Mismatch(String),
}

impl LengthPrefix {
    /// The reply's length, once the field has arrived.
    fn frame(&self, rest: &[u8]) -> Result<Option<usize>, String> {
        let field_end = self.offset + self.width;
        let Some(field) = rest.get(self.offset..field_end) else {
            return Ok(None);
        };
        let mut value: u64 = 0;
        for i in 0..self.width {
            let byte = if self.big {
                field[i]
            } else {
                field[self.width - 1 - i]
            };
            value = (value << 8) | u64::from(byte);
        }
        let len = (field_end as i128) + i128::from(value) + i128::from(self.adjust);
        if len < field_end as i128 {
            return Err(format!(
                "length prefix {value} (adjust {}) ends the reply inside its own prefix",
                self.adjust
            ));
        }
        if len > MAX_REPLY as i128 {
            return Err(format!(
                "length prefix {value} announces a reply above {MAX_REPLY} bytes"
            ));
        }
        Ok(Some(len as usize))
    }
}

impl Header {
    fn frame(
        &self,
        rest: &[u8],
        error: Option<&Regex>,
        locs: &mut CaptureLocations,
    ) -> Result<Option<Framed>, String> {
        let window = &rest[..rest.len().min(MAX_HEADER)];
        if self.regex.captures_read(locs, window).is_some() {
            let (_, end) = locs.get(0).expect("a match has group 0");
            let n = locs
                .get(1)
                .and_then(|(a, b)| std::str::from_utf8(&window[a..b]).ok())
                .and_then(|text| text.parse::<i64>().ok())
                .ok_or_else(|| {
                    format!(
                        "header {} does not carry a decimal length in group 1",
                        show(&window[..end])
                    )
                })?;
            let body = if n < 0 { 0 } else { n.saturating_add(self.add) };
            let len = end as i64 + body.max(0);
            if len > MAX_REPLY as i64 {
                return Err(format!("header announces a reply above {MAX_REPLY} bytes"));
            }
            return Ok((rest.len() as i64 >= len).then_some(Framed::Reply(len as usize)));
        }
        // No match yet: a whole line that does not match never will.
        if let Some(nl) = window.iter().position(|&b| b == b'\n') {
            let line = &window[..=nl];
            if error.is_some_and(|e| e.is_match(line)) {
                return Ok(Some(Framed::ErrorLine(nl + 1)));
            }
            return Err(format!(
                "reply {} does not start with a header matching `{}`",
                show(line),
                self.regex.as_str()
            ));
        }
        if window.len() == MAX_HEADER {
            return Err(format!(
                "no header matching `{}` in the first {MAX_HEADER} bytes",
                self.regex.as_str()
            ));
        }
        Ok(None)
    }
}

/// The end of the first `delim` in `rest`, searching from where the last call stopped.
fn find(rest: &[u8], delim: &[u8], searched: &mut usize) -> Option<usize> {
    let from = searched.saturating_sub(delim.len() - 1);
    let found = rest[from..]
        .windows(delim.len())
        .position(|w| w == delim)
        .map(|i| from + i + delim.len());
    if found.is_none() {
        *searched = rest.len();
    }
    found
}

/// Up to 64 bytes, escaped, in quotes: a reply sample for an error message.
pub fn show(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(64)];
    let more = if bytes.len() > 64 { "..." } else { "" };
    format!("\"{}{more}\"", cut.escape_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(framing: Framing) -> Rule {
        Rule {
            framing,
            until: None,
            expect: None,
            error: None,
        }
    }

    fn frame(rule: &Rule, buf: &[u8]) -> Result<Option<Framed>, String> {
        let mut locs = Regex::new("(x)").unwrap().capture_locations();
        if let Framing::Header(h) = &rule.framing {
            locs = h.regex.capture_locations();
        }
        rule.frame(buf, 3, &mut Scan::default(), &mut locs)
    }

    fn resp_bulk() -> Rule {
        let regex = Regex::new(r"^(?:\$(-?\d+)\r\n)").unwrap();
        rule(Framing::Header(Header { regex, add: 2 }))
    }

    #[test]
    fn every_prefix_of_a_reply_needs_more_and_the_whole_frames() {
        let cases: Vec<(Rule, &[u8])> = vec![
            (rule(Framing::Fixed(4)), b"abcd"),
            (rule(Framing::Echo), b"abc"),
            (rule(Framing::Delimiter(b"\r\n".to_vec())), b"+PONG\r\n"),
            (
                rule(Framing::LengthPrefix(LengthPrefix {
                    offset: 1,
                    width: 2,
                    big: true,
                    adjust: 0,
                })),
                b"T\x00\x02hi",
            ),
            (resp_bulk(), b"$3\r\nabc\r\n"),
        ];
        for (rule, reply) in cases {
            for cut in 0..reply.len() {
                assert_eq!(
                    frame(&rule, &reply[..cut]),
                    Ok(None),
                    "{reply:?} cut at {cut}"
                );
            }
            let mut more = reply.to_vec();
            more.extend_from_slice(b"next");
            assert_eq!(frame(&rule, &more), Ok(Some(Framed::Reply(reply.len()))));
        }
    }

    #[test]
    fn a_negative_header_length_has_no_body() {
        assert_eq!(frame(&resp_bulk(), b"$-1\r\n"), Ok(Some(Framed::Reply(5))));
    }

    #[test]
    fn multi_part_replies_run_until_the_terminator() {
        let regex = Regex::new(r"^(?:VALUE \S+ \d+ (\d+)\r\n)").unwrap();
        let mut rule = rule(Framing::Header(Header { regex, add: 2 }));
        rule.until = Some(b"END\r\n".to_vec());
        let hit = b"VALUE k 0 2\r\nab\r\nEND\r\n";
        for cut in 0..hit.len() {
            assert_eq!(frame(&rule, &hit[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(frame(&rule, hit), Ok(Some(Framed::Reply(hit.len()))));
        assert_eq!(frame(&rule, b"END\r\n"), Ok(Some(Framed::Reply(5))));
    }

    #[test]
    fn a_line_that_is_no_header_is_a_protocol_error_or_a_server_error() {
        let mut rule = resp_bulk();
        let err = frame(&rule, b"+OK\r\n").unwrap_err();
        assert!(err.contains("does not start with a header"), "{err}");
        rule.error = Some(Regex::new("^-").unwrap());
        assert_eq!(
            frame(&rule, b"-ERR no\r\n$1"),
            Ok(Some(Framed::ErrorLine(9)))
        );
    }

    #[test]
    fn a_length_prefix_inside_itself_is_a_protocol_error() {
        let rule = rule(Framing::LengthPrefix(LengthPrefix {
            offset: 0,
            width: 1,
            big: true,
            adjust: -5,
        }));
        assert!(frame(&rule, b"\x01x").is_err());
    }

    #[test]
    fn checks_tell_server_errors_from_mismatches() {
        let mut rule = rule(Framing::Delimiter(b"\r\n".to_vec()));
        rule.error = Some(Regex::new("^-").unwrap());
        rule.expect = Some(Expect::Regex(Regex::new(r"^\+PONG").unwrap()));
        let ctx = Ctx {
            seed: 0,
            conn: 0,
            seq: 0,
            payload: b"",
        };
        let mut scratch = Vec::new();
        assert_eq!(rule.check(b"+PONG\r\n", &ctx, &mut scratch), Ok(()));
        assert_eq!(
            rule.check(b"-ERR x\r\n", &ctx, &mut scratch),
            Err(CheckFailure::Server)
        );
        assert!(matches!(
            rule.check(b"+PANG\r\n", &ctx, &mut scratch),
            Err(CheckFailure::Mismatch(_))
        ));
        rule.expect = Some(Expect::Prefix(Template::parse("+P{seq}").unwrap()));
        assert_eq!(rule.check(b"+P0\r\n", &ctx, &mut scratch), Ok(()));
        assert!(rule.check(b"+P1\r\n", &ctx, &mut scratch).is_err());
    }
}
