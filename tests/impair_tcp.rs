//! TCP shaping on the impairing relay (issue 19): latency, jitter, rate, slices, stalls
//! and slow closes must show as lower bounds on what the client sees (upper bounds only
//! seconds above them: a loaded machine adds its own delay), counted by the relay, with
//! the stream intact. Every test runs on both relay models.

#[path = "support/relay.rs"]
mod relay;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bench_client::{RunConfig, RunLength, WorkloadKind};
use bench_server::Proto;
use bench_server::proxy::{ProxyHandle, ProxyModel, ProxyProto};

use relay::{MODELS, impairing_relay_on, start_server, through_impairing_relay_on};

/// One closed-loop tcp-echo connection of `requests` 64 B requests.
fn one_tcp_echo_connection(requests: u64) -> RunConfig {
    RunConfig {
        workload: WorkloadKind::TcpEcho,
        connections: 1,
        threads: 1,
        pipeline: 1,
        length: RunLength::Requests(requests),
        warmup: "0s".parse().unwrap(),
        timeout: "10s".parse().unwrap(),
        ..RunConfig::default()
    }
}

/// Sends `n` patterned bytes through `relay` to an echo server and reads them back:
/// the time that took.
fn echo_through(relay: &ProxyHandle, n: usize) -> Duration {
    let payload: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    let mut s = TcpStream::connect(relay.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let start = Instant::now();
    s.write_all(&payload).unwrap();
    let mut back = vec![0u8; n];
    s.read_exact(&mut back).unwrap();
    let took = start.elapsed();
    assert!(back == payload, "the echo came back changed");
    took
}

#[test]
fn tcp_latency_on_the_relay_shifts_the_clients_median_and_chunks_are_delayed() {
    for model in MODELS {
        tcp_latency_shifts_the_median_on(model);
    }
}

fn tcp_latency_shifts_the_median_on(model: ProxyModel) {
    let (server, addr) = start_server(Proto::TcpEcho);
    let specs = ["up:latency=20ms", "down:jitter=5ms"];
    let config = one_tcp_echo_connection(40);
    let (report, relay) = through_impairing_relay_on(model, ProxyProto::Tcp, addr, &specs, config);
    // Every request waited 20 ms on the way up (the jitter on the way down only adds):
    // the median moved by at least that, and the bytes kept their order (verified).
    // The upper bound is generous (a loaded machine adds its own delay) but catches a
    // hold applied many times over or a stuck wake.
    assert_eq!(
        report.totals.ok, 40,
        "{model:?}: {:?}",
        report.totals.errors
    );
    let p50 = report.latency.p50_ns;
    assert!(
        p50 >= 20_000_000,
        "{model:?}: p50 {p50} ns with 20 ms of latency"
    );
    assert!(
        p50 < 2_020_000_000,
        "{model:?}: p50 {p50} ns with 20 ms of latency, more than 2 s above it"
    );
    let done = relay.impaired;
    assert!(done.delayed >= 40, "{model:?}: {done:?}");
    assert!(done.delayed_bytes >= 40 * 64, "{model:?}: {done:?}");
    server.stop().unwrap();
}

#[test]
fn a_rate_limited_transfer_takes_at_least_its_size_over_the_rate_less_the_burst() {
    for model in MODELS {
        a_rate_limited_transfer_is_paced_on(model);
    }
}

fn a_rate_limited_transfer_is_paced_on(model: ProxyModel) {
    let (server, addr) = start_server(Proto::TcpEcho);
    let relay = impairing_relay_on(model, ProxyProto::Tcp, addr, &["up:rate=1Mbit"]);
    let n = 48 * 1024;
    let took = echo_through(&relay, n);
    // 1 Mbit/s is 125,000 B/s; the bucket starts full with 10 ms of it (1,250 B).
    let floor = Duration::from_secs_f64((n - 1250) as f64 / 125_000.0);
    assert!(
        took >= floor,
        "{model:?}: {n} B in {took:?}, below {floor:?}"
    );
    let summary = relay.stop().unwrap();
    assert!(
        summary.impaired.throttled > 0,
        "{model:?}: {:?}",
        summary.impaired
    );
    assert_eq!(summary.bytes_to_upstream, n as u64);
    server.stop().unwrap();
}

#[test]
fn slicing_cuts_every_upstream_write_to_the_slice_size() {
    for model in MODELS {
        slicing_cuts_writes_on(model);
    }
}

fn slicing_cuts_writes_on(model: ProxyModel) {
    let (server, addr) = start_server(Proto::TcpEcho);
    let relay = impairing_relay_on(model, ProxyProto::Tcp, addr, &["up:slice=64B"]);
    let n = 8 * 1024;
    echo_through(&relay, n);
    let summary = relay.stop().unwrap();
    // Each sliced write is its own syscall of at most 64 B (the shaper's unit tests
    // hold that): all n bytes went in at least n / 64 of them.
    assert!(
        summary.impaired.sliced >= (n / 64) as u64,
        "{model:?}: {:?}",
        summary.impaired
    );
    assert_eq!(summary.bytes_to_upstream, n as u64);
    server.stop().unwrap();
}

#[test]
fn a_stall_shows_as_the_clients_max_latency_and_the_report_is_written() {
    for model in MODELS {
        a_stall_shows_on(model);
    }
}

fn a_stall_shows_on(model: ProxyModel) {
    let (server, addr) = start_server(Proto::TcpEcho);
    let specs = ["up:stall=after:4KiB,for:300ms"];
    let config = one_tcp_echo_connection(200);
    let (report, relay) = through_impairing_relay_on(model, ProxyProto::Tcp, addr, &specs, config);
    assert_eq!(
        report.totals.ok, 200,
        "{model:?}: {:?}",
        report.totals.errors
    );
    assert!(
        relay.impaired.stalled >= 1,
        "{model:?}: {:?}",
        relay.impaired
    );
    assert!(
        report.latency.max_ns >= 300_000_000,
        "{model:?}: max {} ns with a 300 ms stall",
        report.latency.max_ns
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"max_ns\""), "the report is written whole");
    server.stop().unwrap();
}

#[test]
fn close_slowly_holds_the_clients_eof_after_the_upstream_closed() {
    for model in MODELS {
        close_slowly_holds_the_eof_on(model);
    }
}

fn close_slowly_holds_the_eof_on(model: ProxyModel) {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = upstream.local_addr().unwrap();
    let relay = impairing_relay_on(model, ProxyProto::Tcp, addr, &["down:close-slowly=300ms"]);
    let closer = std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        s.write_all(b"bye").unwrap();
        // Taken before the close: the EOF must come at least 300 ms after this.
        let closing = Instant::now();
        drop(s);
        closing
    });
    let mut client = TcpStream::connect(relay.addr()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    let eof = Instant::now();
    let closing = closer.join().unwrap();
    assert_eq!(got, b"bye");
    let after = eof - closing;
    assert!(
        after >= Duration::from_millis(300),
        "{model:?}: EOF {after:?} after the close"
    );
    drop(client);
    let summary = relay.stop().unwrap();
    assert_eq!(
        summary.impaired.closed_slowly, 1,
        "{model:?}: {:?}",
        summary.impaired
    );
}

#[test]
fn jitter_never_reorders_a_tcp_stream() {
    for model in MODELS {
        jitter_keeps_the_order_on(model);
    }
}

fn jitter_keeps_the_order_on(model: ProxyModel) {
    let (server, addr) = start_server(Proto::TcpEcho);
    let specs = ["latency=2ms", "jitter=2ms"];
    let relay = impairing_relay_on(model, ProxyProto::Tcp, addr, &specs);
    // Many chunks each way, each with its own hold: the echo checks every byte's place.
    echo_through(&relay, 512 * 1024);
    let summary = relay.stop().unwrap();
    assert!(
        summary.impaired.delayed > 2,
        "{model:?}: {:?}",
        summary.impaired
    );
    assert_eq!(summary.bytes_to_client, 512 * 1024);
    server.stop().unwrap();
}

#[test]
fn a_transfer_larger_than_the_shaping_queue_goes_through_whole() {
    for model in MODELS {
        more_than_the_queue_goes_through_on(model);
    }
}

fn more_than_the_queue_goes_through_on(model: ProxyModel) {
    let (server, addr) = start_server(Proto::TcpEcho);
    let relay = impairing_relay_on(model, ProxyProto::Tcp, addr, &["latency=20ms"]);
    // 4 MiB each way, more than the 1 MiB a direction holds per 20 ms: reading stops
    // while its queue is full and resumes as chunks leave; written from a thread of its
    // own, so the echo is read back while the rest is still going up.
    let n = 4 << 20;
    let payload: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
    let mut s = TcpStream::connect(relay.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut writer = s.try_clone().unwrap();
    let sent = payload.clone();
    let writing = std::thread::spawn(move || writer.write_all(&sent));
    let mut back = vec![0u8; n];
    s.read_exact(&mut back).unwrap();
    writing.join().unwrap().unwrap();
    assert!(back == payload, "{model:?}: the echo came back changed");
    drop(s);
    let summary = relay.stop().unwrap();
    assert_eq!(summary.bytes_to_upstream, n as u64, "{model:?}");
    assert_eq!(summary.bytes_to_client, n as u64, "{model:?}");
    assert!(
        summary.impaired.delayed_bytes >= n as u64,
        "{model:?}: {:?}",
        summary.impaired
    );
    server.stop().unwrap();
}
