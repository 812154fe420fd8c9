//! The client against the impairing relay's own counts (issue 19): datagrams the relay
//! drops or duplicates on purpose must show up in the client's report exactly (both
//! sides see every datagram on loopback), a connection the relay resets on purpose
//! must show up as errors of a kind, with the report still written (the UDP `rate`
//! queue's tail drops count among the lost exactly too), and the TCP
//! shaping (latency, rate, slices, stalls, slow closes) must show as lower bounds on
//! what the client sees (never an upper bound: a loaded machine adds its own delay).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bench_client::{ErrorKind, Report, Run, RunConfig, RunLength, SizeRange, Target, WorkloadKind};
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

/// A per-core relay of `proto` to `upstream` with `specs` and seed 42.
fn impairing_relay(proto: ProxyProto, upstream: SocketAddr, specs: &[&str]) -> ProxyHandle {
    impairing_relay_on(ProxyModel::PerCore, proto, upstream, specs)
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
        pipeline: 8,
        length: RunLength::Requests(2000),
        warmup: "0s".parse().unwrap(),
        timeout: "800ms".parse().unwrap(),
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
    assert_eq!(udp.received, 2000 - done.dropped, "{udp:?}");
    // The server echoes every datagram that reached it (the client's start-up probe
    // included, so the relay's totals are not compared with the 2,000 recorded ones).
    assert_eq!(
        relay.datagrams_to_client,
        relay.datagrams_to_upstream + done.duplicated
    );
    assert_eq!(report.totals.errors[&ErrorKind::Timeout], done.dropped);
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

#[test]
fn tcp_latency_on_the_relay_shifts_the_clients_median_and_chunks_are_delayed() {
    let (server, addr) = start_server(Proto::TcpEcho);
    let specs = ["up:latency=20ms", "down:jitter=5ms"];
    let (report, relay) =
        through_impairing_relay(ProxyProto::Tcp, addr, &specs, one_tcp_echo_connection(40));
    // Every request waited 20 ms on the way up (the jitter on the way down only adds):
    // the median moved by at least that, and the bytes kept their order (verified).
    assert_eq!(report.totals.ok, 40, "{:?}", report.totals.errors);
    assert!(
        report.latency.p50_ns >= 20_000_000,
        "p50 {} ns with 20 ms of latency",
        report.latency.p50_ns
    );
    let done = relay.impaired;
    assert!(done.delayed >= 40, "{done:?}");
    assert!(done.delayed_bytes >= 40 * 64, "{done:?}");
    server.stop().unwrap();
}

#[test]
fn a_rate_limited_transfer_takes_at_least_its_size_over_the_rate_less_the_burst() {
    let (server, addr) = start_server(Proto::TcpEcho);
    let relay = impairing_relay(ProxyProto::Tcp, addr, &["up:rate=1Mbit"]);
    let n = 48 * 1024;
    let took = echo_through(&relay, n);
    // 1 Mbit/s is 125,000 B/s; the bucket starts full with 10 ms of it (1,250 B).
    let floor = Duration::from_secs_f64((n - 1250) as f64 / 125_000.0);
    assert!(took >= floor, "{n} B in {took:?}, below {floor:?}");
    let summary = relay.stop().unwrap();
    assert!(summary.impaired.throttled > 0, "{:?}", summary.impaired);
    assert_eq!(summary.bytes_to_upstream, n as u64);
    server.stop().unwrap();
}

#[test]
fn slicing_cuts_every_upstream_write_to_the_slice_size() {
    let (server, addr) = start_server(Proto::TcpEcho);
    let relay = impairing_relay(ProxyProto::Tcp, addr, &["up:slice=64B"]);
    let n = 8 * 1024;
    echo_through(&relay, n);
    let summary = relay.stop().unwrap();
    // Each sliced write is its own syscall of at most 64 B (the shaper's unit tests
    // hold that): all n bytes went in at least n / 64 of them.
    assert!(
        summary.impaired.sliced >= (n / 64) as u64,
        "{:?}",
        summary.impaired
    );
    assert_eq!(summary.bytes_to_upstream, n as u64);
    server.stop().unwrap();
}

#[test]
fn a_stall_shows_as_the_clients_max_latency_and_the_report_is_written() {
    let (server, addr) = start_server(Proto::TcpEcho);
    let specs = ["up:stall=after:4KiB,for:300ms"];
    let (report, relay) =
        through_impairing_relay(ProxyProto::Tcp, addr, &specs, one_tcp_echo_connection(200));
    assert_eq!(report.totals.ok, 200, "{:?}", report.totals.errors);
    assert!(relay.impaired.stalled >= 1, "{:?}", relay.impaired);
    assert!(
        report.latency.max_ns >= 300_000_000,
        "max {} ns with a 300 ms stall",
        report.latency.max_ns
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"max_ns\""), "the report is written whole");
    server.stop().unwrap();
}

#[test]
fn close_slowly_holds_the_clients_eof_after_the_upstream_closed() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = upstream.local_addr().unwrap();
    let relay = impairing_relay(ProxyProto::Tcp, addr, &["down:close-slowly=300ms"]);
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
        "EOF {after:?} after the close"
    );
    drop(client);
    let summary = relay.stop().unwrap();
    assert_eq!(summary.impaired.closed_slowly, 1, "{:?}", summary.impaired);
}

#[test]
fn jitter_never_reorders_a_tcp_stream() {
    let (server, addr) = start_server(Proto::TcpEcho);
    let relay = impairing_relay(ProxyProto::Tcp, addr, &["latency=2ms", "jitter=2ms"]);
    // Many chunks each way, each with its own hold: the echo checks every byte's place.
    echo_through(&relay, 512 * 1024);
    let summary = relay.stop().unwrap();
    assert!(summary.impaired.delayed > 2, "{:?}", summary.impaired);
    assert_eq!(summary.bytes_to_client, 512 * 1024);
    server.stop().unwrap();
}

/// A closed udp-echo run of `requests` 1 KiB datagrams on `connections` sockets (one
/// relay session each), `pipeline` in flight on each, with a 2 s timeout (far above
/// the longest wait in the relay's rate queues below, so every reply that was not
/// dropped arrives in time).
fn udp_echo_kib(requests: u64, connections: usize, pipeline: usize) -> RunConfig {
    RunConfig {
        workload: WorkloadKind::UdpEcho,
        connections,
        threads: 1,
        pipeline,
        length: RunLength::Requests(requests),
        size: SizeRange::fixed(1024),
        warmup: "0s".parse().unwrap(),
        timeout: "2s".parse().unwrap(),
        ..RunConfig::default()
    }
}

#[test]
fn udp_rate_drops_what_overflows_its_queue_and_the_client_loses_exactly_those() {
    for model in [ProxyModel::PerCore, ProxyModel::Async] {
        udp_rate_drops_match_on(model);
    }
}

fn udp_rate_drops_match_on(model: ProxyModel) {
    let (server, addr) = start_server(Proto::UdpEcho);
    // 100,000 B/s per session, 2 KiB of bucket and 4 KiB of queue (about 40 ms of
    // wait at most): 16 KiB of replies in flight per session must overflow it. Plus
    // requests lost on the way up, which have no reply to drop again.
    let specs = ["down:rate=800Kbit,burst=2KiB,queue=4KiB", "up:loss=3%"];
    let config = udp_echo_kib(300, 2, 16);
    let (report, relay) = through_impairing_relay_on(model, ProxyProto::Udp, addr, &specs, config);
    let udp = report.udp.unwrap();
    let done = relay.impaired;
    assert!(
        done.rate_dropped > 0 && done.throttled > 0 && done.dropped > 0,
        "{model:?}: {done:?}"
    );
    let lost = done.dropped + done.rate_dropped;
    assert_eq!(udp.sent, 300, "{udp:?}");
    assert_eq!(udp.lost, lost, "{model:?}: {udp:?} vs {done:?}");
    assert_eq!(udp.received, 300 - lost, "{udp:?}");
    assert_eq!(report.totals.errors[&ErrorKind::Timeout], lost);
    // Every request that reached the server was echoed; only the rate dropped replies.
    assert_eq!(
        relay.datagrams_to_client + done.rate_dropped,
        relay.datagrams_to_upstream,
        "{relay:?}"
    );
    server.stop().unwrap();
}

#[test]
fn udp_under_its_rate_with_room_to_queue_loses_nothing_and_takes_its_size_over_the_rate() {
    for model in [ProxyModel::PerCore, ProxyModel::Async] {
        udp_rate_paces_on(model);
    }
}

fn udp_rate_paces_on(model: ProxyModel) {
    let (server, addr) = start_server(Proto::UdpEcho);
    // 4 KiB in flight, the default 64 KiB queue: every reply waits, none is dropped.
    let specs = ["down:rate=800Kbit,burst=2KiB"];
    let start = Instant::now();
    let (report, relay) = through_impairing_relay_on(
        model,
        ProxyProto::Udp,
        addr,
        &specs,
        udp_echo_kib(100, 1, 4),
    );
    let took = start.elapsed();
    let udp = report.udp.unwrap();
    let done = relay.impaired;
    assert_eq!((udp.received, udp.lost), (100, 0), "{model:?}: {udp:?}");
    if model == ProxyModel::PerCore {
        // The per-core loop sends each session's queue in order.
        assert_eq!(udp.reordered, 0, "{udp:?}");
    }
    assert_eq!(done.rate_dropped, 0, "{done:?}");
    assert!(done.throttled > 0, "{done:?}");
    // 100 KiB of replies at 100,000 B/s, less the 2 KiB the bucket held at the start
    // (a lower bound only: a loaded machine adds its own delay).
    let floor = Duration::from_secs_f64((100.0 * 1024.0 - 2048.0) / 100_000.0);
    assert!(
        took >= floor,
        "{model:?}: 100 KiB in {took:?}, below {floor:?}"
    );
    server.stop().unwrap();
}
