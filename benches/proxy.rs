//! Proxy bench: one tcp-echo round trip per iteration, straight to bench-server and
//! through the bench-server relay (`bench_server::proxy`) with each strategy, 64 B and
//! 16 KiB, TCP_NODELAY on everywhere. Ids read `proxy/<path>/<size>`: `proxy/direct/64B`,
//! `proxy/relay-copy/64B`, `proxy/relay-splice/16KiB`, one group, so criterion's summary
//! shows what the extra hop costs side by side.
//!
//! The server and the relays start once; each benchmark connects once, outside the timed
//! part, and [`round_trip::Client::time_round_trips`] times `iters` verified round trips
//! on that connection (`iter_custom`), exactly like the loopback bench.

// Shared with the loopback bench; this one uses only its tcp-echo part.
#[allow(dead_code)]
mod round_trip;

use std::net::SocketAddr;
use std::time::Duration;

use bench_proto::ByteSize;
use bench_server::proxy::{Front, ProxyConfig, ProxyHandle, ProxyProto, Strategy, spawn_proxy};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use round_trip::{Client, Workload, bench_client, spawn_server};

const SIZES: [usize; 2] = [64, 16 * 1024];

fn relay(upstream: SocketAddr, strategy: Strategy) -> ProxyHandle {
    let mut config = ProxyConfig::new(ProxyProto::Tcp, upstream);
    config.strategy = strategy;
    let front = Front::bind(ProxyProto::Tcp, "127.0.0.1:0".parse().expect("literal"))
        .expect("bind 127.0.0.1:0");
    spawn_proxy(front, config).expect("relay starts")
}

fn proxy(c: &mut Criterion) {
    let (server, direct) = spawn_server(Workload::TcpEcho, true);
    let copy = relay(direct, Strategy::Copy);
    let splice = relay(direct, Strategy::Splice);
    let paths = [
        ("direct", direct),
        ("relay-copy", copy.addr()),
        ("relay-splice", splice.addr()),
    ];
    let mut group = c.benchmark_group("proxy");
    for size in SIZES {
        for (path, addr) in paths {
            let client = smol::block_on(Client::connect(Workload::TcpEcho, addr, true, size))
                .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
            group.throughput(Throughput::Bytes(size as u64));
            let id = BenchmarkId::new(path, ByteSize(size as u64).to_string());
            bench_client(&mut group, id, client);
        }
    }
    group.finish();
    for relay in [copy, splice] {
        let summary = relay.stop().expect("relay stops cleanly");
        assert_eq!(
            summary.bytes_to_upstream, summary.bytes_to_client,
            "every byte relayed came back"
        );
    }
    server.stop().expect("server stops cleanly");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = proxy
}
criterion_main!(benches);
