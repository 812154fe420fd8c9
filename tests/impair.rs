//! The client against the impairing relay's own counts (issue 19): datagrams the relay
//! drops or duplicates on purpose must show up in the client's report exactly (both
//! sides see every datagram on loopback), a connection the relay resets on purpose
//! must show up as errors of a kind, with the report still written, and the TCP
//! shaping (latency, rate, slices, stalls, slow closes) must show as lower bounds on
//! what the client sees (upper bounds only seconds above them: a loaded machine adds
//! its own delay). Every TCP test runs on both relay models.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bench_client::{ErrorKind, Report, Run, RunConfig, RunLength, Target, WorkloadKind};
use bench_server::proxy::{
    Front, ProxyConfig, ProxyHandle, ProxyModel, ProxyProto, ProxySummary, spawn_proxy,
};
use bench_server::{Endpoint, Proto, ServerConfig, ServerHandle};

/// An echo server of `proto` on 127.0.0.1:0.
fn start_server(proto: Proto) -> (ServerHandle, SocketAddr) {
    let config = ServerConfig {
        threads: 1,
        grace: Duration::from_secs(1),
        ..ServerConfig::default()
    };
    let ep = Endpoint::bind(proto, "127.0.0.1:0".parse().unwrap(), &config.socket).unwrap();
    let server = bench_server::spawn(vec![ep], config).unwrap();
    let addr = server.addr(proto).unwrap();
    (server, addr)
}

/// A relay of `model` and `proto` to `upstream` with `specs` and seed 42.
fn impairing_relay_on(
    model: ProxyModel,
    proto: ProxyProto,
    upstream: SocketAddr,
    specs: &[&str],
) -> ProxyHandle {
    let mut relay = ProxyConfig {
        model,
        threads: 1,
        grace: Duration::from_secs(1),
        ..ProxyConfig::new(proto, upstream)
    };
    relay.impair.seed = 42;
    for spec in specs {
        relay.impair.add(spec).unwrap();
    }
    relay.check().unwrap();
    let front = Front::bind(proto, "127.0.0.1:0".parse().unwrap()).unwrap();
    spawn_proxy(front, relay).unwrap()
}

/// Runs `config` against `addr` through a per-core relay of `proto` with `specs` and
/// seed 42: the client's report and the relay's summary.
fn through_impairing_relay(
    proto: ProxyProto,
    upstream: SocketAddr,
    specs: &[&str],
    config: RunConfig,
) -> (Report, ProxySummary) {
    through_impairing_relay_on(ProxyModel::PerCore, proto, upstream, specs, config)
}

/// [`through_impairing_relay`] on a relay of `model`.
fn through_impairing_relay_on(
    model: ProxyModel,
    proto: ProxyProto,
    upstream: SocketAddr,
    specs: &[&str],
    mut config: RunConfig,
) -> (Report, ProxySummary) {
    let proxy = impairing_relay_on(model, proto, upstream, specs);
    config.target = Target::External { addr: proxy.addr() };
    let report = Run::new(config).unwrap().execute().unwrap();
    (report, proxy.stop().unwrap())
}

#[test]
fn udp_loss_and_duplicates_in_the_report_equal_the_relays_counts() {
    for model in [ProxyModel::PerCore, ProxyModel::Async] {
        udp_loss_and_duplicates_match_on(model);
    }
}

fn udp_loss_and_duplicates_match_on(model: ProxyModel) {
    let (server, addr) = start_server(Proto::UdpEcho);
    let config = RunConfig {
        workload: WorkloadKind::UdpEcho,
        connections: 2,
        threads: 2,
        // 32 requests in flight: a dropped one holds its slot for the whole timeout.
        pipeline: 16,
        length: RunLength::Requests(2000),
        warmup: "0s".parse().unwrap(),
        // Long enough that on a loaded machine a reply is rarely late; one that is still
        // late is counted as such (below), not as lost.
        timeout: "2s".parse().unwrap(),
        ..RunConfig::default()
    };
    // Requests lost on the way up, replies duplicated on the way down: a dropped request
    // has no reply to duplicate, so each count maps to one of the client's.
    let specs = ["up:loss=5%", "down:dup=5%"];
    let (report, relay) = through_impairing_relay_on(model, ProxyProto::Udp, addr, &specs, config);
    let udp = report.udp.unwrap();
    let done = relay.impaired;
    assert!(
        done.dropped > 20 && done.duplicated > 20,
        "{model:?}: {done:?}"
    );
    assert_eq!(udp.sent, 2000, "{udp:?}");
    assert_eq!(udp.lost, done.dropped, "{udp:?} vs {done:?}");
    assert_eq!(udp.duplicated, done.duplicated, "{udp:?} vs {done:?}");
    // Every datagram the relay let through came back: in time, or late (after its
    // timeout, on a loaded machine); a late reply is the client's `late`, never `lost`.
    assert_eq!(udp.received + udp.late, 2000 - done.dropped, "{udp:?}");
    // The server echoes every datagram that reached it (the client's start-up probe
    // included, so the relay's totals are not compared with the 2,000 recorded ones).
    assert_eq!(
        relay.datagrams_to_client,
        relay.datagrams_to_upstream + done.duplicated
    );
    assert_eq!(
        report.totals.errors[&ErrorKind::Timeout],
        done.dropped + udp.late,
        "{udp:?}"
    );
    server.stop().unwrap();
}

#[test]
fn the_same_seed_drops_the_same_number_of_datagrams() {
    let (server, addr) = start_server(Proto::UdpEcho);
    // One request in flight on one socket: the relay sees the same sequence each run.
    let config = || RunConfig {
        workload: WorkloadKind::UdpEcho,
        connections: 1,
        threads: 1,
        pipeline: 1,
        length: RunLength::Requests(300),
        warmup: "0s".parse().unwrap(),
        timeout: "200ms".parse().unwrap(),
        ..RunConfig::default()
    };
    let specs = ["loss=3%"];
    let (_, first) = through_impairing_relay(ProxyProto::Udp, addr, &specs, config());
    let (_, second) = through_impairing_relay(ProxyProto::Udp, addr, &specs, config());
    assert!(first.impaired.dropped > 0, "{:?}", first.impaired);
    assert_eq!(first.impaired, second.impaired);
    server.stop().unwrap();
}

#[test]
fn connections_reset_on_purpose_are_errors_of_a_kind_and_the_report_is_written() {
    for model in [ProxyModel::PerCore, ProxyModel::Async] {
        resets_are_counted_on(model);
    }
}

fn resets_are_counted_on(model: ProxyModel) {
    let (server, addr) = start_server(Proto::TcpEcho);
    let config = RunConfig {
        workload: WorkloadKind::TcpEcho,
        connections: 2,
        threads: 1,
        length: RunLength::Duration("600ms".parse().unwrap()),
        warmup: "0s".parse().unwrap(),
        ..RunConfig::default()
    };
    let specs = ["up:reset=after:16KiB"];
    let (report, relay) = through_impairing_relay_on(model, ProxyProto::Tcp, addr, &specs, config);
    assert!(relay.impaired.reset >= 1, "{model:?}: {:?}", relay.impaired);
    let errors = &report.totals.errors;
    let cut = errors.get(&ErrorKind::Reset).copied().unwrap_or(0)
        + errors.get(&ErrorKind::Closed).copied().unwrap_or(0);
    assert!(cut >= 1, "{errors:?}");
    assert!(
        report.totals.ok > 0,
        "requests before the reset went through"
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"reset\""), "the report names the kind");
    server.stop().unwrap();
}

#[test]
fn udp_latency_on_the_relay_shifts_the_clients_median_and_every_reply_is_held() {
    for model in [ProxyModel::PerCore, ProxyModel::Async] {
        udp_latency_shifts_the_median_on(model);
    }
}

fn udp_latency_shifts_the_median_on(model: ProxyModel) {
    let (server, addr) = start_server(Proto::UdpEcho);
    let config = RunConfig {
        workload: WorkloadKind::UdpEcho,
        connections: 1,
        threads: 1,
        pipeline: 1,
        length: RunLength::Requests(100),
        warmup: "0s".parse().unwrap(),
        timeout: "5s".parse().unwrap(),
        ..RunConfig::default()
    };
    let specs = ["down:latency=20ms", "down:jitter=2ms"];
    let (report, relay) = through_impairing_relay_on(model, ProxyProto::Udp, addr, &specs, config);
    let udp = report.udp.unwrap();
    assert_eq!((udp.received, udp.lost), (100, 0), "{udp:?}");
    // Every reply waited 18..22 ms on the relay's timers: the median moved by at least
    // that (no upper bound: a loaded machine adds its own delay).
    assert!(
        report.latency.p50_ns >= 18_000_000,
        "p50 {} ns with 20 ms of latency",
        report.latency.p50_ns
    );
    assert_eq!(
        relay.impaired.delayed, relay.datagrams_to_client,
        "{relay:?}"
    );
    server.stop().unwrap();
}

#[test]
fn udp_reorder_on_the_relay_shows_as_reordered_replies() {
    let (server, addr) = start_server(Proto::UdpEcho);
    let config = RunConfig {
        workload: WorkloadKind::UdpEcho,
        connections: 1,
        threads: 1,
        pipeline: 8,
        length: RunLength::Requests(1000),
        warmup: "0s".parse().unwrap(),
        timeout: "5s".parse().unwrap(),
        ..RunConfig::default()
    };
    let specs = ["down:reorder=10%,gap=5ms"];
    let (report, relay) = through_impairing_relay(ProxyProto::Udp, addr, &specs, config);
    let udp = report.udp.unwrap();
    assert_eq!((udp.received, udp.lost), (1000, 0), "{udp:?}");
    assert!(relay.impaired.reordered > 0, "{:?}", relay.impaired);
    // A held reply is overtaken only when others are in flight behind it, so the
    // client's count is at most the relay's.
    assert!(udp.reordered > 0, "{udp:?}");
    assert!(
        udp.reordered <= relay.impaired.reordered,
        "{udp:?} vs {:?}",
        relay.impaired
    );
    server.stop().unwrap();
}

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

/// Both relay models, for the TCP shaping tests.
const MODELS: [ProxyModel; 2] = [ProxyModel::PerCore, ProxyModel::Async];

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
