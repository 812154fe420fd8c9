//! One TCP connection of a run: connect with the client's socket options, then a writer
//! half (paced by [`Source`], limited to `--pipeline` requests in flight) and a reader
//! half (completes, verifies and records replies, enforces `--timeout`) in one task.
//! A connection that fails ends: every request it had in flight counts as an error of the
//! failure's kind.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::net::TcpStream;
use std::time::Instant;

use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use smol::{Async, Timer};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::conn::{
    End, Link, account_unsent, fail_connection, open_failed, read_or_timeout, run_halves,
};
use super::pace::{Due, Next, Source, Waits};
use super::shared::Shared;
use crate::record::{Recorder, Timing};
use crate::report::ErrorKind;
use crate::workload::{Failure, ReplyReader, Request, RequestWriter, StreamWorkload};

/// A request on the wire, waiting for its reply.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    request: Request,
    timing: Timing,
}

/// The state both halves of a connection share (one task, so plain cells).
struct Pipe<'a> {
    link: Link<'a, InFlight>,
    stream: &'a Async<TcpStream>,
}

/// Runs connection `index` until its share of the run is done or it fails.
pub async fn run_connection<W: StreamWorkload>(
    shared: &Shared,
    index: usize,
    rec: &RefCell<Recorder>,
    workload: &W,
) {
    let source = RefCell::new(Source::new(shared, index));
    let stream = match connect(shared, index).await {
        Ok(stream) => stream,
        Err(e) => {
            let addr = shared.addr();
            open_failed(shared, rec, &source, || {
                format!("connecting to {addr}: {e}")
            });
            return;
        }
    };
    let pipe = Pipe {
        link: Link::new(shared, rec, source),
        stream: &stream,
    };
    let (mut writer, mut reader) = workload.split(index);
    let read_half = read_loop(&pipe, &mut reader);
    let write_half = write_loop(&pipe, &mut writer, workload.split_writes());
    let result = run_halves(
        read_half,
        write_half,
        &pipe.link.writer_done,
        &pipe.link.work,
    )
    .await;
    if let Err(end) = result {
        fail_inflight(&pipe, end);
    }
    account_unsent(shared, rec, &pipe.link.source);
}

/// Opens a connection: buffer sizes set before connecting (so the window scale fits
/// them), TCP_NODELAY after; the first connection's options are read back for the report.
async fn connect(shared: &Shared, index: usize) -> io::Result<Async<TcpStream>> {
    let addr = shared.addr();
    let opts = &shared.config().socket;
    let connecting = async {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        bench_server::socket::set_buffers(&socket, opts)?;
        if let Some(source) = shared.source_for(index) {
            socket.bind(&source.into())?;
        }
        socket.set_nonblocking(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
            Err(e) => return Err(e),
        }
        let stream = Async::new(TcpStream::from(socket))?;
        stream.writable().await?;
        if let Some(e) = stream.get_ref().take_error()? {
            return Err(e);
        }
        stream.get_ref().peer_addr()?;
        stream.get_ref().set_nodelay(opts.nodelay)?;
        Ok(stream)
    };
    let timeout = shared.config().timeout.0;
    let stream = future::or(connecting, async {
        Timer::after(timeout).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {}", shared.config().timeout),
        ))
    })
    .await?;
    shared.note_client_socket(SockRef::from(stream.get_ref()), true);
    Ok(stream)
}

/// Sends requests while the source has them and the pipeline has room.
async fn write_loop<W: RequestWriter>(
    pipe: &Pipe<'_>,
    writer: &mut W,
    split: bool,
) -> Result<(), End> {
    let shared = pipe.link.shared;
    let has_room = || pipe.link.has_room();
    let mut batch = Vec::new();
    // One set of timers and one stop future for every wait of this connection.
    let stop = std::pin::pin!(shared.stopped());
    let mut waits = Waits::new(shared, stop);
    loop {
        let Some(due) = pipe.link.next_request(&mut waits).await else {
            return Ok(());
        };
        let request = due.request;
        start(pipe, due);
        let parts = writer.encode(&request);
        // More requests ready to go (pipelining, or an open loop behind schedule) go out
        // in one write: one syscall for the batch instead of one per request. Only small
        // requests are copied into the batch; a large one goes out from where it is.
        let batch_more = !split && has_room() && parts_len(&parts) <= COPY_LIMIT;
        if !batch_more {
            let written = if split {
                write_split(pipe.stream, &parts).await
            } else {
                write_coalesced(pipe.stream, parts).await
            };
            written.map_err(|e| End::io("writing a request", &e))?;
            continue;
        }
        batch.clear();
        parts.iter().for_each(|p| batch.extend_from_slice(p));
        let written = gather_and_write(pipe, writer, &mut batch, &has_room, due.held).await;
        written.map_err(|e| End::io("writing a request", &e))?;
    }
}

/// Adds the requests ready now to `batch` (up to [`BATCH_BYTES`]) and writes it; a large
/// request met on the way is written after the batch without being copied. `held`: the
/// batch's first request waited for a free slot, and the rest waited behind it.
async fn gather_and_write<W: RequestWriter>(
    pipe: &Pipe<'_>,
    writer: &mut W,
    batch: &mut Vec<u8>,
    has_room: &impl Fn() -> bool,
    held: bool,
) -> io::Result<()> {
    let mut stream = pipe.stream;
    while has_room() && batch.len() < BATCH_BYTES {
        let next = pipe
            .link
            .source
            .borrow_mut()
            .next(pipe.link.shared, Instant::now(), false);
        let Next::Send(due) = next else { break };
        start(pipe, Due { held, ..due });
        let parts = writer.encode(&due.request);
        if parts_len(&parts) > COPY_LIMIT {
            stream.write_all(batch).await?;
            batch.clear();
            return write_coalesced(stream, parts).await;
        }
        parts.iter().for_each(|p| batch.extend_from_slice(p));
    }
    stream.write_all(batch).await
}

fn parts_len(parts: &[&[u8]; 3]) -> usize {
    parts.iter().map(|p| p.len()).sum()
}

/// Requests up to this size are copied into a batch; larger ones are written in place.
const COPY_LIMIT: usize = 16 * 1024;

/// Most bytes gathered into one batched write.
const BATCH_BYTES: usize = 64 * 1024;

/// A request goes on the wire: in flight from now, counted as sent.
fn start(pipe: &Pipe<'_>, due: Due) {
    let Due {
        request,
        intended,
        recorded,
        held,
    } = due;
    let timing = Timing {
        intended,
        sent: Instant::now(),
        recorded,
        held,
    };
    pipe.link
        .inflight
        .borrow_mut()
        .push_back(InFlight { request, timing });
    pipe.link.work.notify();
    let body = pipe.link.shared.verifier().request_len(&request);
    pipe.link.rec.borrow_mut().sent(&timing, body);
}

async fn write_split(mut stream: &Async<TcpStream>, parts: &[&[u8]; 3]) -> io::Result<()> {
    for part in parts.iter().filter(|p| !p.is_empty()) {
        stream.write_all(part).await?;
    }
    Ok(())
}

async fn write_coalesced(mut stream: &Async<TcpStream>, parts: [&[u8]; 3]) -> io::Result<()> {
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

/// Reads replies until the writer is done and nothing is in flight.
async fn read_loop<R: ReplyReader>(pipe: &Pipe<'_>, reader: &mut R) -> Result<(), End> {
    let timeout = pipe.link.shared.config().timeout.0;
    let mut timer = Timer::never();
    let mut armed = false;
    loop {
        let stream = pipe.stream;
        let sent = |f: &InFlight| f.timing.sent;
        let into = &mut *reader;
        // The future owns the stream handle and the buffer's borrow for as long as it runs.
        let read = move || async move {
            let mut stream = stream;
            stream.read(into.read_buf()).await
        };
        let next = read_or_timeout(&pipe.link, sent, &mut timer, &mut armed, read).await;
        let Some((oldest, read)) = next else {
            return Ok(());
        };
        match read {
            Some(Ok(0)) => {
                let outstanding = pipe.link.inflight.borrow().len();
                return Err(End {
                    kind: ErrorKind::Closed,
                    message: format!(
                        "server closed the connection with {outstanding} requests outstanding"
                    ),
                });
            }
            Some(Ok(n)) => {
                reader.filled(n);
                complete_buffered(pipe, reader, Instant::now())?;
            }
            Some(Err(e)) => return Err(End::io("reading a reply", &e)),
            None if Instant::now() >= oldest + timeout => {
                return Err(End {
                    kind: ErrorKind::Timeout,
                    message: format!(
                        "no whole reply within {}",
                        pipe.link.shared.config().timeout
                    ),
                });
            }
            None => armed = false,
        }
    }
}

/// Completes every reply the buffer holds; `done` is when the read that brought their
/// last bytes returned (verification time is not latency).
fn complete_buffered<R: ReplyReader>(
    pipe: &Pipe<'_>,
    reader: &mut R,
    done: Instant,
) -> Result<(), End> {
    loop {
        let Some(front) = pipe.link.inflight.borrow().front().copied() else {
            return Ok(());
        };
        let outcome = match reader.take_reply(&front.request) {
            Ok(None) => return Ok(()),
            Ok(Some(len)) => Ok(len),
            // The reply was consumed whole: the stream is in step, the connection goes on.
            Err(Failure::Mismatch(message)) => Err((ErrorKind::Mismatch, message)),
            Err(Failure::Server(message)) => Err((ErrorKind::Server, message)),
            Err(failure) => return Err(End::from(failure)),
        };
        pipe.link.inflight.borrow_mut().pop_front();
        pipe.link.room.notify();
        let mut rec = pipe.link.rec.borrow_mut();
        match outcome {
            Ok(len) => rec.ok(&front.timing, done, len),
            Err((kind, message)) => rec.failed(kind, 1, front.timing.recorded, || message),
        }
    }
}

fn fail_inflight(pipe: &Pipe<'_>, end: End) {
    let recorded = pipe
        .link
        .inflight
        .borrow()
        .iter()
        .filter(|f| f.timing.recorded)
        .count() as u64;
    fail_connection(pipe.link.shared, pipe.link.rec, recorded, end);
}
