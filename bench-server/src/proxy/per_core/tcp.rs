//! The TCP loop of the `per-core` model: one thread's listener, connections, connect
//! timeouts and ready-again list. A turn: wait for edges (or the next deadline), take
//! the edges in, accept, time out connects, run the connections that have work, then
//! look at the stop. On the stop the listener closes and the open connections keep
//! relaying for `grace`, then are cut and counted.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::{Conn, Failure, Progress, Side, connect_failure};
use super::pump::Moved;
use super::shared::{BUDGET, Shared, token};
use crate::engine::poller::{Events, Poller, Readiness};
use crate::engine::slab::{Key, Slab};
use crate::engine::timers::Timers;
use crate::engine::waker::Waker;
use crate::proxy::impair::Applied;
use crate::proxy::shape::Tally;
use crate::proxy::stats::{ProxyErrorKind, Way};
use crate::runtime::ACCEPT_BACKOFF;
use crate::stats::limiter::suppressed_note;

/// Events taken per wait.
const EVENTS: usize = 1024;

/// Stale connect deadlines tolerated beyond twice the open connections.
const STALE_SLACK: usize = 64;

/// One loop's state.
pub(super) struct TcpLoop {
    index: usize,
    shared: Arc<Shared>,
    poller: Poller,
    waker: Waker,
    /// `None` once the stop has closed it.
    listener: Option<TcpListener>,
    /// Connections may wait in the accept queue (from the last edge).
    acceptable: bool,
    /// After a failed accept (`EMFILE`), no accept before this.
    accept_paused_until: Option<Instant>,
    conns: Slab<Conn>,
    /// Connect deadlines (stale once connected or closed: checked on pop).
    timers: Timers<Key>,
    /// When shaped connections want to run again (stale unless it is the
    /// connection's `scheduled`; empty without shaping impairments).
    wakes: Timers<Key>,
    /// Connections accepted so far (seeds each one's shaping dice).
    serial: u64,
    /// Connections with work left from this turn, and the next turn's list.
    ready: Vec<Key>,
    next_ready: Vec<Key>,
    /// Set by the stop: when the open connections are cut.
    grace_until: Option<Instant>,
}

impl TcpLoop {
    /// Loop `index` with its `listener` (nonblocking), registered in a new poller.
    pub(super) fn new(
        index: usize,
        listener: TcpListener,
        shared: Arc<Shared>,
    ) -> io::Result<Self> {
        let poller = Poller::new()?;
        let waker = Waker::new(&poller, token::own(token::WAKER))?;
        poller.add_readable(&listener, token::own(token::FRONT))?;
        Ok(TcpLoop {
            index,
            shared,
            poller,
            waker,
            listener: Some(listener),
            acceptable: true,
            accept_paused_until: None,
            conns: Slab::new(),
            timers: Timers::new(),
            wakes: Timers::new(),
            serial: 0,
            ready: Vec::new(),
            next_ready: Vec::new(),
            grace_until: None,
        })
    }

    /// A handle that interrupts this loop's wait (for the stop).
    pub(super) fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Runs until the stop and its grace period are over.
    pub(super) fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS);
        let mut now = Instant::now();
        loop {
            let timeout = self.timeout(now);
            if let Err(e) = self.poller.wait(&mut events, timeout) {
                log::error!("proxy-tcp loop {}: waiting for events: {e}", self.index);
                self.cut_all();
                return;
            }
            now = Instant::now();
            for r in events.iter() {
                self.dispatch(&r);
            }
            self.accept(now);
            self.expire(now);
            self.wake_due(now);
            self.run_ready(now);
            if self.stopped(now) {
                return;
            }
        }
    }

    /// How long the next wait may last: not at all when work is left, else until the
    /// next deadline (connect timeouts, shaped connections' wakes, the accept pause,
    /// the grace cut).
    fn timeout(&self, now: Instant) -> Option<Duration> {
        if !self.ready.is_empty() || (self.acceptable && self.accept_paused_until.is_none()) {
            return Some(Duration::ZERO);
        }
        let cap = [self.accept_paused_until, self.grace_until]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(now));
        self.wakes.timeout(now, self.timers.timeout(now, cap))
    }

    /// Takes in one edge.
    fn dispatch(&mut self, r: &Readiness) {
        let (tag, key) = token::split(r.token);
        let side = match tag {
            token::WAKER => return self.waker.reset(),
            token::FRONT => {
                self.acceptable = true;
                return;
            }
            token::CLIENT => Side::Client,
            _ => Side::Upstream,
        };
        // A stale key (a connection closed this turn) finds nothing.
        if let Some(conn) = self.conns.get_mut(key) {
            conn.edge(side, r);
            if !conn.queued {
                conn.queued = true;
                self.ready.push(key);
            }
        }
    }

    /// Accepts until the queue is empty or the budget is spent.
    fn accept(&mut self, now: Instant) {
        match self.accept_paused_until {
            Some(until) if now < until => return,
            _ => self.accept_paused_until = None,
        }
        for _ in 0..BUDGET {
            let Some(listener) = &self.listener else {
                return;
            };
            if !self.acceptable {
                return;
            }
            match listener.accept() {
                Ok((client, peer)) => self.admit(client, peer, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.acceptable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and friends: count, log, and back off instead of spinning.
                    self.shared.stats.error(ProxyErrorKind::Io);
                    if let Some(held) = self.shared.warnings.allow(now) {
                        let addr = self.shared.stats.addr();
                        log::warn!(
                            "proxy-tcp {addr}: accept failed: {e}{}",
                            suppressed_note(held)
                        );
                    }
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Opens a relayed connection for an accepted client, or refuses it (counted) when
    /// the descriptor budget is spent.
    fn admit(&mut self, client: std::net::TcpStream, peer: std::net::SocketAddr, now: Instant) {
        let stats = &self.shared.stats;
        let fds = self.shared.fds;
        if !stats.try_open_connection(|active| fds.admits(active)) {
            stats.error(ProxyErrorKind::Descriptors);
            if let Some(held) = self.shared.warnings.allow(now) {
                let active = stats.active();
                log::warn!(
                    "proxy-tcp {peer}: refused: {active} connections open use {} of the {} descriptors available ({} each with {}){}",
                    active * fds.cost(),
                    fds.available(),
                    fds.cost(),
                    self.shared.config.strategy.as_str(),
                    suppressed_note(held)
                );
            }
            return;
        }
        self.serial += 1;
        let stream = (self.index, self.serial);
        let conn = match Conn::open(client, peer, &self.shared.config, stream, now) {
            Ok(conn) => conn,
            Err(failure) => {
                stats.connection_closed();
                return self.report(peer, failure, now);
            }
        };
        let key = self.conns.insert(conn);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let registered = self
            .poller
            .add(conn.client(), token::of(token::CLIENT, key))
            .and_then(|()| {
                self.poller
                    .add(conn.upstream(), token::of(token::UPSTREAM, key))
            });
        if let Err(e) = registered {
            return self.close(key, Some((ProxyErrorKind::Io, e)), now);
        }
        // Registering queues the sockets' first edges: the connection runs on them.
        if conn.is_connecting() {
            self.timers
                .schedule(now + self.shared.config.connect_timeout, key);
        }
    }

    /// Fails the connects still under way at their deadline.
    fn expire(&mut self, now: Instant) {
        while let Some((_, key)) = self.timers.pop_due(now) {
            let connecting = self.conns.get_mut(key).is_some_and(|c| c.is_connecting());
            if connecting {
                let timeout = self.shared.config.connect_timeout;
                let e = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {}", bench_proto::HumanDuration(timeout)),
                );
                let failure = connect_failure(self.shared.config.upstream, e);
                self.close(key, Some(failure), now);
            }
        }
        // A connect deadline stays behind until it pops (3 s by default) once its
        // connection is up or gone: under connection churn, drop the stale ones when
        // they outnumber the open connections twice over (amortised O(1)).
        if self.timers.len() > 2 * self.conns.len() + STALE_SLACK {
            let conns = &mut self.conns;
            self.timers
                .retain(|_, key| conns.get_mut(key).is_some_and(|c| c.is_connecting()));
        }
    }

    /// Puts the shaped connections whose wake is due on the ready list.
    fn wake_due(&mut self, now: Instant) {
        while let Some((at, key)) = self.wakes.pop_due(now) {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.scheduled != Some(at) {
                continue;
            }
            conn.scheduled = None;
            if !conn.queued {
                conn.queued = true;
                self.ready.push(key);
            }
        }
        if self.wakes.len() > 2 * self.conns.len() + STALE_SLACK {
            let conns = &mut self.conns;
            self.wakes
                .retain(|at, key| conns.get_mut(key).is_some_and(|c| c.scheduled == Some(at)));
        }
    }

    /// Runs every connection on the ready list once; those stopped at their budget
    /// go on the next turn's list, those waiting for their shaping get a wake.
    fn run_ready(&mut self, now: Instant) {
        let mut moved = [Moved::default(); 2];
        let mut tally = Tally::default();
        let mut list = std::mem::take(&mut self.ready);
        for key in list.drain(..) {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            let progress = conn.run(BUDGET, now, &mut moved, &mut tally);
            if let Some(at) = conn.wake.take()
                && conn.scheduled.is_none_or(|s| at < s)
            {
                conn.scheduled = Some(at);
                self.wakes.schedule(at, key);
            }
            match progress {
                Ok(Progress::Again) => self.next_ready.push(key),
                Ok(Progress::Waiting) => conn.queued = false,
                Ok(Progress::Finished) => self.close(key, None, now),
                Ok(Progress::Reset) => {
                    self.shared.stats.impaired(Applied::Reset);
                    self.close(key, None, now);
                }
                Err(failure) => self.close(key, Some(failure), now),
            }
        }
        // The emptied list is next turn's spare: no allocation per turn.
        self.ready = std::mem::replace(&mut self.next_ready, list);
        self.count(&moved);
        if tally != Tally::default() {
            for (what, n) in tally.counts() {
                if n > 0 {
                    self.shared.stats.impaired_n(what, n);
                }
            }
        }
    }

    /// Adds this turn's chunks and bytes to the loop's counters.
    fn count(&self, moved: &[Moved; 2]) {
        let shard = self.shared.stats.shard(self.index);
        for (way, m) in [Way::ToUpstream, Way::ToClient].into_iter().zip(moved) {
            if m.chunks > 0 || m.bytes > 0 {
                shard.moved(way, m.chunks, m.bytes);
            }
        }
    }

    /// Closes connection `key` (its sockets leave the poller as they close), counting
    /// `failure` if it ended in one.
    fn close(&mut self, key: Key, failure: Option<Failure>, now: Instant) {
        let Some(conn) = self.conns.remove(key) else {
            return;
        };
        self.shared.stats.connection_closed();
        if let Some(failure) = failure {
            self.report(conn.peer, failure, now);
        }
    }

    /// Counts and logs a connection's failure (resets quietly, the rest one line per
    /// second).
    fn report(&self, peer: std::net::SocketAddr, (kind, e): Failure, now: Instant) {
        self.shared.stats.error(kind);
        if kind == ProxyErrorKind::Reset {
            log::info!("proxy-tcp {peer}: {}: {e}", kind.as_str());
        } else if let Some(held) = self.shared.warnings.allow(now) {
            log::warn!(
                "proxy-tcp {peer}: {}: {e}{}",
                kind.as_str(),
                suppressed_note(held)
            );
        }
    }

    /// Looks at the stop: starts the grace period (closing the listener) the first
    /// time; true once nothing is left or the grace is over (the rest cut).
    fn stopped(&mut self, now: Instant) -> bool {
        if self.grace_until.is_none() {
            if !self.shared.stop.is_set() {
                return false;
            }
            self.grace_until = Some(now + self.shared.config.grace);
            self.acceptable = false;
            if let Some(listener) = self.listener.take() {
                // The listener may be shared with other loops (a dup'ed descriptor):
                // closing ours alone would leave it registered.
                let _ = self.poller.delete(&listener);
            }
        }
        if self.conns.is_empty() {
            return true;
        }
        if self.grace_until.is_some_and(|until| now >= until) {
            self.cut_all();
            return true;
        }
        false
    }

    /// Closes every open connection, counted as cut by the stop.
    fn cut_all(&mut self) {
        for key in self.conns.keys() {
            if self.conns.remove(key).is_some() {
                self.shared.stats.connection_closed();
                self.shared.stats.error(ProxyErrorKind::ShutdownCut);
            }
        }
    }
}
