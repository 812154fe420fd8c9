//! TEMPORARY stand-in for `crate::engine` (helper P's toolkit), with the API of
//! brief-engine-api.md, so the per-core relay builds and runs before the merge. Removed
//! when the real engine lands.
#![allow(dead_code, missing_docs)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::{EventfdFlags, eventfd};

pub(crate) struct Poller {
    fd: OwnedFd,
}
pub(crate) struct Events {
    list: Vec<Event>,
}
#[derive(Debug, Clone, Copy)]
pub(crate) struct Readiness {
    pub token: u64,
    pub readable: bool,
    pub writable: bool,
    pub hangup: bool,
    pub error: bool,
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        Ok(Poller {
            fd: epoll::create(CreateFlags::CLOEXEC)?,
        })
    }
    pub(crate) fn add(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        Ok(epoll::add(&self.fd, fd, EventData::new_u64(token), flags)?)
    }
    pub(crate) fn add_readable(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        let flags = EventFlags::IN | EventFlags::ET;
        Ok(epoll::add(&self.fd, fd, EventData::new_u64(token), flags)?)
    }
    pub(crate) fn delete(&self, fd: impl AsFd) -> io::Result<()> {
        Ok(epoll::delete(&self.fd, fd)?)
    }
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let ts = timeout.map(|t| rustix::time::Timespec {
            tv_sec: t.as_secs() as i64,
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        match epoll::wait(
            &self.fd,
            rustix::buffer::spare_capacity(&mut events.list),
            ts.as_ref(),
        ) {
            Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Events {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Events {
            list: Vec::with_capacity(n),
        }
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = Readiness> + '_ {
        self.list.iter().map(|e| {
            let f = e.flags;
            Readiness {
                token: e.data.u64(),
                readable: f.intersects(EventFlags::IN | EventFlags::PRI),
                writable: f.contains(EventFlags::OUT),
                hangup: f.intersects(EventFlags::HUP | EventFlags::RDHUP),
                error: f.contains(EventFlags::ERR),
            }
        })
    }
}

#[derive(Clone)]
pub(crate) struct Waker {
    fd: Arc<OwnedFd>,
}
impl Waker {
    pub(crate) fn new(poller: &Poller, token: u64) -> io::Result<Waker> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        poller.add_readable(&fd, token)?;
        Ok(Waker { fd: Arc::new(fd) })
    }
    pub(crate) fn wake(&self) {
        let _ = rustix::io::write(&*self.fd, &1u64.to_ne_bytes());
    }
    pub(crate) fn reset(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&*self.fd, &mut buf);
    }
}

pub(crate) struct Timers<K> {
    heap: BinaryHeap<Reverse<(Instant, u64, K)>>,
    seq: u64,
}
impl<K: Copy + Eq + Ord> Timers<K> {
    pub(crate) fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
    pub(crate) fn schedule(&mut self, at: Instant, key: K) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, key)));
    }
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, K)> {
        if self.next_deadline()? <= now {
            self.heap.pop().map(|Reverse((at, _, k))| (at, k))
        } else {
            None
        }
    }
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
    pub(crate) fn timeout(&self, now: Instant, cap: Option<Duration>) -> Option<Duration> {
        let next = self.next_deadline().map(|at| {
            let d = at.saturating_duration_since(now);
            let ms = d.as_nanos().div_ceil(1_000_000) as u64;
            Duration::from_millis(ms)
        });
        match (next, cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}
impl Key {
    pub(crate) fn token(self) -> u64 {
        (u64::from(self.generation & 0xff_ffff) << 32) | u64::from(self.index)
    }
    pub(crate) fn from_token(t: u64) -> Key {
        Key {
            index: t as u32,
            generation: ((t >> 32) & 0xff_ffff) as u32,
        }
    }
}

pub(crate) struct Slab<T> {
    entries: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
    len: usize,
}
impl<T> Slab<T> {
    pub(crate) fn new() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
    pub(crate) fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let e = &mut self.entries[index as usize];
            e.0 = (e.0 + 1) & 0xff_ffff;
            e.1 = Some(value);
            return Key {
                index,
                generation: e.0,
            };
        }
        self.entries.push((0, Some(value)));
        Key {
            index: (self.entries.len() - 1) as u32,
            generation: 0,
        }
    }
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize) {
            Some((g, Some(v))) if *g == key.generation => Some(v),
            _ => None,
        }
    }
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        match self.entries.get_mut(key.index as usize) {
            Some((g, v @ Some(_))) if *g == key.generation => {
                self.len -= 1;
                self.free.push(key.index);
                v.take()
            }
            _ => None,
        }
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn keys(&self) -> Vec<Key> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, (_, v))| v.is_some())
            .map(|(i, (g, _))| Key {
                index: i as u32,
                generation: *g,
            })
            .collect()
    }
}

#[derive(Clone, Default)]
pub(crate) struct StopFlag(Arc<AtomicBool>);
impl StopFlag {
    pub(crate) fn new() -> Self {
        Self::default()
    }
    pub(crate) fn set(&self) {
        self.0.store(true, Relaxed);
    }
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Relaxed)
    }
}
