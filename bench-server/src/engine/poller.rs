//! [`Poller`]: one epoll instance per loop thread, with every socket registered once,
//! edge-triggered, and the [`Events`] buffer its waits fill. It owns only the epoll
//! descriptor; the sockets stay their owners'.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::Timespec;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::io::Errno;

/// One epoll instance.
#[derive(Debug)]
pub struct Poller {
    epoll: OwnedFd,
}

/// What one wait reported, reused from wait to wait (no allocation per turn). Not
/// `Send` (rustix's epoll event may hold a pointer): make it on the loop's thread.
pub struct Events {
    list: Vec<epoll::Event>,
}

/// One socket's readiness from the last edge. `hangup` (the peer closed, or both
/// sides) and `error` also mean "try the read or write": it returns 0 or the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// The token the socket was registered with.
    pub token: u64,
    /// EPOLLIN: there is data (or a connection) to take.
    pub readable: bool,
    /// EPOLLOUT: the send buffer has room.
    pub writable: bool,
    /// EPOLLRDHUP or EPOLLHUP: the peer closed its side.
    pub hangup: bool,
    /// EPOLLERR: a pending socket error.
    pub error: bool,
}

impl Events {
    /// Room for `n` events per wait (more wait for the next one; nothing is lost).
    pub fn with_capacity(n: usize) -> Self {
        Events {
            list: Vec::with_capacity(n.max(1)),
        }
    }

    /// The events of the last wait.
    pub fn iter(&self) -> impl Iterator<Item = Readiness> + '_ {
        self.list.iter().map(|e| {
            let flags = e.flags;
            Readiness {
                token: e.data.u64(),
                readable: flags.contains(EventFlags::IN),
                writable: flags.contains(EventFlags::OUT),
                hangup: flags.intersects(EventFlags::RDHUP | EventFlags::HUP),
                error: flags.contains(EventFlags::ERR),
            }
        })
    }

    /// How many events the last wait reported.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the last wait reported nothing (a timeout).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl Poller {
    /// A new epoll instance (close-on-exec, so `exec`'s shells do not inherit it).
    ///
    /// # Errors
    /// `epoll_create1`'s (EMFILE, ENOMEM).
    pub fn new() -> io::Result<Poller> {
        Ok(Poller {
            epoll: epoll::create(CreateFlags::CLOEXEC)?,
        })
    }

    /// Registers `fd` once for read and write, edge-triggered
    /// (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET): a connection or a UDP socket.
    ///
    /// # Errors
    /// `epoll_ctl`'s (EEXIST: already registered here; ENOMEM).
    pub fn add(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        Ok(epoll::add(
            &self.epoll,
            fd,
            EventData::new_u64(token),
            flags,
        )?)
    }

    /// Registers `fd` for read only, edge-triggered (listeners, eventfds).
    ///
    /// # Errors
    /// `epoll_ctl`'s.
    pub fn add_readable(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        let flags = EventFlags::IN | EventFlags::ET;
        Ok(epoll::add(
            &self.epoll,
            fd,
            EventData::new_u64(token),
            flags,
        )?)
    }

    /// Removes `fd`. Closing a descriptor removes it too, but only once every
    /// duplicate of it is closed: call this before dropping one that was `dup`ed
    /// (a listener shared with `try_clone`) or that is kept open.
    ///
    /// # Errors
    /// `epoll_ctl`'s (ENOENT: not registered here).
    pub fn delete(&self, fd: impl AsFd) -> io::Result<()> {
        Ok(epoll::delete(&self.epoll, fd)?)
    }

    /// Waits until an event or `timeout` (`None`: forever; `Some(ZERO)`: just look),
    /// replacing `events`' content. An interrupted wait (EINTR) is `Ok` with no events.
    ///
    /// # Errors
    /// `epoll_wait`'s other errors (a bug: EBADF, EINVAL).
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let timeout = timeout.map(|t| {
            // A timeout too large for a timespec is as good as forever.
            Timespec::try_from(t).unwrap_or(Timespec {
                tv_sec: i64::MAX / 2,
                tv_nsec: 0,
            })
        });
        match epoll::wait(
            &self.epoll,
            spare_capacity(&mut events.list),
            timeout.as_ref(),
        ) {
            Ok(_) | Err(Errno::INTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    fn wait_now(poller: &Poller, events: &mut Events) -> Vec<Readiness> {
        poller.wait(events, Some(Duration::ZERO)).unwrap();
        events.iter().collect()
    }

    #[test]
    fn an_edge_is_reported_once_until_new_data_arrives() {
        let poller = Poller::new().unwrap();
        let mut events = Events::with_capacity(8);
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        poller.add(&a, 7).unwrap();
        // A fresh socket with room to write: one writable edge, then nothing.
        let first = wait_now(&poller, &mut events);
        assert_eq!(first.len(), 1);
        assert!(first[0].writable && !first[0].readable && first[0].token == 7);
        assert!(wait_now(&poller, &mut events).is_empty(), "edge, not level");

        b.write_all(b"hello").unwrap();
        let got = wait_now(&poller, &mut events);
        assert!(got.len() == 1 && got[0].readable);
        // Unread data does not report again (edge-triggered) ...
        assert!(wait_now(&poller, &mut events).is_empty());
        // ... until more arrives.
        b.write_all(b"again").unwrap();
        assert!(wait_now(&poller, &mut events)[0].readable);

        let mut buf = [0u8; 64];
        assert_eq!((&a).read(&mut buf).unwrap(), 10);
        drop(b);
        let hup = wait_now(&poller, &mut events);
        assert!(hup[0].hangup && hup[0].readable, "{hup:?}");
    }

    #[test]
    fn a_timed_wait_returns_without_events_and_delete_silences() {
        let poller = Poller::new().unwrap();
        let mut events = Events::with_capacity(8);
        let (a, mut b) = UnixStream::pair().unwrap();
        poller.add_readable(&a, 1).unwrap();
        poller
            .wait(&mut events, Some(Duration::from_millis(5)))
            .unwrap();
        assert_eq!(events.len(), 0, "read-only interest: no writable edge");
        poller.delete(&a).unwrap();
        b.write_all(b"x").unwrap();
        assert!(wait_now(&poller, &mut events).is_empty());
        assert!(poller.delete(&a).is_err(), "no longer registered");
    }
}
