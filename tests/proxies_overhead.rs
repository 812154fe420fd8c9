//! `overhead` through real third-party proxies, with the configs shipped in `proxies/`:
//! haproxy (`mode tcp`) and nginx `stream` (TCP and UDP) in front of an in-process
//! bench-server, measured with the library's `run_overhead` against the pair
//! `--direct <server> --proxied <proxy>`.
//!
//! Ignored by default: they need the packages (Debian: `apt-get install haproxy nginx
//! libnginx-mod-stream`); `.ci/run` installs them and runs these with
//! `--include-ignored`.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bench_client::overhead::{OverheadConfig, OverheadSummary, Pair, run_overhead};
use bench_client::{RunConfig, RunLength, Stopper, WorkloadKind};
use bench_server::{Endpoint, Proto, ServerConfig, ServerHandle};

/// A proxy in the foreground, stopped with SIGTERM (nginx's master then stops its
/// workers), then SIGKILL, when dropped.
struct Proxy(Child);

impl Proxy {
    fn start(program: &str, args: &[&str], accepting: SocketAddr) -> Proxy {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program} (is it installed?): {e}"));
        let mut proxy = Proxy(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = proxy.0.try_wait().unwrap() {
                panic!("{program} exited during start-up: {status}");
            }
            if TcpStream::connect_timeout(&accepting, Duration::from_millis(200)).is_ok() {
                // Still running: the port is the proxy's, not somebody else's.
                std::thread::sleep(Duration::from_millis(100));
                if let Some(status) = proxy.0.try_wait().unwrap() {
                    panic!("{program} exited during start-up: {status}");
                }
                return proxy;
            }
            assert!(
                Instant::now() < deadline,
                "{program}: nothing on {accepting}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.0);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("wirebench-overhead-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `proxies/<file>` with every `(from, to)` replaced; a `from` that is missing fails
/// the test (the shipped file changed and the test must follow).
fn config_with(dir: &Path, file: &str, replacements: &[(&str, String)]) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("proxies")
        .join(file);
    let mut text = std::fs::read_to_string(&source).unwrap();
    for (from, to) in replacements {
        assert!(text.contains(from), "{file} no longer contains {from:?}");
        text = text.replace(from, to);
    }
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

fn free_tcp() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn server(proto: Proto) -> (ServerHandle, SocketAddr) {
    let config = ServerConfig::default();
    let ep = Endpoint::bind(proto, "127.0.0.1:0".parse().unwrap(), &config.socket).unwrap();
    let handle = bench_server::spawn(vec![ep], config).unwrap();
    let addr = handle.addr(proto).unwrap();
    (handle, addr)
}

/// Two short rounds of `workload` direct and through `proxied`; checks what any proxy
/// must show: every request answered on both legs, and no faster through the extra hop.
fn overhead(
    workload: WorkloadKind,
    direct: SocketAddr,
    proxied: SocketAddr,
    dir: &Path,
) -> OverheadSummary {
    let config = OverheadConfig {
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
    bench_client::overhead::validate(&config).unwrap();
    let outcome = run_overhead(&config, &Stopper::new(), |_, _| {}).unwrap();
    let summary = outcome.summary;
    assert!(!summary.interrupted);
    assert_eq!(summary.rounds.len(), 2);
    for round in &summary.rounds {
        assert_eq!(round.direct.errors, 0, "{round:?}");
        assert_eq!(round.proxied.errors, 0, "{round:?}");
        assert!(round.proxied.requests_per_s > 0.0);
    }
    let p50 = summary.fields.iter().find(|f| f.field == "p50").unwrap();
    assert!(p50.ratio.unwrap() > 0.9, "{p50:?}");
    assert!(outcome.dir.join("report.html").is_file());
    summary
}

#[test]
#[ignore = "needs haproxy"]
fn overhead_through_haproxy_with_the_shipped_config() {
    let (upstream, direct) = server(Proto::TcpEcho);
    let front = free_tcp();
    let dir = temp_dir("haproxy");
    let cfg = config_with(
        &dir,
        "haproxy.cfg",
        &[
            ("127.0.0.1:8091", front.to_string()),
            ("127.0.0.1:7001", direct.to_string()),
        ],
    );
    let haproxy = Proxy::start("haproxy", &["-f", cfg.to_str().unwrap(), "-db"], front);
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
    let dir = temp_dir("nginx");
    let conf = config_with(
        &dir,
        "nginx.conf",
        &[
            ("127.0.0.1:8092", tcp_front.to_string()),
            ("127.0.0.1:8093", udp_front.to_string()),
            ("127.0.0.1:7001", tcp_direct.to_string()),
            ("127.0.0.1:7002", udp_direct.to_string()),
            (
                "/tmp/wirebench-nginx.pid",
                dir.join("nginx.pid").display().to_string(),
            ),
            (
                "/tmp/wirebench-nginx-error.log",
                dir.join("error.log").display().to_string(),
            ),
        ],
    );
    let early_log = dir.join("early-error.log");
    let nginx = Proxy::start(
        "nginx",
        &[
            "-c",
            conf.to_str().unwrap(),
            "-p",
            dir.to_str().unwrap(),
            "-e",
            early_log.to_str().unwrap(),
            "-g",
            "daemon off;",
        ],
        tcp_front,
    );
    overhead(WorkloadKind::TcpEcho, tcp_direct, tcp_front, &dir);
    overhead(WorkloadKind::UdpEcho, udp_direct, udp_front, &dir);
    drop(nginx);
    tcp_upstream.stop().unwrap();
    udp_upstream.stop().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
