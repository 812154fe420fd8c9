//! Round trips against a live server: the client side of the loopback bench, kept apart
//! from it so a bench that points the same client at a relay (direct vs proxied) can
//! reuse it unchanged — everything here takes the target address as an argument.
//!
//! A [`Client`] is connected (or, for UDP, bound and connected) outside the timed part;
//! [`Client::time_round_trips`] then times `iters` request/reply round trips, one in
//! flight, and checks every reply, so a broken server fails the bench instead of
//! producing fast numbers. Servers come from [`spawn_server`], on 127.0.0.1:0.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use bench_proto::{ByteSize, CommandName, Decoder, Limits, RequestHeader, ResponseHeader, Status};
use bench_server::{Endpoint, Proto, ServerConfig, ServerHandle, WriteMode};
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

enum Socket {
    Tcp(Async<TcpStream>),
    Udp(Async<UdpSocket>),
}

/// One connection (or connected UDP socket) that does verified round trips.
pub struct Client {
    workload: Workload,
    socket: Socket,
    /// The request payload (framed: the body); its first 8 bytes carry the sequence
    /// number, so a stale or misrouted reply does not match.
    payload: Vec<u8>,
    /// tcp-echo and udp-echo replies are read into this.
    reply: Vec<u8>,
    /// Framed: prefix + JSON header of the request being written.
    header: Vec<u8>,
    /// Framed: the reply decoder, reused like a real connection's.
    decoder: Decoder<ResponseHeader>,
    /// Sequence number (framed: request id) of the next request.
    seq: u64,
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
        let socket = match workload {
            Workload::UdpEcho => {
                let socket = Async::<UdpSocket>::bind(([127, 0, 0, 1], 0))?;
                socket.get_ref().connect(addr)?;
                Socket::Udp(socket)
            }
            Workload::TcpEcho | Workload::Framed(_) => {
                let stream = Async::<TcpStream>::connect(addr).await?;
                stream.get_ref().set_nodelay(nodelay)?;
                Socket::Tcp(stream)
            }
        };
        Ok(Client {
            workload,
            socket,
            payload: (0..size).map(|i| b'a' + (i % 26) as u8).collect(),
            // One byte more than a reply: an oversized UDP reply is not cut to size.
            reply: vec![0; size + 1],
            header: Vec::with_capacity(128),
            decoder: Decoder::new(Limits::default()),
            seq: 0,
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
                ByteSize(self.payload.len() as u64)
            ),
        }
    }

    /// One request out, its reply in and checked.
    pub async fn round_trip(&mut self) -> io::Result<()> {
        self.seq += 1;
        if let Some(stamp) = self.payload.first_chunk_mut::<8>() {
            *stamp = self.seq.to_le_bytes();
        }
        match (&mut self.socket, self.workload) {
            (Socket::Udp(socket), _) => {
                socket.send(&self.payload).await?;
                let n = socket.recv(&mut self.reply).await?;
                check_echo(&self.payload, &self.reply[..n])
            }
            (Socket::Tcp(stream), Workload::Framed(mode)) => {
                write_request(stream, &mut self.header, mode, self.seq, &self.payload).await?;
                read_reply(stream, &mut self.decoder, self.seq, &self.payload).await
            }
            (Socket::Tcp(stream), _) => {
                stream.write_all(&self.payload).await?;
                let n = self.payload.len();
                stream.read_exact(&mut self.reply[..n]).await?;
                check_echo(&self.payload, &self.reply[..n])
            }
        }
    }
}

fn check_echo(sent: &[u8], got: &[u8]) -> io::Result<()> {
    if sent == got {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "echo mismatch: sent {} bytes, got {} different ones",
            sent.len(),
            got.len()
        )))
    }
}

/// Writes one framed echo request: one vectored write (coalesced) or prefix, header and
/// body as three writes (split), the client half of the Nagle pattern.
async fn write_request(
    stream: &mut Async<TcpStream>,
    header: &mut Vec<u8>,
    mode: WriteMode,
    id: u64,
    body: &[u8],
) -> io::Result<()> {
    header.clear();
    let request = RequestHeader::new(CommandName::Echo, id, body.len() as u64);
    bench_proto::encode_header(&request, header).map_err(io::Error::other)?;
    match mode {
        WriteMode::Coalesced => {
            let n = stream
                .write_vectored(&[IoSlice::new(header), IoSlice::new(body)])
                .await?;
            // A short vectored write is finished piece by piece.
            match n.checked_sub(header.len()) {
                Some(body_done) => stream.write_all(&body[body_done..]).await,
                None => {
                    stream.write_all(&header[n..]).await?;
                    stream.write_all(body).await
                }
            }
        }
        WriteMode::Split => {
            let (prefix, json) = header.split_at(bench_proto::codec::PREFIX_LEN);
            stream.write_all(prefix).await?;
            stream.write_all(json).await?;
            if !body.is_empty() {
                stream.write_all(body).await?;
            }
            Ok(())
        }
    }
}

/// Reads the reply to request `id` and checks it is an `ok` echo of `body`.
async fn read_reply(
    stream: &mut Async<TcpStream>,
    decoder: &mut Decoder<ResponseHeader>,
    id: u64,
    body: &[u8],
) -> io::Result<()> {
    loop {
        if let Some(frame) = decoder.decode().map_err(io::Error::other)? {
            if frame.header.id != id || frame.header.status != Status::Ok {
                return Err(io::Error::other(format!(
                    "request {id} answered by {:?}",
                    frame.header
                )));
            }
            return check_echo(body, frame.body);
        }
        let n = stream.read(decoder.read_buf()).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        decoder.filled(n);
    }
}
