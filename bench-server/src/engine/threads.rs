//! N loop threads and their stop: [`StopFlag`] (one relaxed load per turn, no lock,
//! no channel) and [`spawn_loops`], which builds each loop's state on the calling
//! thread (so a failed bind or epoll_create is an error the caller sees before
//! anything runs), then starts one named OS thread per loop. [`Loops::stop`] sets the
//! flag and wakes every loop; the loops notice at their next turn.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::{self, JoinHandle};

use super::waker::Waker;

/// Set once to stop every loop of a run; clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// Not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag (the loops see it at their next turn; wake them to make that
    /// now: [`Loops::stop`]).
    pub fn set(&self) {
        self.0.store(true, Relaxed);
    }

    /// Whether the flag is set: one relaxed load, cheap enough for every turn.
    pub fn is_set(&self) -> bool {
        self.0.load(Relaxed)
    }
}

/// The running loop threads of one run.
#[derive(Debug)]
pub struct Loops<T> {
    handles: Vec<JoinHandle<T>>,
    wakers: Vec<Waker>,
    stop: StopFlag,
}

impl<T> Loops<T> {
    /// Sets the stop flag and wakes every loop.
    pub fn stop(&self) {
        self.stop.set();
        for waker in &self.wakers {
            waker.wake();
        }
    }

    /// Each loop's waker, in loop order.
    pub fn wakers(&self) -> &[Waker] {
        &self.wakers
    }

    /// Waits for every loop thread: each one's result, `Err` for a loop that
    /// panicked.
    pub fn join(self) -> Vec<thread::Result<T>> {
        self.handles.into_iter().map(JoinHandle::join).collect()
    }
}

/// Starts `threads` loops. First, on the calling thread, `build(i)` makes loop `i`'s
/// state and returns it with the loop's [`Waker`] (registered in the loop's own
/// poller); then `threads` OS threads named `<name>-<i>` start, each running
/// `body(i, state)` until it sees `stop` set (the body's business: check
/// [`StopFlag::is_set`] each turn).
///
/// # Errors
/// The first `build` error (no thread started yet), or the first thread spawn error:
/// the loops already started are told to stop (flag and wakers) and joined first.
pub fn spawn_loops<S, T>(
    name: &str,
    threads: usize,
    stop: &StopFlag,
    mut build: impl FnMut(usize) -> io::Result<(S, Waker)>,
    body: impl Fn(usize, S) -> T + Send + Sync + 'static,
) -> io::Result<Loops<T>>
where
    S: Send + 'static,
    T: Send + 'static,
{
    let mut states = Vec::with_capacity(threads);
    let mut wakers = Vec::with_capacity(threads);
    for i in 0..threads {
        let (state, waker) = build(i)?;
        states.push(state);
        wakers.push(waker);
    }
    let body = Arc::new(body);
    let mut loops = Loops {
        handles: Vec::with_capacity(threads),
        wakers: Vec::with_capacity(threads),
        stop: stop.clone(),
    };
    for (i, (state, waker)) in states.into_iter().zip(wakers).enumerate() {
        let body = Arc::clone(&body);
        let spawned = thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || body(i, state));
        match spawned {
            Ok(handle) => {
                loops.handles.push(handle);
                loops.wakers.push(waker);
            }
            Err(e) => {
                loops.stop();
                let _ = loops.join();
                return Err(e);
            }
        }
    }
    Ok(loops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::poller::{Events, Poller};

    /// A loop that waits forever on its poller and counts turns until the stop.
    fn waiting_loop(poller: Poller, stop: StopFlag) -> u64 {
        let mut events = Events::with_capacity(4);
        let mut turns = 0;
        while !stop.is_set() && turns < 1_000 {
            poller.wait(&mut events, None).unwrap();
            turns += 1;
        }
        turns
    }

    #[test]
    fn stop_wakes_loops_blocked_in_a_wait_forever() {
        let stop = StopFlag::new();
        let flag = stop.clone();
        let loops = spawn_loops(
            "test-loop",
            3,
            &stop,
            |_| {
                let poller = Poller::new()?;
                let waker = Waker::new(&poller, 1)?;
                Ok(((poller, flag.clone()), waker))
            },
            |_, (poller, stop)| {
                assert!(thread::current().name().unwrap().starts_with("test-loop-"));
                waiting_loop(poller, stop)
            },
        )
        .unwrap();
        assert_eq!(loops.wakers().len(), 3);
        loops.stop();
        let turns: Vec<u64> = loops.join().into_iter().map(Result::unwrap).collect();
        assert_eq!(turns.len(), 3);
        assert!(turns.iter().all(|&t| t < 1_000), "{turns:?}");
    }

    #[test]
    fn a_build_error_starts_nothing() {
        let stop = StopFlag::new();
        let outcome = spawn_loops(
            "test-loop",
            2,
            &stop,
            |i| {
                if i == 1 {
                    return Err(io::Error::other("no second loop"));
                }
                let poller = Poller::new()?;
                let waker = Waker::new(&poller, 1)?;
                Ok((poller, waker))
            },
            |_, _poller| -> () { panic!("no loop may start") },
        );
        assert_eq!(outcome.unwrap_err().to_string(), "no second loop");
    }
}
