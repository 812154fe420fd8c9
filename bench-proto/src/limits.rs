//! Frame size limits. The decoder checks them as soon as a length is known, before it
//! reserves memory for the frame, so a peer cannot make the process allocate by lying.

use serde::{Deserialize, Serialize};

use crate::error::DecodeError;

/// The smallest valid header: `{}`.
pub const MIN_HEADER_LEN: u32 = 2;

/// Upper bounds on the two variable-length parts of a frame.
///
/// ```
/// let limits = bench_proto::Limits::default();
/// assert_eq!(limits.max_header, 64 * 1024);
/// assert_eq!(limits.max_body, 16 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest accepted JSON header, in bytes (the `header_len` prefix).
    pub max_header: u32,
    /// Largest accepted body, in bytes (the header's `total_size`).
    pub max_body: u64,
}

impl Default for Limits {
    /// 64 KiB of header (a header is a few dozen bytes; one near the limit comes from a
    /// broken or hostile peer) and 16 MiB of body (room for the largest messages the
    /// benchmarks send; the server also counts large bodies against its memory budget).
    fn default() -> Self {
        Limits {
            max_header: 64 * 1024,
            max_body: 16 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Checks a `header_len` prefix: it must be in `2..=max_header`.
    pub fn check_header_len(&self, len: u32) -> Result<(), DecodeError> {
        if len < MIN_HEADER_LEN {
            Err(DecodeError::HeaderLenTooSmall { len })
        } else if len > self.max_header {
            Err(DecodeError::HeaderLenTooLarge {
                len,
                max: self.max_header,
            })
        } else {
            Ok(())
        }
    }

    /// Checks a header's `total_size`: it must be at most `max_body`.
    pub fn check_body_len(&self, id: u64, total_size: u64) -> Result<(), DecodeError> {
        if total_size > self.max_body {
            Err(DecodeError::BodyTooLarge {
                id,
                total_size,
                max: self.max_body,
            })
        } else {
            Ok(())
        }
    }
}
