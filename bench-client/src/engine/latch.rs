//! [`Latch`]: holds the finished worker threads (of either engine) alive until the CPU
//! accounting has taken its end sample, so their `/proc/self/task/*/schedstat` is still
//! there to read. Off the hot path: once per thread and run.

use std::sync::{Arc, Condvar, Mutex};

/// Holds finished workers until the end sample is taken.
#[derive(Debug, Default)]
pub(crate) struct Latch {
    /// (workers arrived, released).
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Latch {
    /// Until `count` workers have arrived.
    pub(crate) fn wait_for(&self, count: usize) {
        let mut state = self.state.lock().expect("latch");
        while state.0 < count {
            state = self.changed.wait(state).expect("latch");
        }
    }

    /// Lets every arrived (and arriving) worker end.
    pub(crate) fn release(&self) {
        self.state.lock().expect("latch").1 = true;
        self.changed.notify_all();
    }
}

/// A worker's arrival at the [`Latch`], on drop (a panicking worker arrives too), then
/// waiting for the release.
pub(crate) struct Arrival(pub(crate) Arc<Latch>);

impl Drop for Arrival {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += 1;
        self.0.changed.notify_all();
        while !state.1 {
            state = self
                .0
                .changed
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}
