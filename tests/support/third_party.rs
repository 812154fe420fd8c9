//! Running the third-party proxies with the configs shipped in `proxies/`, for the
//! ignored tests of two crates (`bench-server/tests/third_party.rs` and
//! `tests/proxies_overhead.rs` include this file with `#[path]`): each test gets a copy
//! of the repository's file with its ports replaced by free ones (the repository file
//! stays the source of truth), and the proxy runs in the foreground, stopped when its
//! [`Proxy`] is dropped.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a proxy may take to start accepting.
const STARTUP: Duration = Duration::from_secs(10);

/// A proxy process, stopped (SIGTERM, so nginx's master stops its workers too; then
/// SIGKILL) when dropped, so a failing test leaves nothing behind.
pub struct Proxy {
    child: Child,
    program: String,
}

impl Proxy {
    /// Starts `program` and waits (bounded) until `accepting` takes TCP connections,
    /// failing early if the process exits.
    pub fn start(program: &str, args: &[&str], accepting: SocketAddr) -> Proxy {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program} (is it installed?): {e}"));
        let mut proxy = Proxy {
            child,
            program: program.to_owned(),
        };
        let deadline = Instant::now() + STARTUP;
        loop {
            proxy.assert_running();
            if TcpStream::connect_timeout(&accepting, Duration::from_millis(200)).is_ok() {
                // Still running: the port is the proxy's, not somebody else's.
                thread::sleep(Duration::from_millis(100));
                proxy.assert_running();
                return proxy;
            }
            assert!(
                Instant::now() < deadline,
                "{program}: nothing on {accepting}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited during start-up: {status}", self.program);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
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
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wirebench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `proxies/<file>` into `dir` with each `(from, to)` replaced everywhere;
/// panics when a `from` does not occur (the file changed and the tests must follow).
pub fn config_with(dir: &Path, file: &str, replacements: &[(&str, String)]) -> PathBuf {
    let proxies = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|p| p.join("proxies"))
        .find(|p| p.is_dir())
        .expect("the repository's proxies/ folder");
    let source = proxies.join(file);
    let mut text = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("reading {}: {e}", source.display()));
    for (from, to) in replacements {
        assert!(text.contains(from), "{file} no longer contains {from:?}");
        text = text.replace(from, to);
    }
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// A free TCP address on 127.0.0.1 (bound, then released).
pub fn free_tcp() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A free UDP address on 127.0.0.1 (bound, then released).
pub fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `proxies/haproxy.cfg` on `front`, relaying to `tcp_upstream`.
pub fn haproxy(dir: &Path, front: SocketAddr, tcp_upstream: SocketAddr) -> Proxy {
    let cfg = config_with(
        dir,
        "haproxy.cfg",
        &[
            ("127.0.0.1:8091", front.to_string()),
            ("127.0.0.1:7001", tcp_upstream.to_string()),
        ],
    );
    Proxy::start("haproxy", &["-f", cfg.to_str().unwrap(), "-db"], front)
}

/// `proxies/nginx.conf` on `tcp_front` and `udp_front`, relaying to the upstreams; its
/// pid file and logs in `dir`.
pub fn nginx(
    dir: &Path,
    (tcp_front, udp_front): (SocketAddr, SocketAddr),
    (tcp_upstream, udp_upstream): (SocketAddr, SocketAddr),
) -> Proxy {
    let conf = config_with(
        dir,
        "nginx.conf",
        &[
            ("127.0.0.1:8092", tcp_front.to_string()),
            ("127.0.0.1:8093", udp_front.to_string()),
            ("127.0.0.1:7001", tcp_upstream.to_string()),
            ("127.0.0.1:7002", udp_upstream.to_string()),
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
    let args = [
        "-c",
        conf.to_str().unwrap(),
        "-p",
        dir.to_str().unwrap(),
        "-e",
        early_log.to_str().unwrap(),
        "-g",
        "daemon off;",
    ];
    Proxy::start("nginx", &args, tcp_front)
}
