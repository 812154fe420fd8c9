//! The per-core engine toolkit: the pieces a loop needs to run one event loop per
//! thread, each owning its sockets, deadlines and connections. Sockets are registered
//! once, edge-triggered, for read and write, and never re-armed; the loop keeps
//! per-socket "readable"/"writable" flags from the last edge, so work resumes without a
//! syscall and a read that would only say `EAGAIN` is never made: a read shorter than
//! its buffer on a stream socket means drained, a write shorter than offered means
//! full; both clear the flag until the next edge. One exception: once an edge says
//! [`poller::Readiness::hangup`], the FIN may sit behind the bytes of a short read
//! with no edge left to announce it, so read on until 0 or `WouldBlock`.
//!
//! A toolkit, not a framework: each user (the per-core server driver, the relay, the
//! load generator's per-core engine in bench-client) writes its own loop body from
//! these pieces. Public so bench-client reuses it instead of writing a second loop;
//! the API stays this small list:
//!
//! ```text
//! loop {
//!     poller.wait(&mut events, timers.timeout(now, cap))?;
//!     now = Instant::now();
//!     for r in events.iter() { dispatch by token: waker / listener / connection key }
//!     while let Some((at, key)) = timers.pop_due(now) { handle the deadline }
//!     run the connections put on a "ready again" list (fairness budget per turn)
//!     if stop.is_set() { begin the stop }
//! }
//! ```
//!
//! - `poller`: [`poller::Poller`], the epoll instance, and the [`poller::Readiness`] it
//!   reports.
//! - `waker`: [`waker::Waker`], an eventfd another thread writes to wake a loop.
//! - `timers`: [`timers::Timers`], the loop's own deadline heap (no timer syscall).
//! - `slab`: [`slab::Slab`], keyed storage with generation-tagged tokens, and the token
//!   tagging helpers.
//! - `threads`: [`threads::StopFlag`] and [`threads::spawn_loops`], N loop threads and
//!   their stop.
//!
//! Linux only (epoll, eventfd), safe code only (rustix). It must not know protocols,
//! sessions, counters or configs: it sits below every driver that uses it.

pub mod poller;
pub mod slab;
pub mod threads;
pub mod timers;
pub mod waker;
