//! Shared helpers for the bench-client integration tests: short run configurations, the
//! misbehaving test servers (stalling, corrupting, dropping, dying), temporary folders
//! and the binary.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bench_client::{Report, Run, RunConfig, RunLength, Target};

/// A closed-loop run of `requests` requests with no warm-up, on the embedded server.
pub fn quick(requests: u64) -> RunConfig {
    RunConfig {
        length: RunLength::Requests(requests),
        warmup: "0s".parse().unwrap(),
        connections: 2,
        threads: 2,
        timeout: "5s".parse().unwrap(),
        ..RunConfig::default()
    }
}

/// `config` pointed at `addr`.
pub fn external(mut config: RunConfig, addr: SocketAddr) -> RunConfig {
    config.target = Target::External { addr };
    config
}

/// Runs a configuration to its report.
pub fn run(config: RunConfig) -> Report {
    Run::new(config)
        .expect("valid config")
        .execute()
        .expect("run starts")
}

/// A fresh, empty temporary folder (not created).
pub fn temp_path(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "wirebench-client-{}-{name}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The bench-client binary.
pub fn client_bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_bench-client"))
}

/// A tcp-echo server on a thread per connection that applies `tweak` to every chunk it
/// echoes: `tweak(bytes_echoed_before_this_chunk, chunk)`.
pub fn tcp_echo_with(tweak: impl Fn(u64, &mut [u8]) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let tweak = Arc::new(tweak);
    let total = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let tweak = tweak.clone();
            let total = total.clone();
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let before = total.fetch_add(n as u64, Ordering::SeqCst);
                    tweak(before, &mut buf[..n]);
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A tcp-echo server that stalls once for `stall`, in the read that brings its echoed
/// total past `at_bytes`.
pub fn tcp_echo_stalling_once(at_bytes: u64, stall: Duration) -> SocketAddr {
    tcp_echo_with(move |before, chunk| {
        if before < at_bytes && before + chunk.len() as u64 >= at_bytes {
            std::thread::sleep(stall);
        }
    })
}

/// A server that accepts connections and never answers.
pub fn silent_tcp_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    addr
}

/// A bench-server with tcp-echo, udp-echo and framed on 127.0.0.1, free ports.
pub fn spawn_all(config: bench_server::ServerConfig) -> bench_server::ServerHandle {
    let endpoints = bench_server::bind_all("127.0.0.1:0".parse().unwrap(), &config.socket).unwrap();
    bench_server::spawn(endpoints, config).unwrap()
}

/// A udp-echo server that drops every `nth` non-empty datagram; returns its address and
/// the count of datagrams it dropped.
pub fn udp_dropping_every(nth: u64) -> (SocketAddr, Arc<AtomicU64>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65_536];
        let mut seen = 0u64;
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            if n > 0 {
                seen += 1;
                if seen.is_multiple_of(nth) {
                    counter.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
            }
            let _ = socket.send_to(&buf[..n], peer);
        }
    });
    (addr, dropped)
}

/// A tcp-echo server that serves until it has echoed `bytes` bytes in total, then dies:
/// every connection is reset (as the kernel does for a killed process with unread data)
/// and the listener closes.
pub fn tcp_echo_dying_after(bytes: u64) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let total = Arc::new(AtomicU64::new(0));
    let dead = Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        while !dead.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let (total, dead) = (total.clone(), dead.clone());
                    std::thread::spawn(move || serve_until_dead(stream, &total, &dead, bytes));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        // The listener drops here: new connections are refused.
    });
    addr
}

fn serve_until_dead(
    mut stream: TcpStream,
    total: &AtomicU64,
    dead: &std::sync::atomic::AtomicBool,
    limit: u64,
) {
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        if dead.load(Ordering::SeqCst) {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if total.fetch_add(n as u64, Ordering::SeqCst) + n as u64 >= limit {
                    dead.store(true, Ordering::SeqCst);
                    break;
                }
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
    // SO_LINGER 0: close with a reset, like a process killed with data unread.
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
}
