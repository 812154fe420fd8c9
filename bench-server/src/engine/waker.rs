//! [`Waker`]: an eventfd registered in a loop's [`Poller`] under a token the loop
//! reserves, so another thread (a finished `exec`, the thread that got the shutdown)
//! can end the loop's wait. Off the hot path: requests never touch it.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use rustix::event::{EventfdFlags, eventfd};

use super::poller::Poller;

/// Wakes one loop from any thread; clones wake the same loop.
#[derive(Debug, Clone)]
pub struct Waker {
    fd: Arc<OwnedFd>,
}

impl Waker {
    /// An eventfd registered (read-only, edge-triggered) in `poller` under `token`.
    ///
    /// # Errors
    /// `eventfd`'s or `epoll_ctl`'s.
    pub fn new(poller: &Poller, token: u64) -> io::Result<Waker> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        poller.add_readable(&fd, token)?;
        Ok(Waker { fd: Arc::new(fd) })
    }

    /// Makes the loop's next (or current) wait return with the waker's token. EAGAIN
    /// (the counter is full: a wake is pending anyway) is fine and ignored.
    pub fn wake(&self) {
        let _ = rustix::io::write(&*self.fd, &1u64.to_ne_bytes());
    }

    /// On the loop, after the waker's event: reads the counter back to zero, so the
    /// next [`Waker::wake`] makes a new edge. Whatever woke the loop must be looked
    /// at after this (a wake in between then makes another edge, never a lost one).
    pub fn reset(&self) {
        let mut counter = [0u8; 8];
        let _ = rustix::io::read(&*self.fd, &mut counter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::poller::Events;
    use std::time::Duration;

    #[test]
    fn a_wake_from_another_thread_ends_a_wait_forever() {
        let poller = Poller::new().unwrap();
        let waker = Waker::new(&poller, 42).unwrap();
        let mut events = Events::with_capacity(4);
        let remote = waker.clone();
        let thread = std::thread::spawn(move || remote.wake());
        // Wait forever: only the wake can end this (a broken waker hangs the test,
        // which the harness reports).
        let mut tokens = Vec::new();
        for _ in 0..100 {
            poller.wait(&mut events, None).unwrap();
            tokens.extend(events.iter().map(|r| r.token));
            if !tokens.is_empty() {
                break;
            }
        }
        thread.join().unwrap();
        assert_eq!(tokens, [42]);
        waker.reset();
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.len(), 0, "reset: nothing pending");
        // Wakes before the reset collapse into one edge; after it, a new one comes.
        waker.wake();
        waker.wake();
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.len(), 1);
        waker.reset();
        waker.wake();
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.len(), 1);
    }
}
