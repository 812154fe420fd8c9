//! Loopback bench: one round trip per iteration against bench-server on 127.0.0.1,
//! for every workload, 64 B and 16 KiB, TCP_NODELAY on and off (set on the client socket
//! and on the server's), and for framed both write modes (client and server alike).
//!
//! Ids read `<workload>[/<write mode>]/<nodelay>/<size>`: `framed/split/nodelay-off/64B`,
//! `tcp-echo/nodelay-on/16KiB`, `udp-echo/64B` (UDP has no Nagle). One criterion group
//! per workload, so its summary page puts the Nagle settings side by side.
//!
//! Each group starts its servers once; each benchmark connects once, outside the timed
//! part, and [`round_trip::Client::time_round_trips`] times `iters` round trips on that
//! connection (`iter_custom`), each request built and each reply verified by bench-client's
//! own workloads (`bench_client::workload`). Throughput is the payload bytes of one round trip
//! (each way).
//!
//! The cells that meet Nagle's algorithm together with delayed ACKs (see [`Cell::stalls`])
//! spend ~40 ms or more per round trip; they run last in their group with 10 flat samples
//! and a short measurement time, so the group stays short. `docs/benches.md` has the
//! measured numbers.

mod round_trip;

use std::net::SocketAddr;
use std::time::Duration;

use bench_proto::ByteSize;
use bench_server::{ServerHandle, WriteMode};
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use round_trip::{Client, Workload, bench_client, nodelay_name, spawn_server};

/// Payload sizes of every workload.
const SIZES: [usize; 2] = [64, 16 << 10];

/// One benchmark: a workload, a TCP_NODELAY setting (both ends) and a payload size.
#[derive(Debug, Clone, Copy)]
struct Cell {
    workload: Workload,
    nodelay: bool,
    size: usize,
}

impl Cell {
    /// Whether this cell sits on the delayed-ACK plateau (measured, see
    /// `docs/benches.md`): with Nagle on, a write that follows a not yet acknowledged
    /// one waits for the ACK, and the peer, with nothing to send back yet, delays that
    /// ACK (~40 ms on Linux). Split writes do exactly that on every request and reply.
    fn stalls(self) -> bool {
        !self.nodelay && self.workload == Workload::Framed(WriteMode::Split)
    }

    /// The function part of the id (the group is the workload, the parameter the size).
    fn function(self) -> Option<String> {
        match self.workload {
            Workload::UdpEcho => None,
            Workload::TcpEcho => Some(nodelay_name(self.nodelay).to_owned()),
            Workload::Framed(mode) => {
                Some(format!("{}/{}", mode.as_str(), nodelay_name(self.nodelay)))
            }
        }
    }

    fn id(self) -> BenchmarkId {
        let size = ByteSize(self.size as u64);
        match self.function() {
            Some(function) => BenchmarkId::new(function, size),
            None => BenchmarkId::from_parameter(size),
        }
    }
}

/// The (workload, nodelay) servers a group needs, each with its sizes.
fn cells(workloads: &[Workload]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &workload in workloads {
        let settings: &[bool] = if workload.is_tcp() {
            &[true, false]
        } else {
            &[true]
        };
        for &nodelay in settings {
            for size in SIZES {
                cells.push(Cell {
                    workload,
                    nodelay,
                    size,
                });
            }
        }
    }
    cells
}

/// A server started for a group, and the cells it answers.
struct Server {
    workload: Workload,
    nodelay: bool,
    handle: ServerHandle,
    addr: SocketAddr,
}

impl Server {
    fn serves(&self, cell: Cell) -> bool {
        (self.workload, self.nodelay) == (cell.workload, cell.nodelay)
    }
}

/// Runs one group: starts a server per (workload, nodelay) once, then benches every cell,
/// the stalling ones last with the short settings.
fn bench_group(c: &mut Criterion, name: &str, workloads: &[Workload]) {
    let cells = cells(workloads);
    let servers: Vec<Server> = cells
        .iter()
        .filter(|cell| cell.size == SIZES[0])
        .map(|cell| {
            let (handle, addr) = spawn_server(cell.workload, cell.nodelay);
            Server {
                workload: cell.workload,
                nodelay: cell.nodelay,
                handle,
                addr,
            }
        })
        .collect();
    let addr = |cell: Cell| {
        let server = servers.iter().find(|s| s.serves(cell));
        server.expect("a server per workload and nodelay").addr
    };
    let mut group = c.benchmark_group(name);
    // Group settings stick for the benches after them: normal cells first.
    let (stalling, normal): (Vec<Cell>, Vec<Cell>) =
        cells.into_iter().partition(|cell| cell.stalls());
    for cell in normal {
        bench_cell(&mut group, cell, addr(cell));
    }
    if !stalling.is_empty() {
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    }
    for cell in stalling {
        bench_cell(&mut group, cell, addr(cell));
    }
    group.finish();
    for server in servers {
        server.handle.stop().expect("server stops cleanly");
    }
}

/// Connects once, then lets criterion time round trips on that connection.
fn bench_cell(group: &mut BenchmarkGroup<'_, WallTime>, cell: Cell, addr: SocketAddr) {
    let client = smol::block_on(Client::connect(
        cell.workload,
        addr,
        cell.nodelay,
        cell.size,
    ))
    .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    group.throughput(Throughput::Bytes(cell.size as u64));
    bench_client(group, cell.id(), client);
}

fn tcp_echo(c: &mut Criterion) {
    bench_group(c, "tcp-echo", &[Workload::TcpEcho]);
}

fn udp_echo(c: &mut Criterion) {
    bench_group(c, "udp-echo", &[Workload::UdpEcho]);
}

fn framed(c: &mut Criterion) {
    let modes = [
        Workload::Framed(WriteMode::Coalesced),
        Workload::Framed(WriteMode::Split),
    ];
    bench_group(c, "framed", &modes);
}

criterion_group! {
    name = benches;
    // Shorter than criterion's 3 s + 5 s so the whole `cargo bench` stays within
    // minutes; `--warm-up-time` / `--measurement-time` on the command line override it
    // (except in the stall cells, which set their own).
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = tcp_echo, udp_echo, framed
}
criterion_main!(benches);
