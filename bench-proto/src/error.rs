//! The errors of the framed codec: [`DecodeError`] (a byte stream that is not a valid
//! sequence of frames, including frames over the [`crate::Limits`]) and [`EncodeError`].
//! A leaf: the codec and the limits both use it, and it uses neither.

/// Why a byte stream is not a valid sequence of frames. After any of these the stream is
/// out of sync: answer with an error frame if you can, then close the connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// `header_len` below 2 (the shortest JSON object, `{}`).
    #[error("header length {len} is below the minimum of 2 bytes")]
    HeaderLenTooSmall {
        /// The prefix value received.
        len: u32,
    },
    /// `header_len` above `max_header`.
    #[error("header length {len} exceeds max_header {max}")]
    HeaderLenTooLarge {
        /// The prefix value received.
        len: u32,
        /// The limit in force.
        max: u32,
    },
    /// The header bytes are not valid UTF-8 JSON.
    #[error("header is not valid JSON: {cause}")]
    InvalidJson {
        /// serde_json's description, with line and column. Part of the message, and
        /// deliberately not a `source`, so an error chain (`{:#}`) prints it once.
        cause: serde_json::Error,
    },
    /// The header is valid JSON but not an object.
    #[error("header is JSON {found}, expected an object")]
    HeaderNotObject {
        /// What it was: "an array", "a string", "a number", ...
        found: &'static str,
    },
    /// The header is an object, but a field is missing or has the wrong type.
    #[error("bad header field: {cause}")]
    BadField {
        /// The `id` field, when it could be read.
        id: u64,
        /// serde_json's description, naming the field (part of the message, not a
        /// `source`).
        cause: serde_json::Error,
    },
    /// `total_size` above `max_body`.
    #[error("total_size {total_size} exceeds max_body {max}")]
    BodyTooLarge {
        /// The request id.
        id: u64,
        /// The length the header announced.
        total_size: u64,
        /// The limit in force.
        max: u64,
    },
}

impl DecodeError {
    /// The id of the offending frame, when the header was read far enough to know it.
    pub fn id(&self) -> u64 {
        match self {
            DecodeError::BadField { id, .. } | DecodeError::BodyTooLarge { id, .. } => *id,
            _ => 0,
        }
    }

    /// A stable snake_case name for counters and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::HeaderLenTooSmall { .. } => "header_len_too_small",
            DecodeError::HeaderLenTooLarge { .. } => "header_len_too_large",
            DecodeError::InvalidJson { .. } => "invalid_json",
            DecodeError::HeaderNotObject { .. } => "header_not_object",
            DecodeError::BadField { .. } => "bad_header_field",
            DecodeError::BodyTooLarge { .. } => "body_too_large",
        }
    }
}

/// Why a frame could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The header serialised to more than `u32::MAX` bytes.
    #[error("header of {len} bytes does not fit the u32 length prefix")]
    HeaderTooLong {
        /// Serialised header length.
        len: usize,
    },
    /// The header failed to serialise (serde_json's description is part of the message,
    /// not a `source`).
    #[error("header does not serialise: {0}")]
    Json(serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_json_cause_is_in_the_message_once_and_not_a_source() {
        let cause = serde_json::from_slice::<serde_json::Value>(b"{nope").unwrap_err();
        let text = cause.to_string();
        let errors = [
            DecodeError::InvalidJson {
                cause: serde_json::from_slice::<serde_json::Value>(b"{nope").unwrap_err(),
            },
            DecodeError::BadField {
                id: 1,
                cause: serde_json::from_slice::<serde_json::Value>(b"{nope").unwrap_err(),
            },
        ];
        for err in errors {
            assert!(err.to_string().ends_with(&text), "{err}");
            assert!(err.source().is_none(), "{err}: the cause would print twice");
        }
        let err = EncodeError::Json(cause);
        assert!(err.source().is_none(), "{err}");
    }
}
