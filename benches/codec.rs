//! Codec benches: `bench_proto`'s framed codec without any socket.
//!
//! - `encode/<size>`: [`encode_frame`] of one echo request (prefix, JSON header, body)
//!   into a reused buffer.
//! - `decode/<chunking>/<size>`: the same frame fed to a reused [`Decoder`] in the
//!   pieces a socket could deliver: 1-byte chunks (the worst case, a byte per read),
//!   1,460-byte chunks (one Ethernet MSS per read) or the whole frame at once, calling
//!   `decode` after every chunk as a connection's read loop does. The chunks go in
//!   through `Decoder::feed` (a copy from a slice); the servers and the client read
//!   straight into the decoder's buffer (`read_buf`/`filled`) instead, so these cells
//!   measure framing and header parsing, and `feed`'s copy, not that read path.
//!
//! Body sizes are 0 B, 64 B, 4 KiB, 64 KiB and 1 MiB. Throughput is the whole frame
//! (prefix + header + body), so the 0 B cells still report a rate. Every decode checks
//! that exactly one frame with the right id and body length came out.
//!
//! How to run and compare: `docs/benches.md`.

use std::hint::black_box;
use std::time::Duration;

use bench_proto::{ByteSize, CommandName, Decoder, Limits, RequestHeader, encode_frame};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

/// Body sizes of every group.
const SIZES: [usize; 5] = [0, 64, 4 << 10, 64 << 10, 1 << 20];

/// Bytes per read in the middle chunking: one Ethernet MSS (1500 - 20 IP - 20 TCP).
const MSS: usize = 1460;

/// The request id every frame carries (checked on decode).
const ID: u64 = 42;

/// How a frame is cut into reads.
#[derive(Clone, Copy)]
enum Chunking {
    /// One byte per read.
    Byte,
    /// [`MSS`] bytes per read.
    Mss,
    /// The whole frame in one read.
    Whole,
}

impl Chunking {
    /// The benchmark function name.
    fn name(self) -> &'static str {
        match self {
            Chunking::Byte => "chunk-1B",
            Chunking::Mss => "chunk-1460B",
            Chunking::Whole => "whole",
        }
    }

    /// Bytes per `feed`.
    fn chunk_len(self, frame_len: usize) -> usize {
        match self {
            Chunking::Byte => 1,
            Chunking::Mss => MSS,
            Chunking::Whole => frame_len.max(1),
        }
    }
}

/// A body of `size` printable bytes.
fn body(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

/// One encoded echo request with a `size`-byte body.
fn frame(size: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    let header = RequestHeader::new(CommandName::Echo, ID, size as u64);
    encode_frame(&header, &body(size), &mut wire).expect("header serialises");
    wire
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for size in SIZES {
        let body = body(size);
        let header = RequestHeader::new(CommandName::Echo, ID, size as u64);
        let mut out = Vec::with_capacity(frame(size).len());
        group.throughput(Throughput::Bytes(frame(size).len() as u64));
        group.bench_function(BenchmarkId::from_parameter(ByteSize(size as u64)), |b| {
            b.iter(|| {
                out.clear();
                encode_frame(black_box(&header), black_box(&body), &mut out)
                    .expect("header serialises");
                black_box(out.len())
            })
        });
    }
    group.finish();
}

/// Feeds `wire` to `decoder` in `chunk`-byte pieces, decoding after each, and checks
/// that exactly one frame of `size` bytes came out, at the very end.
fn decode_in_chunks(decoder: &mut Decoder<RequestHeader>, wire: &[u8], chunk: usize, size: usize) {
    let mut frames = 0;
    for piece in wire.chunks(chunk) {
        decoder.feed(piece);
        if let Some(frame) = decoder.decode().expect("valid frame") {
            assert_eq!(frame.header.id, ID);
            assert_eq!(frame.body.len(), size);
            black_box(frame.body);
            frames += 1;
        }
    }
    assert_eq!(frames, 1, "one frame per {} bytes fed", wire.len());
    assert!(decoder.decode().expect("valid stream").is_none());
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    // Group settings stick for the benches after them, so the one cell that needs
    // shorter settings (1-byte chunks, 1 MiB) must come last.
    for chunking in [Chunking::Whole, Chunking::Mss, Chunking::Byte] {
        for size in SIZES {
            let wire = frame(size);
            let chunk = chunking.chunk_len(wire.len());
            if matches!(chunking, Chunking::Byte) && size == SIZES[SIZES.len() - 1] {
                // A million feed + decode calls take about 10-20 ms per iteration, so the
                // default 100 linearly growing samples would need over a minute. Ten flat
                // samples keep the cell to a few seconds and still give an estimate.
                group
                    .sample_size(10)
                    .sampling_mode(SamplingMode::Flat)
                    .warm_up_time(Duration::from_millis(500))
                    .measurement_time(Duration::from_secs(2));
            }
            // One decoder for all iterations, as one connection reuses its own.
            let mut decoder = Decoder::<RequestHeader>::new(Limits::default());
            group.throughput(Throughput::Bytes(wire.len() as u64));
            let id = BenchmarkId::new(chunking.name(), ByteSize(size as u64));
            group.bench_function(id, |b| {
                b.iter(|| decode_in_chunks(&mut decoder, black_box(&wire), chunk, size))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Shorter than criterion's 3 s + 5 s so the whole `cargo bench` stays within
    // minutes; `--warm-up-time` / `--measurement-time` on the command line override it.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = encode, decode
}
criterion_main!(benches);
