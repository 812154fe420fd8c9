//! "Sticky packets" end to end: TCP has no message boundaries, so the server must answer
//! every frame whether many arrive in one segment or one arrives over many.

mod common;

use std::io::Write;
use std::time::Duration;

use bench_server::{Proto, WriteMode};
use common::*;
use serde_json::json;

#[test]
fn many_frames_in_one_write_get_every_response_in_order() {
    for mode in [WriteMode::Coalesced, WriteMode::Split] {
        let server = start_with(Proto::Framed, |c| c.write_mode = mode);
        let mut s = connect(server.addr(Proto::Framed).unwrap());
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for id in 0..200u64 {
            let body: Vec<u8> = (0..(id * 7 % 300)).map(|i| b'a' + (i % 26) as u8).collect();
            let cmd = if id % 2 == 0 { "echo" } else { "upper" };
            wire.extend(frame(
                json!({"cmd": cmd, "id": id, "total_size": body.len()}),
                &body,
            ));
            let reply = if id % 2 == 0 {
                body
            } else {
                body.to_ascii_uppercase()
            };
            expected.push((id, reply));
        }
        s.write_all(&wire).unwrap();
        for (id, body) in expected {
            let (h, got) = read_response(&mut s)
                .unwrap()
                .expect("a response per frame");
            assert_eq!(h.id, id, "{mode:?}");
            assert_eq!(got, body, "{mode:?} id {id}");
        }
        drop(s);
        assert_eq!(stop(server).requests, 200);
    }
}

#[test]
fn one_frame_over_many_writes_gets_its_response() {
    let server = start_with(Proto::Framed, |_| {});
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let wire = frame(
        json!({"cmd": "echo", "id": 77, "total_size": body.len()}),
        &body,
    );
    // Pieces of 1..=13 bytes, with pauses so they arrive as separate segments.
    let mut at = 0;
    for (i, len) in (1..=13).cycle().enumerate() {
        if at >= wire.len() {
            break;
        }
        let end = (at + len).min(wire.len());
        s.write_all(&wire[at..end]).unwrap();
        at = end;
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let (h, got) = read_response(&mut s).unwrap().expect("a response");
    assert_eq!(h.id, 77);
    assert_eq!(got, body);
}

#[test]
fn frame_boundaries_inside_a_write_do_not_matter() {
    // Three frames sent as two writes cut in the middle of the second frame's header.
    let server = start_with(Proto::Framed, |_| {});
    let mut s = connect(server.addr(Proto::Framed).unwrap());
    let mut wire = frame(json!({"cmd": "echo", "id": 1, "total_size": 3}), b"one");
    let second_at = wire.len();
    wire.extend(frame(
        json!({"cmd": "echo", "id": 2, "total_size": 3}),
        b"two",
    ));
    wire.extend(frame(
        json!({"cmd": "echo", "id": 3, "total_size": 5}),
        b"three",
    ));
    let cut = second_at + 6;
    s.write_all(&wire[..cut]).unwrap();
    let (h, body) = read_response(&mut s).unwrap().unwrap();
    // The first reply proves the server read the first write, half-header included.
    assert_eq!((h.id, body.as_slice()), (1, &b"one"[..]));
    s.write_all(&wire[cut..]).unwrap();
    for (id, text) in [(2, &b"two"[..]), (3, b"three")] {
        let (h, body) = read_response(&mut s).unwrap().unwrap();
        assert_eq!((h.id, body.as_slice()), (id, text));
    }
}
