//! `run custom`: workload files against bench-server and against small misbehaving
//! servers (no third-party server needed; `real_servers.rs` has redis and memcached):
//! the shipped framed and line files, wrong expectations, truncated and cut replies,
//! UDP, and bad files on the command line.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use bench_client::config::WorkloadFile;
use bench_client::{ErrorKind, Report, RunConfig, WorkloadKind};
use bench_server::Proto;

use common::{client_bin, external, quick, run, spawn_all};

/// The workload file at `path` (relative to the workspace), as text.
fn shipped(name: &str) -> WorkloadFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../workloads")
        .join(name);
    WorkloadFile {
        path: path.display().to_string(),
        text: std::fs::read_to_string(&path).unwrap(),
    }
}

fn inline(text: &str) -> WorkloadFile {
    WorkloadFile {
        path: "inline.toml".to_owned(),
        text: text.to_owned(),
    }
}

/// A custom run of `requests` requests (2 connections, pipeline 4) against `addr`.
fn custom(file: WorkloadFile, addr: SocketAddr, requests: u64) -> RunConfig {
    let mut config = external(quick(requests), addr);
    config.workload = WorkloadKind::Custom;
    config.custom = Some(file);
    config.pipeline = 4;
    config
}

fn errors(report: &Report, kind: ErrorKind) -> u64 {
    report.totals.errors.get(&kind).copied().unwrap_or(0)
}

fn assert_clean(report: &Report, what: &str) {
    assert_eq!(
        report.totals.error_count, 0,
        "{what}: {:?}",
        report.totals.error_samples
    );
    assert_eq!(report.totals.ok, report.totals.requests, "{what}");
}

#[test]
fn framed_echo_as_data_agrees_with_the_built_in_framed_workload() {
    let server = spawn_all(bench_server::ServerConfig::default());
    let addr = server.addr(Proto::Framed).unwrap();
    let mut config = custom(shipped("framed-echo.toml"), addr, 2_000);
    config.size = "1B..3KiB".parse().unwrap();
    let as_data = run(config.clone());
    assert_clean(&as_data, "framed-echo.toml");
    let mut built_in = config;
    built_in.workload = WorkloadKind::Framed;
    built_in.custom = None;
    let built_in = run(built_in);
    assert_clean(&built_in, "framed");
    assert_eq!(as_data.totals.ok, built_in.totals.ok);
}

#[test]
fn line_echo_runs_clean_over_tcp_and_udp() {
    let server = spawn_all(bench_server::ServerConfig::default());
    let tcp = run(custom(
        shipped("line-echo.toml"),
        server.addr(Proto::TcpEcho).unwrap(),
        2_000,
    ));
    assert_clean(&tcp, "line-echo.toml");
    let udp = "transport = 'udp'\n[[request]]\nsend = '{seq} {rand:12}\\n'\n\
               reply.expect = { prefix = '{seq} {rand:12}\\n' }\n";
    let mut config = custom(inline(udp), server.addr(Proto::UdpEcho).unwrap(), 2_000);
    config.pipeline = 1;
    let udp = run(config);
    assert_clean(&udp, "udp line");
}

#[test]
fn a_wrong_expect_is_a_mismatch_and_the_connection_goes_on() {
    let server = spawn_all(bench_server::ServerConfig::default());
    let file = "[[request]]\nsend = 'hello {seq}\\n'\nreply.delimiter = '\\n'\n\
                reply.expect = { regex = '^goodbye' }\n";
    let report = run(custom(
        inline(file),
        server.addr(Proto::TcpEcho).unwrap(),
        200,
    ));
    assert_eq!(errors(&report, ErrorKind::Mismatch), 200);
    let sample = &report.totals.error_samples[&ErrorKind::Mismatch];
    assert!(
        sample.contains("does not match expect regex `^goodbye`"),
        "{sample}"
    );
    assert!(sample.contains("hello"), "the reply is quoted: {sample}");
}

/// A TCP server that answers every request line with `reply`, and closes after the first
/// if `close` is set.
fn canned(reply: &'static [u8], close: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
                    for _ in 0..lines {
                        if stream.write_all(reply).is_err() || close {
                            return;
                        }
                    }
                    if n == 0 {
                        return;
                    }
                }
            });
        }
    });
    addr
}

const BULK: &str = "[[request]]\nsend = 'GET k\\r\\n'\n\
                    reply.header = { regex = '\\$(-?\\d+)\\r\\n', body = 'N+2' }\n\
                    reply.error = '^-'\n";

#[test]
fn a_reply_that_breaks_the_framing_is_a_protocol_error() {
    // `$3\r\n` announces 3 bytes and CRLF, but only one comes before the next reply:
    // the next "reply" then starts mid-stream, with no header.
    let addr = canned(b"$3\r\na\r\n+OK\r\n", false);
    let mut config = custom(inline(BULK), addr, 50);
    config.pipeline = 1;
    let report = run(config);
    assert!(
        errors(&report, ErrorKind::Protocol) > 0,
        "{:?}",
        report.totals
    );
    let sample = &report.totals.error_samples[&ErrorKind::Protocol];
    assert!(sample.contains("does not start with a header"), "{sample}");
}

#[test]
fn a_server_that_closes_mid_reply_is_closed() {
    let addr = canned(b"$10\r\nabc", true);
    let mut config = custom(inline(BULK), addr, 10);
    config.connections = 1;
    let report = run(config);
    assert!(
        errors(&report, ErrorKind::Closed) > 0,
        "{:?}",
        report.totals
    );
    assert_eq!(report.totals.ok, 0);
}

#[test]
fn an_error_reply_is_a_server_error_with_a_sample() {
    let addr = canned(b"-ERR no such key\r\n", false);
    let report = run(custom(inline(BULK), addr, 100));
    assert_eq!(errors(&report, ErrorKind::Server), 100);
    let sample = &report.totals.error_samples[&ErrorKind::Server];
    assert!(sample.contains("-ERR no such key"), "{sample}");
}

/// Runs `bench-client run custom --workload FILE` against a port nothing answers.
fn run_file(text: &str) -> std::process::Output {
    let dir = common::temp_path("custom");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let out = client_bin()
        .args(["run", "custom", "--target", "127.0.0.1:9", "--workload"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn bad_workload_files_are_one_line_errors_naming_the_key_and_exit_2() {
    let head = "[[request]]\nsend = 'PING\\r\\n'\n";
    for (file, want) in [
        (
            format!("{head}reply.delimiter = '\\r\\n'\ncolour = 'red'\n"),
            "line 4: colour: unknown field `colour`",
        ),
        (
            format!("{head}reply.header = {{ regex = '(\\d+' }}\n"),
            "line 3: request[1].reply.header.regex: bad regex",
        ),
        (
            format!("{head}reply.delimiter = ''\n"),
            "line 3: request[1].reply.delimiter: must not be empty",
        ),
        (
            format!("{head}reply.length_prefix = {{ width = 16 }}\n"),
            "line 3: request[1].reply.length_prefix.width: 16: a length field is 1 to 8 bytes wide",
        ),
    ] {
        let out = run_file(&file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("--workload"), "{stderr}");
        assert!(stderr.contains(want), "{file}\nwanted {want}\ngot {stderr}");
    }
}

#[test]
fn the_workload_flag_goes_with_custom_only() {
    let out = client_bin()
        .args(["run", "custom", "--target", "127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--workload FILE.toml"));
    let out = client_bin()
        .args(["run", "tcp-echo", "--workload", "x.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("applies to the custom workload"));
}

#[test]
fn replies_larger_than_the_receive_buffer_are_framed_whole() {
    let server = spawn_all(bench_server::ServerConfig::default());
    let addr = server.addr(Proto::TcpEcho).unwrap();
    let mut config = custom(shipped("line-echo.toml"), addr, 40);
    config.size = "20KiB..300KiB".parse().unwrap();
    let report = run(config);
    assert_clean(&report, "large lines");
}

#[test]
fn an_open_loop_custom_run_keeps_its_schedule_accounting() {
    let server = spawn_all(bench_server::ServerConfig::default());
    let addr = server.addr(Proto::TcpEcho).unwrap();
    let mut config = custom(shipped("line-echo.toml"), addr, 1);
    config.length = bench_client::RunLength::Duration("500ms".parse().unwrap());
    config.load = bench_client::LoadModel::Open {
        rate: 2_000.0,
        arrival: bench_client::Arrival::Uniform,
    };
    let report = run(config);
    assert_clean(&report, "open loop");
    assert!(
        report.schedule.is_some(),
        "an open-loop run reports its schedule"
    );
    assert!(report.totals.requests > 0);
}
