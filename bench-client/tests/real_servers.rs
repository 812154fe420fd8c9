//! The shipped workload files against the real servers they describe: `redis-server`
//! and `memcached` (Debian packages; `.ci/run` installs them), each started here on a
//! free port of 127.0.0.1 with no persistence, never the system service.
//!
//! A missing binary fails the test when `WIREBENCH_REAL_SERVERS=required` (CI sets it),
//! and otherwise skips it with the reason printed.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bench_client::config::WorkloadFile;
use bench_client::{ErrorKind, Report, RunConfig, WorkloadKind};

use common::{external, quick, run};

/// A server process of this test, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `binary` is on the PATH; without it the test fails in CI or is skipped.
fn available(binary: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(binary).is_file()));
    if !found {
        let required = std::env::var("WIREBENCH_REAL_SERVERS").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "{binary} is not installed (WIREBENCH_REAL_SERVERS=required): \
             apt-get install redis-server redis-tools memcached"
        );
        eprintln!("skipped: {binary} is not installed (apt-get install redis-server memcached)");
    }
    found
}

/// A port free right now (the server binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `addr` accepts a connection (bounded: 10 s).
fn wait_accepting(addr: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server on {addr} exited: {status}");
        }
        assert!(Instant::now() < deadline, "no server accepting on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// redis-server on a free port, no persistence; ready once it says so on stdout.
fn redis() -> Option<Server> {
    if !available("redis-server") {
        return None;
    }
    let port = free_port();
    let mut child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-server starts");
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("Ready to accept connections"));
    assert!(ready, "redis-server on port {port} did not become ready");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_accepting(addr, &mut child);
    Some(Server { child, addr })
}

/// memcached on a free port (TCP only); `-u` because it refuses to run as root otherwise.
fn memcached() -> Option<Server> {
    if !available("memcached") {
        return None;
    }
    let port = free_port();
    let mut command = Command::new("memcached");
    command.args([
        "-l",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "0",
        "-m",
        "64",
    ]);
    if rustix::process::geteuid().is_root() {
        command.args(["-u", "nobody"]);
    }
    let mut child = command.spawn().expect("memcached starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_accepting(addr, &mut child);
    Some(Server { child, addr })
}

fn shipped(name: &str) -> WorkloadFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../workloads")
        .join(name);
    WorkloadFile {
        path: path.display().to_string(),
        text: std::fs::read_to_string(&path).unwrap(),
    }
}

fn custom(file: WorkloadFile, addr: SocketAddr, requests: u64) -> RunConfig {
    let mut config = external(quick(requests), addr);
    config.workload = WorkloadKind::Custom;
    config.custom = Some(file);
    config.pipeline = 8;
    config
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
fn the_redis_files_run_clean_against_redis_server() {
    let Some(server) = redis() else { return };
    let ping = run(custom(shipped("redis-ping.toml"), server.addr, 5_000));
    assert_clean(&ping, "redis-ping.toml");
    let mut config = custom(shipped("redis-get-set.toml"), server.addr, 10_000);
    config.size = "16B..512B".parse().unwrap();
    let get_set = run(config);
    assert_clean(&get_set, "redis-get-set.toml");
    // GETs of keys SET before return their values: more bytes back than 10k nils.
    assert!(
        get_set.totals.bytes_received > 10_000 * 5,
        "{:?}",
        get_set.totals
    );
}

#[test]
fn the_memcached_file_runs_clean_against_memcached() {
    let Some(server) = memcached() else { return };
    let mut config = custom(shipped("memcached-get-set.toml"), server.addr, 10_000);
    config.size = "16B..512B".parse().unwrap();
    let report = run(config);
    assert_clean(&report, "memcached-get-set.toml");
    assert!(
        report.totals.bytes_received > 10_000 * 5,
        "{:?}",
        report.totals
    );
}

#[test]
fn redis_errors_and_wrong_expectations_are_counted_apart() {
    let Some(server) = redis() else { return };
    let file = "[reply]\ndelimiter = '\\r\\n'\nerror = '^-'\n\
                [[request]]\nname = 'nosuch'\nweight = 1\nsend = 'NOSUCHCOMMAND\\r\\n'\n\
                [[request]]\nname = 'ping'\nweight = 1\nsend = 'PING\\r\\n'\n\
                reply.expect = { prefix = '+PANG' }\n";
    let text = WorkloadFile {
        path: "inline.toml".to_owned(),
        text: file.to_owned(),
    };
    let report = run(custom(text, server.addr, 2_000));
    let server_errors = report.totals.errors[&ErrorKind::Server];
    let mismatches = report.totals.errors[&ErrorKind::Mismatch];
    assert_eq!(server_errors + mismatches, 2_000, "{:?}", report.totals);
    assert!(
        server_errors > 500 && mismatches > 500,
        "{:?}",
        report.totals
    );
    assert!(report.totals.error_samples[&ErrorKind::Server].contains("-ERR unknown command"));
    assert!(report.totals.error_samples[&ErrorKind::Mismatch].contains("+PONG"));
}

#[test]
fn a_hello_is_sent_once_per_connection_and_not_recorded() {
    let Some(server) = redis() else { return };
    let file = "[hello]\nsend = 'SELECT 3\\r\\n'\nreply = { delimiter = '\\r\\n', expect = { prefix = '+OK' } }\n\
                [[request]]\nsend = 'INCR hello:{conn}\\r\\n'\nreply.delimiter = '\\r\\n'\n\
                reply.expect = { regex = '^:\\d+\\r\\n$' }\n";
    let text = WorkloadFile {
        path: "inline.toml".to_owned(),
        text: file.to_owned(),
    };
    let report = run(custom(text, server.addr, 1_000));
    assert_clean(&report, "hello");
    assert_eq!(report.totals.requests, 1_000);
    // The INCRs went to database 3: both connections' counters sum to the requests.
    let mut redis = TcpStream::connect(server.addr).unwrap();
    let total: u64 = (0..2)
        .map(|conn| resp_get(&mut redis, &format!("SELECT 3\r\nGET hello:{conn}\r\n")))
        .sum();
    assert_eq!(total, 1_000);
}

/// Sends `SELECT n` + `GET key` and reads the integer value of the bulk reply.
fn resp_get(stream: &mut TcpStream, commands: &str) -> u64 {
    use std::io::Write as _;
    stream.write_all(commands.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "+OK\r\n");
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with('$'), "{line}");
    line.clear();
    reader.read_line(&mut line).unwrap();
    line.trim().parse().unwrap()
}
