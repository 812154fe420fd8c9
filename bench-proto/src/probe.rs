//! The UDP probe header: the first 16 bytes of every udp-echo payload the load generator
//! sends. The server does not read it; the client uses it to match replies to requests
//! and to count lost, duplicated, reordered and late replies.
//!
//! ```text
//! +-------------------------+------------------------------------+---------+
//! | sequence number: u64 LE | send timestamp: u64 LE, ns, client | padding |
//! +-------------------------+------------------------------------+---------+
//! ```

/// Length of the probe header; payloads shorter than this carry no probe.
pub const PROBE_LEN: usize = 16;

/// Sequence number and send time of one datagram.
///
/// ```
/// use bench_proto::ProbeHeader;
/// let probe = ProbeHeader { seq: 9, sent_ns: 1_000 };
/// let mut payload = [0u8; 64];
/// probe.write_to(&mut payload).unwrap();
/// assert_eq!(ProbeHeader::read_from(&payload), Ok(probe));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeHeader {
    /// Sequence number, unique per socket and increasing.
    pub seq: u64,
    /// Send timestamp in nanoseconds on the client's monotonic clock.
    pub sent_ns: u64,
}

/// A payload too short to hold a probe header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("payload of {len} bytes is shorter than the {PROBE_LEN}-byte probe header")]
pub struct ProbeError {
    /// The payload length.
    pub len: usize,
}

impl ProbeHeader {
    /// The 16 header bytes.
    pub fn to_bytes(&self) -> [u8; PROBE_LEN] {
        let mut out = [0; PROBE_LEN];
        out[..8].copy_from_slice(&self.seq.to_le_bytes());
        out[8..].copy_from_slice(&self.sent_ns.to_le_bytes());
        out
    }

    /// Writes the header at the start of `payload`.
    pub fn write_to(&self, payload: &mut [u8]) -> Result<(), ProbeError> {
        let len = payload.len();
        let head = payload
            .first_chunk_mut::<PROBE_LEN>()
            .ok_or(ProbeError { len })?;
        *head = self.to_bytes();
        Ok(())
    }

    /// Reads the header from the start of `payload`.
    pub fn read_from(payload: &[u8]) -> Result<ProbeHeader, ProbeError> {
        let head = payload
            .first_chunk::<PROBE_LEN>()
            .ok_or(ProbeError { len: payload.len() })?;
        let (seq, sent) = head.split_at(8);
        Ok(ProbeHeader {
            seq: u64::from_le_bytes(seq.try_into().expect("8 bytes")),
            sent_ns: u64::from_le_bytes(sent.try_into().expect("8 bytes")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_is_little_endian_seq_then_timestamp() {
        let bytes = ProbeHeader { seq: 1, sent_ns: 2 }.to_bytes();
        assert_eq!(bytes, [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn short_payload_is_an_error_not_a_panic() {
        assert_eq!(
            ProbeHeader::read_from(&[0; 15]),
            Err(ProbeError { len: 15 })
        );
        assert_eq!(
            ProbeHeader { seq: 0, sent_ns: 0 }.write_to(&mut []),
            Err(ProbeError { len: 0 })
        );
    }
}
