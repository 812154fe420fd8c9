//! The framed command protocol, server side: requests as length-prefixed frames (or, in
//! `--requests raw` mode, one command line per read), every response as a frame.
//!
//! Decoding is [`bench_proto::Decoder`]'s, running a command [`crate::command`]'s; this
//! module reads requests, enforces the frame deadline and the memory budget for large
//! bodies, and writes replies. Any protocol error gets an error frame (the response
//! stream is still in sync), is counted and logged once, and ends the connection with a
//! lingering close.
//!
//! A connection is served one request at a time: the next request is not read before
//! the reply to this one is written, so a client that does not read its replies stops
//! being read from, and holds at most one request and one reply.

use std::io::{self, IoSlice};
use std::time::Instant;

use bench_proto::{Command, Decoder, RawRequest, RequestHeader, ResponseHeader, encode_header};

use super::command::{Buffers, Failure, PATTERN, Reply, Step, exec_reply, execute, stats_reply};
use crate::config::{LARGE_BUFFER, RequestMode, ServerConfig, WriteMode};
use crate::conn::{Conn, Interrupt, ReadEvent};
use crate::session::StatsInfo;
use crate::socket::read_back;
use crate::stats::ErrorKind;

/// Read buffer of the raw mode: one read is one command line, so this is the longest
/// line taken whole (a longer one arrives over several reads, each read as a command).
const RAW_READ: usize = 64 * 1024;

/// Serves one framed connection in the configured request mode.
pub(crate) async fn serve(conn: Conn, config: &ServerConfig) {
    let mut session = Session {
        conn,
        config,
        // Most response headers fit, so the first reply does not grow it.
        header_buf: Vec::with_capacity(128),
        bufs: Buffers::default(),
    };
    match config.requests {
        RequestMode::Framed => session.serve_frames().await,
        RequestMode::Raw => session.serve_raw().await,
    }
}

struct Session<'c> {
    conn: Conn,
    config: &'c ServerConfig,
    /// Prefix + JSON of the response being written.
    header_buf: Vec<u8>,
    bufs: Buffers,
}

impl Drop for Session<'_> {
    /// However the connection ends (a cut at the end of the grace period drops it
    /// mid-request), its share of the budget goes back.
    fn drop(&mut self) {
        self.bufs.release_budget(self.conn.stats());
    }
}

impl Session<'_> {
    async fn serve_frames(&mut self) {
        let mode = self.config.write_mode;
        let mut decoder = Decoder::<RequestHeader>::new(self.config.limits);
        // Requests answered when this connection noticed the shutdown.
        let mut served_at_stop = None;
        loop {
            let mut decoded = false;
            loop {
                let frame = match decoder.decode() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => {
                        let failure = Failure::from(&e);
                        return reject(&mut self.conn, &mut self.header_buf, mode, e.id(), failure)
                            .await;
                    }
                };
                decoded = true;
                let id = frame.header.id;
                let result = match Command::from_header(&frame.header, &self.config.limits) {
                    Ok(command) => {
                        run(
                            command,
                            frame.body,
                            &mut self.bufs,
                            ctx(&self.conn),
                            self.config,
                        )
                        .await
                    }
                    Err(e) => Err(Failure::from(e)),
                };
                let body = wire_body(&result, frame.body, &self.bufs);
                if !answer(&mut self.conn, &mut self.header_buf, mode, id, result, body).await {
                    return;
                }
                self.bufs.release_large(self.conn.stats());
            }
            if let Some(refused) = self.budget_for_body(&decoder) {
                let (id, failure) = refused;
                return reject(&mut self.conn, &mut self.header_buf, mode, id, failure).await;
            }
            self.watch_frame(&decoder, decoded);
            // During shutdown, the frames already received are answered and a frame
            // half-received is finished (within the grace period); then the connection
            // closes, at a frame boundary or once that frame is answered, whichever
            // comes first (a pipelining client always has a next frame under way).
            if self.conn.stopping().await {
                let served = self.conn.served();
                let at_stop = *served_at_stop.get_or_insert(served);
                if decoder.at_frame_boundary() || served > at_stop {
                    return;
                }
            }
            match self.conn.read(decoder.read_buf()).await {
                Ok(ReadEvent::Data(n)) => decoder.filled(n),
                Ok(ReadEvent::Eof) => {
                    if !decoder.at_frame_boundary() {
                        self.conn
                            .fail(ErrorKind::Truncated, &"peer closed mid-frame");
                    }
                    return;
                }
                Ok(ReadEvent::Interrupted(Interrupt::Idle)) => {
                    return self
                        .conn
                        .fail(ErrorKind::IdleTimeout, &"no data for the idle timeout");
                }
                Ok(ReadEvent::Interrupted(Interrupt::SlowFrame)) => {
                    return self.conn.fail(
                        ErrorKind::SlowFrame,
                        &"frame not completed within the frame timeout",
                    );
                }
                // A partial frame is finished within the grace period; otherwise close now.
                Ok(ReadEvent::Interrupted(Interrupt::Stop)) if decoder.at_frame_boundary() => {
                    return;
                }
                Ok(ReadEvent::Interrupted(Interrupt::Stop)) => {}
                Err(e) => return self.conn.fail_io(&e),
            }
        }
    }

    /// Before a large body is read, takes its size from the budget; the refusal (with
    /// the frame's id) when it does not fit. Small bodies touch no shared counter.
    fn budget_for_body(&mut self, decoder: &Decoder<RequestHeader>) -> Option<(u64, Failure)> {
        let (header, len) = decoder.pending_body()?;
        if len <= LARGE_BUFFER || self.bufs.holds_budget() {
            return None;
        }
        if self.bufs.reserve(self.conn.stats(), len, self.config) {
            return None;
        }
        Some((header.id, Failure::over_budget(len, self.config)))
    }

    /// Starts the frame deadline when a frame is under way and none runs for it (a new
    /// frame, when whole ones were decoded since); stops it at a frame boundary.
    fn watch_frame(&mut self, decoder: &Decoder<RequestHeader>, decoded: bool) {
        let Some(timeout) = self.config.frame_timeout else {
            return;
        };
        if decoder.at_frame_boundary() {
            if self.conn.frame_due() {
                self.conn.set_frame_due(None);
            }
        } else if decoded || !self.conn.frame_due() {
            self.conn.set_frame_due(Some(Instant::now() + timeout));
        }
    }

    async fn serve_raw(&mut self) {
        let mode = self.config.write_mode;
        let mut buf = vec![0u8; RAW_READ];
        let mut id = 0;
        loop {
            let n = match self.conn.read(&mut buf).await {
                Ok(ReadEvent::Data(n)) => n,
                // One read is one request: no frames, so no frame deadline either.
                Ok(ReadEvent::Eof)
                | Ok(ReadEvent::Interrupted(Interrupt::Stop | Interrupt::SlowFrame)) => return,
                Ok(ReadEvent::Interrupted(Interrupt::Idle)) => {
                    return self
                        .conn
                        .fail(ErrorKind::IdleTimeout, &"no data for the idle timeout");
                }
                Err(e) => return self.conn.fail_io(&e),
            };
            id += 1;
            let (command, input) =
                match RawRequest::parse(&buf[..n], &self.config.limits, self.config.allow_exec) {
                    Ok(RawRequest::Builtin { command, body }) => (Ok(command), body),
                    Ok(RawRequest::Shell { line }) => (Ok(Command::Exec), line),
                    Err(e) => (Err(Failure::from(e)), &[][..]),
                };
            let result = match command {
                Ok(command) => {
                    run(command, input, &mut self.bufs, ctx(&self.conn), self.config).await
                }
                Err(failure) => Err(failure),
            };
            let body = wire_body(&result, input, &self.bufs);
            if !answer(&mut self.conn, &mut self.header_buf, mode, id, result, body).await {
                return;
            }
            self.bufs.release_large(self.conn.stats());
            if self.conn.stopping().await {
                return;
            }
        }
    }
}

/// A reply's body as this handler writes it.
enum Body<'a> {
    Bytes(&'a [u8]),
    Pattern(usize),
}

/// Where the body of `result` is (empty for an error).
fn wire_body<'a>(result: &Result<Reply, Failure>, input: &'a [u8], bufs: &'a Buffers) -> Body<'a> {
    match result {
        Ok(reply) => match reply.body.bytes(input, bufs) {
            Some(bytes) => Body::Bytes(bytes),
            None => Body::Pattern(reply.len),
        },
        Err(_) => Body::Bytes(&[]),
    }
}

/// What a command may know of its connection (shareable across the command's awaits,
/// which `Conn` is not).
struct Ctx<'a> {
    stats: &'a crate::stats::Stats,
    peer: std::net::SocketAddr,
    socket: &'a std::net::TcpStream,
}

fn ctx(conn: &Conn) -> Ctx<'_> {
    Ctx {
        stats: conn.stats(),
        peer: conn.peer(),
        socket: conn.socket(),
    }
}

/// Runs one command, carrying out `sleep`, `stats` and `exec` here.
async fn run(
    command: Command,
    input: &[u8],
    bufs: &mut Buffers,
    conn: Ctx<'_>,
    config: &ServerConfig,
) -> Result<Reply, Failure> {
    match execute(command, input, bufs, conn.stats, config)? {
        Step::Reply(reply) => Ok(reply),
        Step::Sleep(pause) => {
            smol::Timer::after(pause).await;
            Ok(Reply::empty())
        }
        Step::Stats => {
            let info = StatsInfo {
                endpoint: conn.stats.snapshot(),
                socket: read_back(conn.socket.into(), true).ok(),
            };
            Ok(stats_reply(bufs, &info, conn.peer))
        }
        Step::Exec => {
            let mut output = bufs.lend_scratch();
            let outcome = super::exec::run(input, &mut output, config.limits.max_body).await;
            exec_reply(bufs, output, outcome)
        }
    }
}

/// Writes the reply (true: keep serving) or the error frame (false: closed).
async fn answer(
    conn: &mut Conn,
    header_buf: &mut Vec<u8>,
    mode: WriteMode,
    id: u64,
    result: Result<Reply, Failure>,
    body: Body<'_>,
) -> bool {
    let reply = match result {
        Ok(reply) => reply,
        Err(failure) => {
            reject(conn, header_buf, mode, id, failure).await;
            return false;
        }
    };
    match write_frame(conn, header_buf, mode, &reply.header(id), &body).await {
        Ok(()) => {
            conn.served_one().await;
            true
        }
        Err(e) => {
            conn.fail_io(&e);
            false
        }
    }
}

/// Counts and logs the failure, sends an error frame, and closes.
async fn reject(
    conn: &mut Conn,
    header_buf: &mut Vec<u8>,
    mode: WriteMode,
    id: u64,
    failure: Failure,
) {
    conn.fail(failure.kind, &failure.message);
    let header = ResponseHeader::error(id, failure.message);
    if write_frame(conn, header_buf, mode, &header, &Body::Bytes(&[]))
        .await
        .is_ok()
    {
        conn.linger_close().await;
    }
}

/// Writes one response frame in the configured write mode.
async fn write_frame(
    conn: &mut Conn,
    header_buf: &mut Vec<u8>,
    mode: WriteMode,
    header: &ResponseHeader,
    body: &Body<'_>,
) -> io::Result<()> {
    header_buf.clear();
    encode_header(header, header_buf).map_err(io::Error::other)?;
    match mode {
        WriteMode::Coalesced => write_coalesced(conn, header_buf, body).await,
        WriteMode::Split => {
            let (prefix, json) = header_buf.split_at(bench_proto::codec::PREFIX_LEN);
            conn.write_all(prefix).await?;
            conn.write_all(json).await?;
            match body {
                Body::Bytes([]) => Ok(()),
                Body::Bytes(b) => conn.write_all(b).await,
                Body::Pattern(n) => write_pattern(conn, *n).await,
            }
        }
    }
}

/// Header and body in one vectored write (when the socket takes it all).
async fn write_coalesced(conn: &mut Conn, header: &[u8], body: &Body<'_>) -> io::Result<()> {
    match body {
        Body::Bytes(b) => {
            conn.write_all_vectored(&mut [IoSlice::new(header), IoSlice::new(b)])
                .await
        }
        Body::Pattern(n) => {
            let first = (*n).min(PATTERN.len());
            conn.write_all_vectored(&mut [IoSlice::new(header), IoSlice::new(&PATTERN[..first])])
                .await?;
            write_pattern(conn, n - first).await
        }
    }
}

/// Writes `n` bytes of the `generate` pattern, several copies per vectored write.
async fn write_pattern(conn: &mut Conn, mut n: usize) -> io::Result<()> {
    // 16 copies: about 1 MiB per syscall, far below IOV_MAX (1024 slices).
    const COPIES: usize = 16;
    while n > 0 {
        let mut slices = [IoSlice::new(&[]); COPIES];
        let mut count = 0;
        let mut batch = 0;
        while count < COPIES && batch < n {
            let len = (n - batch).min(PATTERN.len());
            slices[count] = IoSlice::new(&PATTERN[..len]);
            batch += len;
            count += 1;
        }
        conn.write_all_vectored(&mut slices[..count]).await?;
        n -= batch;
    }
    Ok(())
}
