//! Codec behaviour: frames survive any fragmentation or coalescing, and every malformed
//! input is a typed error, never a panic or an allocation from an untrusted length.

use bench_proto::codec::PREFIX_LEN;
use bench_proto::{
    CommandName, DecodeError, Decoder, Limits, RequestHeader, ResponseHeader, encode_frame,
};
use proptest::prelude::*;

type Decoded = (RequestHeader, Vec<u8>);

fn wire_of(frames: &[Decoded]) -> Vec<u8> {
    let mut wire = Vec::new();
    for (header, body) in frames {
        encode_frame(header, body, &mut wire).unwrap();
    }
    wire
}

/// Feeds `wire` cut at `cuts` and decodes after every chunk.
fn decode_in_pieces(wire: &[u8], cuts: &[usize]) -> Vec<Decoded> {
    let mut dec = Decoder::<RequestHeader>::new(Limits::default());
    let mut out = Vec::new();
    let mut last = 0;
    for &cut in cuts.iter().chain(std::iter::once(&wire.len())) {
        dec.feed(&wire[last..cut]);
        last = cut;
        while let Some(frame) = dec.decode().unwrap() {
            out.push((frame.header, frame.body.to_vec()));
        }
    }
    assert!(
        dec.at_frame_boundary(),
        "bytes left over after the last frame"
    );
    out
}

fn command_name() -> impl Strategy<Value = CommandName> {
    prop_oneof![
        Just(CommandName::Echo),
        Just(CommandName::Upper),
        Just(CommandName::Discard),
        Just(CommandName::Generate),
        Just(CommandName::Sleep),
        Just(CommandName::Stats),
        "[a-z\\\\\"é]{1,12}".prop_map(|s| CommandName::parse(&s)),
    ]
}

fn frame() -> impl Strategy<Value = Decoded> {
    (
        command_name(),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 0..600),
        proptest::option::of(any::<u64>()),
        proptest::option::of(0u64..100_000),
    )
        .prop_map(|(cmd, id, body, size, ms)| {
            let mut h = RequestHeader::new(cmd, id, body.len() as u64);
            h.size = size;
            h.ms = ms;
            (h, body)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn frames_survive_any_fragmentation(
        frames in prop::collection::vec(frame(), 0..12),
        cut_seeds in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let wire = wire_of(&frames);
        let mut cuts: Vec<usize> = cut_seeds.iter().map(|i| i.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(decode_in_pieces(&wire, &cuts), frames);
    }

    #[test]
    fn frames_survive_one_byte_pieces(frames in prop::collection::vec(frame(), 1..6)) {
        let wire = wire_of(&frames);
        let cuts: Vec<usize> = (1..wire.len()).collect();
        prop_assert_eq!(decode_in_pieces(&wire, &cuts), frames);
    }

    #[test]
    fn frames_survive_one_chunk(frames in prop::collection::vec(frame(), 1..30)) {
        let wire = wire_of(&frames);
        prop_assert_eq!(decode_in_pieces(&wire, &[]), frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut dec = Decoder::<RequestHeader>::new(Limits { max_header: 512, max_body: 1024 });
        dec.feed(&bytes);
        while let Ok(Some(_)) = dec.decode() {}
    }
}

#[test]
fn read_buf_and_filled_decode_like_feed() {
    let frames = vec![
        (RequestHeader::new(CommandName::Echo, 1, 3), b"abc".to_vec()),
        (RequestHeader::new(CommandName::Upper, 2, 0), Vec::new()),
    ];
    let wire = wire_of(&frames);
    let mut dec = Decoder::<RequestHeader>::new(Limits::default());
    let mut got = Vec::new();
    for piece in wire.chunks(5) {
        let space = dec.read_buf();
        space[..piece.len()].copy_from_slice(piece);
        dec.filled(piece.len());
        while let Some(f) = dec.decode().unwrap() {
            got.push((f.header, f.body.to_vec()));
        }
    }
    assert_eq!(got, frames);
}

#[test]
fn a_small_read_chunk_keeps_the_buffer_small_and_still_takes_large_frames() {
    let mut dec = Decoder::<ResponseHeader>::new(Limits::default()).with_read_chunk(512);
    assert_eq!(dec.read_buf().len(), 512, "room for small replies only");
    let body = vec![b'x'; 100_000];
    let mut wire = Vec::new();
    encode_frame(&ResponseHeader::ok(1, body.len() as u64), &body, &mut wire).unwrap();
    let mut got = None;
    let mut rest = &wire[..];
    while !rest.is_empty() {
        let space = dec.read_buf();
        let n = space.len().min(rest.len());
        space[..n].copy_from_slice(&rest[..n]);
        dec.filled(n);
        rest = &rest[n..];
        if let Some(f) = dec.decode().unwrap() {
            got = Some(f.body.len());
        }
    }
    assert_eq!(got, Some(100_000));
    assert!(dec.decode().unwrap().is_none());
    assert!(dec.read_buf().len() >= 512);
}

#[test]
fn megabyte_body_arrives_whole() {
    let body: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let mut wire = Vec::new();
    encode_frame(&ResponseHeader::ok(9, body.len() as u64), &body, &mut wire).unwrap();
    let mut dec = Decoder::<ResponseHeader>::new(Limits::default());
    let mut got = None;
    for piece in wire.chunks(1460) {
        dec.feed(piece);
        if let Some(f) = dec.decode().unwrap() {
            got = Some(f.body.to_vec());
        }
    }
    assert_eq!(got.as_deref(), Some(&body[..]));
}

fn decode_error(bytes: &[u8], limits: Limits) -> DecodeError {
    let mut dec = Decoder::<RequestHeader>::new(limits);
    dec.feed(bytes);
    match dec.decode() {
        Err(e) => e,
        Ok(f) => panic!("expected an error, got {:?}", f.map(|f| f.header)),
    }
}

fn with_prefix(header: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u32).to_le_bytes().to_vec();
    v.extend_from_slice(header);
    v
}

#[test]
fn header_length_zero_and_one_are_rejected() {
    for len in [0u32, 1] {
        let err = decode_error(&len.to_le_bytes(), Limits::default());
        assert!(matches!(err, DecodeError::HeaderLenTooSmall { len: l } if l == len));
        assert_eq!(err.reason(), "header_len_too_small");
    }
}

#[test]
fn oversized_header_is_rejected_from_the_prefix_alone() {
    // Only the 4 prefix bytes are sent: the decoder must not wait for (or reserve) 4 GiB.
    let err = decode_error(&u32::MAX.to_le_bytes(), Limits::default());
    assert!(matches!(
        err,
        DecodeError::HeaderLenTooLarge {
            len: u32::MAX,
            max: 65536
        }
    ));
}

#[test]
fn oversized_body_is_rejected_before_it_arrives() {
    let header = br#"{"cmd":"echo","id":4,"total_size":17000000}"#;
    let err = decode_error(&with_prefix(header), Limits::default());
    assert!(matches!(
        err,
        DecodeError::BodyTooLarge {
            id: 4,
            total_size: 17_000_000,
            ..
        }
    ));
    assert_eq!(err.id(), 4);
}

#[test]
fn invalid_json_not_object_and_bad_fields_are_told_apart() {
    let err = decode_error(&with_prefix(b"{\"cmd\":"), Limits::default());
    assert!(matches!(err, DecodeError::InvalidJson { .. }), "{err}");
    let err = decode_error(&with_prefix(b"\xff\xfe"), Limits::default());
    assert!(matches!(err, DecodeError::InvalidJson { .. }), "{err}");

    for (json, what) in [
        (&b"[1,2]"[..], "an array"),
        (b"42", "a number"),
        (b"\"echo\"", "a string"),
        (b"null", "null"),
    ] {
        let err = decode_error(&with_prefix(json), Limits::default());
        assert!(
            matches!(err, DecodeError::HeaderNotObject { found } if found == what),
            "{err}"
        );
    }

    let err = decode_error(&with_prefix(br#"{"cmd":"echo","id":5}"#), Limits::default());
    assert!(matches!(err, DecodeError::BadField { id: 5, .. }), "{err}");
    assert!(err.to_string().contains("total_size"), "{err}");
}

#[test]
fn prefix_is_little_endian() {
    let mut wire = Vec::new();
    encode_frame(&ResponseHeader::ok(1, 0), b"", &mut wire).unwrap();
    let len = wire.len() - PREFIX_LEN;
    assert_eq!(wire[..4], [len as u8, (len >> 8) as u8, 0, 0]);
}
