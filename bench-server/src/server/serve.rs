//! What every session driver (`async`, `threads`, `iterative`) does around a
//! [`Session`] besides moving bytes and time: the connection's context ([`ConnCtx`]),
//! counting bytes and requests in the endpoint's counters, carrying out the actions
//! that need no waiting (`stats`, `shutdown(Write)`, a failure or a close, counted and
//! logged), making the session of an endpoint's protocol, and the cut at the end of
//! the grace period. How bytes move and how an `exec` runs is
//! each driver's own.

use std::future::Future;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use smol::future::FutureExt as _;
use socket2::SockRef;

use super::admit::Shared;
use crate::config::Proto;
use crate::conn::{fail, fail_session};
use crate::session::echo::EchoSession;
use crate::session::framed::FramedSession;
use crate::session::{Action, Session, StatsInfo};
use crate::socket::read_back;
use crate::stats::{ErrorKind, Stats};

/// One connection as a driver serves it: the endpoint's counters, the peer, the run.
pub(super) struct ConnCtx<'a> {
    pub(super) stats: &'a Stats,
    pub(super) peer: SocketAddr,
    pub(super) shared: &'a Shared,
}

/// What a driver does after [`ConnCtx::take_actions`].
pub(super) enum Next {
    /// Keep driving.
    Go,
    /// Run this `exec` (the driver's way), then [`Session::exec_done`].
    Exec {
        line: Vec<u8>,
        output: Vec<u8>,
        max_output: u64,
    },
    /// The connection is over (counted and logged already): drop it.
    Close,
}

/// The session of a connection to a TCP endpoint, by its protocol. An enum, not a
/// `dyn`: each driver is generic over [`Session`], and this picks the instance.
// Made and matched at once (the session moves into its driver), never stored: the
// size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum AnySession {
    Echo(EchoSession),
    Framed(FramedSession),
}

impl ConnCtx<'_> {
    /// A fresh session for this connection, accepted at `now`, in the endpoint's
    /// protocol.
    pub(super) fn session(&self, stats: &Arc<Stats>, now: Instant) -> AnySession {
        let config = &self.shared.config;
        match stats.proto() {
            Proto::TcpEcho => {
                AnySession::Echo(EchoSession::new(config.transform, config.idle_timeout, now))
            }
            Proto::Framed => AnySession::Framed(FramedSession::new(
                Arc::clone(config),
                Arc::clone(stats),
                self.peer,
                now,
            )),
            Proto::UdpEcho => unreachable!("UDP endpoints have no connections"),
        }
    }

    /// `n` bytes were read.
    pub(super) fn read(&self, n: usize) {
        self.stats.bytes_in.add(n);
    }

    /// `n` bytes were written.
    pub(super) fn wrote(&self, n: usize) {
        self.stats.bytes_out.add(n);
    }

    /// Adds the requests the session answered since the last call.
    pub(super) fn count_served(&self, session: &mut impl Session) {
        let served = session.take_served();
        if served > 0 {
            self.stats.requests.add(served as usize);
        }
    }

    /// Takes the session's actions and carries out those that need no waiting, until
    /// there are none or one is for the driver (an `exec`, the close).
    pub(super) fn take_actions(
        &self,
        session: &mut impl Session,
        stream: &TcpStream,
        now: Instant,
    ) -> Next {
        while let Some(action) = session.poll_action() {
            match action {
                Action::ShutdownWrite => {
                    // A peer that is gone already makes this fail; the close follows.
                    let _ = stream.shutdown(Shutdown::Write);
                }
                Action::Stats => {
                    let info = StatsInfo {
                        endpoint: self.stats.snapshot(),
                        socket: read_back(SockRef::from(stream), true).ok(),
                    };
                    session.stats_done(info, now);
                }
                Action::Exec {
                    line,
                    output,
                    max_output,
                } => {
                    return Next::Exec {
                        line,
                        output,
                        max_output,
                    };
                }
                Action::Fail(failure) => fail_session(self.stats, self.peer, &failure),
                Action::Close(failure) => {
                    if let Some(failure) = failure {
                        fail_session(self.stats, self.peer, &failure);
                    }
                    return Next::Close;
                }
            }
        }
        Next::Go
    }

    /// Runs `serve` (a blocking driver), counting a panic in it as `io`: a bug in one
    /// connection's handling ends that connection, not its thread's others or the run.
    pub(super) fn unless_panics(&self, serve: impl FnOnce()) {
        if std::panic::catch_unwind(AssertUnwindSafe(serve)).is_err() {
            self.panicked();
        }
    }

    /// [`ConnCtx::unless_panics`] for a driver's future.
    pub(super) async fn unless_panics_async(&self, serve: impl Future<Output = ()>) {
        if AssertUnwindSafe(serve).catch_unwind().await.is_err() {
            self.panicked();
        }
    }

    fn panicked(&self) {
        fail(
            self.stats,
            self.peer,
            ErrorKind::Io,
            &"connection handler panicked",
        );
    }

    /// The grace period is over and the session still open: a connection in the
    /// middle of a request is counted as cut.
    pub(super) fn cut(&self, session: &impl Session) {
        if !session.at_boundary() {
            self.stats.error(ErrorKind::ShutdownCut);
        }
    }
}
