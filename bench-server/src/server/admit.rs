//! Admitting an accepted connection, the same for every model: count it, refuse it
//! over `max_conns` (a framed client gets an error frame, written by a small task on
//! the runtime so no accept loop waits for it), apply the socket options, and hand the
//! driver the [`ConnGuard`] the connection holds while it lives. Serving it is the
//! drivers' business (`accept` for `async`, `blocking` for `threads` and `iterative`).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use smol::future::FutureExt as _;
use smol::{Async, Timer};
use socket2::SockRef;

use crate::config::{Proto, ServerConfig};
use crate::conn::{ConnGuard, warn_io};
use crate::runtime::{Runtime, Tracker};
use crate::socket::configure_accepted;
use crate::stats::limiter::suppressed_note;
use crate::stats::{ErrorKind, Stats};

/// State every task and thread of one server run shares.
pub(crate) struct Shared {
    /// Shared with each framed session too.
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) runtime: Runtime,
}

/// Why [`admit`] did not admit a connection (already counted and logged).
pub(super) enum NotAdmitted {
    /// Over `max_conns`, with this many connections open: hand the stream to
    /// [`spawn_refusal`].
    Refused { open: u64 },
    /// The socket options could not be applied; drop the stream.
    Failed,
}

/// Counts the connection from `peer` and checks it against `max_conns` and the socket
/// options; the guard it holds while served, or why not.
pub(super) fn admit(
    stream: &TcpStream,
    peer: SocketAddr,
    stats: &Arc<Stats>,
    shared: &Shared,
    tracker: &Tracker,
) -> Result<ConnGuard, NotAdmitted> {
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
        return Err(NotAdmitted::Refused { open: active - 1 });
    }
    let guard = ConnGuard::new(Arc::clone(stats), tracker.clone());
    if let Err(e) = configure_accepted(SockRef::from(stream), &config.socket) {
        warn_io(stats, &format_args!("{peer}: setting socket options"), &e);
        return Err(NotAdmitted::Failed);
    }
    Ok(guard)
}

/// Turns away a refused connection on the runtime (the accept loop does not wait for
/// it), ending at the latest at shutdown.
pub(super) fn spawn_refusal(
    stream: Async<TcpStream>,
    proto: Proto,
    open: u64,
    shared: &Shared,
    tracker: &Tracker,
) {
    let (tracker, mut stop) = (tracker.clone(), shared.runtime.stop_signal());
    shared.runtime.spawn(async move {
        let _tracker = tracker;
        refuse(stream, proto, open).or(stop.as_mut()).await;
    });
}

/// [`spawn_refusal`] for a blocking accept loop's stream.
pub(super) fn spawn_blocking_refusal(
    stream: TcpStream,
    stats: &Stats,
    open: u64,
    shared: &Shared,
    tracker: &Tracker,
) {
    let registered = stream
        .set_nonblocking(true)
        .and_then(|()| Async::new(stream));
    match registered {
        Ok(stream) => spawn_refusal(stream, stats.proto(), open, shared, tracker),
        // The refusal is counted already; without its frame the close still refuses.
        Err(e) => log::debug!("{}: refusal without an error frame: {e}", stats.addr()),
    }
}

/// Turns away a connection over `max_conns`: a framed client gets an error frame it can
/// read, then the connection closes. Ends within about two seconds, or at shutdown: one
/// second to write the frame and one to drain what the client still sends (so the
/// kernel does not answer unread data with a reset that destroys the frame), after
/// which a client that neither reads nor closes is not worth a task.
async fn refuse(stream: Async<TcpStream>, proto: Proto, open: u64) {
    if proto != Proto::Framed {
        return;
    }
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
        let _ = stream.get_ref().shutdown(Shutdown::Write);
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
