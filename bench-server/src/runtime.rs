//! The executor runtime the servers ([`crate::run`]) and the relay
//! ([`crate::proxy::run_proxy`]) share: executor threads, the stop channel, the task
//! tracker, the graceful wait, and the background thread of [`crate::spawn`] and
//! [`crate::proxy::spawn_proxy`]. A leaf: it knows smol and threads, never sockets,
//! protocols or counters; it only decides when tasks run and when a run is over.
//!
//! Shutdown is one closed channel: every loop and connection watches it. Each task also
//! holds a [`Tracker`]; when the last one is dropped, [`Runtime::drive`] knows every
//! task has finished and returns without waiting out the grace period.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use smol::channel::{Receiver, Sender};
use smol::future::FutureExt as _;
use smol::{Executor, Timer};

/// A future that completes once, when the run starts shutting down.
pub(crate) type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// After shutdown, how long past the grace period [`Runtime::drive`] waits for tasks to
/// notice: a connection cut at the end of its grace period still has to run once to be
/// counted, and 250 ms is ample for that on a loaded machine while a stop stays prompt.
pub(crate) const STOP_MARGIN: Duration = Duration::from_millis(250);

/// A loop whose I/O can stay ready yields to its executor (and looks at the stop) after
/// this many ready operations in a row: reads and writes on sockets that are always
/// ready never return `Pending`, so without this one busy loop would hold its thread
/// (and the grace-period deadline with it). 32 keeps the cost of a yield (one trip
/// through the executor's queue) small next to the 32 operations before it, and bounds
/// how long the other tasks on that thread wait.
pub(crate) const YIELD_EVERY: u64 = 32;

/// How long an accept loop waits after a failed accept (`EMFILE` and friends) before it
/// tries again: long enough not to spin on a full descriptor table, short enough that
/// accepting resumes about at once when descriptors free up.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Held by every task of a run; [`Runtime::drive`] returns early once all are dropped.
#[derive(Clone)]
pub(crate) struct Tracker(#[allow(dead_code)] Sender<()>);

/// The executor and stop channel of one server or relay run.
pub(crate) struct Runtime {
    executor: Executor<'static>,
    /// Closed to start shutdown; never sent on.
    stop: Sender<()>,
    stopped: Receiver<()>,
    /// Completes (with an error) when every [`Tracker`] is gone.
    all_done: Receiver<()>,
}

impl Runtime {
    /// A runtime with no threads yet, and the first tracker (clone it into each task,
    /// then drop it before [`Runtime::drive`] waits).
    pub(crate) fn new() -> (Runtime, Tracker) {
        let (stop, stopped) = smol::channel::bounded(1);
        let (tracker, all_done) = smol::channel::bounded(1);
        let runtime = Runtime {
            executor: Executor::new(),
            stop,
            stopped,
            all_done,
        };
        (runtime, Tracker(tracker))
    }

    /// Runs `task` on the executor threads.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.executor.spawn(task).detach();
    }

    /// Completes when shutdown starts.
    pub(crate) async fn stopped(&self) {
        let _ = self.stopped.recv().await;
    }

    /// `io`'s output (`Some`), or `None` once shutdown starts first: what every loop
    /// that waits on a socket (accept, receive) waits on.
    pub(crate) async fn or_stopped<T>(&self, io: impl Future<Output = T>) -> Option<T> {
        async { Some(io.await) }
            .or(async {
                self.stopped().await;
                None
            })
            .await
    }

    /// Whether shutdown has started, without waiting.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopped.is_closed()
    }

    /// A future that completes when shutdown starts (one allocation, per connection).
    pub(crate) fn stop_signal(&self) -> StopSignal {
        let stopped = self.stopped.clone();
        Box::pin(async move {
            let _ = stopped.recv().await;
        })
    }

    /// For loops whose I/O can stay ready (a datagram flood, a connection storm) and so
    /// would never reach the stop branch of their `or` nor give their thread up: counts
    /// a turn, and every [`YIELD_EVERY`] turns yields to the executor. False once
    /// shutdown has started.
    pub(crate) async fn keep_going(&self, turns: &mut u64) -> bool {
        *turns += 1;
        if turns.is_multiple_of(YIELD_EVERY) {
            if self.is_stopping() {
                return false;
            }
            smol::future::yield_now().await;
        }
        true
    }

    /// Runs `threads` executor threads named `<name>-<i>` until `shutdown` completes,
    /// then closes the stop channel and waits for every task, at most `grace` plus
    /// [`STOP_MARGIN`]. Blocks the calling thread.
    pub(crate) fn drive(
        &self,
        threads: usize,
        name: &str,
        grace: Duration,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        self.drive_with(threads, grace, shutdown, |i| {
            thread::Builder::new().name(format!("{name}-{i}"))
        })
    }

    /// [`Runtime::drive`] with the thread builder chosen per thread (tests use it to make
    /// one start fail).
    fn drive_with(
        &self,
        threads: usize,
        grace: Duration,
        shutdown: impl Future<Output = ()>,
        builder: impl Fn(usize) -> thread::Builder,
    ) -> io::Result<()> {
        let (close_executor, executor_closed) = smol::channel::bounded::<()>(1);
        thread::scope(|scope| -> io::Result<()> {
            for i in 0..threads {
                let (ex, closed) = (&self.executor, executor_closed.clone());
                let started = builder(i).spawn_scoped(scope, move || {
                    smol::block_on(ex.run(async {
                        let _ = closed.recv().await;
                    }))
                });
                if let Err(e) = started {
                    // The threads already started must end, or the scope never returns.
                    close_executor.close();
                    self.stop.close();
                    return Err(e);
                }
            }
            smol::block_on(shutdown);
            self.stop.close();
            smol::block_on(
                async {
                    let _ = self.all_done.recv().await;
                }
                .or(async {
                    Timer::after(grace + STOP_MARGIN).await;
                }),
            );
            close_executor.close();
            Ok(())
        })
    }
}

/// A run (a server or a relay) on a background thread of its own, and the channel that
/// stops it: [`Background::stop`] stops it and waits, dropping it stops it without
/// waiting.
#[derive(Debug)]
pub(crate) struct Background<T> {
    stop: Sender<()>,
    thread: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Background<T> {
    /// Starts `run` on a thread named `name`, handing it the future that completes when
    /// the run is to stop.
    pub(crate) fn start(
        name: &str,
        run: impl FnOnce(StopSignal) -> T + Send + 'static,
    ) -> io::Result<Self> {
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                run(Box::pin(async move {
                    let _ = stopped.recv().await;
                }))
            })?;
        Ok(Background {
            stop,
            thread: Some(thread),
        })
    }

    /// Tells the run to stop and waits for it: its result, or `None` when its thread
    /// panicked.
    pub(crate) fn stop(mut self) -> Option<T> {
        self.stop.close();
        let thread = self.thread.take().expect("joined once");
        thread.join().ok()
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        self.stop.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    #[test]
    fn a_failed_thread_start_releases_the_threads_already_started() {
        let (runtime, tracker) = Runtime::new();
        // A task that only ends at the stop: without the release it would keep the
        // started threads (and the scope) alive forever.
        let stopped = runtime.stop_signal();
        runtime.spawn(async move {
            let _tracker = tracker;
            stopped.await;
        });
        let (done, finished) = std::sync::mpsc::channel();
        let runtime = Arc::new(runtime);
        let rt = Arc::clone(&runtime);
        thread::spawn(move || {
            let outcome = rt.drive_with(
                3,
                Duration::from_secs(60),
                smol::future::pending::<()>(),
                |i| {
                    let builder = thread::Builder::new().name(format!("test-{i}"));
                    // Far more stack than the address space holds: the start fails.
                    if i == 2 {
                        builder.stack_size(1 << 60)
                    } else {
                        builder
                    }
                },
            );
            let _ = done.send(outcome);
        });
        let outcome = finished
            .recv_timeout(Duration::from_secs(30))
            .expect("drive returned instead of deadlocking");
        assert!(outcome.is_err(), "the third thread cannot start");
        assert!(runtime.is_stopping(), "the tasks were told to stop");
    }

    #[test]
    fn keep_going_yields_and_turns_false_at_the_stop() {
        let (runtime, _tracker) = Runtime::new();
        let turns = AtomicU64::new(0);
        let counted = smol::block_on(async {
            let mut n = 0u64;
            while runtime.keep_going(&mut n).await {
                if n == 100 {
                    runtime.stop.close();
                }
                turns.fetch_add(1, Relaxed);
            }
            n
        });
        // The stop is seen at the next multiple of YIELD_EVERY after it.
        assert_eq!(counted, 128);
        assert_eq!(turns.load(Relaxed), 127);
    }
}
