//! Throughput bench: bench-client's closed-loop engine ([`Run::execute`]) against a
//! bench-server started once on 127.0.0.1:0, 16 connections, pipeline 1 and pipeline 16,
//! tcp-echo with 64 B requests, a fixed number of requests per run.
//!
//! Ids: `throughput/c16/pipeline-1`, `throughput/c16/pipeline-16`. One iteration is one
//! run of [`Cell::requests`] requests; criterion reports requests per second through
//! `Throughput::Elements`.
//!
//! The time of an iteration is the report's recorded part (`duration_s`: from the start
//! of the load, which includes opening the 16 connections, to the last reply), not the
//! wall time around `execute`, which also holds the pre-flight connection, starting and
//! joining the worker threads and building the report. Each run must end with zero
//! errors and every request answered.

use std::time::Duration;

use bench_client::{Run, RunConfig, RunLength, SizeRange, Target, WorkloadKind};
use bench_server::{Endpoint, Proto, ServerConfig, ServerHandle};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

/// Connections of every cell.
const CONNECTIONS: usize = 16;

/// One benchmark: a pipeline depth and the requests a run sends.
#[derive(Debug, Clone, Copy)]
struct Cell {
    /// Requests in flight per connection.
    pipeline: usize,
    /// Requests per run, chosen so that one run takes about 0.1-0.3 s on the 2-core
    /// development machine (pipeline 1: 70k-135k req/s, pipeline 16: 1.0M-2.3M req/s, depending on what else runs).
    requests: u64,
}

const CELLS: [Cell; 2] = [
    Cell {
        pipeline: 1,
        requests: 15_000,
    },
    Cell {
        pipeline: 16,
        requests: 300_000,
    },
];

/// The run configuration of a cell against `addr`.
fn run_config(cell: Cell, addr: std::net::SocketAddr) -> RunConfig {
    RunConfig {
        workload: WorkloadKind::TcpEcho,
        size: SizeRange::fixed(64),
        target: Target::External { addr },
        connections: CONNECTIONS,
        pipeline: cell.pipeline,
        length: RunLength::Requests(cell.requests),
        warmup: "0s".parse().expect("literal duration"),
        label: format!("criterion throughput c{CONNECTIONS} p{}", cell.pipeline),
        ..RunConfig::default()
    }
}

/// One run; returns the length of its recorded part, after checking it is clean.
fn run_once(config: &RunConfig, requests: u64) -> Duration {
    let report = Run::new(config.clone())
        .expect("valid run configuration")
        .execute()
        .expect("run starts");
    assert_eq!(
        report.totals.error_count, 0,
        "errors: {:?}",
        report.totals.error_samples
    );
    assert_eq!(report.totals.ok, requests, "every request answered");
    assert!(!report.interrupted);
    Duration::from_secs_f64(report.duration_s)
}

fn start_server() -> ServerHandle {
    let config = ServerConfig::default();
    let addr = "127.0.0.1:0".parse().expect("literal address");
    let endpoint = Endpoint::bind(Proto::TcpEcho, addr, &config.socket).expect("bind");
    bench_server::spawn(vec![endpoint], config).expect("server starts")
}

fn throughput(c: &mut Criterion) {
    let server = start_server();
    let addr = server.addr(Proto::TcpEcho).expect("tcp-echo endpoint");
    let mut group = c.benchmark_group("throughput");
    // One iteration is a whole run of ~0.2 s: ten flat samples of one or two runs each.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for cell in CELLS {
        let config = run_config(cell, addr);
        group.throughput(Throughput::Elements(cell.requests));
        let id = BenchmarkId::new(
            format!("c{CONNECTIONS}"),
            format!("pipeline-{}", cell.pipeline),
        );
        group.bench_function(id, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run_once(&config, cell.requests)).sum())
        });
    }
    group.finish();
    server.stop().expect("server stops cleanly");
}

criterion_group!(benches, throughput);
criterion_main!(benches);
