//! Helpers shared by the bench-server integration tests: start a real server on
//! 127.0.0.1:0 in-process, a small blocking framed client with timeouts, and the
//! `bench-server` binary as a child process.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bench_proto::ResponseHeader;
use bench_server::{Endpoint, Proto, ServerConfig, ServerHandle, ServerSummary, StatsSnapshot};

/// Every blocking socket operation in the tests gives up after this long, so a broken
/// server fails a test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A config for tests: two threads, a short grace period, a long idle timeout.
pub fn test_config() -> ServerConfig {
    ServerConfig {
        threads: 2,
        grace: Duration::from_secs(1),
        idle_timeout: Some(Duration::from_secs(30)),
        ..ServerConfig::default()
    }
}

/// Starts one endpoint of `proto` on 127.0.0.1:0 with `config`.
pub fn start_server(proto: Proto, config: ServerConfig) -> ServerHandle {
    let ep = Endpoint::bind(proto, "127.0.0.1:0".parse().unwrap(), &config.socket).unwrap();
    bench_server::spawn(vec![ep], config).unwrap()
}

/// Starts one endpoint with [`test_config`] changed by `change`.
pub fn start_with(proto: Proto, change: impl FnOnce(&mut ServerConfig)) -> ServerHandle {
    let mut config = test_config();
    change(&mut config);
    start_server(proto, config)
}

/// Stops the server and returns the stats of its only (or first) endpoint.
pub fn stop(server: ServerHandle) -> StatsSnapshot {
    let summary: ServerSummary = server.stop().unwrap();
    summary.endpoints.into_iter().next().unwrap()
}

/// A connected client socket with read and write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A UDP client socket connected to `addr`, with a read timeout.
pub fn udp_client(addr: SocketAddr) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(addr).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Encodes a frame with an arbitrary JSON header (so tests can send odd headers).
pub fn frame(header: serde_json::Value, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    bench_proto::encode_frame(&header, body, &mut out).unwrap();
    out
}

/// Raw bytes: a prefix claiming `header_len`, followed by `rest`.
pub fn with_prefix(header_len: u32, rest: &[u8]) -> Vec<u8> {
    let mut v = header_len.to_le_bytes().to_vec();
    v.extend_from_slice(rest);
    v
}

/// Reads exactly one response frame (never past it, so pipelined responses stay in the
/// socket); `Ok(None)` on a clean close before any byte.
pub fn read_response(s: &mut TcpStream) -> io::Result<Option<(ResponseHeader, Vec<u8>)>> {
    let mut prefix = [0u8; 4];
    let first = s.read(&mut prefix)?;
    if first == 0 {
        return Ok(None);
    }
    s.read_exact(&mut prefix[first..])?;
    let header_len = u32::from_le_bytes(prefix) as usize;
    let mut header = vec![0u8; header_len];
    s.read_exact(&mut header)?;
    let header: ResponseHeader = serde_json::from_slice(&header).map_err(io::Error::other)?;
    let mut body = vec![0u8; header.total_size as usize];
    s.read_exact(&mut body)?;
    Ok(Some((header, body)))
}

/// Sends one request and reads its response, which must arrive.
pub fn call(
    s: &mut TcpStream,
    header: serde_json::Value,
    body: &[u8],
) -> (ResponseHeader, Vec<u8>) {
    s.write_all(&frame(header, body)).unwrap();
    read_response(s).unwrap().expect("a response, not a close")
}

/// Sends a framed echo and checks the reply; proves a connection (and the server) works.
pub fn assert_echo_works(s: &mut TcpStream, id: u64) {
    let body = format!("still serving {id}");
    let (h, b) = call(
        s,
        serde_json::json!({"cmd": "echo", "id": id, "total_size": body.len()}),
        body.as_bytes(),
    );
    assert_eq!(h.id, id);
    assert_eq!(h.status, bench_proto::Status::Ok);
    assert_eq!(b, body.as_bytes());
}

/// Sends `msg` on a tcp-echo connection and checks that it comes back unchanged.
pub fn assert_tcp_echo(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
}

/// One echo round trip in `proto` (tcp-echo or framed); proves the connection works.
pub fn assert_serves(proto: Proto, s: &mut TcpStream, id: u64) {
    match proto {
        Proto::Framed => assert_echo_works(s, id),
        _ => assert_tcp_echo(s, format!("ping {id}").as_bytes()),
    }
}

/// How a connection ended, seen from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// FIN after `n` bytes.
    Closed(usize),
    /// Reset.
    Reset,
}

/// Reads until the server closes the connection (failing after [`IO_TIMEOUT`]).
pub fn read_until_closed(s: &mut TcpStream) -> Ending {
    let mut total = 0;
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ending::Closed(total),
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ending::Reset,
            Err(e) => panic!("connection neither closed nor reset: {e}"),
        }
    }
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// The framed `stats` command's body.
pub fn server_stats(s: &mut TcpStream) -> serde_json::Value {
    let (h, body) = call(
        s,
        serde_json::json!({"cmd": "stats", "id": 0, "total_size": 0}),
        b"",
    );
    assert_eq!(h.status, bench_proto::Status::Ok);
    serde_json::from_slice(&body).unwrap()
}

/// The `bench-server` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_bench-server");

/// A running `bench-server` process, killed if a test fails before stopping it.
pub struct Server {
    child: Child,
    stdout: mpsc::Receiver<String>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting bench-server");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server { child, stdout: rx }
    }

    /// The next stdout line (panics after [`IO_TIMEOUT`] or at end of output).
    pub fn line(&self) -> String {
        self.stdout
            .recv_timeout(IO_TIMEOUT)
            .expect("bench-server printed no further line")
    }

    /// Reads a `listening on <proto> <addr>` line and returns the address.
    pub fn listening(&self, proto: &str) -> SocketAddr {
        let line = self.line();
        let addr = line
            .strip_prefix(&format!("listening on {proto} "))
            .unwrap_or_else(|| panic!("expected `listening on {proto} ...`, got {line:?}"));
        let addr: SocketAddr = addr.parse().unwrap();
        assert_ne!(addr.port(), 0, "the real port, not 0");
        addr
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its status, the rest of stdout, and stderr.
    pub fn wait(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + IO_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "bench-server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        let rest: Vec<String> = self.stdout.try_iter().collect();
        let mut rest = rest.join("\n");
        // The reader thread may still be draining the pipe.
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_millis(500)) {
            rest.push('\n');
            rest.push_str(&line);
        }
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status, rest, err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary expecting it to fail; returns (exit code, stdout, stderr).
pub fn run_failing(args: &[&str]) -> (Option<i32>, String, String) {
    let server = Server::start(args);
    let (status, out, err) = server.wait();
    assert!(!status.success(), "{args:?} succeeded");
    (status.code(), out, err)
}
