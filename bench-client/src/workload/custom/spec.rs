//! Workload files: the TOML schema (`docs/workloads.md`), read with serde and checked
//! into a [`Spec`] of parsed templates, reply rules and the weighted picker. Every error
//! is one line naming the key and the line: `line 7: request[2].reply.delimiter: must
//! not be empty`.
//!
//! Owns: the file format and its validation. Must not touch: rendering and framing at
//! run time (`template`, `reply`), the per-connection state (`custom`), sockets.

use std::ops::Range;

use regex::bytes::Regex;
use toml::Spanned;

use super::pick::Picker;
use super::reply::{Expect, Framing, Header, LengthPrefix, Rule};
pub use super::schema::Transport;
use super::schema::{
    Endian, ExpectToml, FileToml, HeaderToml, PrefixToml, ReplyToml, StepToml, merge,
};
use super::template::Template;

/// A request and the rule for its reply.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its name (`request[i].name`, or `request[i]`), for error samples.
    pub name: String,
    /// The request bytes.
    pub send: Template,
    /// Where the request's `{size}` is, when the payload can go out without a copy.
    pub split: Option<usize>,
    /// How its reply is framed and checked.
    pub reply: Rule,
}

/// A checked workload file.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The file's `name`, if it gives one.
    pub name: Option<String>,
    /// The file's `description`, if it gives one.
    pub description: Option<String>,
    /// TCP or UDP.
    pub transport: Transport,
    /// Seed of the picker and of `{rand:N}`.
    pub seed: u64,
    /// Sent once per connection, before the first request; its reply is checked, not
    /// recorded.
    pub hello: Option<Step>,
    /// The weighted requests.
    pub requests: Vec<Step>,
    /// Which request a sequence number sends.
    pub picker: Picker,
}

/// A workload file that cannot run: which key, on which line, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {key}: {reason}")]
pub struct SpecError {
    /// 1-based line of the key (or of the table missing it).
    pub line: usize,
    /// The key's path (`request[1].reply.header.regex`).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// Reads a workload file's text.
pub fn parse(text: &str) -> Result<Spec, SpecError> {
    let file: FileToml = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    Checker { text }.spec(file)
}

/// A TOML (or serde) error as one line: the line, the key written there, the message.
fn toml_error(text: &str, e: &toml::de::Error) -> SpecError {
    let span = e.span().unwrap_or(0..0);
    let line = line_of(text, span.start);
    let source = text.lines().nth(line - 1).unwrap_or("").trim();
    let message = e.message().trim().replace('\n', " ");
    let key = match message.strip_prefix("unknown field `") {
        Some(rest) => rest.split('`').next().unwrap_or("").to_owned(),
        None => match source.split_once('=') {
            Some((key, _)) => key.trim().to_owned(),
            None => source.trim_matches(['[', ']']).to_owned(),
        },
    };
    SpecError {
        line,
        key,
        reason: message,
    }
}

fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Turns spans into lines for the errors of the checks after parsing.
struct Checker<'a> {
    text: &'a str,
}

impl Checker<'_> {
    fn err(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> SpecError {
        SpecError {
            line: line_of(self.text, span.start),
            key: key.into(),
            reason: reason.into(),
        }
    }

    fn spec(&self, file: FileToml) -> Result<Spec, SpecError> {
        if file.request.is_empty() {
            return Err(self.err(0..0, "request", "no [[request]] table: give at least one"));
        }
        let default = file.reply.unwrap_or_default();
        let hello = match &file.hello {
            Some(h) => Some(self.step(h, "hello", &default, file.transport)?),
            None => None,
        };
        let mut requests = Vec::with_capacity(file.request.len());
        let mut weights = Vec::with_capacity(file.request.len());
        for (i, step) in file.request.iter().enumerate() {
            let key = format!("request[{}]", i + 1);
            requests.push(self.step(step, &key, &default, file.transport)?);
            weights.push(match &step.get_ref().weight {
                Some(w) if *w.get_ref() == 0 => {
                    return Err(self.err(w.span(), format!("{key}.weight"), "must be at least 1"));
                }
                Some(w) => *w.get_ref(),
                None => 1,
            });
        }
        if hello.is_some() && file.transport == Transport::Udp {
            let span = file.hello.as_ref().map_or(0..0, Spanned::span);
            return Err(self.err(span, "hello", "UDP has no connection to greet"));
        }
        Ok(Spec {
            name: file.name,
            description: file.description,
            transport: file.transport,
            seed: file.seed,
            hello,
            requests,
            picker: Picker::new(&weights, file.seed),
        })
    }

    fn step(
        &self,
        step: &Spanned<StepToml>,
        key: &str,
        default: &ReplyToml,
        transport: Transport,
    ) -> Result<Step, SpecError> {
        let span = step.span();
        let step = step.get_ref();
        if key == "hello" && step.weight.is_some() {
            return Err(self.err(span, "hello.weight", "the hello is sent once, not picked"));
        }
        let send = step
            .send
            .as_ref()
            .ok_or_else(|| self.err(span.clone(), format!("{key}.send"), "missing"))?;
        let template = self.template(send, &format!("{key}.send"))?;
        if template.is_empty() {
            return Err(self.err(send.span(), format!("{key}.send"), "must not be empty"));
        }
        let reply = merge(step.reply.as_ref(), default);
        let name = step.name.clone().unwrap_or_else(|| key.to_owned());
        Ok(Step {
            name,
            split: template.split_point(),
            send: template,
            reply: self.rule(&reply, &format!("{key}.reply"), span, transport)?,
        })
    }

    fn template(&self, text: &Spanned<String>, key: &str) -> Result<Template, SpecError> {
        Template::parse(text.get_ref()).map_err(|reason| self.err(text.span(), key, reason))
    }

    /// A template that must render to the same bytes for every request.
    fn bytes(&self, text: &Spanned<String>, key: &str) -> Result<Vec<u8>, SpecError> {
        let template = self.template(text, key)?;
        let mut out = Vec::new();
        let ctx = super::template::Ctx {
            seed: 0,
            conn: 0,
            seq: 0,
            payload: b"",
        };
        template.render(&ctx, &mut out);
        let mut again = Vec::new();
        template.render(
            &super::template::Ctx {
                seq: 1,
                conn: 1,
                ..ctx
            },
            &mut again,
        );
        if out != again || template.split_point().is_some() {
            return Err(self.err(text.span(), key, "fields are not allowed here, only bytes"));
        }
        Ok(out)
    }

    fn regex(&self, text: &Spanned<String>, key: &str, anchored: bool) -> Result<Regex, SpecError> {
        // The pattern as written first, so an error quotes the user's text.
        let regex = Regex::new(text.get_ref()).map_err(|e| {
            let reason = e.to_string().replace('\n', " ");
            let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
            self.err(text.span(), key, format!("bad regex: {reason}"))
        })?;
        if !anchored {
            return Ok(regex);
        }
        let anchored = format!("^(?:{})", text.get_ref());
        Regex::new(&anchored).map_err(|e| self.err(text.span(), key, format!("bad regex: {e}")))
    }

    fn rule(
        &self,
        reply: &ReplyToml,
        key: &str,
        step: Range<usize>,
        transport: Transport,
    ) -> Result<Rule, SpecError> {
        let framing = self.framing(reply, key, step, transport)?;
        let until = match &reply.until {
            Some(u) => {
                let bytes = self.bytes(u, &format!("{key}.until"))?;
                if bytes.is_empty() {
                    return Err(self.err(u.span(), format!("{key}.until"), "must not be empty"));
                }
                Some(bytes)
            }
            None => None,
        };
        let error = match &reply.error {
            Some(e) => Some(self.regex(e, &format!("{key}.error"), false)?),
            None => None,
        };
        let expect = match &reply.expect {
            Some(e) => Some(self.expect(e, &format!("{key}.expect"))?),
            None => None,
        };
        Ok(Rule {
            framing,
            until,
            expect,
            error,
        })
    }

    fn expect(&self, expect: &Spanned<ExpectToml>, key: &str) -> Result<Expect, SpecError> {
        match (&expect.get_ref().regex, &expect.get_ref().prefix) {
            (Some(r), None) => Ok(Expect::Regex(self.regex(
                r,
                &format!("{key}.regex"),
                false,
            )?)),
            (None, Some(p)) => Ok(Expect::Prefix(self.template(p, &format!("{key}.prefix"))?)),
            _ => Err(self.err(expect.span(), key, "give exactly one of regex or prefix")),
        }
    }

    fn framing(
        &self,
        reply: &ReplyToml,
        key: &str,
        step: Range<usize>,
        transport: Transport,
    ) -> Result<Framing, SpecError> {
        let given = [
            reply.fixed.is_some(),
            reply.echo.is_some(),
            reply.delimiter.is_some(),
            reply.length_prefix.is_some(),
            reply.header.is_some(),
        ];
        let count = given.iter().filter(|g| **g).count();
        if count > 1 {
            return Err(self.err(
                step,
                key,
                "give one of fixed, echo, delimiter, length_prefix, header (not several)",
            ));
        }
        if let Some(fixed) = &reply.fixed {
            return match *fixed.get_ref() {
                0 => Err(self.err(fixed.span(), format!("{key}.fixed"), "must be at least 1")),
                n if n as usize > super::reply::MAX_REPLY => Err(self.err(
                    fixed.span(),
                    format!("{key}.fixed"),
                    format!(
                        "above the largest reply ({} bytes)",
                        super::reply::MAX_REPLY
                    ),
                )),
                n => Ok(Framing::Fixed(n as usize)),
            };
        }
        if let Some(echo) = &reply.echo {
            if !echo.get_ref() {
                return Err(self.err(echo.span(), format!("{key}.echo"), "only `echo = true`"));
            }
            return Ok(Framing::Echo);
        }
        if let Some(delim) = &reply.delimiter {
            let bytes = self.bytes(delim, &format!("{key}.delimiter"))?;
            if bytes.is_empty() {
                return Err(self.err(
                    delim.span(),
                    format!("{key}.delimiter"),
                    "must not be empty",
                ));
            }
            return Ok(Framing::Delimiter(bytes));
        }
        if let Some(prefix) = &reply.length_prefix {
            return self.length_prefix(prefix, &format!("{key}.length_prefix"));
        }
        if let Some(header) = &reply.header {
            return self.header(header, &format!("{key}.header"));
        }
        match transport {
            // A datagram is a whole reply whatever its length.
            Transport::Udp => Ok(Framing::Datagram),
            Transport::Tcp => Err(self.err(
                step,
                key,
                "missing: say where a reply ends (fixed, echo, delimiter, length_prefix or \
                 header), here or in the top-level [reply]",
            )),
        }
    }

    fn length_prefix(&self, prefix: &Spanned<PrefixToml>, key: &str) -> Result<Framing, SpecError> {
        let p = prefix.get_ref();
        let width = *p.width.get_ref();
        if !(1..=8).contains(&width) {
            return Err(self.err(
                p.width.span(),
                format!("{key}.width"),
                format!("{width}: a length field is 1 to 8 bytes wide"),
            ));
        }
        Ok(Framing::LengthPrefix(LengthPrefix {
            offset: p.offset as usize,
            width: width as usize,
            big: matches!(p.endian, Endian::Big),
            adjust: p.adjust,
        }))
    }

    fn header(&self, header: &Spanned<HeaderToml>, key: &str) -> Result<Framing, SpecError> {
        let h = header.get_ref();
        let regex = self.regex(&h.regex, &format!("{key}.regex"), true)?;
        if regex.captures_len() < 2 {
            return Err(self.err(
                h.regex.span(),
                format!("{key}.regex"),
                "needs a group capturing the length, e.g. '^\\$(-?\\d+)\\r\\n'",
            ));
        }
        let add = match &h.body {
            None => 0,
            Some(body) => parse_body(body.get_ref()).ok_or_else(|| {
                self.err(body.span(), format!("{key}.body"), "write N, N+K or N-K")
            })?,
        };
        Ok(Framing::Header(Header { regex, add }))
    }
}

/// `N`, `N+K`, `N-K` (spaces allowed) to K.
fn parse_body(text: &str) -> Option<i64> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let rest = compact.strip_prefix('N')?;
    if rest.is_empty() {
        return Some(0);
    }
    let (sign, digits) = rest.split_at(1);
    let k: i64 = digits.parse().ok()?;
    match sign {
        "+" => Some(k),
        "-" => Some(-k),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_file_parses() {
        let spec = parse("[[request]]\nsend = 'PING\\r\\n'\nreply.delimiter = '\\r\\n'\n").unwrap();
        assert_eq!(spec.requests.len(), 1);
        assert_eq!(spec.transport, Transport::Tcp);
    }

    #[test]
    fn bad_files_name_the_key_and_the_line() {
        let head = "[[request]]\nsend = 'x'\n";
        for (text, want) in [
            (
                format!("{head}reply.fixed = 1\nbogus = 1\n"),
                "line 4: bogus: unknown field",
            ),
            (
                format!("{head}reply.delimiter = ''\n"),
                "line 3: request[1].reply.delimiter: must not be empty",
            ),
            (
                format!("{head}reply.header = {{ regex = '(' }}\n"),
                "line 3: request[1].reply.header.regex: bad regex",
            ),
            (
                format!("{head}reply.length_prefix = {{ width = 9 }}\n"),
                "line 3: request[1].reply.length_prefix.width: 9: a length field is 1 to 8 bytes wide",
            ),
            (
                format!("{head}reply.fixed = 1\nreply.echo = true\n"),
                "request[1].reply: give one of",
            ),
            (head.to_owned(), "line 1: request[1].reply: missing"),
            (
                format!("{head}reply.fixed = 'x'\n"),
                "line 3: reply.fixed: invalid type",
            ),
            (
                format!("{head}reply.fixed = 1\nweight = 0\n"),
                "line 4: request[1].weight: must be at least 1",
            ),
            ("seed = 1\n".to_owned(), "line 1: request: no [[request]]"),
            (
                format!("transport = 'sctp'\n{head}"),
                "line 1: transport: unknown variant",
            ),
        ] {
            let got = error(&text);
            assert!(got.contains(want), "{text:?}: {got}");
            assert!(!got.contains('\n'), "one line: {got:?}");
        }
    }

    #[test]
    fn a_request_reply_overrides_the_default_key_by_key() {
        let text = "[reply]\ndelimiter = '\\r\\n'\nerror = '^-'\n\
                    [[request]]\nsend = 'GET\\r\\n'\nreply.header = { regex = '\\$(-?\\d+)\\r\\n', body = 'N+2' }\n\
                    [[request]]\nsend = 'SET\\r\\n'\n";
        let spec = parse(text).unwrap();
        assert!(matches!(spec.requests[0].reply.framing, Framing::Header(_)));
        assert!(spec.requests[0].reply.error.is_some());
        assert!(matches!(
            spec.requests[1].reply.framing,
            Framing::Delimiter(_)
        ));
    }
}
