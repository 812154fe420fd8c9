//! What a report must satisfy beyond parsing, checked by [`Report::read`] for every
//! command that reads reports (`compare`, `render`, `export`), so they all refuse the
//! same files with the same message: percentiles ordered, histograms that decode and hold
//! the count the summary claims, totals that add up, rates that are numbers. Each rule
//! costs one pass over what is already in memory.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{DeserializeError, Deserializer};

use super::{LatencySummary, Report};

/// The first broken rule, as a readable clause naming the field.
pub(super) fn validate(report: &Report) -> Result<(), String> {
    let t = &report.totals;
    if t.ok.checked_add(t.error_count) != Some(t.requests) {
        return Err(format!(
            "totals.requests {} is not totals.ok {} + totals.error_count {}",
            t.requests, t.ok, t.error_count
        ));
    }
    let by_kind = t
        .errors
        .values()
        .try_fold(0u64, |sum, n| sum.checked_add(*n));
    if by_kind != Some(t.error_count) {
        return Err(format!(
            "totals.error_count {} is not the sum of totals.errors",
            t.error_count
        ));
    }
    for (name, value) in [
        ("duration_s", report.duration_s),
        ("warmup_s", report.warmup_s),
        ("totals.requests_per_s", t.requests_per_s),
        ("totals.bytes_per_s", t.bytes_per_s),
    ] {
        non_negative(name, value)?;
    }
    summary("latency", &report.latency)?;
    for (name, part) in [
        ("latency_uncorrected", &report.latency_uncorrected),
        ("send_lag", &report.send_lag),
    ] {
        if let Some(part) = part {
            summary(name, part)?;
        }
    }
    for (i, entry) in report.timeline.iter().enumerate() {
        let name = format!("timeline[{i}]");
        ordered(
            &name,
            &[
                ("p50_ns", entry.p50_ns),
                ("p99_ns", entry.p99_ns),
                ("max_ns", entry.max_ns),
            ],
        )?;
        non_negative(&format!("{name}.duration_s"), entry.duration_s)?;
        decode(&entry.histogram).map_err(|e| format!("histogram {name}.histogram: {e}"))?;
    }
    Ok(())
}

fn non_negative(name: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(format!("{name} {value} is not a number >= 0"))
    }
}

/// Percentiles never decrease: min <= p50 <= ... <= max.
fn ordered(name: &str, values: &[(&str, u64)]) -> Result<(), String> {
    for pair in values.windows(2) {
        let ((lo_name, lo), (hi_name, hi)) = (pair[0], pair[1]);
        if hi < lo {
            return Err(format!(
                "{name}.{hi_name} {hi} is below {name}.{lo_name} {lo}: percentiles must not \
                 decrease"
            ));
        }
    }
    Ok(())
}

fn summary(name: &str, s: &LatencySummary) -> Result<(), String> {
    ordered(
        name,
        &[
            ("min_ns", s.min_ns),
            ("p50_ns", s.p50_ns),
            ("p90_ns", s.p90_ns),
            ("p99_ns", s.p99_ns),
            ("p99_9_ns", s.p99_9_ns),
            ("p99_99_ns", s.p99_99_ns),
            ("max_ns", s.max_ns),
        ],
    )?;
    non_negative(&format!("{name}.mean_ns"), s.mean_ns)?;
    non_negative(&format!("{name}.stdev_ns"), s.stdev_ns)?;
    let hist = decode(&s.histogram).map_err(|e| format!("histogram {name}.histogram: {e}"))?;
    if hist.len() != s.count {
        return Err(format!(
            "{name}.count {} but its histogram holds {} values",
            s.count,
            hist.len()
        ));
    }
    Ok(())
}

/// Decodes a base64 V2(+DEFLATE) histogram; the error is a readable clause.
pub(super) fn decode(text: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64 ({e})"))?;
    decode_bytes(&bytes)
}

/// Decodes V2(+DEFLATE) bytes; the error is a readable clause.
pub(super) fn decode_bytes(bytes: &[u8]) -> Result<Histogram<u64>, String> {
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
        let mut hist = crate::recorder::new_histogram();
        hist.record(1_000).unwrap();
        let good = crate::report::encode_histogram_bytes(&hist);
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
