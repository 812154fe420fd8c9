//! The report's histogram format: [`Latency`] (an HdrHistogram of ns with the report's
//! bounds, 1 ns to 60 s at 3 digits) and its text encoding, base64 of V2+DEFLATE
//! (`HISTFAAA...`), which any HdrHistogram implementation reads. Decoding checks the
//! header before hdrhistogram allocates what it declares. Leaf of `report`: imports no
//! other report file.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{DeserializeError, Deserializer};
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};

/// Lowest value the histograms tell apart, in ns.
pub const HIST_LOW_NS: u64 = 1;
/// Highest value the histograms hold, in ns (60 s).
pub const HIST_HIGH_NS: u64 = 60_000_000_000;
/// Significant decimal digits the histograms keep.
pub const HIST_SIGFIG: u8 = 3;

/// An empty histogram with the report's bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(HIST_LOW_NS, HIST_HIGH_NS, HIST_SIGFIG).expect("valid bounds")
}

/// A histogram and the count of values above its range.
#[derive(Debug, Clone)]
pub struct Latency {
    /// Values in ns.
    pub hist: Histogram<u64>,
    /// Values above 60 s (recorded as 60 s).
    pub out_of_range: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            hist: new_histogram(),
            out_of_range: 0,
        }
    }
}

impl Latency {
    /// Records one value.
    #[inline]
    pub fn record(&mut self, value: Duration) {
        self.record_n(value, 1);
    }

    /// Records `count` values equal to `value`.
    #[inline]
    pub fn record_n(&mut self, value: Duration, count: u64) {
        let ns = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        // The histogram's buckets reach a little past 60 s; the documented range ends
        // there, so the check is ours.
        if ns > HIST_HIGH_NS {
            self.out_of_range += count;
        }
        let _ = self.hist.record_n(ns.min(HIST_HIGH_NS), count);
    }

    /// Adds another latency's values.
    pub fn merge(&mut self, other: &Latency) {
        self.hist.add(&other.hist).expect("same bounds");
        self.out_of_range += other.out_of_range;
    }
}

/// A histogram string (or bytes) that does not decode; the reason is a readable clause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("histogram: {reason}")]
pub struct HistogramError {
    /// Why it does not decode (`not base64 (...)`, `truncated (...)`, ...).
    pub reason: String,
}

/// Base64 of the V2+DEFLATE encoding of `hist`.
pub fn encode_histogram(hist: &Histogram<u64>) -> String {
    BASE64.encode(encode_histogram_bytes(hist))
}

/// The V2+DEFLATE encoding of `hist`.
pub fn encode_histogram_bytes(hist: &Histogram<u64>) -> Vec<u8> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(hist, &mut bytes)
        .expect("serialising into memory");
    bytes
}

/// Reads a V2 (or V2+DEFLATE) encoded histogram.
pub fn decode_histogram_bytes(bytes: &[u8]) -> Result<Histogram<u64>, HistogramError> {
    decode_bytes(bytes).map_err(|reason| HistogramError { reason })
}

/// Reads a base64 histogram string (`HISTFAAA...`).
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, HistogramError> {
    decode(text).map_err(|reason| HistogramError { reason })
}

/// Decodes a base64 V2(+DEFLATE) histogram; the error is a readable clause.
fn decode(text: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64 ({e})"))?;
    decode_bytes(&bytes)
}

/// Decodes V2(+DEFLATE) bytes; the error is a readable clause.
fn decode_bytes(bytes: &[u8]) -> Result<Histogram<u64>, String> {
    check_header(bytes)?;
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| describe(&e))
}

/// hdrhistogram's errors in words a user can act on (its `Debug` is `InvalidCookie`).
fn describe(e: &DeserializeError) -> String {
    match e {
        DeserializeError::InvalidCookie => "not a V2 HdrHistogram encoding (bad cookie)".to_owned(),
        DeserializeError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "truncated (it ends before its declared length)".to_owned()
        }
        DeserializeError::IoError(io) => format!("does not decompress ({io})"),
        DeserializeError::UnsupportedFeature => {
            "uses an HdrHistogram feature this tool does not read (a normalizing offset or \
             a double histogram)"
                .to_owned()
        }
        DeserializeError::UnsuitableCounterType => "a count does not fit in 64 bits".to_owned(),
        DeserializeError::InvalidParameters => "its bounds or precision are invalid".to_owned(),
        DeserializeError::UsizeTypeTooSmall => {
            "too large for this machine's address size".to_owned()
        }
        DeserializeError::EncodedArrayTooLong => {
            "holds more counts than its value range has buckets".to_owned()
        }
    }
}

/// The V2 cookies (hdrhistogram's `V2_COOKIE`, `V2_COMPRESSED_COOKIE`).
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9304 | 0x10;
/// cookie, payload length, normalizing offset, digits (4 bytes each), low, high, ratio (8).
const V2_HEADER_LEN: usize = 40;

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes(word.try_into().expect("4 bytes")))
}

/// hdrhistogram allocates the payload a header declares before reading it: a corrupt
/// 40-byte header could make it allocate 4 GiB. The declared length is checked first
/// (against the bytes present, or for a compressed one against the input cap). A bad
/// cookie is left to hdrhistogram, which names it.
fn check_header(bytes: &[u8]) -> Result<(), String> {
    use std::io::Read as _;
    match be_u32(bytes, 0) {
        Some(V2_COOKIE) => {
            let declared = be_u32(bytes, 4).unwrap_or(0) as usize;
            if bytes.len() < V2_HEADER_LEN || declared > bytes.len() - V2_HEADER_LEN {
                return Err("truncated (it ends before its declared length)".to_owned());
            }
            Ok(())
        }
        Some(V2_DEFLATE_COOKIE) => {
            let compressed = be_u32(bytes, 4).unwrap_or(0) as usize;
            let body = &bytes[8.min(bytes.len())..];
            let body = &body[..compressed.min(body.len())];
            let mut head = [0u8; V2_HEADER_LEN];
            flate2::read::ZlibDecoder::new(body)
                .read_exact(&mut head)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => {
                        "truncated (it ends before its declared length)".to_owned()
                    }
                    _ => format!("does not decompress ({e})"),
                })?;
            let declared = u64::from(be_u32(&head, 4).unwrap_or(0));
            let cap = crate::input::max_input();
            if be_u32(&head, 0) == Some(V2_COOKIE) && declared > cap {
                return Err(format!(
                    "declares {declared} bytes of counts, more than the input limit of {}",
                    bench_proto::ByteSize(cap)
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reason a decode failed (a decoded histogram is not dumped into the message).
    fn refused(decoded: Result<Histogram<u64>, String>) -> String {
        match decoded {
            Ok(h) => panic!("decoded, {} values", h.len()),
            Err(e) => e,
        }
    }

    #[test]
    fn broken_histograms_are_named_in_words() {
        assert_eq!(
            decode("AAAAAAAA").unwrap_err(),
            "not a V2 HdrHistogram encoding (bad cookie)"
        );
        assert!(decode("HIST!!").unwrap_err().starts_with("not base64"));
        let mut hist = new_histogram();
        hist.record(1_000).unwrap();
        let good = encode_histogram_bytes(&hist);
        assert_eq!(decode_bytes(&good).unwrap(), hist);
        // Cut inside the compressed header: a readable reason, not a debug dump.
        let cut = refused(decode_bytes(&good[..20]));
        assert!(
            cut.contains("truncated") || cut.contains("decompress"),
            "{cut}"
        );
    }

    #[test]
    fn a_header_declaring_gigabytes_is_refused_before_allocating() {
        // Uncompressed V2: cookie, then a payload length of 4 GiB - 1, and nothing else.
        let mut bytes = V2_COOKIE.to_be_bytes().to_vec();
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        bytes.resize(V2_HEADER_LEN, 0);
        let e = refused(decode_bytes(&bytes));
        assert!(e.contains("truncated"), "{e}");
        // The same header compressed.
        let mut deflated = Vec::new();
        {
            use std::io::Write as _;
            let mut z = flate2::write::ZlibEncoder::new(&mut deflated, Default::default());
            z.write_all(&bytes).unwrap();
            z.finish().unwrap();
        }
        let mut outer = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        outer.extend_from_slice(&(deflated.len() as u32).to_be_bytes());
        outer.extend_from_slice(&deflated);
        let e = refused(decode_bytes(&outer));
        assert!(e.contains("more than the input limit"), "{e}");
    }
}
