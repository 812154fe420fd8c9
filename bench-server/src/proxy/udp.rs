//! The UDP relay: a session per client address. Each session owns a UDP socket
//! connected to the upstream on an ephemeral port, so the upstream's replies arrive on
//! the session's socket and go back to that client (and only that client) through the
//! front socket.
//!
//! One task receives on the front socket (so one client's datagrams keep their order);
//! each session has a task that relays replies and expires the session after
//! `udp_session_timeout` without a datagram either way. At most `max_sessions` are
//! open; a datagram from a new client beyond that is dropped and counted.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use smol::future::FutureExt as _;
use smol::{Async, Timer};

use super::ctx::Ctx;
use super::stats::ProxyErrorKind;
use crate::runtime::Tracker;

/// Largest UDP payload over IPv4/IPv6 without jumbograms. Buffers are allocated zeroed,
/// so the kernel commits only the pages a datagram actually touched.
const MAX_DATAGRAM: usize = 65_535;

/// One client's session.
struct Session {
    /// Connected to the upstream.
    upstream: Async<UdpSocket>,
    /// When the last datagram went either way, in nanoseconds since [`Table::origin`].
    last_active_ns: AtomicU64,
}

/// The open sessions by client address. The lock is held only to look up, insert or
/// expire, never across an await.
struct Table {
    sessions: Mutex<HashMap<SocketAddr, Arc<Session>>>,
    origin: Instant,
}

impl Table {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn touch(&self, session: &Session) {
        session.last_active_ns.store(self.now_ns(), Relaxed);
    }

    /// When `session` expires if nothing else happens.
    fn deadline(&self, session: &Session, timeout: Duration) -> Instant {
        self.origin + Duration::from_nanos(session.last_active_ns.load(Relaxed)) + timeout
    }
}

/// Receives on the front socket until shutdown, relaying each datagram to its client's
/// session (opened on the first datagram).
pub(super) async fn serve(front: Arc<Async<UdpSocket>>, ctx: Arc<Ctx>, tracker: Tracker) {
    let table = Arc::new(Table {
        sessions: Mutex::new(HashMap::new()),
        origin: Instant::now(),
    });
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut turns = 0u64;
    while ctx.keep_going(&mut turns).await {
        let received = ctx.runtime.or_stopped(front.recv_from(&mut buf)).await;
        let (n, client) = match received {
            None => return,
            Some(Ok(got)) => got,
            Some(Err(e)) => {
                ctx.stats.error(ProxyErrorKind::Io);
                log::info!("proxy-udp: receive failed: {e}");
                continue;
            }
        };
        let Some(session) = session_for(client, &table, &front, &ctx, &tracker) else {
            continue;
        };
        match session.upstream.send(&buf[..n]).await {
            Ok(sent) => ctx.stats.datagram_to_upstream(sent),
            Err(e) => {
                ctx.stats.error(ProxyErrorKind::UpstreamUnreachable);
                log::info!(
                    "proxy-udp {client}: sending to {}: {e}",
                    ctx.config.upstream
                );
            }
        }
    }
}

/// The client's session, marked active; a new one (with its reply task) when the client
/// has none and the bound allows; `None` when the datagram must be dropped (counted).
fn session_for(
    client: SocketAddr,
    table: &Arc<Table>,
    front: &Arc<Async<UdpSocket>>,
    ctx: &Arc<Ctx>,
    tracker: &Tracker,
) -> Option<Arc<Session>> {
    let mut sessions = table
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(session) = sessions.get(&client) {
        table.touch(session);
        return Some(Arc::clone(session));
    }
    if sessions.len() >= ctx.config.max_sessions {
        ctx.stats.sessions_refused.incr();
        log::info!(
            "proxy-udp {client}: dropped: {} sessions open, the --max-sessions limit",
            sessions.len()
        );
        return None;
    }
    let upstream = match open_upstream(ctx.config.upstream) {
        Ok(socket) => socket,
        Err(e) => {
            ctx.stats.error(ProxyErrorKind::UpstreamConnect);
            log::warn!(
                "proxy-udp {client}: opening a socket to {}: {e}",
                ctx.config.upstream
            );
            return None;
        }
    };
    let session = Arc::new(Session {
        upstream,
        last_active_ns: AtomicU64::new(table.now_ns()),
    });
    sessions.insert(client, Arc::clone(&session));
    ctx.stats.session_opened();
    let task = relay_replies(
        client,
        Arc::clone(&session),
        Arc::clone(table),
        Arc::clone(front),
        Arc::clone(ctx),
        tracker.clone(),
    );
    ctx.runtime.spawn(task);
    Some(session)
}

/// A UDP socket on an ephemeral port, connected to `upstream` (so only its datagrams
/// are received, and ICMP errors are reported).
fn open_upstream(upstream: SocketAddr) -> io::Result<Async<UdpSocket>> {
    let any: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any)?;
    socket.connect(upstream)?;
    Async::new(socket)
}

enum Event {
    Reply(io::Result<usize>),
    Timer,
    Stop,
}

/// Relays the upstream's replies to `client` until the session expires or shutdown.
async fn relay_replies(
    client: SocketAddr,
    session: Arc<Session>,
    table: Arc<Table>,
    front: Arc<Async<UdpSocket>>,
    ctx: Arc<Ctx>,
    _tracker: Tracker,
) {
    let timeout = ctx.config.udp_session_timeout;
    let mut timer = Timer::at(table.deadline(&session, timeout));
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut turns = 0u64;
    loop {
        let event = if ctx.keep_going(&mut turns).await {
            async { Event::Reply(session.upstream.recv(&mut buf).await) }
                .or(async {
                    (&mut timer).await;
                    Event::Timer
                })
                .or(async {
                    ctx.stopped().await;
                    Event::Stop
                })
                .await
        } else {
            Event::Stop
        };
        match event {
            Event::Stop => {
                // Closed by the stop: no longer active (not counted as expired).
                ctx.stats.connection_closed();
                return;
            }
            Event::Reply(Ok(n)) => {
                table.touch(&session);
                match front.send_to(&buf[..n], client).await {
                    Ok(sent) => ctx.stats.datagram_to_client(sent),
                    Err(e) => {
                        ctx.stats.error(ProxyErrorKind::Io);
                        log::info!("proxy-udp {client}: sending a reply: {e}");
                    }
                }
            }
            Event::Reply(Err(e)) => {
                ctx.stats.error(ProxyErrorKind::UpstreamUnreachable);
                log::info!("proxy-udp {client}: from {}: {e}", ctx.config.upstream);
            }
            Event::Timer => {
                if expire_if_idle(client, &session, &table, timeout) {
                    ctx.stats.session_expired();
                    log::debug!("proxy-udp {client}: session expired");
                    return;
                }
                timer.set_at(table.deadline(&session, timeout));
            }
        }
    }
}

/// Removes the session when it has been idle for `timeout`. Checked under the lock the
/// front task touches sessions under, so a datagram that just found this session is
/// never sent on a socket nobody reads.
fn expire_if_idle(client: SocketAddr, session: &Session, table: &Table, timeout: Duration) -> bool {
    let mut sessions = table
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if Instant::now() < table.deadline(session, timeout) {
        return false;
    }
    sessions.remove(&client);
    true
}
