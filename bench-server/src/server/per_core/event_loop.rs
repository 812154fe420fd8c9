//! [`Loop`]: one per-core event loop, and its turn: wait (until an edge, the next
//! deadline, or at once when the ready list has work), dispatch each readiness by its
//! token (the waker, a listener, a UDP socket, a connection key), pop due deadlines,
//! run the ready list, look at the stop flag. On the stop it closes its listeners and
//! UDP sockets, asks every session to stop, and runs until its connections are gone or
//! the grace period ends, when it cuts the rest.
//!
//! Accepting, udp-echo and `exec` are methods of [`Loop`] written in `listen`, `udp`
//! and `exec`, which import this file; this file calls them but never imports those
//! files (the types it holds of theirs live in `parts`), so the arrows run one way.
//! Failures are counted and logged through `crate::conn`.

use std::io;
use std::mem;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use super::conn::{Conn, Outcome};
use super::parts::{Deadline, EndpointCtx, ExecDone, Listener, Ready, UdpPort};
use super::sockets::LoopSockets;
use crate::config::ServerConfig;
use crate::conn::fail_session;
use crate::engine::poller::{Events, Poller, Readiness};
use crate::engine::slab::{Key, Slab, tag_of, tagged, untag};
use crate::engine::threads::StopFlag;
use crate::engine::timers::Timers;
use crate::engine::waker::Waker;
use crate::session::Failure;
use crate::stats::ErrorKind;

/// Token tags of a loop's own sockets (tag 0 is a connection key).
const WAKER: u8 = 1;
const LISTENER: u8 = 2;
const UDP: u8 = 3;

/// Events taken per wait.
const EVENTS: usize = 256;

/// One event loop and everything it owns.
pub(super) struct Loop {
    /// The loop's index: its counter lane.
    pub(super) index: usize,
    pub(super) poller: Poller,
    pub(super) waker: Waker,
    stop: StopFlag,
    pub(super) timers: Timers<Deadline>,
    pub(super) conns: Slab<Conn>,
    pub(super) ready: Vec<Ready>,
    /// The ready list being run (swapped with `ready`, so neither allocates per turn).
    running: Vec<Ready>,
    pub(super) listeners: Vec<Listener>,
    pub(super) udp: Vec<UdpPort>,
    pub(super) ctx: Arc<[EndpointCtx]>,
    pub(super) config: Arc<ServerConfig>,
    pub(super) exec_tx: Sender<ExecDone>,
    pub(super) exec_rx: Receiver<ExecDone>,
    /// Set at the stop: when the grace period ends.
    grace_end: Option<Instant>,
    /// The time of this turn (read once after each wait).
    pub(super) now: Instant,
}

impl Loop {
    /// Loop `index` with its sockets registered (each once, edge-triggered) and its
    /// waker.
    ///
    /// # Errors
    /// `epoll_create1`, `eventfd` or `epoll_ctl`'s.
    pub(super) fn new(
        index: usize,
        sockets: LoopSockets,
        ctx: Arc<[EndpointCtx]>,
        config: Arc<ServerConfig>,
        stop: StopFlag,
    ) -> io::Result<(Loop, Waker)> {
        let poller = Poller::new()?;
        let waker = Waker::new(&poller, tagged(WAKER, 0))?;
        let mut listeners = Vec::with_capacity(sockets.listeners.len());
        for (i, sock) in sockets.listeners.into_iter().enumerate() {
            poller.add_readable(&sock.socket, tagged(LISTENER, i as u64))?;
            listeners.push(Listener::new(sock));
        }
        let mut udp = Vec::with_capacity(sockets.udp.len());
        for (i, sock) in sockets.udp.into_iter().enumerate() {
            poller.add(&sock.socket, tagged(UDP, i as u64))?;
            udp.push(UdpPort::new(sock));
        }
        let (exec_tx, exec_rx) = mpsc::channel();
        let lp = Loop {
            index,
            poller,
            waker: waker.clone(),
            stop,
            timers: Timers::new(),
            conns: Slab::new(),
            ready: Vec::new(),
            running: Vec::new(),
            listeners,
            udp,
            ctx,
            config,
            exec_tx,
            exec_rx,
            grace_end: None,
            now: Instant::now(),
        };
        Ok((lp, waker))
    }

    /// Runs turns until the stop has begun and no connection is left.
    ///
    /// # Errors
    /// A failed `epoll_wait` (a bug: the loop cannot go on).
    pub(super) fn run(mut self) -> io::Result<()> {
        // Made here: an epoll event buffer is not `Send`.
        let mut events = Events::with_capacity(EVENTS);
        loop {
            let cap = (!self.ready.is_empty()).then_some(Duration::ZERO);
            let timeout = self.timers.timeout(Instant::now(), cap);
            self.poller.wait(&mut events, timeout)?;
            self.now = Instant::now();
            for readiness in events.iter() {
                self.dispatch(readiness);
            }
            self.fire_deadlines();
            self.run_ready();
            self.compact_deadlines();
            if self.grace_end.is_none() && self.stop.is_set() {
                self.begin_stop();
            }
            if self.grace_end.is_some() && self.conns.is_empty() {
                return Ok(());
            }
        }
    }

    fn dispatch(&mut self, r: Readiness) {
        let index = untag(r.token) as usize;
        match tag_of(r.token) {
            0 => {
                let key = Key::from_token(r.token);
                if let Some(conn) = self.conns.get_mut(key) {
                    conn.readable |= r.readable || r.hangup || r.error;
                    conn.writable |= r.writable || r.error;
                    conn.hangup |= r.hangup;
                    self.run_conn(key);
                }
            }
            WAKER => self.exec_finished(),
            LISTENER => self.accept(index),
            UDP => {
                if let Some(port) = self.udp.get_mut(index) {
                    port.readable |= r.readable || r.error;
                    port.writable |= r.writable || r.error;
                    self.serve_udp(index);
                }
            }
            _ => debug_assert!(false, "unknown token {:#x}", r.token),
        }
    }

    /// Drives connection `key` (stale keys are ignored) and does what it comes to.
    pub(super) fn run_conn(&mut self, key: Key) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let stats = &self.ctx[conn.ep].stats;
        match conn.drive(stats.lane(self.index), stats, self.now) {
            Outcome::Idle => self.arm(key),
            Outcome::Again => {
                if !conn.queued {
                    conn.queued = true;
                    self.ready.push(Ready::Conn(key));
                }
                self.arm(key);
            }
            Outcome::Exec {
                line,
                output,
                max_output,
            } => {
                self.start_exec(key, line, output, max_output);
                self.arm(key);
            }
            Outcome::Close(failure) => self.close(key, failure),
        }
    }

    /// Schedules the session's deadline when it is earlier than the one already in
    /// the heap for it (a later one waits for that entry to pop: see `Timers`).
    pub(super) fn arm(&mut self, key: Key) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if let Some(at) = conn.session.poll_timeout()
            && conn.scheduled.is_none_or(|s| at < s)
        {
            conn.scheduled = Some(at);
            self.timers.schedule(at, Deadline::Conn(key));
        }
    }

    fn fire_deadlines(&mut self) {
        while let Some((at, deadline)) = self.timers.pop_due(self.now) {
            match deadline {
                Deadline::Conn(key) => {
                    let Some(conn) = self.conns.get_mut(key) else {
                        continue;
                    };
                    if conn.scheduled != Some(at) {
                        continue; // replaced by an earlier one
                    }
                    conn.scheduled = None;
                    conn.session.handle_timeout(self.now);
                    self.run_conn(key);
                }
                Deadline::Listener(i) => self.backoff_over(i),
                Deadline::Grace => self.cut_all(),
            }
        }
    }

    /// Lazy deletion leaves the deadlines of closed connections in the heap until
    /// they pop (an idle timeout a minute away): under connection churn, once the heap
    /// holds twice as many entries as there are live ones, drop the stale ones.
    fn compact_deadlines(&mut self) {
        const SLACK: usize = 64;
        if self.timers.len() <= 2 * self.conns.len() + SLACK {
            return;
        }
        let (conns, listeners) = (&mut self.conns, &self.listeners);
        self.timers.retain(|at, deadline| match deadline {
            Deadline::Conn(key) => conns.get_mut(key).is_some_and(|c| c.scheduled == Some(at)),
            Deadline::Listener(i) => listeners.get(i).is_some_and(|l| l.backing_off),
            Deadline::Grace => true,
        });
    }

    fn run_ready(&mut self) {
        mem::swap(&mut self.ready, &mut self.running);
        let mut running = mem::take(&mut self.running);
        for ready in running.drain(..) {
            match ready {
                Ready::Conn(key) => {
                    if let Some(conn) = self.conns.get_mut(key) {
                        conn.queued = false;
                        self.run_conn(key);
                    }
                }
                Ready::Listener(i) => {
                    if let Some(listener) = self.listeners.get_mut(i) {
                        listener.queued = false;
                        self.accept(i);
                    }
                }
                Ready::Udp(i) => {
                    if let Some(port) = self.udp.get_mut(i) {
                        port.queued = false;
                        self.serve_udp(i);
                    }
                }
            }
        }
        self.running = running;
    }

    /// Closes connection `key`: counts and logs the failure, frees its slot.
    pub(super) fn close(&mut self, key: Key, failure: Option<Failure>) {
        let Some(conn) = self.conns.remove(key) else {
            return;
        };
        let stats = &self.ctx[conn.ep].stats;
        if let Some(f) = failure {
            fail_session(stats, conn.peer, &f);
        }
        if conn.counted {
            stats.connection_closed();
        }
        // Dropping the socket closes it, which also takes it out of the poller (it
        // was never duplicated).
    }

    /// The stop: no more accepts or datagrams; every session finishes its request
    /// under way (or closes at once between requests) within the grace period.
    fn begin_stop(&mut self) {
        let grace_end = self.now + self.config.grace;
        self.grace_end = Some(grace_end);
        self.timers.schedule(grace_end, Deadline::Grace);
        for listener in self.listeners.drain(..) {
            if listener.sock.shared {
                let _ = self.poller.delete(&listener.sock.socket);
            }
        }
        for port in self.udp.drain(..) {
            if port.sock.shared {
                let _ = self.poller.delete(&port.sock.socket);
            }
        }
        for key in self.conns.keys() {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.session.stop(self.now);
                self.run_conn(key);
            }
        }
    }

    /// The grace period is over: close what is left; a connection in the middle of a
    /// request counts as `shutdown_cut`.
    fn cut_all(&mut self) {
        for key in self.conns.keys() {
            if let Some(conn) = self.conns.remove(key) {
                let stats = &self.ctx[conn.ep].stats;
                if !conn.session.at_boundary() {
                    stats.error(ErrorKind::ShutdownCut);
                }
                if conn.counted {
                    stats.connection_closed();
                }
            }
        }
    }
}
