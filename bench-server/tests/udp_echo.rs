//! udp-echo: every datagram comes back whole to its sender (uppercased with
//! `--transform upper`), the probe header survives the round trip, and stats count it.

mod common;

use bench_proto::{PROBE_LEN, ProbeHeader};
use bench_server::{Proto, Transform};
use common::*;

fn datagram(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + ((i + seed) % 26) as u8).collect()
}

fn round_trip(s: &std::net::UdpSocket, sent: &[u8]) -> Vec<u8> {
    s.send(sent).unwrap();
    // Larger than any datagram, so a reply that grew would show.
    let mut buf = vec![0u8; 70_000];
    let n = s.recv(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn datagrams_of_every_size_come_back_whole() {
    let server = start_server(Proto::UdpEcho, test_config());
    let s = udp_client(server.addr(Proto::UdpEcho).unwrap());
    let sizes = [0usize, 16, 1024, 60 * 1024];
    for (seed, &len) in sizes.iter().enumerate() {
        let sent = datagram(len, seed);
        assert_eq!(round_trip(&s, &sent), sent, "{len}-byte datagram");
    }
    let stats = stop(server);
    let total: u64 = sizes.iter().map(|&n| n as u64).sum();
    assert_eq!(stats.requests, sizes.len() as u64);
    assert_eq!(stats.bytes_in, total);
    assert_eq!(stats.bytes_out, total);
    assert_eq!(stats.errors.values().sum::<u64>(), 0);
}

#[test]
fn transform_upper_uppercases_ascii_only() {
    let server = start_with(Proto::UdpEcho, |c| c.transform = Transform::Upper);
    let s = udp_client(server.addr(Proto::UdpEcho).unwrap());
    let sent = "hello, Wörld 123 xyz".as_bytes();
    assert_eq!(round_trip(&s, sent), "HELLO, WöRLD 123 XYZ".as_bytes());
    stop(server);
}

#[test]
fn the_probe_header_survives_the_round_trip() {
    let server = start_server(Proto::UdpEcho, test_config());
    let s = udp_client(server.addr(Proto::UdpEcho).unwrap());
    for seq in [0u64, 1, 7, u64::MAX] {
        let probe = ProbeHeader {
            seq,
            sent_ns: seq.wrapping_mul(3).wrapping_add(1_234_567_890_123),
        };
        let mut sent = datagram(64, (seq % 26) as usize);
        probe.write_to(&mut sent).unwrap();
        let got = round_trip(&s, &sent);
        assert_eq!(got, sent);
        assert_eq!(ProbeHeader::read_from(&got).unwrap(), probe);
        assert_eq!(&got[PROBE_LEN..], &sent[PROBE_LEN..]);
    }
    stop(server);
}

#[test]
fn two_clients_get_only_their_own_replies() {
    let server = start_server(Proto::UdpEcho, test_config());
    let addr = server.addr(Proto::UdpEcho).unwrap();
    let clients: Vec<_> = (0..2u8)
        .map(|who| {
            std::thread::spawn(move || {
                let s = udp_client(addr);
                for i in 0..200u32 {
                    let mut sent = vec![who; 32];
                    sent[1..5].copy_from_slice(&i.to_le_bytes());
                    // Loopback does not drop at this pace; a missing reply times out
                    // the read and fails the test.
                    assert_eq!(round_trip(&s, &sent), sent, "client {who} datagram {i}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a client got a wrong or missing reply");
    }
    let stats = stop(server);
    assert_eq!(stats.requests, 400);
}

#[test]
fn udp_keeps_serving_after_a_peer_vanishes() {
    let server = start_server(Proto::UdpEcho, test_config());
    let addr = server.addr(Proto::UdpEcho).unwrap();
    {
        // Sends and closes before the reply can be read; the reply goes nowhere
        // (ICMP port unreachable on loopback), which must not stop the loop.
        let gone = udp_client(addr);
        gone.send(b"bye").unwrap();
    }
    let s = udp_client(addr);
    for i in 0..10 {
        let sent = datagram(100, i);
        assert_eq!(round_trip(&s, &sent), sent);
    }
    stop(server);
}
