//! Request templates: the bytes of a workload file's `send` (and `hello`, and an
//! `expect.prefix`) with escapes and fields, parsed once into [`Template`] parts and
//! rendered per request into a reused buffer (no allocation once it has grown).
//!
//! Owns: the template syntax and rendering. Must not touch: replies (`reply`), the
//! choice of request (`pick`), sockets.
//!
//! Syntax: `\r \n \t \0 \\ \xHH` escapes (for TOML literal strings; a basic string's own
//! escapes have been applied by TOML already), `{{` and `}}` for literal braces, and the
//! fields `{seq}`, `{conn}`, `{rand:N}`, `{size}`, `{len:size}`, and `{len:ENC}` ... `{end}`
//! (the length of the enclosed bytes, ENC one of `dec`, `u8`, `u16be`, `u16le`, `u32be`,
//! `u32le`, `u64be`, `u64le`).

use std::io::Write as _;

use super::pick::rand_bytes;

/// Most `{rand:N}` bytes one field may ask for.
pub const MAX_RAND: usize = 1 << 20;

/// How a `{len:ENC}` section writes its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LenEncoding {
    /// ASCII decimal.
    Dec,
    /// Binary, this many bytes, big or little endian.
    Binary {
        /// 1, 2, 4 or 8.
        width: usize,
        /// Network byte order.
        big: bool,
    },
}

impl LenEncoding {
    fn parse(name: &str) -> Option<LenEncoding> {
        let binary = |width, big| Some(LenEncoding::Binary { width, big });
        match name {
            "dec" => Some(LenEncoding::Dec),
            "u8" => binary(1, true),
            "u16be" => binary(2, true),
            "u16le" => binary(2, false),
            "u32be" => binary(4, true),
            "u32le" => binary(4, false),
            "u64be" => binary(8, true),
            "u64le" => binary(8, false),
            _ => None,
        }
    }

    /// Appends `len` encoded; binary lengths keep their low bytes (checked by callers).
    fn write(self, len: usize, out: &mut Vec<u8>) {
        match self {
            LenEncoding::Dec => {
                let _ = write!(out, "{len}");
            }
            LenEncoding::Binary { width, big } => {
                let bytes = (len as u64).to_be_bytes();
                let low = &bytes[8 - width..];
                if big {
                    out.extend_from_slice(low);
                } else {
                    out.extend(low.iter().rev());
                }
            }
        }
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(Vec<u8>),
    Seq,
    Conn,
    Rand(usize),
    Size,
    LenSize,
    /// Start of a section whose length is written here.
    LenStart(LenEncoding),
    /// End of the open section.
    LenEnd,
}

/// What a rendering depends on: the connection, the request and its payload.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The workload's seed (for `{rand:N}`).
    pub seed: u64,
    /// Connection index (`{conn}`).
    pub conn: u64,
    /// Request sequence number on the connection (`{seq}`).
    pub seq: u64,
    /// The `{size}` payload.
    pub payload: &'a [u8],
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Why a template does not parse (the caller adds the key and line).
pub type TemplateError = String;

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parser = Parser {
            bytes: text.as_bytes(),
            at: 0,
            parts: Vec::new(),
            lit: Vec::new(),
            open: false,
        };
        parser.run()?;
        Ok(Template {
            parts: parser.parts,
        })
    }

    /// Whether the template uses `{rand:N}`.
    pub fn has_rand(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Rand(_)))
    }

    /// How many parts it has (fields and literal runs), for [`Template::render_range`].
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether the template is empty.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The index of the one `{size}` outside any length section, if there is exactly one:
    /// the writer then sends the payload from where it is instead of copying it.
    pub fn split_point(&self) -> Option<usize> {
        let mut depth = 0;
        let mut found = None;
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::LenStart(_) => depth += 1,
                Part::LenEnd => depth -= 1,
                Part::Size if depth == 0 => {
                    if found.is_some() {
                        return None;
                    }
                    found = Some(i);
                }
                _ => {}
            }
        }
        found
    }

    /// Appends the whole rendering to `out`.
    pub fn render(&self, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
        self.render_range(0, self.parts.len(), ctx, out);
    }

    /// Appends the rendering of parts `from..to` (never cutting a length section) to
    /// `out`; `{rand:N}` fields are numbered from the template's start either way.
    pub fn render_range(&self, from: usize, to: usize, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
        let mut section = None;
        let mut field = self.parts[..from]
            .iter()
            .filter(|p| matches!(p, Part::Rand(_)))
            .count() as u64;
        for part in &self.parts[from..to] {
            match part {
                Part::Lit(bytes) => out.extend_from_slice(bytes),
                Part::Seq => {
                    let _ = write!(out, "{}", ctx.seq);
                }
                Part::Conn => {
                    let _ = write!(out, "{}", ctx.conn);
                }
                Part::Rand(n) => {
                    rand_bytes(ctx.seed, ctx.conn, ctx.seq, field, *n, out);
                    field += 1;
                }
                Part::Size => out.extend_from_slice(ctx.payload),
                Part::LenSize => {
                    let _ = write!(out, "{}", ctx.payload.len());
                }
                Part::LenStart(enc) => section = Some((out.len(), *enc)),
                Part::LenEnd => {
                    let (start, enc) = section.take().expect("sections are checked");
                    let len = out.len() - start;
                    enc.write(len, out);
                    // Moves the length in front of the section, without a second buffer.
                    let width = out.len() - start - len;
                    out[start..].rotate_right(width);
                }
            }
        }
    }
}

/// The parse state: bytes left, parts so far, the literal being collected.
struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    parts: Vec<Part>,
    lit: Vec<u8>,
    /// Inside a `{len:ENC}` section.
    open: bool,
}

impl Parser<'_> {
    fn run(&mut self) -> Result<(), TemplateError> {
        while let Some(&b) = self.bytes.get(self.at) {
            match b {
                b'\\' => self.escape()?,
                b'{' if self.bytes.get(self.at + 1) == Some(&b'{') => {
                    self.lit.push(b'{');
                    self.at += 2;
                }
                b'}' if self.bytes.get(self.at + 1) == Some(&b'}') => {
                    self.lit.push(b'}');
                    self.at += 2;
                }
                b'{' => self.field()?,
                b'}' => return Err(format!("unmatched `}}` at byte {} (write `}}}}`)", self.at)),
                _ => {
                    self.lit.push(b);
                    self.at += 1;
                }
            }
        }
        if self.open {
            return Err("a {len:...} section has no {end}".to_owned());
        }
        self.flush();
        Ok(())
    }

    fn flush(&mut self) {
        if !self.lit.is_empty() {
            self.parts.push(Part::Lit(std::mem::take(&mut self.lit)));
        }
    }

    fn escape(&mut self) -> Result<(), TemplateError> {
        let next = self.bytes.get(self.at + 1).copied();
        let byte = match next {
            Some(b'r') => b'\r',
            Some(b'n') => b'\n',
            Some(b't') => b'\t',
            Some(b'0') => 0,
            Some(b'\\') => b'\\',
            Some(b'x') => {
                let hex = self.bytes.get(self.at + 2..self.at + 4);
                let value = hex
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("`\\x` at byte {} needs two hex digits", self.at))?;
                self.lit.push(value);
                self.at += 4;
                return Ok(());
            }
            other => {
                let shown = other.map_or("end".to_owned(), |c| (c as char).to_string());
                return Err(format!(
                    "unknown escape `\\{shown}` at byte {} (known: \\r \\n \\t \\0 \\\\ \\xHH)",
                    self.at
                ));
            }
        };
        self.lit.push(byte);
        self.at += 2;
        Ok(())
    }

    fn field(&mut self) -> Result<(), TemplateError> {
        let start = self.at;
        let rest = &self.bytes[start + 1..];
        let close = rest
            .iter()
            .position(|&b| b == b'}')
            .ok_or_else(|| format!("`{{` at byte {start} is not closed (write `{{{{`)"))?;
        let name = String::from_utf8_lossy(&rest[..close]).into_owned();
        let part = self.part(&name)?;
        self.flush();
        self.parts.push(part);
        self.at = start + close + 2;
        Ok(())
    }

    fn part(&mut self, name: &str) -> Result<Part, TemplateError> {
        Ok(match name {
            "seq" => Part::Seq,
            "conn" => Part::Conn,
            "size" => Part::Size,
            "len:size" => Part::LenSize,
            "end" if self.open => {
                self.open = false;
                Part::LenEnd
            }
            "end" => return Err("{end} without a {len:...} section".to_owned()),
            _ => {
                if let Some(n) = name.strip_prefix("rand:") {
                    let n: usize = n
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_RAND).contains(n))
                        .ok_or_else(|| format!("{{{name}}}: N must be 1 to {MAX_RAND}"))?;
                    return Ok(Part::Rand(n));
                }
                let Some(enc) = name.strip_prefix("len:") else {
                    return Err(format!(
                        "unknown field {{{name}}} (known: seq, conn, rand:N, size, len:size, \
                         len:ENC ... end; write `{{{{` for a literal brace)"
                    ));
                };
                let enc = LenEncoding::parse(enc).ok_or_else(|| {
                    format!(
                        "{{{name}}}: unknown length encoding (dec, u8, u16be, u16le, u32be, \
                         u32le, u64be, u64le)"
                    )
                })?;
                if self.open {
                    return Err(format!("{{{name}}}: length sections do not nest"));
                }
                self.open = true;
                Part::LenStart(enc)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, seq: u64, payload: &[u8]) -> Vec<u8> {
        let ctx = Ctx {
            seed: 1,
            conn: 3,
            seq,
            payload,
        };
        let mut out = Vec::new();
        Template::parse(text).unwrap().render(&ctx, &mut out);
        out
    }

    #[test]
    fn escapes_and_fields_render() {
        assert_eq!(render(r"PING\r\n", 0, b""), b"PING\r\n");
        assert_eq!(render(r"{conn}:{seq}\x00\\", 42, b""), b"3:42\x00\\");
        assert_eq!(
            render("set k 0 0 {len:size}\r\n{size}\r\n", 0, b"abc"),
            b"set k 0 0 3\r\nabc\r\n"
        );
    }

    #[test]
    fn length_sections_measure_what_they_enclose() {
        assert_eq!(render("${len:dec}key:{seq}{end}", 1234, b""), b"$8key:1234");
        let framed = render(r#"{len:u32le}{{"id":{seq}}}{end}{size}"#, 7, b"ab");
        assert_eq!(&framed[..4], &8u32.to_le_bytes());
        assert_eq!(&framed[4..], br#"{"id":7}ab"#);
        assert_eq!(render("{len:u16be}xyz{end}", 0, b""), b"\x00\x03xyz");
    }

    #[test]
    fn random_bytes_are_alphanumeric_and_repeat_per_request() {
        let a = render("{rand:16}", 5, b"");
        assert_eq!(a.len(), 16);
        assert!(a.iter().all(u8::is_ascii_alphanumeric));
        assert_eq!(a, render("{rand:16}", 5, b""));
        assert_ne!(a, render("{rand:16}", 6, b""));
    }

    #[test]
    fn a_lone_size_is_a_split_point() {
        let t = Template::parse("a{size}b").unwrap();
        assert_eq!(t.split_point(), Some(1));
        assert_eq!(Template::parse("{size}{size}").unwrap().split_point(), None);
        assert_eq!(
            Template::parse("{len:dec}{size}{end}")
                .unwrap()
                .split_point(),
            None
        );
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        for (text, want) in [
            ("{nope}", "unknown field {nope}"),
            ("{seq", "is not closed"),
            ("}", "unmatched"),
            (r"\q", "unknown escape"),
            (r"\x4", "two hex digits"),
            ("{rand:0}", "N must be"),
            ("{len:u24}x{end}", "unknown length encoding"),
            ("{len:dec}x", "has no {end}"),
            ("{end}", "without a {len"),
        ] {
            let err = Template::parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
