//! `exec` off the loop: each runs on a helper thread of its own (a shell command may
//! take seconds; the loop must not wait), and its result comes back through the loop's
//! channel and [`Waker`](crate::engine::waker::Waker), off the hot path. The
//! connection holds the cancel side of a channel: when it closes (the peer left, the
//! grace period ended) the helper thread stops waiting and drops the command, which
//! kills its whole process group, as the other models do when a task is dropped.
//!
//! An `impl` block of `event_loop`'s [`Loop`]: it imports the loop, never the reverse;
//! [`ExecDone`] and the cancel type live in `parts`.

use smol::future::FutureExt as _;

use super::event_loop::Loop;
use super::parts::ExecDone;
use crate::engine::slab::Key;
use crate::protocol::exec;
use crate::session::ExecResult;

impl Loop {
    /// Runs `exec` for connection `key` on a helper thread.
    pub(super) fn start_exec(&mut self, key: Key, line: Vec<u8>, output: Vec<u8>, max: u64) {
        let (done, waker) = (self.exec_tx.clone(), self.waker.clone());
        let (cancel, cancelled) = smol::channel::bounded::<()>(1);
        let spawned = std::thread::Builder::new()
            .name("bench-server-exec".to_owned())
            .spawn(move || {
                let mut output = output;
                let outcome = smol::block_on(exec::run(&line, &mut output, max).or(async {
                    // Only ever an error: the connection dropped its sender.
                    let _ = cancelled.recv().await;
                    Err("exec: cancelled, the connection closed".to_owned())
                }));
                let _ = done.send(ExecDone {
                    key,
                    result: ExecResult { output, outcome },
                });
                waker.wake();
            });
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match spawned {
            Ok(_) => conn.exec_cancel = Some(cancel),
            Err(e) => {
                let result = ExecResult {
                    output: Vec::new(),
                    outcome: Err(format!("exec: cannot start a thread: {e}")),
                };
                conn.session.exec_done(result, self.now);
                self.run_conn(key);
            }
        }
    }

    /// The waker fired: hand every finished `exec` to its session (one whose
    /// connection closed meanwhile is dropped).
    pub(super) fn exec_finished(&mut self) {
        self.waker.reset();
        while let Ok(done) = self.exec_rx.try_recv() {
            if let Some(conn) = self.conns.get_mut(done.key) {
                conn.exec_cancel = None;
                conn.session.exec_done(done.result, self.now);
                self.run_conn(done.key);
            }
        }
    }
}
