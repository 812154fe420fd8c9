//! The `async` model's UDP relay: a session per client address. Each session owns a UDP socket
//! connected to the upstream on an ephemeral port, so the upstream's replies arrive on
//! the session's socket and go back to that client (and only that client) through the
//! front socket.
//!
//! One task receives on the front socket (so one client's datagrams keep their order);
//! each session has a task that relays replies and expires the session after
//! `udp_session_timeout` without a datagram either way. At most `max_sessions` are
//! open; a datagram from a new client beyond that is dropped and counted.
//!
//! `--impair` (loss, dup, corrupt, latency, jitter, reorder): the front task rolls the
//! dice of the way up, each reply task its own for the way down (seeded by the session's
//! serial, so a run repeats); a held datagram is sent by a task of its own that waits
//! on a timer. `rate` is a [`Pacer`] per session and direction (the front task keeps
//! the sessions' pacers of the way up in its table, each reply task its own), whose
//! queued datagrams are sent by such a task too. The helpers both models use to roll
//! and count are [`copies`], [`hold`] and [`departure`].
//!
//! No lock on the datagram path: the session table belongs to the front task alone,
//! and the front and reply tasks of a session agree on its expiry through one atomic
//! (see [`Session::touch`] and `expire_if_idle`).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use smol::future::FutureExt as _;
use smol::{Async, Timer};

use super::ctx::Ctx;
use super::impair::Applied;
use super::impair::dice::Impairer;
use super::impair::pace::{Paced, Pacer};
use super::stats::{ProxyErrorKind, ProxyStats};
use crate::runtime::Tracker;

/// Largest UDP payload over IPv4/IPv6 without jumbograms. Buffers are allocated zeroed,
/// so the kernel commits only the pages a datagram actually touched.
pub(super) const MAX_DATAGRAM: usize = 65_535;

/// `last_active_ns` of a session its reply task has expired: above every time, so
/// `fetch_max` by a late datagram leaves it expired and tells the front task so.
const EXPIRED: u64 = u64::MAX;

/// Sessions the front task keeps before it first sweeps out expired ones.
const FIRST_SWEEP: usize = 64;

/// One client's session, shared by the front task (which sends on it) and its reply
/// task (which receives on it and expires it). No lock: both only touch one atomic.
struct Session {
    /// Connected to the upstream.
    upstream: Async<UdpSocket>,
    /// When the last datagram went either way, in nanoseconds since the run's origin;
    /// [`EXPIRED`] once the reply task has ended the session.
    last_active_ns: AtomicU64,
}

impl Session {
    /// Marks activity at `now_ns`; false when the session has already expired (the
    /// datagram then needs a new session). One `fetch_max`: time never runs back, and
    /// an expired session stays expired.
    fn touch(&self, now_ns: u64) -> bool {
        self.last_active_ns.fetch_max(now_ns, Relaxed) != EXPIRED
    }

    fn is_expired(&self) -> bool {
        self.last_active_ns.load(Relaxed) == EXPIRED
    }
}

/// The run's clock origin: session times are nanoseconds since it.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now_ns(self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(EXPIRED - 1)
    }

    fn at(self, ns: u64) -> Instant {
        self.0 + Duration::from_nanos(ns)
    }
}

/// The front task's own table: client address -> session. Only the front task reads
/// or changes it (so no lock); expired sessions are replaced when their client sends
/// again and swept out when the table has doubled since the last sweep.
struct Table {
    sessions: HashMap<SocketAddr, Flow>,
    sweep_at: usize,
    /// Sessions opened so far (seeds each one's dice for the way down).
    opened: u64,
}

/// One client's entry in the front task's table.
struct Flow {
    session: Arc<Session>,
    /// `up:rate`'s pacer for this session (`None` without it).
    pace: Option<Box<Pacer>>,
}

/// Receives on the front socket until shutdown, relaying each datagram to its client's
/// session (opened on the first datagram).
pub(super) async fn serve(front: Arc<Async<UdpSocket>>, ctx: Arc<Ctx>, tracker: Tracker) {
    let clock = Clock(Instant::now());
    let mut table = Table {
        sessions: HashMap::new(),
        sweep_at: FIRST_SWEEP,
        opened: 0,
    };
    let imp = ctx.config.impair;
    let mut dice = Impairer::new(imp.up, imp.seed, 0, false);
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
        let Some(flow) = session_for(client, &mut table, clock, &front, &ctx, &tracker) else {
            continue;
        };
        let datagram = &mut buf[..n];
        // The one branch an unimpaired datagram pays.
        let Some(dice) = &mut dice else {
            send_up(&flow.session, datagram, client, &ctx).await;
            continue;
        };
        let copies = copies(dice, datagram, &ctx.stats);
        let held = hold(dice, copies, &ctx.stats);
        let now = Instant::now();
        for _ in 0..copies {
            let pacer = flow.pace.as_deref_mut();
            match departure(pacer, now, datagram.len(), held, &ctx.stats) {
                Paced::Now => send_up(&flow.session, datagram, client, &ctx).await,
                Paced::Dropped => {}
                Paced::At(at) => {
                    let queued = Some(at) != held.map(|d| now + d);
                    let (bytes, task_ctx) = (datagram.to_vec(), Arc::clone(&ctx));
                    let session = Arc::clone(&flow.session);
                    ctx.runtime.spawn(async move {
                        Timer::at(at).await;
                        if still_open(&session, queued, &task_ctx.stats) {
                            send_up(&session, &bytes, client, &task_ctx).await;
                        }
                    });
                }
            }
        }
    }
}

/// Whether a held datagram's session is still open; one that expired while the
/// datagram was held takes it along (counted as `rate_dropped` when it waited in the
/// `rate` queue).
fn still_open(session: &Session, queued: bool, stats: &ProxyStats) -> bool {
    let open = !session.is_expired();
    if !open && queued {
        stats.impaired(Applied::RateDropped);
    }
    open
}

/// Sends one datagram of `client` to the upstream on its session, counting it (or
/// its error).
async fn send_up(session: &Session, datagram: &[u8], client: SocketAddr, ctx: &Ctx) {
    match session.upstream.send(datagram).await {
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

/// Sends one reply to `client` from the front socket, counting it (or its error).
async fn send_reply(front: &Async<UdpSocket>, reply: &[u8], client: SocketAddr, ctx: &Ctx) {
    match front.send_to(reply, client).await {
        Ok(sent) => ctx.stats.datagram_to_client(sent),
        Err(e) => {
            ctx.stats.error(ProxyErrorKind::Io);
            log::info!("proxy-udp {client}: sending a reply: {e}");
        }
    }
}

/// The client's session, marked active; a new one (with its reply task) when the client
/// has none (or its session just expired) and the bound allows; `None` when the
/// datagram must be dropped (counted).
fn session_for<'t>(
    client: SocketAddr,
    table: &'t mut Table,
    clock: Clock,
    front: &Arc<Async<UdpSocket>>,
    ctx: &Arc<Ctx>,
    tracker: &Tracker,
) -> Option<&'t mut Flow> {
    let now_ns = clock.now_ns();
    let live = table.sessions.get(&client);
    if live.is_some_and(|flow| flow.session.touch(now_ns)) {
        return table.sessions.get_mut(&client);
    }
    // A session its reply task has just expired may hold its place for a moment more
    // (the task gives it back right after marking it): at the bound, such a datagram
    // is refused, as it would have been a moment earlier.
    if !ctx.stats.try_reserve_session(ctx.config.max_sessions) {
        ctx.stats.sessions_refused.incr();
        log::info!(
            "proxy-udp {client}: dropped: {} sessions open, the --max-sessions limit",
            ctx.stats.active()
        );
        return None;
    }
    let upstream = match open_upstream(ctx.config.upstream).and_then(Async::new) {
        Ok(socket) => socket,
        Err(e) => {
            ctx.stats.connection_closed();
            ctx.stats.error(ProxyErrorKind::UpstreamConnect);
            log::warn!(
                "proxy-udp {client}: opening a socket to {}: {e}",
                ctx.config.upstream
            );
            return None;
        }
    };
    ctx.stats.session_opened();
    let session = Arc::new(Session {
        upstream,
        last_active_ns: AtomicU64::new(now_ns),
    });
    if table.sessions.len() >= table.sweep_at {
        table.sessions.retain(|_, flow| !flow.session.is_expired());
        table.sweep_at = (table.sessions.len() * 2).max(FIRST_SWEEP);
    }
    table.opened += 1;
    let task = relay_replies(
        (client, table.opened),
        Arc::clone(&session),
        clock,
        Arc::clone(front),
        Arc::clone(ctx),
        tracker.clone(),
    );
    ctx.runtime.spawn(task);
    let pace = Pacer::of(&ctx.config.impair.up, Instant::now());
    let flow = Flow { session, pace };
    Some(table.sessions.entry(client).insert_entry(flow).into_mut())
}

/// A UDP socket on an ephemeral port, connected to `upstream` (so only its datagrams
/// are received, and ICMP errors are reported). Both models open sessions with it.
pub(super) fn open_upstream(upstream: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any)?;
    socket.connect(upstream)?;
    Ok(socket)
}

enum Event {
    Reply(io::Result<usize>),
    Timer,
    Stop,
}

/// Relays the upstream's replies to `client` (the `serial`th session) until the
/// session expires or shutdown.
async fn relay_replies(
    (client, serial): (SocketAddr, u64),
    session: Arc<Session>,
    clock: Clock,
    front: Arc<Async<UdpSocket>>,
    ctx: Arc<Ctx>,
    _tracker: Tracker,
) {
    let timeout = ctx.config.udp_session_timeout;
    let mut timer = Timer::at(deadline(&session, clock, timeout));
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let imp = ctx.config.impair;
    let seed = imp.seed ^ serial.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut dice = Impairer::new(imp.down, seed, 0, true);
    let mut pace = Pacer::of(&imp.down, Instant::now());
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
                session.touch(clock.now_ns());
                let reply = &mut buf[..n];
                // The one branch an unimpaired reply pays.
                let Some(dice) = &mut dice else {
                    send_reply(&front, reply, client, &ctx).await;
                    continue;
                };
                let copies = copies(dice, reply, &ctx.stats);
                let held = hold(dice, copies, &ctx.stats);
                let now = Instant::now();
                for _ in 0..copies {
                    match departure(pace.as_deref_mut(), now, reply.len(), held, &ctx.stats) {
                        Paced::Now => send_reply(&front, reply, client, &ctx).await,
                        Paced::Dropped => {}
                        Paced::At(at) => {
                            let queued = Some(at) != held.map(|d| now + d);
                            let (bytes, front, task_ctx) =
                                (reply.to_vec(), Arc::clone(&front), Arc::clone(&ctx));
                            let session = Arc::clone(&session);
                            ctx.runtime.spawn(async move {
                                Timer::at(at).await;
                                if still_open(&session, queued, &task_ctx.stats) {
                                    send_reply(&front, &bytes, client, &task_ctx).await;
                                }
                            });
                        }
                    }
                }
            }
            Event::Reply(Err(e)) => {
                ctx.stats.error(ProxyErrorKind::UpstreamUnreachable);
                log::info!("proxy-udp {client}: from {}: {e}", ctx.config.upstream);
            }
            Event::Timer => {
                if expire_if_idle(&session, clock, timeout) {
                    ctx.stats.session_expired();
                    log::debug!("proxy-udp {client}: session expired");
                    return;
                }
                timer.set_at(deadline(&session, clock, timeout));
            }
        }
    }
}

/// When `session` expires if nothing else happens.
fn deadline(session: &Session, clock: Clock, timeout: Duration) -> Instant {
    clock.at(session.last_active_ns.load(Relaxed)) + timeout
}

/// Ends the session when it has been idle for `timeout`: one compare-and-swap from the
/// activity time it judged by to [`EXPIRED`], so a datagram the front task touched the
/// session with meanwhile wins (the session lives on) and one that comes after finds
/// it expired (and opens a new session): none is sent on a socket nobody reads.
fn expire_if_idle(session: &Session, clock: Clock, timeout: Duration) -> bool {
    let last = session.last_active_ns.load(Relaxed);
    if Instant::now() < clock.at(last) + timeout {
        return false;
    }
    session
        .last_active_ns
        .compare_exchange(last, EXPIRED, Relaxed, Relaxed)
        .is_ok()
}

/// How many copies of `datagram` to send, as the dice say (a corrupted datagram is
/// changed in place); counts what was applied.
pub(super) fn copies(impair: &mut Impairer, datagram: &mut [u8], stats: &ProxyStats) -> u8 {
    let fate = impair.datagram(datagram);
    if fate.copies == 0 {
        stats.impaired(Applied::Dropped);
    }
    if fate.copies == 2 {
        stats.impaired(Applied::Duplicated);
    }
    if fate.corrupted {
        stats.impaired(Applied::Corrupted);
    }
    fate.copies
}

/// When to send one copy of a datagram of `len` bytes that arrived at `now` and is
/// `held` (latency, jitter, reorder): through `pacer` (`rate`) first, then the hold
/// on top (the link's queue, then its delay). Counts what the pacer did.
pub(super) fn departure(
    pacer: Option<&mut Pacer>,
    now: Instant,
    len: usize,
    held: Option<Duration>,
    stats: &ProxyStats,
) -> Paced {
    let Some(pacer) = pacer else {
        return held.map_or(Paced::Now, |d| Paced::At(now + d));
    };
    match pacer.offer(now, len) {
        Paced::Now => held.map_or(Paced::Now, |d| Paced::At(now + d)),
        Paced::At(at) => {
            stats.impaired(Applied::Throttled);
            Paced::At(at + held.unwrap_or_default())
        }
        Paced::Dropped => {
            stats.impaired(Applied::RateDropped);
            Paced::Dropped
        }
    }
}

/// How long to hold a datagram sent as `copies` copies (`None`: at once); counts the
/// holds.
pub(super) fn hold(impair: &mut Impairer, copies: u8, stats: &ProxyStats) -> Option<Duration> {
    if copies == 0 {
        return None;
    }
    let (held, reordered) = impair.hold()?;
    stats.impaired(Applied::Delayed);
    if reordered {
        stats.impaired(Applied::Reordered);
    }
    Some(held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::ProxyProto;

    #[test]
    fn a_departure_is_the_rate_queue_then_the_hold_and_each_is_counted() {
        let stats = ProxyStats::new(
            ProxyProto::Udp,
            "127.0.0.1:8090".parse().unwrap(),
            "127.0.0.1:7001".parse().unwrap(),
            1,
        );
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // 100,000 B/s, a 1,000 B bucket, room for one more datagram of 1,000 B.
        let mut pacer = Pacer::new(100_000, 1_000, 1_000, t0);
        let held = Some(ms(5));
        assert_eq!(departure(None, t0, 1_000, None, &stats), Paced::Now);
        assert_eq!(
            departure(None, t0, 1_000, held, &stats),
            Paced::At(t0 + ms(5))
        );
        let mut go = |held| departure(Some(&mut pacer), t0, 1_000, held, &stats);
        assert_eq!(go(held), Paced::At(t0 + ms(5)));
        assert_eq!(go(held), Paced::At(t0 + ms(15)));
        assert_eq!(go(None), Paced::Dropped);
        let done = stats.summary().impaired;
        assert_eq!((done.throttled, done.rate_dropped), (1, 1), "{done:?}");
        // The hold is `hold`'s to count: departure leaves `delayed` alone.
        assert_eq!(done.delayed, 0);
    }
}
