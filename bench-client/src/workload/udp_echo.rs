//! udp-echo: one datagram per request, the same datagram back (uppercased with
//! `--expect upper`). Each datagram opens with a probe header (sequence number, send
//! time) so a reply names its request; the rest is the pattern. The socket loop and the
//! loss/late/duplicate accounting over time are the engine's (`engine::udp`).

use bench_proto::{PROBE_LEN, ProbeHeader};

use crate::config::Expect;

use super::{Request, Verifier, describe_mismatch};

/// The next sequence number at or after `seq` with no byte in `a..=z`.
pub fn next_seq(mut seq: u64) -> u64 {
    loop {
        match seq
            .to_le_bytes()
            .iter()
            .position(|b| b.is_ascii_lowercase())
        {
            None => return seq,
            // Jump past the lowercase range in that byte; lower bytes restart at 0.
            Some(i) => {
                let unit = 1u64 << (8 * i);
                seq = (seq / unit + (u64::from(b'z' + 1) - u64::from(seq.to_le_bytes()[i]))) * unit;
            }
        }
    }
}

/// Writes the datagram of `request` sent at `sent_ns` (since the run's start) into
/// `payload`, which is `request.size` long.
///
/// # Panics
/// If `payload` is shorter than the probe header (sizes are validated to be at least
/// that long).
pub fn fill(verifier: &Verifier, request: &Request, sent_ns: u64, payload: &mut [u8]) {
    ProbeHeader {
        seq: request.id,
        sent_ns,
    }
    .write_to(payload)
    .expect("sizes are at least the probe length");
    payload[PROBE_LEN..].copy_from_slice(&verifier.pattern().payload(request)[PROBE_LEN..]);
}

/// Checks a reply to `request` (sent at `sent_ns`): its length, the send time it echoes,
/// its content; the error is the message the report keeps.
pub fn verify(
    verifier: &Verifier,
    expect: Expect,
    request: &Request,
    sent_ns: u64,
    datagram: &[u8],
) -> Result<(), String> {
    let expected = verifier.expected(request);
    let id = request.id;
    if datagram.len() != expected.len {
        return Err(format!(
            "reply to datagram {id} is {} bytes, expected {}",
            datagram.len(),
            expected.len
        ));
    }
    let Some(content) = expected.content else {
        return Ok(());
    };
    let mut stamp = sent_ns.to_le_bytes();
    if expect == Expect::Upper {
        stamp.make_ascii_uppercase();
    }
    if datagram[8..PROBE_LEN] != stamp {
        return Err(format!(
            "reply to datagram {id} carries a different send time"
        ));
    }
    let (want, got) = (&content[PROBE_LEN..], &datagram[PROBE_LEN..]);
    if want != got {
        return Err(describe_mismatch(id, want, got, PROBE_LEN));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_avoid_lowercase_bytes_and_increase() {
        let mut seq = 0;
        let mut last = None;
        for _ in 0..100_000 {
            seq = next_seq(seq);
            assert!(
                !seq.to_le_bytes().iter().any(u8::is_ascii_lowercase),
                "{seq:#x}"
            );
            assert!(last.is_none_or(|l| seq > l));
            last = Some(seq);
            seq += 1;
        }
        assert_eq!(next_seq(0x61), 0x7b);
        assert_eq!(next_seq(0x6100), 0x7b00);
    }
}
