//! The UDP loop of the `per-core` model: one thread's front socket and the sessions of
//! the clients the kernel steers to it (SO_REUSEPORT hashes a client's address to one
//! socket), each with its own connected upstream socket registered in the same poller,
//! and their idle expiry on the loop's timers. The session bound is run-wide: one
//! atomic when a session opens or ends, nothing per datagram.
//!
//! `--impair`: the loop rolls each direction's dice; `rate` is a [`Pacer`] per session
//! and direction (a shaped link per flow, as one client sees it), whose queued
//! datagrams wait in the loop's [`Delay`] like `latency`'s.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::delay::Delay;
use super::shared::{BUDGET, Shared, token};
use crate::engine::poller::{Events, Poller};
use crate::engine::slab::{Key, Slab};
use crate::engine::timers::Timers;
use crate::engine::waker::Waker;
use crate::proxy::impair::Applied;
use crate::proxy::impair::dice::Impairer;
use crate::proxy::impair::pace::{Paced, Pacer};
use crate::proxy::stats::{ProxyErrorKind, Way};
use crate::proxy::udp::{MAX_DATAGRAM, copies, departure, hold, open_upstream};

/// Events taken per wait.
const EVENTS: usize = 1024;

/// One client's session.
struct Session {
    client: SocketAddr,
    /// Connected to the upstream, nonblocking.
    upstream: UdpSocket,
    /// When the last datagram went either way (the turn's clock: no syscall).
    last_active: Instant,
    /// The one live expiry entry in the timers; older ones are stale.
    scheduled: Instant,
    /// Replies may be waiting (from the last edge).
    readable: bool,
    /// On the ready-again list.
    queued: bool,
    /// `rate` of each [`Way`] for this session; `None` without it.
    pace: [Option<Box<Pacer>>; 2],
}

/// One loop's state.
pub(super) struct UdpLoop {
    index: usize,
    shared: Arc<Shared>,
    poller: Poller,
    waker: Waker,
    front: UdpSocket,
    /// Datagrams may be waiting on the front socket.
    front_ready: bool,
    sessions: Slab<Session>,
    by_client: HashMap<SocketAddr, Key>,
    timers: Timers<Key>,
    ready: Vec<Key>,
    next_ready: Vec<Key>,
    /// One datagram at a time, either way.
    buf: Box<[u8]>,
    /// `--impair` of each [`Way`]; `None` when off (one `if` per datagram). Boxed: the
    /// loop's size stays near the TCP loop's.
    impair: Box<[Option<Impairer>; 2]>,
    /// Datagrams held by `latency`, `jitter` or `reorder` (empty without them).
    delay: Delay,
}

impl UdpLoop {
    /// Loop `index` with its `front` socket (nonblocking), registered in a new poller.
    pub(super) fn new(index: usize, front: UdpSocket, shared: Arc<Shared>) -> io::Result<Self> {
        let poller = Poller::new()?;
        let waker = Waker::new(&poller, token::own(token::WAKER))?;
        poller.add_readable(&front, token::own(token::FRONT))?;
        let imp = shared.config.impair;
        let impair = Box::new([
            Impairer::new(imp.up, imp.seed, index, false),
            Impairer::new(imp.down, imp.seed, index, true),
        ]);
        Ok(UdpLoop {
            impair,
            delay: Delay::new(),
            index,
            shared,
            poller,
            waker,
            front,
            front_ready: true,
            sessions: Slab::new(),
            by_client: HashMap::new(),
            timers: Timers::new(),
            ready: Vec::new(),
            next_ready: Vec::new(),
            buf: vec![0u8; MAX_DATAGRAM].into_boxed_slice(),
        })
    }

    /// A handle that interrupts this loop's wait (for the stop).
    pub(super) fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Runs until the stop; the sessions then end at once.
    pub(super) fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        let mut now = Instant::now();
        while !self.shared.stop.is_set() {
            let timeout = if self.front_ready || !self.ready.is_empty() {
                Some(Duration::ZERO)
            } else {
                self.delay.timeout(now, self.timers.timeout(now, None))
            };
            if let Err(e) = self.poller.wait(&mut events, timeout) {
                log::error!("proxy-udp loop {}: waiting for events: {e}", self.index);
                break;
            }
            now = Instant::now();
            for r in events.iter() {
                self.dispatch(r.token);
            }
            // Held datagrams due by `now` go first: a `rate` queue forgets them at
            // `now`, so one that arrives this turn and finds its tokens must not
            // overtake them (and none is due when its session expires).
            self.release(now);
            self.receive(now);
            self.run_ready(now);
            self.expire(now);
        }
        // Closed by the stop: no longer active (not counted as expired).
        for _ in 0..self.sessions.len() {
            self.shared.stats.connection_closed();
        }
    }

    /// Takes in one edge (a session's error edge is readable too: the receive reports
    /// it).
    fn dispatch(&mut self, tok: u64) {
        let (tag, key) = token::split(tok);
        match tag {
            token::WAKER => self.waker.reset(),
            token::FRONT => self.front_ready = true,
            _ => {
                if let Some(session) = self.sessions.get_mut(key) {
                    session.readable = true;
                    if !session.queued {
                        session.queued = true;
                        self.ready.push(key);
                    }
                }
            }
        }
    }

    /// Relays datagrams from the front socket to their sessions until it is drained or
    /// the budget is spent.
    fn receive(&mut self, now: Instant) {
        let mut buf = std::mem::take(&mut self.buf);
        for _ in 0..BUDGET {
            if !self.front_ready {
                break;
            }
            match self.front.recv_from(&mut buf) {
                Ok((n, client)) => self.relay_up(&mut buf[..n], client, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.front_ready = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.shared.stats.error(ProxyErrorKind::Io);
                    log::info!("proxy-udp: receive failed: {e}");
                }
            }
        }
        self.buf = buf;
    }

    /// Sends one client datagram on its session (opened on its first datagram).
    fn relay_up(&mut self, datagram: &mut [u8], client: SocketAddr, now: Instant) {
        let key = match self.by_client.get(&client) {
            Some(&key) => key,
            None => match self.open(client, now) {
                Some(key) => key,
                None => return,
            },
        };
        let Some(session) = self.sessions.get_mut(key) else {
            return;
        };
        session.last_active = now;
        // The one branch an unimpaired datagram pays.
        let Some(impair) = &mut self.impair[Way::ToUpstream as usize] else {
            return self.send_up(key, datagram, client);
        };
        let copies = copies(impair, datagram, &self.shared.stats);
        let held = hold(impair, copies, &self.shared.stats);
        for _ in 0..copies {
            let pacer = self
                .sessions
                .get_mut(key)
                .and_then(|s| s.pace[Way::ToUpstream as usize].as_deref_mut());
            match departure(pacer, now, datagram.len(), held, &self.shared.stats) {
                Paced::At(at) => self.delay.hold(at, Way::ToUpstream, key, datagram),
                Paced::Now => self.send_up(key, datagram, client),
                Paced::Dropped => {}
            }
        }
    }

    /// Sends the held datagrams that are due. (A datagram whose session ended while
    /// it was held is dropped with it.)
    fn release(&mut self, now: Instant) {
        while let Some((slot, way, key, bytes)) = self.delay.pop_due(now) {
            if let Some(client) = self.sessions.get_mut(key).map(|s| s.client) {
                match way {
                    Way::ToUpstream => self.send_up(key, &bytes, client),
                    Way::ToClient => {
                        send_reply(&self.front, client, &bytes, &self.shared, self.index)
                    }
                }
            }
            self.delay.give_back(slot, bytes);
        }
    }

    /// Sends one datagram on session `key`, counting it (or its error).
    fn send_up(&mut self, key: Key, datagram: &[u8], client: SocketAddr) {
        let Some(session) = self.sessions.get_mut(key) else {
            return;
        };
        match session.upstream.send(datagram) {
            Ok(sent) => self
                .shared
                .stats
                .shard(self.index)
                .datagram(Way::ToUpstream, sent),
            Err(e) => {
                // No room in the socket buffer: dropped, as a router would.
                let kind = if e.kind() == io::ErrorKind::WouldBlock {
                    ProxyErrorKind::Io
                } else {
                    ProxyErrorKind::UpstreamUnreachable
                };
                self.shared.stats.error(kind);
                let upstream = self.shared.config.upstream;
                log::info!("proxy-udp {client}: sending to {upstream}: {e}");
            }
        }
    }

    /// A new session for `client`, when the bound allows (else the datagram is dropped
    /// and counted) and its socket opens.
    fn open(&mut self, client: SocketAddr, now: Instant) -> Option<Key> {
        let (stats, config) = (&self.shared.stats, &self.shared.config);
        if !stats.try_reserve_session(config.max_sessions) {
            stats.sessions_refused.incr();
            log::info!(
                "proxy-udp {client}: dropped: {} sessions open, the --max-sessions limit",
                stats.active()
            );
            return None;
        }
        let opened =
            open_upstream(config.upstream).and_then(|s| s.set_nonblocking(true).map(|()| s));
        let upstream = match opened {
            Ok(socket) => socket,
            Err(e) => {
                stats.connection_closed();
                stats.error(ProxyErrorKind::UpstreamConnect);
                log::warn!(
                    "proxy-udp {client}: opening a socket to {}: {e}",
                    config.upstream
                );
                return None;
            }
        };
        let deadline = now + config.udp_session_timeout;
        let imp = &config.impair;
        let pace = [Pacer::of(&imp.up, now), Pacer::of(&imp.down, now)];
        let key = self.sessions.insert(Session {
            pace,
            client,
            upstream,
            last_active: now,
            scheduled: deadline,
            readable: false,
            queued: false,
        });
        let session = self.sessions.get_mut(key)?;
        if let Err(e) = self
            .poller
            .add_readable(&session.upstream, token::of(token::CLIENT, key))
        {
            self.sessions.remove(key);
            stats.connection_closed();
            stats.error(ProxyErrorKind::Io);
            log::warn!("proxy-udp {client}: registering its session: {e}");
            return None;
        }
        stats.session_opened();
        self.by_client.insert(client, key);
        self.timers.schedule(deadline, key);
        Some(key)
    }

    /// Relays the replies of every session on the ready list; those stopped at their
    /// budget go on the next turn's list.
    fn run_ready(&mut self, now: Instant) {
        let mut list = std::mem::take(&mut self.ready);
        for key in list.drain(..) {
            if self.replies(key, now) {
                self.next_ready.push(key);
            } else if let Some(session) = self.sessions.get_mut(key) {
                session.queued = false;
            }
        }
        self.ready = std::mem::replace(&mut self.next_ready, list);
    }

    /// Sends session `key`'s replies to its client until its socket is drained (false)
    /// or the budget is spent (true).
    fn replies(&mut self, key: Key, now: Instant) -> bool {
        let UdpLoop {
            sessions,
            front,
            buf,
            shared,
            index,
            impair,
            delay,
            ..
        } = self;
        let Some(session) = sessions.get_mut(key) else {
            return false;
        };
        for _ in 0..BUDGET {
            if !session.readable {
                return false;
            }
            match session.upstream.recv(buf) {
                Ok(n) => {
                    session.last_active = now;
                    let reply = &mut buf[..n];
                    // The one branch an unimpaired reply pays.
                    let Some(impair) = &mut impair[Way::ToClient as usize] else {
                        send_reply(front, session.client, reply, shared, *index);
                        continue;
                    };
                    let copies = copies(impair, reply, &shared.stats);
                    let held = hold(impair, copies, &shared.stats);
                    for _ in 0..copies {
                        let pacer = session.pace[Way::ToClient as usize].as_deref_mut();
                        match departure(pacer, now, reply.len(), held, &shared.stats) {
                            Paced::At(at) => delay.hold(at, Way::ToClient, key, reply),
                            Paced::Now => send_reply(front, session.client, reply, shared, *index),
                            Paced::Dropped => {}
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => session.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Usually ICMP port unreachable: nothing listens upstream (yet).
                    shared.stats.error(ProxyErrorKind::UpstreamUnreachable);
                    let upstream = shared.config.upstream;
                    log::info!("proxy-udp {}: from {upstream}: {e}", session.client);
                }
            }
        }
        session.readable
    }

    /// Ends the sessions idle for the timeout; re-schedules the others at their
    /// deadline.
    fn expire(&mut self, now: Instant) {
        let timeout = self.shared.config.udp_session_timeout;
        while let Some((at, key)) = self.timers.pop_due(now) {
            let Some(session) = self.sessions.get_mut(key) else {
                continue;
            };
            if session.scheduled != at {
                continue;
            }
            let deadline = session.last_active + timeout;
            if deadline > now {
                session.scheduled = deadline;
                self.timers.schedule(deadline, key);
                continue;
            }
            let client = session.client;
            // Datagrams still waiting for their tokens go with the session.
            let waiting: usize = session
                .pace
                .iter_mut()
                .flatten()
                .map(|p| p.waiting(now))
                .sum();
            if waiting > 0 {
                self.shared
                    .stats
                    .impaired_n(Applied::RateDropped, waiting as u64);
            }
            self.sessions.remove(key);
            self.by_client.remove(&client);
            self.shared.stats.session_expired();
            log::debug!("proxy-udp {client}: session expired");
        }
    }
}

/// Sends one reply to `client` from the front socket, counting it (or its error).
fn send_reply(front: &UdpSocket, client: SocketAddr, reply: &[u8], shared: &Shared, index: usize) {
    match front.send_to(reply, client) {
        Ok(sent) => shared.stats.shard(index).datagram(Way::ToClient, sent),
        Err(e) => {
            shared.stats.error(ProxyErrorKind::Io);
            log::info!("proxy-udp {client}: sending a reply: {e}");
        }
    }
}
