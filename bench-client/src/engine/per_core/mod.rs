//! The per-core engine (`--engine per-core`, the default on Linux): one event loop per
//! worker thread, built from bench-server's engine toolkit (epoll edge-triggered with
//! every socket registered once, the loop's own timer heap, a slab of connections, an
//! eventfd waker for the stop). Each loop owns its connections ([`TcpSession`]s), its
//! recorder and its share of the schedule: nothing crosses threads on the hot path.
//!
//! Threads are named `bench-client-<i>` like the async engine's workers, so the CPU
//! accounting finds them by the same name on either engine.
//!
//! Owns: the loop threads, their sockets and wake-ups. Must not touch: the protocol and
//! pipelining rules (`session`, `workload`), pacing rules (`pace`), recording internals.
//!
//! [`TcpSession`]: super::session::TcpSession

mod event_loop;
mod udp_loop;

use std::sync::Arc;

use bench_server::engine::poller::Poller;
use bench_server::engine::threads::{StopFlag, spawn_loops};
use bench_server::engine::waker::Waker;

use super::custom_udp_session::CustomUdpSession;
use super::error::RunError;
use super::latch::{Arrival, Latch};
use super::shared::Shared;
use super::udp_session::UdpSession;
use crate::config::WorkloadKind;
use crate::record::{Compressor, CompressorHandle, Live, Recorder};
use crate::workload::custom::spec::Transport;
use crate::workload::framed::Framed;
use crate::workload::tcp_echo::TcpEcho;

/// The waker's token (tag 1: the slab's keys are tag 0).
const WAKER_TAG: u8 = 1;

/// What a loop is built with on the calling thread before its own starts.
struct LoopSeed {
    poller: Poller,
    waker: Waker,
    compressor: CompressorHandle,
}

/// Whether the per-core engine runs this run's workload: every one (stream workloads
/// through the workload trait, udp-echo and custom UDP through their datagram sessions).
pub(crate) fn supports(_shared: &Shared) -> bool {
    true
}

/// Runs every connection on `live.workers()` loop threads; returns the merged recorder.
/// `all_done` runs once every loop has finished its connections, while the threads are
/// still alive (the CPU accounting's end sample reads them).
pub(crate) fn run_workers(
    shared: &Arc<Shared>,
    live: &Arc<Live>,
    all_done: impl FnOnce(),
) -> Result<Recorder, RunError> {
    let workers = live.workers();
    let compressor = Compressor::start(live.clone());
    let latch = Arc::new(Latch::default());
    let build = |_: usize| -> std::io::Result<(LoopSeed, Waker)> {
        let poller = Poller::new()?;
        let waker = Waker::new(&poller, bench_server::engine::slab::tagged(WAKER_TAG, 0))?;
        let seed = LoopSeed {
            poller,
            waker: waker.clone(),
            compressor: compressor.handle(),
        };
        Ok((seed, waker))
    };
    // The loops stop on their own (end, budget, the run's stopper); the toolkit's flag
    // is set only when a later loop failed to start, and then no end sample is coming.
    let failed_start = StopFlag::new();
    let body = {
        let shared = shared.clone();
        let live = live.clone();
        let latch = latch.clone();
        let failed_start = failed_start.clone();
        move |worker: usize, seed: LoopSeed| {
            let arrive = Arrival(latch.clone());
            let rec = run_loop(&shared, worker, workers, &live, seed);
            if failed_start.is_set() {
                latch.release();
            }
            drop(arrive);
            rec
        }
    };
    // The loops stop on their own (end, budget, the run's stopper); this flag is only
    // the toolkit's, for a loop that failed to start.
    let loops =
        spawn_loops("bench-client", workers, &StopFlag::new(), build, body).map_err(|cause| {
            RunError::Io {
                context: "starting the per-core loops".to_owned(),
                cause,
            }
        })?;
    let wakes: Vec<usize> = loops
        .wakers()
        .iter()
        .map(|w| {
            let w = w.clone();
            shared.stopper().on_stop(Box::new(move || w.wake()))
        })
        .collect();
    latch.wait_for(workers);
    all_done();
    latch.release();
    let mut merged: Option<Recorder> = None;
    for rec in loops.join() {
        let rec = rec.expect("client loop thread panicked");
        match &mut merged {
            Some(m) => m.merge(rec),
            None => merged = Some(rec),
        }
    }
    wakes.into_iter().for_each(|id| shared.stopper().forget(id));
    let mut merged = merged.expect("at least one worker");
    merged.add_intervals(compressor.finish());
    Ok(merged)
}

/// One loop thread: its recorder, then its connections `worker`, `worker + workers`, ...
fn run_loop(
    shared: &Shared,
    worker: usize,
    workers: usize,
    live: &Arc<Live>,
    seed: LoopSeed,
) -> Recorder {
    let open = shared.config().is_open_loop();
    if open {
        // The loop sleeps in epoll_wait until just before a send time; the kernel's
        // default 50 us timer slack would be added to every such wake-up.
        let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1_000));
    }
    let mut rec = Recorder::new(
        open,
        shared.record_start(),
        shared.end(),
        live.clone(),
        worker,
    )
    .with_compressor(seed.compressor);
    let indices = (worker..shared.config().connections).step_by(workers);
    let verifier = shared.verifier().clone();
    let (poller, waker) = (&seed.poller, &seed.waker);
    let result = match shared.config().workload {
        WorkloadKind::TcpEcho => {
            let workload = TcpEcho::new(verifier);
            event_loop::run(shared, poller, waker, &workload, indices, &mut rec)
        }
        WorkloadKind::Framed => {
            let workload = Framed::new(shared.config(), verifier);
            event_loop::run(shared, poller, waker, &workload, indices, &mut rec)
        }
        WorkloadKind::UdpEcho => {
            let session = |index| UdpSession::new(shared, index);
            udp_loop::run(shared, poller, waker, indices, &mut rec, session)
        }
        WorkloadKind::Custom => {
            let workload = shared.custom().expect("custom runs have a workload");
            match workload.transport() {
                Transport::Tcp => {
                    event_loop::run(shared, poller, waker, workload, indices, &mut rec)
                }
                Transport::Udp => {
                    let session = |index| CustomUdpSession::new(shared, index, workload);
                    udp_loop::run(shared, poller, waker, indices, &mut rec, session)
                }
            }
        }
    };
    if let Err(e) = result {
        // epoll_wait failing is a bug (EBADF, EINVAL): stop the run, keep what was measured.
        log::error!("client loop {worker}: {e}");
        shared.stop();
    }
    rec.finish();
    rec
}
