//! The client against the impairing relay's own counts (issue 19): datagrams the relay
//! drops or duplicates on purpose must show up in the client's report exactly (both
//! sides see every datagram on loopback), and a connection the relay resets on purpose
//! must show up as errors of a kind, with the report still written.

use std::net::SocketAddr;
use std::time::Duration;

use bench_client::{ErrorKind, Report, Run, RunConfig, RunLength, Target, WorkloadKind};
use bench_server::proxy::{Front, ProxyConfig, ProxyModel, ProxyProto, ProxySummary, spawn_proxy};
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

/// Runs `config` against `addr` through a per-core relay of `proto` with `specs` and
/// seed 42: the client's report and the relay's summary.
fn through_impairing_relay(
    proto: ProxyProto,
    upstream: SocketAddr,
    specs: &[&str],
    mut config: RunConfig,
) -> (Report, ProxySummary) {
    let mut relay = ProxyConfig {
        model: ProxyModel::PerCore,
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
    let proxy = spawn_proxy(front, relay).unwrap();
    config.target = Target::External { addr: proxy.addr() };
    let report = Run::new(config).unwrap().execute().unwrap();
    (report, proxy.stop().unwrap())
}

#[test]
fn udp_loss_and_duplicates_in_the_report_equal_the_relays_counts() {
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
    let (report, relay) = through_impairing_relay(ProxyProto::Udp, addr, &specs, config);
    let udp = report.udp.unwrap();
    let done = relay.impaired;
    assert!(done.dropped > 20 && done.duplicated > 20, "{done:?}");
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
    let (server, addr) = start_server(Proto::TcpEcho);
    let config = RunConfig {
        workload: WorkloadKind::TcpEcho,
        connections: 2,
        threads: 1,
        length: RunLength::Duration("600ms".parse().unwrap()),
        warmup: "0s".parse().unwrap(),
        ..RunConfig::default()
    };
    let (report, relay) =
        through_impairing_relay(ProxyProto::Tcp, addr, &["up:reset=after:16KiB"], config);
    assert!(relay.impaired.reset >= 1, "{:?}", relay.impaired);
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
    let (report, relay) = through_impairing_relay(ProxyProto::Udp, addr, &specs, config);
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
