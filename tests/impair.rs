//! The client against the impairing relay's own counts (issue 19): datagrams the relay
//! drops or duplicates on purpose (and the UDP `rate` queue's tail drops) must show up
//! in the client's report exactly (both sides see every datagram on loopback), and a
//! connection the relay resets on purpose must show up as errors of a kind, with the
//! report still written. The TCP shaping is `tests/impair_tcp.rs`'s. Both relay models.

#[path = "support/relay.rs"]
mod relay;

use std::time::{Duration, Instant};

use bench_client::{ErrorKind, RunConfig, RunLength, SizeRange, WorkloadKind};
use bench_server::Proto;
use bench_server::proxy::{ProxyModel, ProxyProto};

use relay::{MODELS, start_server, through_impairing_relay, through_impairing_relay_on};

#[test]
fn udp_loss_and_duplicates_in_the_report_equal_the_relays_counts() {
    for model in MODELS {
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
    for model in MODELS {
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
    for model in MODELS {
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
    for model in MODELS {
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
    for model in MODELS {
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
