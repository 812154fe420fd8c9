//! The shaped direction on scripted legs, without sockets: back-pressure from a full
//! queue, wakes for held bytes, the FIN after a slow close.

use std::cell::{Cell, RefCell};
use std::io;
use std::time::{Duration, Instant};

use super::*;
use crate::proxy::Impairments;
use crate::proxy::impair::dice::Impairer;

/// A leg with `source` bytes to read (then EOF if `eof`, else `WouldBlock`) that
/// takes every write, recording it.
#[derive(Default)]
struct Leg {
    source: RefCell<Vec<u8>>,
    eof: bool,
    written: RefCell<Vec<u8>>,
    shut: Cell<bool>,
}

impl Stream for Leg {
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut source = self.source.borrow_mut();
        if source.is_empty() {
            return if self.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(source.len());
        buf[..n].copy_from_slice(&source[..n]);
        source.drain(..n);
        Ok(n)
    }

    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        self.written.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
}

impl HalfClose for Leg {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shut.set(true);
        Ok(())
    }
}

fn lane(spec: &str, limit: usize, now: Instant) -> Lane {
    let mut imp = Impairments::default();
    imp.add(spec).unwrap();
    let dice = Impairer::new(imp.up, 1, 0, false);
    Lane::Shaped(Shaped::new(Shaper::new(imp.up, dice, limit, now)))
}

fn ready() -> Ready {
    Ready {
        readable: true,
        writable: true,
        peer_closed: false,
    }
}

/// One pump at `now`.
fn pump(lane: &mut Lane, from: &Leg, fr: &mut Ready, to: &Leg, now: Instant) -> LaneStep {
    let (mut tr, mut moved, mut tally) = (ready(), Moved::default(), Tally::default());
    lane.pump((from, fr), (to, &mut tr), 32, now, &mut moved, &mut tally)
        .unwrap()
}

#[test]
fn a_full_queue_stops_reading_and_the_held_bytes_wake_the_direction() {
    let t0 = Instant::now();
    let from = Leg {
        source: RefCell::new((0..40).collect()),
        ..Leg::default()
    };
    let to = Leg::default();
    let mut fr = ready();
    let mut lane = lane("latency=1s", 16, t0);
    let second = t0 + Duration::from_secs(1);
    assert_eq!(
        pump(&mut lane, &from, &mut fr, &to, t0),
        (Step::Blocked, Some(second))
    );
    assert!(
        to.written.borrow().is_empty(),
        "nothing goes before its time"
    );
    assert_eq!(
        from.source.borrow().len(),
        24,
        "16 B held, the rest left unread"
    );
    assert!(
        fr.readable,
        "the source still has bytes: no edge will come for them"
    );
    // At the wake the held bytes go and the next 16 are read, held from now.
    let third = second + Duration::from_secs(1);
    assert_eq!(
        pump(&mut lane, &from, &mut fr, &to, second),
        (Step::Blocked, Some(third))
    );
    assert_eq!(*to.written.borrow(), (0..16).collect::<Vec<u8>>());
    assert_eq!(from.source.borrow().len(), 8);
}

#[test]
fn the_fin_goes_only_after_the_slow_close() {
    let t0 = Instant::now();
    let from = Leg {
        source: RefCell::new(b"abc".to_vec()),
        eof: true,
        ..Leg::default()
    };
    let to = Leg::default();
    // The source's close came with its edge (EPOLLRDHUP): read on to the EOF.
    let mut fr = Ready {
        peer_closed: true,
        ..ready()
    };
    let mut lane = lane("close-slowly=300ms", 1024, t0);
    let due = t0 + Duration::from_millis(300);
    assert_eq!(
        pump(&mut lane, &from, &mut fr, &to, t0),
        (Step::Blocked, Some(due))
    );
    assert_eq!(&*to.written.borrow(), b"abc", "the bytes are not held");
    assert!(!to.shut.get());
    let early = t0 + Duration::from_millis(299);
    assert_eq!(
        pump(&mut lane, &from, &mut fr, &to, early),
        (Step::Blocked, Some(due))
    );
    assert_eq!(
        pump(&mut lane, &from, &mut fr, &to, due),
        (Step::Done, None)
    );
    assert!(to.shut.get());
}
