//! The workload file's TOML schema as serde types: what `toml` reads before `spec`
//! checks it. Spans (`Spanned`) are kept where a later check names a line.
//!
//! Owns: the keys and their types (`deny_unknown_fields` everywhere, so a typo is an
//! error naming the key). Must not touch: the checks and the compiled form (`spec`).

use serde::Deserialize;
use toml::Spanned;

/// How requests travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// A TCP connection; replies come in request order (pipelining as configured).
    #[default]
    Tcp,
    /// One datagram per request, one datagram per reply, matched by order.
    Udp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileToml {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) transport: Transport,
    #[serde(default)]
    pub(super) seed: u64,
    pub(super) hello: Option<Spanned<StepToml>>,
    pub(super) reply: Option<ReplyToml>,
    #[serde(default)]
    pub(super) request: Vec<Spanned<StepToml>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StepToml {
    pub(super) name: Option<String>,
    pub(super) weight: Option<Spanned<u64>>,
    pub(super) send: Option<Spanned<String>>,
    pub(super) reply: Option<ReplyToml>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplyToml {
    pub(super) fixed: Option<Spanned<u64>>,
    pub(super) echo: Option<Spanned<bool>>,
    pub(super) delimiter: Option<Spanned<String>>,
    pub(super) length_prefix: Option<Spanned<PrefixToml>>,
    pub(super) header: Option<Spanned<HeaderToml>>,
    pub(super) until: Option<Spanned<String>>,
    pub(super) expect: Option<Spanned<ExpectToml>>,
    pub(super) error: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PrefixToml {
    #[serde(default)]
    pub(super) offset: u64,
    pub(super) width: Spanned<u64>,
    #[serde(default)]
    pub(super) endian: Endian,
    #[serde(default)]
    pub(super) adjust: i64,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Endian {
    #[default]
    Big,
    Little,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HeaderToml {
    pub(super) regex: Spanned<String>,
    #[serde(default)]
    pub(super) body: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpectToml {
    pub(super) regex: Option<Spanned<String>>,
    pub(super) prefix: Option<Spanned<String>>,
}

/// A request's reply table over the top-level one, key by key; a request that names a
/// framing drops the default's framing (there is one framing per reply).
pub(super) fn merge(own: Option<&ReplyToml>, default: &ReplyToml) -> ReplyToml {
    let Some(own) = own else {
        return default.clone();
    };
    let frames = own.fixed.is_some()
        || own.echo.is_some()
        || own.delimiter.is_some()
        || own.length_prefix.is_some()
        || own.header.is_some();
    let base = if frames {
        ReplyToml {
            until: default.until.clone(),
            expect: default.expect.clone(),
            error: default.error.clone(),
            ..ReplyToml::default()
        }
    } else {
        default.clone()
    };
    ReplyToml {
        fixed: own.fixed.clone().or(base.fixed),
        echo: own.echo.clone().or(base.echo),
        delimiter: own.delimiter.clone().or(base.delimiter),
        length_prefix: own.length_prefix.clone().or(base.length_prefix),
        header: own.header.clone().or(base.header),
        until: own.until.clone().or(base.until),
        expect: own.expect.clone().or(base.expect),
        error: own.error.clone().or(base.error),
    }
}
