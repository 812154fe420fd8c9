//! The framed command protocol, server side: requests as length-prefixed frames (or, in
//! `--requests raw` mode, one command line per read), every response as a frame.
//!
//! Decoding is [`bench_proto::Decoder`]'s; this module runs commands and writes replies.
//! Any protocol error gets an error frame (the response stream is still in sync), is
//! counted and logged once, and ends the connection with a lingering close.

use std::io::{self, IoSlice};

use bench_proto::command::generate_byte;
use bench_proto::{
    Command, CommandError, DecodeError, Decoder, RawRequest, RequestHeader, ResponseHeader,
    encode_header,
};
use serde::Serialize;
use smol::Timer;

use crate::config::{RequestMode, ServerConfig, Transform, WriteMode};
use crate::conn::{Conn, Interrupt, ReadEvent};
use crate::socket::{SocketReadback, read_back};
use crate::stats::{ErrorKind, StatsSnapshot};

/// Read buffer of the raw mode: one read is one command line.
const RAW_READ: usize = 64 * 1024;

/// Serves one framed connection in the configured request mode.
pub(crate) async fn serve(conn: Conn, config: &ServerConfig) {
    let mut session = Session {
        conn,
        config,
        header_buf: Vec::with_capacity(128),
        bufs: Buffers::default(),
    };
    match config.requests {
        RequestMode::Framed => session.serve_frames().await,
        RequestMode::Raw => session.serve_raw().await,
    }
}

/// A request that will not be answered with `ok`, and the counter it goes to.
struct Failure {
    kind: ErrorKind,
    message: String,
}

impl From<&DecodeError> for Failure {
    fn from(e: &DecodeError) -> Self {
        let kind = match e {
            DecodeError::HeaderLenTooSmall { .. } => ErrorKind::HeaderLenTooSmall,
            DecodeError::HeaderLenTooLarge { .. } => ErrorKind::HeaderLenTooLarge,
            DecodeError::InvalidJson { .. } => ErrorKind::InvalidJson,
            DecodeError::HeaderNotObject { .. } => ErrorKind::HeaderNotObject,
            DecodeError::BodyTooLarge { .. } => ErrorKind::BodyTooLarge,
            _ => ErrorKind::BadHeaderField,
        };
        Failure {
            kind,
            message: e.to_string(),
        }
    }
}

impl From<CommandError> for Failure {
    fn from(e: CommandError) -> Self {
        let kind = match e {
            CommandError::Unknown { .. } => ErrorKind::UnknownCommand,
            _ => ErrorKind::BadArgument,
        };
        Failure {
            kind,
            message: e.to_string(),
        }
    }
}

/// Reused per-connection buffers, so steady-state requests allocate nothing.
#[derive(Default)]
struct Buffers {
    /// Transformed bodies, `stats` JSON, `exec` output.
    scratch: Vec<u8>,
    /// The `generate` pattern, grown to the largest size asked for; any prefix of it is
    /// a valid reply.
    generated: Vec<u8>,
}

/// Buffers up to this size stay with the connection between requests; larger ones are
/// given back after the reply, so a thousand connections that each once asked for
/// 16 MiB do not keep 16 GiB.
const KEEP_BUFFER: usize = 1 << 20;

impl Buffers {
    /// Gives back what a large request made the buffers grow to.
    fn release_large(&mut self) {
        for buf in [&mut self.scratch, &mut self.generated] {
            if buf.capacity() > KEEP_BUFFER {
                // A prefix of the generate pattern is still the pattern.
                buf.truncate(KEEP_BUFFER);
                buf.shrink_to(KEEP_BUFFER);
            }
        }
    }
}

/// A successful reply: its body and the extra header fields it sets.
struct Reply<'a> {
    body: &'a [u8],
    exit_code: Option<i32>,
    truncated: Option<bool>,
}

impl<'a> Reply<'a> {
    fn body(body: &'a [u8]) -> Self {
        Reply {
            body,
            exit_code: None,
            truncated: None,
        }
    }

    fn header(&self, id: u64) -> ResponseHeader {
        let mut header = ResponseHeader::ok(id, self.body.len() as u64);
        header.exit_code = self.exit_code;
        header.truncated = self.truncated;
        header
    }
}

/// The `stats` command's body.
#[derive(Serialize)]
struct StatsBody {
    endpoint: StatsSnapshot,
    connection: ConnectionInfo,
}

#[derive(Serialize)]
struct ConnectionInfo {
    peer: std::net::SocketAddr,
    /// Options of this connection's server-side socket, read back with getsockopt.
    socket: Option<SocketReadback>,
}

struct Session<'c> {
    conn: Conn,
    config: &'c ServerConfig,
    /// Prefix + JSON of the response being written.
    header_buf: Vec<u8>,
    bufs: Buffers,
}

impl Session<'_> {
    async fn serve_frames(&mut self) {
        let mode = self.config.write_mode;
        let mut decoder = Decoder::<RequestHeader>::new(self.config.limits);
        // Requests answered when this connection noticed the shutdown.
        let mut served_at_stop = None;
        loop {
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
                let id = frame.header.id;
                let result = match Command::from_header(&frame.header, &self.config.limits) {
                    Ok(command) => {
                        execute(
                            command,
                            frame.body,
                            &mut self.bufs,
                            view(&self.conn),
                            self.config,
                        )
                        .await
                    }
                    Err(e) => Err(Failure::from(e)),
                };
                if !answer(&mut self.conn, &mut self.header_buf, mode, id, result).await {
                    return;
                }
                self.bufs.release_large();
            }
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
                // A partial frame is finished within the grace period; otherwise close now.
                Ok(ReadEvent::Interrupted(Interrupt::Stop)) if decoder.at_frame_boundary() => {
                    return;
                }
                Ok(ReadEvent::Interrupted(Interrupt::Stop)) => {}
                Err(e) => return self.conn.fail_io(&e),
            }
        }
    }

    async fn serve_raw(&mut self) {
        let mode = self.config.write_mode;
        let mut buf = vec![0u8; RAW_READ];
        let mut id = 0;
        loop {
            let n = match self.conn.read(&mut buf).await {
                Ok(ReadEvent::Data(n)) => n,
                Ok(ReadEvent::Eof) | Ok(ReadEvent::Interrupted(Interrupt::Stop)) => return,
                Ok(ReadEvent::Interrupted(Interrupt::Idle)) => {
                    return self
                        .conn
                        .fail(ErrorKind::IdleTimeout, &"no data for the idle timeout");
                }
                Err(e) => return self.conn.fail_io(&e),
            };
            id += 1;
            let result =
                match RawRequest::parse(&buf[..n], &self.config.limits, self.config.allow_exec) {
                    Ok(RawRequest::Builtin { command, body }) => {
                        execute(command, body, &mut self.bufs, view(&self.conn), self.config).await
                    }
                    Ok(RawRequest::Shell { line }) => {
                        let conn = view(&self.conn);
                        execute(Command::Exec, line, &mut self.bufs, conn, self.config).await
                    }
                    Err(e) => Err(Failure::from(e)),
                };
            if !answer(&mut self.conn, &mut self.header_buf, mode, id, result).await {
                return;
            }
            self.bufs.release_large();
            if self.conn.stopping().await {
                return;
            }
        }
    }
}

/// Writes the reply (true: keep serving) or the error frame (false: closed).
async fn answer(
    conn: &mut Conn,
    header_buf: &mut Vec<u8>,
    mode: WriteMode,
    id: u64,
    result: Result<Reply<'_>, Failure>,
) -> bool {
    let reply = match result {
        Ok(reply) => reply,
        Err(failure) => {
            reject(conn, header_buf, mode, id, failure).await;
            return false;
        }
    };
    match write_frame(conn, header_buf, mode, &reply.header(id), reply.body).await {
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
    if write_frame(conn, header_buf, mode, &header, &[])
        .await
        .is_ok()
    {
        conn.linger_close().await;
    }
}

/// What a command may know of its connection (shareable across the command's awaits).
#[derive(Clone, Copy)]
struct ConnView<'a> {
    stats: &'a crate::stats::Stats,
    peer: std::net::SocketAddr,
    socket: &'a std::net::TcpStream,
}

fn view(conn: &Conn) -> ConnView<'_> {
    ConnView {
        stats: conn.stats(),
        peer: conn.peer(),
        socket: conn.socket(),
    }
}

/// Runs one command. The reply body borrows the request body or the buffers.
async fn execute<'a>(
    command: Command,
    input: &'a [u8],
    bufs: &'a mut Buffers,
    conn: ConnView<'_>,
    config: &ServerConfig,
) -> Result<Reply<'a>, Failure> {
    let Buffers { scratch, generated } = bufs;
    match command {
        Command::Echo if config.transform == Transform::None => Ok(Reply::body(input)),
        Command::Echo | Command::Upper => {
            scratch.clear();
            scratch.extend_from_slice(input);
            scratch.make_ascii_uppercase();
            Ok(Reply::body(scratch))
        }
        Command::Discard => Ok(Reply::body(&[])),
        Command::Generate { size } => {
            // `size <= max_body` was checked when the command was parsed.
            let size = size as usize;
            let have = generated.len();
            if have < size {
                generated.extend((have..size).map(|i| generate_byte(i as u64)));
            }
            Ok(Reply::body(&generated[..size]))
        }
        Command::Sleep { ms } => {
            Timer::after(std::time::Duration::from_millis(ms)).await;
            Ok(Reply::body(&[]))
        }
        Command::Stats => {
            scratch.clear();
            let body = StatsBody {
                endpoint: conn.stats.snapshot(),
                connection: ConnectionInfo {
                    peer: conn.peer,
                    socket: read_back(conn.socket.into(), true).ok(),
                },
            };
            serde_json::to_writer(&mut *scratch, &body).expect("stats serialise");
            Ok(Reply::body(scratch))
        }
        Command::Exec if !config.allow_exec => Err(Failure {
            kind: ErrorKind::ExecDisabled,
            message:
                "exec is disabled (start bench-server with --allow-exec on a loopback address)"
                    .to_owned(),
        }),
        Command::Exec => {
            let outcome = crate::exec::run(input, scratch, config.limits.max_body)
                .await
                .map_err(|message| Failure {
                    kind: ErrorKind::ExecFailed,
                    message,
                })?;
            Ok(Reply {
                body: scratch,
                exit_code: outcome.exit_code,
                truncated: Some(outcome.truncated),
            })
        }
    }
}

/// Writes one response frame in the configured write mode.
async fn write_frame(
    conn: &mut Conn,
    header_buf: &mut Vec<u8>,
    mode: WriteMode,
    header: &ResponseHeader,
    body: &[u8],
) -> io::Result<()> {
    header_buf.clear();
    encode_header(header, header_buf).map_err(io::Error::other)?;
    match mode {
        WriteMode::Coalesced => {
            conn.write_all_vectored(&mut [IoSlice::new(header_buf), IoSlice::new(body)])
                .await
        }
        WriteMode::Split => {
            let (prefix, json) = header_buf.split_at(bench_proto::codec::PREFIX_LEN);
            conn.write_all(prefix).await?;
            conn.write_all(json).await?;
            if !body.is_empty() {
                conn.write_all(body).await?;
            }
            Ok(())
        }
    }
}
