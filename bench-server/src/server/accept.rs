//! The `async` model's accept loop (and the `per-core` model's where the per-core
//! engine is not built): every accepted connection is admitted (see `admit`) and
//! served by a task on the shared runtime, its session driven by `drive_async`; a
//! handler that panics is counted as `io`. The `threads` and
//! `iterative` models accept on threads of their own (`blocking`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use smol::{Async, Timer};

use super::admit::{NotAdmitted, Shared, admit, spawn_refusal};
use super::drive_async::drive;
use super::serve::{AnySession, ConnCtx};
use crate::conn::{ConnGuard, warn_io};
use crate::runtime::{ACCEPT_BACKOFF, Tracker};
use crate::stats::Stats;

/// Accepts on `listener` until the stop, spawning a task per admitted connection.
pub(super) async fn accept_loop(
    listener: Async<TcpListener>,
    stats: Arc<Stats>,
    shared: Arc<Shared>,
    tracker: Tracker,
) {
    let mut turns = 0u64;
    while shared.runtime.keep_going(&mut turns).await {
        let accepted = shared.runtime.or_stopped(listener.accept()).await;
        match accepted {
            None => return,
            Some(Ok((stream, peer))) => {
                match admit(stream.get_ref(), peer, &stats, &shared, &tracker) {
                    Ok(guard) => {
                        let task = serve(stream, peer, guard, Arc::clone(&shared));
                        shared.runtime.spawn(task);
                    }
                    Err(NotAdmitted::Refused { open }) => {
                        spawn_refusal(stream, stats.proto(), open, &shared, &tracker);
                    }
                    Err(NotAdmitted::Failed) => {}
                }
            }
            Some(Err(e)) => {
                // EMFILE and friends: count, log, and back off instead of spinning.
                warn_io(&stats, &"accept failed", &e);
                Timer::after(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Serves one admitted connection with its protocol's session; a panic is counted.
async fn serve(stream: Async<TcpStream>, peer: SocketAddr, guard: ConnGuard, shared: Arc<Shared>) {
    let stats = Arc::clone(guard.stats());
    let ctx = ConnCtx {
        stats: &stats,
        peer,
        shared: &shared,
    };
    ctx.unless_panics_async(async {
        match ctx.session(&stats, Instant::now()) {
            AnySession::Echo(session) => drive(stream, session, &ctx).await,
            AnySession::Framed(session) => drive(stream, session, &ctx).await,
        }
    })
    .await;
    drop(guard);
}
