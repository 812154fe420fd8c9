//! The two client engines side by side (`--engine per-core|async`): the same runs give
//! the same accounting on both, and `--bind-source` spreads connections over local
//! addresses. The rest of the suite runs on the default engine (per-core on Linux);
//! `WIREBENCH_CLIENT_ENGINE=async cargo test` runs all of it on the other.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};

use bench_client::{
    Arrival, ClientEngine, ErrorKind, FramedCmd, LoadModel, RunConfig, RunLength, WorkloadKind,
};
use bench_server::WriteMode;

const ENGINES: [ClientEngine; 2] = [ClientEngine::PerCore, ClientEngine::Async];

fn on(engine: ClientEngine, config: RunConfig) -> RunConfig {
    RunConfig { engine, ..config }
}

#[test]
fn a_pipelined_count_run_gets_every_reply_on_both_engines() {
    for engine in ENGINES {
        let config = RunConfig {
            connections: 5,
            pipeline: 16,
            ..common::quick(3_000)
        };
        let report = common::run(on(engine, config));
        assert_eq!(report.totals.ok, 3_000, "{engine:?}");
        assert_eq!(report.totals.error_count, 0, "{engine:?}");
    }
}

#[test]
fn framed_split_writes_and_the_sleep_command_work_on_both_engines() {
    for engine in ENGINES {
        let config = RunConfig {
            workload: WorkloadKind::Framed,
            write_mode: WriteMode::Split,
            ..common::quick(200)
        };
        let report = common::run(on(engine, config));
        assert_eq!((report.totals.ok, report.totals.error_count), (200, 0));
        let config = RunConfig {
            workload: WorkloadKind::Framed,
            cmd: FramedCmd::Sleep,
            size: bench_client::SizeRange::fixed(0),
            ..common::quick(20)
        };
        let report = common::run(on(engine, config));
        assert_eq!((report.totals.ok, report.totals.error_count), (20, 0));
    }
}

#[test]
fn an_open_loop_keeps_its_rate_on_both_engines() {
    for engine in ENGINES {
        let config = RunConfig {
            load: LoadModel::Open {
                rate: 400.0,
                arrival: Arrival::Poisson,
            },
            length: RunLength::Duration("1s".parse().unwrap()),
            ..common::quick(0)
        };
        let report = common::run(on(engine, config));
        // Behaviour, not speed: requests go out on a schedule (about 400 of them), none
        // is lost, and the schedule section says what happened.
        let ok = report.totals.ok;
        assert!((200..=600).contains(&ok), "{engine:?}: {ok}");
        assert_eq!(report.totals.error_count, 0, "{engine:?}");
    }
}

#[test]
fn a_silent_target_times_out_on_both_engines() {
    let addr = common::silent_tcp_server();
    for engine in ENGINES {
        let config = RunConfig {
            timeout: "300ms".parse().unwrap(),
            ..common::external(common::quick(10), addr)
        };
        let report = common::run(on(engine, config));
        assert_eq!(report.totals.ok, 0, "{engine:?}");
        let timeouts = report.totals.errors[&ErrorKind::Timeout];
        assert!(timeouts >= 2, "{engine:?}: {:?}", report.totals);
    }
}

#[test]
fn a_refused_connection_is_a_connect_error_on_both_engines() {
    // A port that was just free: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for engine in ENGINES {
        let config = common::external(common::quick(10), addr);
        let run = bench_client::Run::new(on(engine, config)).unwrap();
        // The pre-flight check refuses a dead target before any load.
        assert!(run.execute().is_err(), "{engine:?}");
    }
}

#[test]
fn bind_source_spreads_connections_over_the_local_addresses() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peers = Arc::new(Mutex::new(HashSet::<IpAddr>::new()));
    let seen = peers.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            seen.lock()
                .unwrap()
                .insert(stream.peer_addr().unwrap().ip());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    for engine in ENGINES {
        peers.lock().unwrap().clear();
        let sources: Vec<IpAddr> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let config = RunConfig {
            connections: 6,
            bind_source: sources.clone(),
            ..common::external(common::quick(300), addr)
        };
        let report = common::run(on(engine, config));
        assert_eq!(report.totals.ok, 300, "{engine:?}: {:?}", report.totals);
        let seen = peers.lock().unwrap().clone();
        for source in &sources {
            assert!(seen.contains(source), "{engine:?}: {seen:?}");
        }
    }
}

#[test]
fn bind_source_takes_a_range_or_a_list_and_refuses_nonsense() {
    let out = common::client_bin()
        .args(["run", "tcp-echo", "--bind-source", "127.0.0.9..127.0.0.1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--bind-source 127.0.0.9..127.0.0.1"),
        "{stderr}"
    );
    let dir = common::temp_path("bind-source");
    std::fs::create_dir_all(&dir).unwrap();
    for sources in ["127.0.0.1..127.0.0.3", "127.0.0.1,127.0.0.2"] {
        let out = common::client_bin()
            .args(["run", "tcp-echo", "--requests", "50", "--warmup", "0s"])
            .args(["--connections", "3", "--bind-source", sources, "--json"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["totals"]["ok"], 50);
        assert!(report["config"]["bind_source"].as_array().unwrap().len() >= 2);
    }
}

#[test]
fn udp_echo_counts_every_datagram_on_both_engines() {
    for engine in ENGINES {
        let config = RunConfig {
            workload: WorkloadKind::UdpEcho,
            pipeline: 4,
            ..common::quick(500)
        };
        let report = common::run(on(engine, config));
        assert_eq!(report.totals.ok, 500, "{engine:?}: {:?}", report.totals);
        let udp = report.udp.as_ref().expect("a udp section");
        assert_eq!(
            (udp.sent, udp.received, udp.lost),
            (500, 500, 0),
            "{engine:?}"
        );
    }
}
