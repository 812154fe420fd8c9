//! The third-party proxy configs in `proxies/` work as shipped: haproxy (`mode tcp`) and
//! nginx `stream` (TCP and UDP) relay bench-server traffic byte for byte. Each test
//! copies the repository's file to a temporary directory with its ports replaced by free
//! ones (the repository file stays the source of truth), runs the proxy in the
//! foreground in front of an in-process bench-server, and kills it at the end.
//!
//! Ignored by default: they need the packages (Debian: `apt-get install haproxy nginx
//! libnginx-mod-stream`). Run with
//! `cargo test -p bench-server --test third_party -- --include-ignored`.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bench_server::Proto;
use common::*;

/// How long a proxy may take to start accepting.
const STARTUP: Duration = Duration::from_secs(10);

/// A proxy process, stopped (SIGTERM, then SIGKILL) when dropped, so a failing test
/// leaves nothing behind.
struct Proxy {
    child: Child,
    name: &'static str,
}

impl Proxy {
    fn start(name: &'static str, program: &str, args: &[&str]) -> Proxy {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program} (is it installed?): {e}"));
        Proxy { child, name }
    }

    /// Waits until `addr` accepts TCP connections (bounded), failing early if the
    /// process exits.
    fn wait_accepting(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited during start-up: {status}", self.name);
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} does not accept on {addr}",
                self.name
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its workers too.
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh temporary directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wirebench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The repository file `proxies/<file>` with each `(from, to)` replaced everywhere;
/// panics when a `from` does not occur (the file changed and the test must follow).
fn config_with(file: &str, replacements: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../proxies")
        .join(file);
    let mut text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    for (from, to) in replacements {
        assert!(text.contains(from), "{file} no longer contains {from:?}");
        text = text.replace(from, to);
    }
    text
}

fn free_tcp_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn free_udp_addr() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn payload(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(13).wrapping_add(seed) % 251) as u8)
        .collect()
}

/// Several connections at once, each with round trips of a few sizes and then a large
/// stream ended by a half-close; every byte must come back in order.
fn assert_tcp_echo_through(addr: SocketAddr) {
    thread::scope(|scope| {
        for i in 0..8 {
            scope.spawn(move || {
                let mut s = connect(addr);
                for (k, len) in [1, 100, 4096, 30_000].into_iter().enumerate() {
                    assert_tcp_echo(&mut s, &payload(len, i * 4 + k));
                }
                let big = payload(200_000 + i, i);
                let mut writer = s.try_clone().unwrap();
                let sent = big.clone();
                let sending = thread::spawn(move || {
                    writer.write_all(&sent).unwrap();
                    writer.shutdown(Shutdown::Write).unwrap();
                });
                let mut got = Vec::new();
                s.read_to_end(&mut got).unwrap();
                sending.join().unwrap();
                assert!(got == big, "connection {i}: {} bytes back", got.len());
            });
        }
    });
}

#[test]
#[ignore = "needs haproxy"]
fn haproxy_cfg_relays_tcp_echo_byte_exact() {
    let upstream = start_server(Proto::TcpEcho, test_config());
    let front = free_tcp_addr();
    let config = config_with(
        "haproxy.cfg",
        &[
            ("127.0.0.1:8091", front.to_string()),
            (
                "127.0.0.1:7001",
                upstream.addr(Proto::TcpEcho).unwrap().to_string(),
            ),
        ],
    );
    let dir = temp_dir("haproxy");
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, config).unwrap();

    let mut haproxy = Proxy::start("haproxy", "haproxy", &["-f", cfg.to_str().unwrap(), "-db"]);
    haproxy.wait_accepting(front);
    assert_tcp_echo_through(front);
    drop(haproxy);
    let stats = stop(upstream);
    assert!(stats.bytes_in >= 8 * 200_000, "{stats:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[ignore = "needs nginx and its stream module"]
fn nginx_conf_relays_tcp_and_udp_echo_byte_exact() {
    let tcp_upstream = start_server(Proto::TcpEcho, test_config());
    let udp_upstream = start_server(Proto::UdpEcho, test_config());
    let (tcp_front, udp_front) = (free_tcp_addr(), free_udp_addr());
    let dir = temp_dir("nginx");
    let config = config_with(
        "nginx.conf",
        &[
            ("127.0.0.1:8092", tcp_front.to_string()),
            ("127.0.0.1:8093", udp_front.to_string()),
            (
                "127.0.0.1:7001",
                tcp_upstream.addr(Proto::TcpEcho).unwrap().to_string(),
            ),
            (
                "127.0.0.1:7002",
                udp_upstream.addr(Proto::UdpEcho).unwrap().to_string(),
            ),
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
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config).unwrap();

    let early_log = dir.join("early-error.log");
    let mut nginx = Proxy::start(
        "nginx",
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
    );
    nginx.wait_accepting(tcp_front);
    assert_tcp_echo_through(tcp_front);

    // UDP: the same socket (one nginx session), many datagrams, each answered whole.
    let s = udp_client(udp_front);
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for seq in 0..50 {
        let msg = format!("datagram {seq} {}", "y".repeat(seq * 20));
        s.send(msg.as_bytes()).unwrap();
        let mut buf = vec![0u8; 70_000];
        let n = s
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("datagram {seq}: {e}"));
        assert_eq!(&buf[..n], msg.as_bytes(), "datagram {seq}");
    }
    drop(nginx);
    assert_eq!(stop(udp_upstream).requests, 50);
    stop(tcp_upstream);
    std::fs::remove_dir_all(&dir).unwrap();
}
