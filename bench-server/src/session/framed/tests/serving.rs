//! Pipelining, fragmentation, write modes and partial writes.

use super::*;
use crate::config::WriteMode;
use crate::protocol::command::PATTERN;
use bench_proto::codec::PREFIX_LEN;
use bench_proto::command::generate_byte;

#[test]
fn pipelined_frames_in_one_read_are_answered_in_order_one_at_a_time() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut wire = request(CommandName::Echo, 1, b"one");
    wire.extend(request(CommandName::Echo, 2, b"two"));
    wire.extend(request(CommandName::Discard, 3, b"three"));
    assert_eq!(feed(&mut s, &wire, t0), wire.len(), "one read");
    // Only the first reply is offered, and no read is wanted until it is written.
    assert_ok(&peek(&s), 1, b"one");
    assert!(!s.wants_read() && !s.at_boundary());
    let first = peek(&s);
    s.wrote(first.len(), t0);
    assert_ok(&first, 1, b"one");
    // The next frame was already read: decoded with no new read.
    assert_ok(&peek(&s), 2, b"two");
    let rest = drain(&mut s, t0);
    let answers = responses(&[first, rest].concat());
    let ids: Vec<u64> = answers.iter().map(|(h, _)| h.id).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(answers[2].1, b"");
    assert!(s.wants_read() && s.at_boundary());
    assert_eq!(s.take_served(), 3);
    assert_eq!(s.take_served(), 0, "taken once");
    assert!(actions(&mut s).is_empty());
}

#[test]
fn frames_survive_a_cut_at_every_byte() {
    let mut wire = request(CommandName::Echo, 1, b"hello");
    wire.extend(generate(2, 30));
    wire.extend(request(CommandName::Upper, 3, b"MiXeD"));
    let t0 = Instant::now();
    for cut in 0..=wire.len() {
        let mut s = session(t0);
        let mut out = Vec::new();
        assert_eq!(feed(&mut s, &wire[..cut], t0), cut);
        out.extend(drain(&mut s, t0));
        assert_eq!(feed(&mut s, &wire[cut..], t0), wire.len() - cut);
        out.extend(drain(&mut s, t0));
        let answers = responses(&out);
        let got: Vec<(u64, Vec<u8>)> = answers.into_iter().map(|(h, b)| (h.id, b)).collect();
        let pattern: Vec<u8> = (0..30).map(generate_byte).collect();
        assert_eq!(
            got,
            [(1, b"hello".to_vec()), (2, pattern), (3, b"MIXED".to_vec())],
            "cut at {cut}"
        );
        assert!(s.at_boundary(), "cut at {cut}");
        assert_eq!(s.take_served(), 3, "cut at {cut}");
    }
}

#[test]
fn split_mode_hands_out_prefix_json_and_body_as_separate_writes() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(|c| c.write_mode = WriteMode::Split, t0);
    feed(&mut s, &request(CommandName::Echo, 7, b"body"), t0);
    let prefix = peek(&s);
    assert_eq!(prefix.len(), PREFIX_LEN);
    assert_eq!(s.outgoing().as_slices().len(), 1);
    s.wrote(PREFIX_LEN, t0);
    let json = peek(&s);
    assert_eq!(
        json.len(),
        u32::from_le_bytes(prefix[..].try_into().unwrap()) as usize
    );
    assert!(json.starts_with(b"{") && json.ends_with(b"}"));
    s.wrote(json.len(), t0);
    assert_eq!(peek(&s), b"body");
    s.wrote(4, t0);
    assert!(s.outgoing().is_empty());
    assert_ok(&[prefix, json, b"body".to_vec()].concat(), 7, b"body");
}

#[test]
fn split_mode_keeps_its_parts_across_short_writes() {
    let t0 = Instant::now();
    let (mut s, _) = session_with(|c| c.write_mode = WriteMode::Split, t0);
    feed(&mut s, &request(CommandName::Echo, 7, b"body"), t0);
    s.wrote(1, t0);
    assert_eq!(
        peek(&s).len(),
        PREFIX_LEN - 1,
        "the rest of the prefix only"
    );
    s.wrote(PREFIX_LEN - 1, t0);
    let json_len = peek(&s).len();
    s.wrote(json_len - 1, t0);
    assert_eq!(peek(&s), b"}", "the rest of the JSON only");
    s.wrote(1, t0);
    s.wrote(1, t0);
    assert_eq!(peek(&s), b"ody");
}

#[test]
fn coalesced_mode_hands_out_header_and_body_at_once() {
    let t0 = Instant::now();
    let mut s = session(t0);
    feed(&mut s, &request(CommandName::Echo, 7, b"body"), t0);
    assert_eq!(
        s.outgoing().as_slices().len(),
        2,
        "header and body, one writev"
    );
    let wire = peek(&s);
    s.wrote(wire.len(), t0);
    assert!(s.outgoing().is_empty());
    assert_ok(&wire, 7, b"body");
}

#[test]
fn a_reply_written_a_byte_at_a_time_is_the_same_reply() {
    let t0 = Instant::now();
    for mode in [WriteMode::Coalesced, WriteMode::Split] {
        let (mut s, _) = session_with(|c| c.write_mode = mode, t0);
        feed(&mut s, &request(CommandName::Echo, 1, b"abcdef"), t0);
        let wire = drain_in(&mut s, 1, t0);
        assert_ok(&wire, 1, b"abcdef");
        assert_eq!(s.take_served(), 1, "{mode:?}");
        assert!(s.wants_read());
    }
}

#[test]
fn a_generate_reply_goes_out_as_up_to_16_pattern_copies_per_write() {
    let t0 = Instant::now();
    let size = 20 * PATTERN.len() + 123;
    for mode in [WriteMode::Coalesced, WriteMode::Split] {
        let (mut s, _) = session_with(|c| c.write_mode = mode, t0);
        feed(&mut s, &generate(5, size as u64), t0);
        let mut wire = Vec::new();
        for _ in 0..100 {
            let out = s.outgoing();
            if out.is_empty() {
                break;
            }
            assert!(out.as_slices().len() <= crate::session::MAX_SLICES);
            let bytes = peek(&s);
            // An odd short write, so the next batch starts inside a copy.
            let n = bytes.len().min(PATTERN.len() + 7);
            wire.extend_from_slice(&bytes[..n]);
            s.wrote(n, t0);
        }
        let (h, body) = response(&wire);
        assert_eq!((h.id, body.len()), (5, size), "{mode:?}");
        assert!(
            body.iter()
                .enumerate()
                .all(|(i, &b)| b == generate_byte(i as u64))
        );
    }
}

#[test]
fn a_whole_generate_batch_is_the_header_and_16_copies() {
    let t0 = Instant::now();
    let mut s = session(t0);
    feed(&mut s, &generate(1, 40 * PATTERN.len() as u64), t0);
    let out = s.outgoing();
    assert_eq!(out.as_slices().len(), 17);
    let header_len = out.as_slices()[0].len();
    assert_eq!(out.total(), header_len + 16 * PATTERN.len());
}
