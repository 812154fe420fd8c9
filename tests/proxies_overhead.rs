//! `overhead` through real third-party proxies, with the configs shipped in `proxies/`:
//! haproxy (`mode tcp`) and nginx `stream` (TCP and UDP) in front of an in-process
//! bench-server, measured with the library's `run_overhead` against the pair
//! `--direct <server> --proxied <proxy>`.
//!
//! Ignored by default: they need the packages (Debian: `apt-get install haproxy nginx
//! libnginx-mod-stream`); `.ci/run` installs them and runs these with
//! `--include-ignored`.

#[path = "support/third_party.rs"]
mod support;

use std::net::SocketAddr;
use std::path::Path;

use bench_client::matrix::overhead::{OverheadConfig, Pair, run_overhead};
use bench_client::report::overhead::OverheadSummary;
use bench_client::{RunConfig, RunLength, Stopper, WorkloadKind};
use bench_server::{Endpoint, Proto, ServerConfig, ServerHandle};
use support::{free_tcp, free_udp, temp_dir};

fn server(proto: Proto) -> (ServerHandle, SocketAddr) {
    let config = ServerConfig::default();
    let ep = Endpoint::bind(proto, "127.0.0.1:0".parse().unwrap(), &config.socket).unwrap();
    let handle = bench_server::spawn(vec![ep], config).unwrap();
    let addr = handle.addr(proto).unwrap();
    (handle, addr)
}

/// Two short rounds of `workload` direct and through `proxied`; checks what any proxy
/// must show: every request answered on both legs, and ratios that match the figures.
fn overhead(
    workload: WorkloadKind,
    direct: SocketAddr,
    proxied: SocketAddr,
    dir: &Path,
) -> OverheadSummary {
    let config = OverheadConfig {
        proxy_pid: None,
        run: RunConfig {
            workload,
            connections: 4,
            threads: 2,
            length: RunLength::Duration("700ms".parse().unwrap()),
            warmup: "200ms".parse().unwrap(),
            ..RunConfig::default()
        },
        rounds: 2,
        pair: Pair::External { direct, proxied },
        out_dir: dir.to_owned(),
    };
    bench_client::matrix::overhead::validate(&config).unwrap();
    let outcome = run_overhead(&config, &Stopper::new(), |_, _| {}).unwrap();
    let summary = outcome.summary;
    assert!(!summary.interrupted);
    assert_eq!(summary.rounds.len(), 2);
    for round in &summary.rounds {
        assert_eq!(round.direct.errors, 0, "{round:?}");
        assert_eq!(round.proxied.errors, 0, "{round:?}");
        assert!(round.proxied.requests_per_s > 0.0);
    }
    // Behaviour, not speed: both legs measured, and the ratio is the one their figures give.
    let p50 = summary.fields.iter().find(|f| f.field == "p50").unwrap();
    assert!(p50.direct > 0.0 && p50.proxied > 0.0, "{p50:?}");
    assert!(
        (p50.ratio.unwrap() - p50.proxied / p50.direct).abs() < 1e-9,
        "{p50:?}"
    );
    // The library's matrix never draws; the page is drawn from the summary afterwards,
    // as the binary does.
    let page_error = bench_client::render::write_overhead_page(&outcome.dir, &summary).unwrap();
    assert_eq!(page_error, None);
    assert!(outcome.dir.join("report.html").is_file());
    summary
}

#[test]
#[ignore = "needs haproxy"]
fn overhead_through_haproxy_with_the_shipped_config() {
    let (upstream, direct) = server(Proto::TcpEcho);
    let front = free_tcp();
    let dir = temp_dir("overhead-haproxy");
    let haproxy = support::haproxy(&dir, front, direct);
    let summary = overhead(WorkloadKind::TcpEcho, direct, front, &dir);
    assert_eq!(summary.proxied_addr, front.to_string());
    drop(haproxy);
    upstream.stop().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs nginx and its stream module"]
fn overhead_through_nginx_stream_tcp_and_udp_with_the_shipped_config() {
    let (tcp_upstream, tcp_direct) = server(Proto::TcpEcho);
    let (udp_upstream, udp_direct) = server(Proto::UdpEcho);
    let (tcp_front, udp_front) = (free_tcp(), free_udp());
    let dir = temp_dir("overhead-nginx");
    let nginx = support::nginx(&dir, (tcp_front, udp_front), (tcp_direct, udp_direct));
    overhead(WorkloadKind::TcpEcho, tcp_direct, tcp_front, &dir);
    overhead(WorkloadKind::UdpEcho, udp_direct, udp_front, &dir);
    drop(nginx);
    tcp_upstream.stop().unwrap();
    udp_upstream.stop().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
