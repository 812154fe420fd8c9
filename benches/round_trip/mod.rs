//! Round trips against a live server: the client side of the loopback bench, kept apart
//! from it so a bench that points the same client at a relay (direct vs proxied) can
//! reuse it unchanged — everything here takes the target address as an argument.
//!
//! The bytes on the wire and the checks of every reply are the load generator's own:
//! requests are encoded and replies decoded and verified by `bench_client::workload`
//! ([`TcpEcho`], [`Framed`]; udp-echo by its [`Verifier`]), the same code a `bench-client
//! run` drives, so the bench measures that protocol code and a broken server fails the
//! bench instead of producing fast numbers. This file only moves bytes and time.
//!
//! A [`Client`] is connected (or, for UDP, bound and connected) outside the timed part;
//! [`Client::time_round_trips`] then times `iters` request/reply round trips, one in
//! flight. Servers come from [`spawn_server`], on 127.0.0.1:0; [`bench_client`] hands a
//! client to criterion.

use std::cell::Cell as OnceSlot;
use std::io::{self, IoSlice};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench_client::workload::framed::Framed;
use bench_client::workload::tcp_echo::TcpEcho;
use bench_client::workload::{
    Failure, Pattern, ReplyReader, Request, RequestWriter, StreamWorkload, Verifier,
    describe_mismatch,
};
use bench_client::{RunConfig, SizeRange, WorkloadKind};
use bench_proto::ByteSize;
use bench_server::{Endpoint, Proto, ServerConfig, ServerHandle, WriteMode};
use criterion::async_executor::SmolExecutor;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId};
use smol::future::FutureExt as _;
use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};
use smol::{Async, Timer};

/// A round trip that takes longer than this fails the bench (a hung server must not hang
/// CI); well above the ~40 ms delayed-ACK stalls, which are expected.
const ROUND_TRIP_LIMIT: Duration = Duration::from_secs(1);

/// What is spoken on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Raw bytes, echoed unchanged.
    TcpEcho,
    /// One datagram out, the same datagram back.
    UdpEcho,
    /// Framed `echo` requests, written (by client and server alike) in this mode.
    Framed(WriteMode),
}

impl Workload {
    /// The server protocol that answers it.
    pub fn proto(self) -> Proto {
        match self {
            Workload::TcpEcho => Proto::TcpEcho,
            Workload::UdpEcho => Proto::UdpEcho,
            Workload::Framed(_) => Proto::Framed,
        }
    }

    /// Whether TCP_NODELAY applies.
    pub fn is_tcp(self) -> bool {
        self != Workload::UdpEcho
    }

    /// The run configuration the library's workloads are built from: `size`-byte
    /// requests (framed: `echo` bodies), replies checked exactly, and the write mode.
    fn config(self, size: usize) -> RunConfig {
        let (workload, write_mode) = match self {
            Workload::TcpEcho => (WorkloadKind::TcpEcho, WriteMode::Coalesced),
            Workload::UdpEcho => (WorkloadKind::UdpEcho, WriteMode::Coalesced),
            Workload::Framed(mode) => (WorkloadKind::Framed, mode),
        };
        RunConfig {
            workload,
            write_mode,
            size: SizeRange::fixed(size as u64),
            ..RunConfig::default()
        }
    }
}

/// The name of a TCP_NODELAY setting in benchmark ids.
pub fn nodelay_name(nodelay: bool) -> &'static str {
    if nodelay { "nodelay-on" } else { "nodelay-off" }
}

/// Starts a bench-server for `workload` on 127.0.0.1:0 with TCP_NODELAY `nodelay` on its
/// accepted sockets and, for framed, the workload's write mode for its replies.
pub fn spawn_server(workload: Workload, nodelay: bool) -> (ServerHandle, SocketAddr) {
    let mut config = ServerConfig::default();
    config.socket.nodelay = nodelay;
    if let Workload::Framed(mode) = workload {
        config.write_mode = mode;
    }
    let addr = "127.0.0.1:0".parse().expect("literal address");
    let endpoint =
        Endpoint::bind(workload.proto(), addr, &config.socket).expect("bind 127.0.0.1:0");
    let server = bench_server::spawn(vec![endpoint], config).expect("server starts");
    let addr = server.addr(workload.proto()).expect("endpoint bound");
    (server, addr)
}

/// Lets criterion time round trips on `client`'s one connection, as benchmark `id`.
pub fn bench_client(group: &mut BenchmarkGroup<'_, WallTime>, id: BenchmarkId, client: Client) {
    // `iter_custom` wants a fresh future per call; the client is lent to each in turn.
    let slot = Rc::new(OnceSlot::new(Some(client)));
    group.bench_function(id, |b| {
        b.to_async(SmolExecutor).iter_custom(|iters| {
            let slot = slot.clone();
            async move {
                let mut client = slot.take().expect("one measurement at a time");
                let elapsed = client.time_round_trips(iters).await;
                slot.set(Some(client));
                elapsed
            }
        })
    });
}

/// The socket and the protocol state on it.
enum Wire {
    /// tcp-echo or framed: the library workload's two halves. Boxed, as the two workloads
    /// have different types: a virtual call per request is nanoseconds against a
    /// loopback round trip's tens of microseconds.
    Stream {
        stream: Async<TcpStream>,
        mode: WriteMode,
        writer: Box<dyn RequestWriter>,
        reader: Box<dyn ReplyReader>,
    },
    /// udp-echo: one datagram each way, checked against what the verifier expects.
    Datagram {
        socket: Async<UdpSocket>,
        verifier: Verifier,
        /// One byte more than a reply: an oversized reply is not cut to size.
        reply: Vec<u8>,
    },
}

/// One connection (or connected UDP socket) that does verified round trips.
pub struct Client {
    workload: Workload,
    wire: Wire,
    /// The next request. Its id is the framed request id and picks where in the pattern
    /// the payload starts, so a stale or misrouted reply does not verify.
    next: Request,
}

impl Client {
    /// Connects to `addr` with TCP_NODELAY `nodelay` (ignored for UDP); requests carry
    /// `size` bytes (framed: the body).
    pub async fn connect(
        workload: Workload,
        addr: SocketAddr,
        nodelay: bool,
        size: usize,
    ) -> io::Result<Client> {
        let config = workload.config(size);
        let verifier = Verifier::new(&config, Arc::new(Pattern::new(size)));
        let wire = match workload {
            Workload::UdpEcho => {
                let socket = Async::<UdpSocket>::bind(([127, 0, 0, 1], 0))?;
                socket.get_ref().connect(addr)?;
                let reply = vec![0; size + 1];
                Wire::Datagram {
                    socket,
                    verifier,
                    reply,
                }
            }
            Workload::TcpEcho | Workload::Framed(_) => {
                let stream = Async::<TcpStream>::connect(addr).await?;
                stream.get_ref().set_nodelay(nodelay)?;
                let (writer, reader) = halves(&config, verifier);
                Wire::Stream {
                    stream,
                    mode: config.write_mode,
                    writer,
                    reader,
                }
            }
        };
        Ok(Client {
            workload,
            wire,
            next: Request { id: 0, size },
        })
    }

    /// Times `iters` round trips; panics (failing the bench) on a wrong reply, an I/O
    /// error, or a round trip slower than [`ROUND_TRIP_LIMIT`] on average.
    pub async fn time_round_trips(&mut self, iters: u64) -> Duration {
        let per_trip = u32::try_from(iters).unwrap_or(u32::MAX);
        let limit =
            Duration::from_secs(5).saturating_add(ROUND_TRIP_LIMIT.saturating_mul(per_trip));
        let mut deadline = Timer::after(limit);
        let start = Instant::now();
        let trips = async {
            for _ in 0..iters {
                self.round_trip().await?;
            }
            Ok(start.elapsed())
        };
        let timeout = async {
            (&mut deadline).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{iters} round trips took over {limit:?}"),
            ))
        };
        match trips.or(timeout).await {
            Ok(elapsed) => elapsed,
            Err(e) => panic!(
                "{:?} {}: {e}",
                self.workload,
                ByteSize(self.next.size as u64)
            ),
        }
    }

    /// One request out, its reply in and checked.
    pub async fn round_trip(&mut self) -> io::Result<()> {
        let req = self.next;
        self.next.id += 1;
        match &mut self.wire {
            Wire::Stream {
                stream,
                mode,
                writer,
                reader,
            } => {
                write_request(stream, *mode, writer.encode(&req)).await?;
                read_reply(stream, reader.as_mut(), &req).await
            }
            Wire::Datagram {
                socket,
                verifier,
                reply,
            } => {
                socket.send(verifier.pattern().payload(&req)).await?;
                let n = socket.recv(reply).await?;
                check_datagram(verifier, &req, &reply[..n])
            }
        }
    }
}

/// The library workload for `config` (tcp-echo or framed), split into its halves.
fn halves(
    config: &RunConfig,
    verifier: Verifier,
) -> (Box<dyn RequestWriter>, Box<dyn ReplyReader>) {
    fn boxed<W: StreamWorkload>(workload: W) -> (Box<dyn RequestWriter>, Box<dyn ReplyReader>) {
        let (writer, reader) = workload.split(0);
        (Box::new(writer), Box::new(reader))
    }
    match config.workload {
        WorkloadKind::Framed => boxed(Framed::new(config, verifier)),
        _ => boxed(TcpEcho::new(verifier)),
    }
}

/// Writes a request's parts as the engine does: coalesced in one vectored write (a short
/// write finished piece by piece), split as one write per part, the client half of the
/// Nagle pattern.
async fn write_request(
    stream: &mut Async<TcpStream>,
    mode: WriteMode,
    parts: [&[u8]; 3],
) -> io::Result<()> {
    if mode == WriteMode::Split {
        for part in parts.iter().filter(|p| !p.is_empty()) {
            stream.write_all(part).await?;
        }
        return Ok(());
    }
    let mut slices = parts.map(IoSlice::new);
    let mut bufs = &mut slices[..];
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = stream.write_vectored(bufs).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

/// Reads until the workload's reader has the whole reply to `req`, verified.
async fn read_reply(
    stream: &mut Async<TcpStream>,
    reader: &mut dyn ReplyReader,
    req: &Request,
) -> io::Result<()> {
    loop {
        match reader.take_reply(req) {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => {}
            Err(Failure::Mismatch(text) | Failure::Protocol(text) | Failure::Server(text)) => {
                return Err(io::Error::other(text));
            }
        }
        let n = stream.read(reader.read_buf()).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        reader.filled(n);
    }
}

/// A udp-echo reply must be the request's payload, whole.
fn check_datagram(verifier: &Verifier, req: &Request, got: &[u8]) -> io::Result<()> {
    let expected = verifier.expected(req);
    let want = expected.content.expect("exact replies carry their content");
    if got == want {
        return Ok(());
    }
    Err(io::Error::other(describe_mismatch(req.id, want, got, 0)))
}
