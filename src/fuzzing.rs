//! The bodies of the coverage-guided fuzz targets (`fuzz/`, cargo-fuzz), one function
//! per target, kept here so the stable replay test (`tests/fuzz_corpus.rs`) runs the very
//! same code over the committed corpus. Each takes untrusted bytes and must return
//! without panicking, whatever they are; the properties checked beyond that (a parsed
//! unit prints back to itself) are asserted here.
//!
//! It owns no parser: it drives bench-proto's decoder and units, bench-client's reply
//! readers (the custom-protocol one under each bundled `workloads/*.toml`), the workload
//! file parser, the report reader, and bench-server's `--impair` parser.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use bench_client::workload::custom::{Custom, CustomReader, spec};
use bench_client::workload::framed::Framed;
use bench_client::workload::tcp_echo::TcpEcho;
use bench_client::workload::{Pattern, ReplyReader, Request, StreamWorkload, Verifier, udp_echo};
use bench_client::{Report, RunConfig, WorkloadKind};
use bench_proto::{
    ByteSize, Decoder, HumanDuration, Limits, ProbeHeader, RequestHeader, ResponseHeader,
};

/// Most decode or reply steps per input: every loop here is bounded.
const STEPS: usize = 4096;

/// A target's body: untrusted bytes in, a panic only on a bug.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/NAME.rs` and corpus folder.
pub const TARGETS: [(&str, Target); 9] = [
    ("framed_request", framed_request),
    ("framed_response", framed_response),
    ("tcp_echo_reply", tcp_echo_reply),
    ("framed_reply", framed_reply),
    ("udp_probe", udp_probe),
    ("units", units),
    ("report", report),
    ("custom_reply", custom_reply),
    ("workload_file", workload_file),
];

/// Splits `data` into a chunk length (its first byte, 1..=256) and the stream, so the
/// fuzzer explores fragmentation too.
fn chunking(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (usize::from(first) + 1, rest),
        None => (1, data),
    }
}

/// The framed decoder (server side) over `data`, fed in chunks; decodes until it needs
/// more bytes or says the stream is bad.
pub fn framed_request(data: &[u8]) {
    decode_all::<RequestHeader>(data);
}

/// The framed decoder (client side) over `data`.
pub fn framed_response(data: &[u8]) {
    decode_all::<ResponseHeader>(data);
}

fn decode_all<H: bench_proto::FrameHeader>(data: &[u8]) {
    let (chunk, stream) = chunking(data);
    let mut decoder = Decoder::<H>::new(Limits::default());
    for piece in stream.chunks(chunk) {
        decoder.feed(piece);
        for _ in 0..STEPS {
            match decoder.decode() {
                Ok(Some(frame)) => {
                    let _ = frame.body.len();
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// A run config of `workload` whose requests are `size` bytes.
fn config(workload: WorkloadKind) -> RunConfig {
    RunConfig {
        workload,
        ..RunConfig::default()
    }
}

/// Request sizes the readers are asked for: from the input, 1..=512 bytes.
fn request(id: u64, seed: u8) -> Request {
    Request {
        id,
        size: usize::from(seed) * 2 + 1,
    }
}

/// Feeds `stream` to `reader` in chunks and takes replies to requests 0, 1, ...
fn read_replies<R: ReplyReader>(mut reader: R, data: &[u8]) {
    let (chunk, stream) = chunking(data);
    let size_seed = stream.first().copied().unwrap_or(0);
    let mut id = 0;
    let mut rest = stream;
    for _ in 0..STEPS {
        if rest.is_empty() {
            return;
        }
        let buf = reader.read_buf();
        let n = buf.len().min(chunk).min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        reader.filled(n);
        rest = &rest[n..];
        for _ in 0..STEPS {
            match reader.take_reply(&request(id, size_seed)) {
                Ok(Some(_))
                | Err(
                    bench_client::workload::Failure::Mismatch(_)
                    | bench_client::workload::Failure::Server(_),
                ) => id += 1,
                Ok(None) => break,
                Err(bench_client::workload::Failure::Protocol(_)) => return,
            }
        }
    }
}

/// tcp-echo's reply reader over `data`.
pub fn tcp_echo_reply(data: &[u8]) {
    let config = config(WorkloadKind::TcpEcho);
    let verifier = Verifier::new(&config, Arc::new(Pattern::new(1024)));
    let (_, reader) = TcpEcho::new(verifier).split(0);
    read_replies(reader, data);
}

/// framed's reply reader over `data`.
pub fn framed_reply(data: &[u8]) {
    let config = config(WorkloadKind::Framed);
    let verifier = Verifier::new(&config, Arc::new(Pattern::new(1024)));
    let (_, reader) = Framed::new(&config, verifier).split(0);
    read_replies(reader, data);
}

/// The UDP probe header and udp-echo's reply check over one datagram.
pub fn udp_probe(data: &[u8]) {
    let _ = ProbeHeader::read_from(data);
    let config = config(WorkloadKind::UdpEcho);
    let verifier = Verifier::new(&config, Arc::new(Pattern::new(1024)));
    let size_seed = data.first().copied().unwrap_or(0);
    // udp-echo requests are at least the probe header long (the config refuses less;
    // the first long run fed shorter ones and hit that precondition, a harness bug).
    let req = Request {
        id: u64::from(size_seed),
        size: bench_proto::PROBE_LEN + usize::from(size_seed) * 2,
    };
    let _ = udp_echo::verify(&verifier, config.expect, &req, 7, data);
}

/// The unit parsers (sizes, durations, nanosecond text), the size range and the
/// `--impair` spec parser; a size or duration that parses prints back to itself.
pub fn units(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(size) = text.parse::<ByteSize>() {
        let again: ByteSize = size.to_string().parse().expect("a printed size parses");
        assert_eq!(again, size, "{text:?} -> {size}");
    }
    if let Ok(d) = text.parse::<HumanDuration>() {
        let again: HumanDuration = d.to_string().parse().expect("a printed duration parses");
        assert_eq!(again, d, "{text:?} -> {d}");
    }
    let _ = bench_proto::units::parse_ns(text);
    let _ = text.parse::<bench_client::config::SizeRange>();
    let _ = bench_server::proxy::Impairments::default().add(text);
}

/// The report reader (schema check included) over a file's bytes.
pub fn report(data: &[u8]) {
    let _ = Report::from_slice(Path::new("fuzz.json"), data);
}

/// The bundled workload files (`workloads/`), which `custom_reply` reads replies by.
const WORKLOADS: [&str; 5] = [
    include_str!("../workloads/framed-echo.toml"),
    include_str!("../workloads/line-echo.toml"),
    include_str!("../workloads/memcached-get-set.toml"),
    include_str!("../workloads/redis-get-set.toml"),
    include_str!("../workloads/redis-ping.toml"),
];

/// The bundled workloads, parsed once (a regex compile per input would starve the fuzzer).
fn bundled() -> &'static [Custom] {
    static PARSED: OnceLock<Vec<Custom>> = OnceLock::new();
    PARSED.get_or_init(|| {
        let pattern = Arc::new(Pattern::new(1024));
        WORKLOADS
            .iter()
            .map(|text| {
                Custom::new(
                    spec::parse(text).expect("a bundled workload parses"),
                    pattern.clone(),
                )
            })
            .collect()
    })
}

/// The custom-protocol reply reader: the input's first byte picks a bundled workload, the
/// rest is its reply stream (chunked as the other readers' are) and, as UDP would see it,
/// one datagram.
pub fn custom_reply(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let workloads = bundled();
    let workload = &workloads[usize::from(pick) % workloads.len()];
    let (_, reader) = workload.halves(0);
    read_replies(reader, rest);
    let (_, mut reader) = workload.halves(1);
    let _ = reader.take_datagram(&request(0, pick), rest);
}

/// The workload file parser (TOML keys, templates, regexes, reply rules) over any text;
/// a file that parses also renders its first requests.
pub fn workload_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = spec::parse(text) else {
        return;
    };
    let custom = Custom::new(parsed, Arc::new(Pattern::new(1024)));
    let mut out = Vec::new();
    for id in 0..4 {
        CustomReader::render_datagram(&custom, 0, &request(id, 3), &mut out);
    }
}
