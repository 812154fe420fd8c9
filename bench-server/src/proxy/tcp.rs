//! The TCP relay: the accept loop (with the descriptor budget), one upstream connection
//! per client connection (connected within `connect_timeout`, or the client is closed
//! and the failure counted), and the choice of strategy (`copy` with a shaping plan
//! for each direction that has TCP shaping impairments on). Both strategies (`copy`,
//! `splice`) propagate half-close: when one side shuts down its write half, the relay
//! forwards every byte it read and then shuts down its write half towards the other
//! side; the connection ends when both directions have ended.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use smol::future::FutureExt as _;
use smol::{Async, Timer};
use socket2::SockRef;

use super::config::Strategy;
use super::ctx::Ctx;
use super::fds::FdBudget;
use super::impair::Applied;
use super::shaped::shaper_for;
use super::stats::{ProxyErrorKind, ProxyStats};
use super::stream::{ResetAfter, is_reset_on_purpose};
use crate::runtime::{ACCEPT_BACKOFF, Tracker};
use crate::stats::limiter::suppressed_note;

/// Accepts client connections until shutdown; each gets its own task.
pub(super) async fn accept_loop(listener: Async<TcpListener>, ctx: Arc<Ctx>, tracker: Tracker) {
    let fds = FdBudget::for_config(&ctx.config);
    let mut turns = 0u64;
    // Numbers the connections, so each one's shaping dice have their own seed.
    let mut serial = 0u64;
    while ctx.keep_going(&mut turns).await {
        let accepted = ctx.runtime.or_stopped(listener.accept()).await;
        match accepted {
            None => return,
            // Connections are opened only here, so the count cannot grow between the
            // check and the open.
            Some(Ok((client, peer))) if !fds.admits(ctx.stats.active()) => {
                ctx.stats.error(ProxyErrorKind::Descriptors);
                if let Some(held) = ctx.warnings.allow(std::time::Instant::now()) {
                    log::warn!(
                        "proxy-tcp {peer}: refused: {} connections open use {} of the {} descriptors available ({} each with {}){}",
                        ctx.stats.active(),
                        ctx.stats.active() * fds.cost(),
                        fds.available(),
                        fds.cost(),
                        ctx.config.strategy.as_str(),
                        suppressed_note(held)
                    );
                }
                drop(client);
            }
            Some(Ok((client, peer))) => {
                ctx.stats.connection_opened();
                let guard = ConnGuard {
                    stats: Arc::clone(&ctx.stats),
                    _tracker: tracker.clone(),
                };
                let task_ctx = Arc::clone(&ctx);
                serial += 1;
                ctx.runtime.spawn(async move {
                    let _guard = guard;
                    serve(client, (peer, serial), &task_ctx).await;
                });
            }
            Some(Err(e)) => {
                // EMFILE and friends: count, log, and back off instead of spinning.
                ctx.stats.error(ProxyErrorKind::Io);
                if let Some(held) = ctx.warnings.allow(std::time::Instant::now()) {
                    let note = suppressed_note(held);
                    log::warn!("proxy-tcp {}: accept failed: {e}{note}", ctx.stats.addr());
                }
                Timer::after(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Decrements the active count and releases the shutdown tracker when a connection
/// ends, however it ends (including when its task is dropped).
struct ConnGuard {
    stats: Arc<ProxyStats>,
    _tracker: Tracker,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.stats.connection_closed();
    }
}

/// Relays client connection number `serial` until both directions end, an error ends
/// it, or the grace period after shutdown runs out.
async fn serve(client: Async<TcpStream>, (peer, serial): (SocketAddr, u64), ctx: &Ctx) {
    let relay = async {
        match relay(client, (peer, serial), ctx).await {
            Ok(()) => {}
            Err((kind, e)) => {
                ctx.stats.error(kind);
                match kind {
                    ProxyErrorKind::Reset => log::info!("proxy-tcp {peer}: {}: {e}", kind.as_str()),
                    // One line per second when every client fails alike.
                    _ => {
                        if let Some(held) = ctx.warnings.allow(std::time::Instant::now()) {
                            let note = suppressed_note(held);
                            log::warn!("proxy-tcp {peer}: {}: {e}{note}", kind.as_str());
                        }
                    }
                }
            }
        }
    };
    let cut = async {
        ctx.stopped().await;
        Timer::after(ctx.config.grace).await;
        ctx.stats.error(ProxyErrorKind::ShutdownCut);
    };
    relay.or(cut).await;
}

async fn relay(
    client: Async<TcpStream>,
    (peer, serial): (SocketAddr, u64),
    ctx: &Ctx,
) -> Result<(), (ProxyErrorKind, io::Error)> {
    let config = &ctx.config;
    let upstream = connect_upstream(config.upstream, config.connect_timeout)
        .await
        .map_err(|e| {
            let e = io::Error::new(e.kind(), format!("connecting to {}: {e}", config.upstream));
            (ProxyErrorKind::UpstreamConnect, e)
        })?;
    set_nodelay(&client, config.nodelay_front)
        .and_then(|()| set_nodelay(&upstream, config.nodelay_back))
        .map_err(|e| (ProxyErrorKind::Io, e))?;
    log::debug!("proxy-tcp {peer}: relaying to {}", config.upstream);
    let reset = [
        ResetAfter::new(config.impair.up.reset_after),
        ResetAfter::new(config.impair.down.reset_after),
    ];
    let (buffer, stats) = (config.buffer, &*ctx.stats);
    let relayed = match config.strategy {
        Strategy::Copy => {
            // The config check keeps the shaping impairments to `copy`.
            let shapers = [false, true].map(|down| shaper_for(config, serial, down));
            super::copy::relay(&client, &upstream, buffer, stats, (reset, shapers)).await
        }
        #[cfg(target_os = "linux")]
        Strategy::Splice => super::splice::relay(&client, &upstream, buffer, stats, reset).await,
        #[cfg(not(target_os = "linux"))]
        Strategy::Splice => unreachable!("validate refuses splice off Linux"),
    };
    match relayed {
        Err(e) if is_reset_on_purpose(&e) => {
            reset_both(&client, &upstream, peer);
            ctx.stats.impaired(Applied::Reset);
            Ok(())
        }
        other => other.map_err(|e| (ProxyErrorKind::from_io(&e), e)),
    }
}

/// SO_LINGER 0 on both legs: closing them (when the caller drops them) sends RST.
fn reset_both(client: &Async<TcpStream>, upstream: &Async<TcpStream>, peer: SocketAddr) {
    for socket in [client, upstream] {
        if let Err(e) = SockRef::from(socket.get_ref()).set_linger(Some(Duration::ZERO)) {
            log::info!("proxy-tcp {peer}: setting SO_LINGER for a reset: {e}");
        }
    }
}

/// Connects to `upstream`, giving up after `timeout`.
async fn connect_upstream(upstream: SocketAddr, timeout: Duration) -> io::Result<Async<TcpStream>> {
    Async::<TcpStream>::connect(upstream)
        .or(async {
            Timer::after(timeout).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {}", bench_proto::HumanDuration(timeout)),
            ))
        })
        .await
}

fn set_nodelay(stream: &Async<TcpStream>, on: bool) -> io::Result<()> {
    SockRef::from(stream.get_ref()).set_tcp_nodelay(on)
}
