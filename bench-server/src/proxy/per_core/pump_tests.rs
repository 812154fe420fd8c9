//! The direction rules on scripted legs, without sockets: short reads, partial writes,
//! half-close after the held bytes, the per-turn budget, errors.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;

use super::*;

/// What one scripted `read` returns.
enum Read {
    Bytes(&'static [u8]),
    Eof,
    Block,
    Fail(io::ErrorKind),
}

/// A leg whose reads follow a script and whose writes take at most the next allowance
/// (`None`: `WouldBlock`), recording every call.
#[derive(Default)]
struct Leg {
    reads: RefCell<VecDeque<Read>>,
    allow: RefCell<VecDeque<Option<usize>>>,
    written: RefCell<Vec<u8>>,
    read_calls: Cell<u32>,
    shut: Cell<bool>,
}

impl Leg {
    fn reading(script: Vec<Read>) -> Leg {
        Leg {
            reads: RefCell::new(script.into()),
            ..Leg::default()
        }
    }

    fn writing(allowances: Vec<Option<usize>>) -> Leg {
        Leg {
            allow: RefCell::new(allowances.into()),
            ..Leg::default()
        }
    }
}

impl Stream for Leg {
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_calls.set(self.read_calls.get() + 1);
        match self
            .reads
            .borrow_mut()
            .pop_front()
            .expect("a read past the script")
        {
            Read::Bytes(b) => {
                buf[..b.len()].copy_from_slice(b);
                Ok(b.len())
            }
            Read::Eof => Ok(0),
            Read::Block => Err(io::ErrorKind::WouldBlock.into()),
            Read::Fail(kind) => Err(kind.into()),
        }
    }

    fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
        let allowance = self
            .allow
            .borrow_mut()
            .pop_front()
            .unwrap_or(Some(usize::MAX));
        let n = allowance.ok_or(io::ErrorKind::WouldBlock)?.min(buf.len());
        self.written.borrow_mut().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl HalfClose for Leg {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shut.set(true);
        Ok(())
    }
}

fn ready() -> Ready {
    Ready {
        readable: true,
        writable: true,
        peer_closed: false,
    }
}

/// Runs one pump of a direction with an 8-byte buffer.
fn pump(
    dir: &mut Direction<CopyMover>,
    from: &Leg,
    from_ready: &mut Ready,
    to: &Leg,
    to_ready: &mut Ready,
    moved: &mut Moved,
) -> io::Result<Step> {
    dir.pump((from, from_ready), (to, to_ready), 32, moved)
}

#[test]
fn a_short_read_is_taken_as_drained_and_the_chunk_goes_out() {
    let from = Leg::reading(vec![Read::Bytes(b"hello")]);
    let to = Leg::default();
    let (mut fr, mut tr, mut moved) = (ready(), ready(), Moved::default());
    let mut dir = Direction::new(CopyMover::new(8));
    let step = pump(&mut dir, &from, &mut fr, &to, &mut tr, &mut moved).unwrap();
    assert_eq!(step, Step::Blocked);
    assert_eq!(&*to.written.borrow(), b"hello");
    assert_eq!(
        from.read_calls.get(),
        1,
        "no read that would only say EAGAIN"
    );
    assert!(!fr.readable && tr.writable);
    assert_eq!(
        moved,
        Moved {
            chunks: 1,
            bytes: 5
        }
    );
}

#[test]
fn a_partial_write_stops_reading_until_the_destination_is_writable() {
    let from = Leg::reading(vec![Read::Bytes(b"12345678"), Read::Bytes(b"9")]);
    let to = Leg::writing(vec![Some(3)]);
    let (mut fr, mut tr, mut moved) = (ready(), ready(), Moved::default());
    let mut dir = Direction::new(CopyMover::new(8));
    let step = pump(&mut dir, &from, &mut fr, &to, &mut tr, &mut moved).unwrap();
    assert_eq!(step, Step::Blocked);
    assert_eq!(&*to.written.borrow(), b"123");
    assert!(!tr.writable && fr.readable);
    assert_eq!(from.read_calls.get(), 1, "no read while bytes are held");

    // The writable edge: the rest goes, then the next chunk.
    tr.update(false, true, false, false);
    let step = pump(&mut dir, &from, &mut fr, &to, &mut tr, &mut moved).unwrap();
    assert_eq!(step, Step::Blocked);
    assert_eq!(&*to.written.borrow(), b"123456789");
    assert_eq!(
        moved,
        Moved {
            chunks: 2,
            bytes: 9
        }
    );
}

#[test]
fn eof_is_forwarded_only_after_every_held_byte() {
    let from = Leg::reading(vec![Read::Bytes(b"abc"), Read::Eof]);
    let to = Leg::writing(vec![None]);
    let mut fr = ready();
    // The peer's FIN came with the data: the short read must not end the reading.
    fr.update(true, false, true, false);
    let (mut tr, mut moved) = (ready(), Moved::default());
    let mut dir = Direction::new(CopyMover::new(8));
    let step = pump(&mut dir, &from, &mut fr, &to, &mut tr, &mut moved).unwrap();
    assert_eq!(step, Step::Blocked);
    assert!(!to.shut.get(), "not while `abc` waits");
    tr.update(false, true, false, false);
    let step = pump(&mut dir, &from, &mut fr, &to, &mut tr, &mut moved).unwrap();
    assert_eq!(step, Step::Done);
    assert!(to.shut.get() && dir.is_done());
    assert_eq!(&*to.written.borrow(), b"abc");
    // Done stays done, with no further calls.
    let step = pump(&mut dir, &from, &mut fr, &to, &mut tr, &mut moved).unwrap();
    assert_eq!((step, from.read_calls.get()), (Step::Done, 2));
}

#[test]
fn a_source_that_stays_readable_yields_at_its_budget() {
    let from = Leg::reading((0..5).map(|_| Read::Bytes(b"fullfull")).collect());
    let to = Leg::default();
    let (mut fr, mut tr, mut moved) = (ready(), ready(), Moved::default());
    let mut dir = Direction::new(CopyMover::new(8));
    let step = dir
        .pump((&from, &mut fr), (&to, &mut tr), 3, &mut moved)
        .unwrap();
    assert_eq!(step, Step::Yield);
    assert_eq!(
        moved,
        Moved {
            chunks: 3,
            bytes: 24
        }
    );
    assert!(fr.readable, "still readable: resumes without an edge");
}

#[test]
fn would_block_waits_and_errors_end_the_direction() {
    let from = Leg::reading(vec![
        Read::Block,
        Read::Fail(io::ErrorKind::ConnectionReset),
    ]);
    let to = Leg::default();
    let (mut fr, mut tr, mut moved) = (ready(), ready(), Moved::default());
    let mut dir = Direction::new(CopyMover::new(8));
    let step = pump(&mut dir, &from, &mut fr, &to, &mut tr, &mut moved).unwrap();
    assert_eq!(step, Step::Blocked);
    assert!(!fr.readable);
    // An error edge makes it readable again; the read reports the reset.
    fr.update(false, false, false, true);
    let err = pump(&mut dir, &from, &mut fr, &to, &mut tr, &mut moved).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(moved, Moved::default());
}
