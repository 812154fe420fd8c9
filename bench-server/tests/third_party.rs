//! The third-party proxy configs in `proxies/` work as shipped: haproxy (`mode tcp`) and
//! nginx `stream` (TCP and UDP) relay bench-server traffic byte for byte. Each test
//! copies the repository's file to a temporary directory with its ports replaced by free
//! ones (the repository file stays the source of truth), runs the proxy in the
//! foreground in front of an in-process bench-server, and kills it at the end.
//!
//! Ignored by default: they need the packages (Debian: `apt-get install haproxy nginx
//! libnginx-mod-stream`). Run with
//! `cargo test -p bench-server --test third_party -- --include-ignored`.

mod common;
#[path = "../../tests/support/third_party.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::Duration;

use bench_server::Proto;
use common::*;
use support::{free_tcp, free_udp, temp_dir};

fn payload(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(13).wrapping_add(seed) % 251) as u8)
        .collect()
}

/// Several connections at once, each with round trips of a few sizes and then a large
/// stream ended by a half-close; every byte must come back in order.
fn assert_tcp_echo_through(addr: SocketAddr) {
    thread::scope(|scope| {
        for i in 0..8 {
            scope.spawn(move || {
                let mut s = connect(addr);
                for (k, len) in [1, 100, 4096, 30_000].into_iter().enumerate() {
                    assert_tcp_echo(&mut s, &payload(len, i * 4 + k));
                }
                let big = payload(200_000 + i, i);
                let mut writer = s.try_clone().unwrap();
                let sent = big.clone();
                let sending = thread::spawn(move || {
                    writer.write_all(&sent).unwrap();
                    writer.shutdown(Shutdown::Write).unwrap();
                });
                let mut got = Vec::new();
                s.read_to_end(&mut got).unwrap();
                sending.join().unwrap();
                assert!(got == big, "connection {i}: {} bytes back", got.len());
            });
        }
    });
}

#[test]
#[ignore = "needs haproxy"]
fn haproxy_cfg_relays_tcp_echo_byte_exact() {
    let upstream = start_server(Proto::TcpEcho, test_config());
    let front = free_tcp();
    let dir = temp_dir("haproxy");
    let haproxy = support::haproxy(&dir, front, upstream.addr(Proto::TcpEcho).unwrap());
    assert_tcp_echo_through(front);
    drop(haproxy);
    let stats = stop(upstream);
    assert!(stats.bytes_in >= 8 * 200_000, "{stats:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs nginx and its stream module"]
fn nginx_conf_relays_tcp_and_udp_echo_byte_exact() {
    let tcp_upstream = start_server(Proto::TcpEcho, test_config());
    let udp_upstream = start_server(Proto::UdpEcho, test_config());
    let (tcp_front, udp_front) = (free_tcp(), free_udp());
    let dir = temp_dir("nginx");
    let nginx = support::nginx(
        &dir,
        (tcp_front, udp_front),
        (
            tcp_upstream.addr(Proto::TcpEcho).unwrap(),
            udp_upstream.addr(Proto::UdpEcho).unwrap(),
        ),
    );
    assert_tcp_echo_through(tcp_front);

    // UDP: the same socket (one nginx session), many datagrams, each answered whole.
    let s = udp_client(udp_front);
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for seq in 0..50 {
        let msg = format!("datagram {seq} {}", "y".repeat(seq * 20));
        s.send(msg.as_bytes()).unwrap();
        let mut buf = vec![0u8; 70_000];
        let n = s
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("datagram {seq}: {e}"));
        assert_eq!(&buf[..n], msg.as_bytes(), "datagram {seq}");
    }
    drop(nginx);
    assert_eq!(stop(udp_upstream).requests, 50);
    stop(tcp_upstream);
    std::fs::remove_dir_all(&dir).unwrap();
}
