//! What a TCP endpoint does with each accepted connection: count it, refuse it over
//! `max_conns` (a framed client gets an error frame), apply the socket options, and
//! serve it under the configured model (a task, a thread, or inline for `iterative`),
//! cut at the end of the grace period. Connections at a request boundary close at once
//! when the stop begins; one in the middle of a request gets `grace` to finish.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use smol::future::FutureExt as _;
use smol::{Async, Timer};
use socket2::SockRef;

use crate::config::{Model, Proto, ServerConfig};
use crate::conn::Conn;
use crate::protocol::{echo, framed};
use crate::runtime::{ACCEPT_BACKOFF, Runtime, Tracker};
use crate::socket::configure_accepted;
use crate::stats::limiter::suppressed_note;
use crate::stats::{ErrorKind, Stats};

/// State every task of one server run shares.
pub(super) struct Shared {
    pub(super) config: ServerConfig,
    pub(super) runtime: Runtime,
}

pub(super) async fn accept_loop(
    listener: Async<TcpListener>,
    stats: Arc<Stats>,
    shared: Arc<Shared>,
    tracker: Tracker,
) {
    let mut turns = 0u64;
    while shared.runtime.keep_going(&mut turns).await {
        let accepted = shared.runtime.or_stopped(listener.accept()).await;
        match accepted {
            None => return,
            Some(Ok((stream, peer))) => {
                if let Some(conn) = admit(stream, peer, &stats, &shared, &tracker) {
                    match shared.config.model {
                        // PerCore here: its fallback where the per-core engine is not built.
                        Model::Async | Model::PerCore => shared.runtime.spawn(conn),
                        Model::Threads => spawn_thread(conn, &stats),
                        Model::Iterative => conn.await,
                    }
                }
            }
            Some(Err(e)) => {
                // EMFILE and friends: count, log, and back off instead of spinning.
                stats.error(ErrorKind::Io);
                if let Some(held) = stats.warn_allowed() {
                    log::warn!(
                        "{} {}: accept failed: {e}{}",
                        stats.proto().as_str(),
                        stats.addr(),
                        suppressed_note(held)
                    );
                }
                Timer::after(ACCEPT_BACKOFF).await;
            }
        }
    }
}

fn spawn_thread(conn: impl Future<Output = ()> + Send + 'static, stats: &Stats) {
    let spawned = thread::Builder::new()
        .name("bench-server-conn".to_owned())
        .spawn(move || smol::block_on(conn));
    if let Err(e) = spawned {
        stats.error(ErrorKind::Io);
        if let Some(held) = stats.warn_allowed() {
            log::warn!(
                "{} {}: cannot start a connection thread: {e}{}",
                stats.proto().as_str(),
                stats.addr(),
                suppressed_note(held)
            );
        }
    }
}

/// Decrements the active count and releases the shutdown tracker when a connection ends,
/// however it ends (including when its task is dropped).
struct ConnGuard {
    stats: Arc<Stats>,
    _tracker: Tracker,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.stats.connection_closed();
    }
}

/// Counts the connection, applies limits and socket options, and returns the future
/// that serves it (`None`: refused or failed, already counted).
fn admit(
    stream: Async<TcpStream>,
    peer: SocketAddr,
    stats: &Arc<Stats>,
    shared: &Arc<Shared>,
    tracker: &Tracker,
) -> Option<impl Future<Output = ()> + Send + 'static> {
    let active = stats.connection_opened();
    let config = &shared.config;
    if config.max_conns.is_some_and(|max| active > max as u64) {
        // A refused connection does not hold a slot while its error frame goes out.
        stats.connection_closed();
        stats.error(ErrorKind::MaxConns);
        // One line per second in a flood of refusals, with the count of the rest.
        if let Some(held) = stats.warn_allowed() {
            log::warn!(
                "{} {peer}: refused: {} connections open, --max-conns {}{}",
                stats.proto().as_str(),
                active - 1,
                config.max_conns.unwrap_or_default(),
                suppressed_note(held)
            );
        }
        let refusal = refuse(stream, stats.proto(), active - 1);
        let (tracker, mut stop) = (tracker.clone(), shared.runtime.stop_signal());
        shared.runtime.spawn(async move {
            let _tracker = tracker;
            refusal.or(stop.as_mut()).await;
        });
        return None;
    }
    let guard = ConnGuard {
        stats: Arc::clone(stats),
        _tracker: tracker.clone(),
    };
    if let Err(e) = configure_accepted(SockRef::from(stream.get_ref()), &config.socket) {
        stats.error(ErrorKind::Io);
        if let Some(held) = stats.warn_allowed() {
            log::warn!(
                "{} {peer}: setting socket options: {e}{}",
                stats.proto().as_str(),
                suppressed_note(held)
            );
        }
        return None;
    }
    let conn = Conn::new(
        stream,
        peer,
        Arc::clone(stats),
        config.idle_timeout,
        shared.runtime.stop_signal(),
    );
    let (shared, stats) = (Arc::clone(shared), Arc::clone(stats));
    Some(async move {
        let _guard = guard;
        let mut deadline = shared.runtime.stop_signal();
        let serve = std::panic::AssertUnwindSafe(serve_conn(conn, &shared.config)).catch_unwind();
        let outcome = async { Some(serve.await) }
            .or(async {
                deadline.as_mut().await;
                Timer::after(shared.config.grace).await;
                None
            })
            .await;
        match outcome {
            Some(Ok(())) => {}
            Some(Err(_panic)) => {
                stats.error(ErrorKind::Io);
                log::error!(
                    "{} {peer}: connection handler panicked",
                    stats.proto().as_str()
                );
            }
            None => stats.error(ErrorKind::ShutdownCut),
        }
    })
}

async fn serve_conn(conn: Conn, config: &ServerConfig) {
    match conn.stats().proto() {
        Proto::TcpEcho => echo::serve(conn, config.transform).await,
        Proto::Framed => framed::serve(conn, config).await,
        Proto::UdpEcho => unreachable!("UDP endpoints have no connections"),
    }
}

/// Turns away a connection over `max_conns`: a framed client gets an error frame it can
/// read, then the connection closes. Ends within about two seconds, or at shutdown: one
/// second to write the frame and one to drain what the client still sends (so the
/// kernel does not answer unread data with a reset that destroys the frame), after
/// which a client that neither reads nor closes is not worth a task.
async fn refuse(stream: Async<TcpStream>, proto: Proto, open: u64) {
    if proto == Proto::Framed {
        let mut frame = Vec::new();
        let header = bench_proto::ResponseHeader::error(
            0,
            format!("server busy: {open} connections open, the --max-conns limit"),
        );
        if bench_proto::encode_header(&header, &mut frame).is_err() {
            return;
        }
        let mut stream = stream;
        let written = smol::io::AsyncWriteExt::write_all(&mut stream, &frame)
            .or(async {
                Timer::after(Duration::from_secs(1)).await;
                Err(io::ErrorKind::TimedOut.into())
            })
            .await;
        if written.is_ok() {
            let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
            let mut sink = [0u8; 1024];
            let _ = async {
                while smol::io::AsyncReadExt::read(&mut stream, &mut sink).await? > 0 {}
                io::Result::Ok(())
            }
            .or(async {
                Timer::after(Duration::from_secs(1)).await;
                Ok(())
            })
            .await;
        }
    }
}
