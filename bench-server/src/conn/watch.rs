//! [`Watch`]: what may interrupt a connection's reads and writes (no progress for the
//! idle timeout, the start of shutdown, a frame deadline), watched with two lazily
//! re-armed timers and one stop future, so a read costs no allocation and no timer
//! syscall. Reading and writing are [`super::Conn`]'s business.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use smol::Timer;
use smol::future::{self, FutureExt as _};

use crate::runtime::StopSignal;

/// What interrupted a read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// No progress for `idle_timeout`.
    Idle,
    /// The server started shutting down (reported once).
    Stop,
    /// The frame under way was not completed within the frame timeout.
    SlowFrame,
}

/// Watches for idleness and shutdown without allocating per read: one timer, re-armed
/// only when it fires, and one stop future polled across reads.
pub(super) struct Watch {
    idle: Option<Duration>,
    last_progress: Instant,
    timer: Timer,
    /// `None` once shutdown has begun (whoever noticed it first).
    pub(super) stop: Option<StopSignal>,
    /// The frame deadline: when the frame under way must be complete, if one is.
    pub(super) frame_due: Option<Instant>,
    /// Armed at most once per deadline in the future, re-armed lazily when it fires (like
    /// the idle timer), so a new frame's deadline costs no timer operation.
    frame_timer: Timer,
    frame_armed: bool,
}

impl Watch {
    pub(super) fn new(idle: Option<Duration>, stop: StopSignal) -> Self {
        let now = Instant::now();
        Watch {
            idle,
            last_progress: now,
            timer: idle.map_or_else(Timer::never, |d| Timer::at(now + d)),
            stop: Some(stop),
            frame_due: None,
            frame_timer: Timer::never(),
            frame_armed: false,
        }
    }

    pub(super) fn set_frame_due(&mut self, due: Option<Instant>) {
        self.frame_due = due;
        if let Some(due) = due
            && !self.frame_armed
        {
            self.frame_timer.set_at(due);
            self.frame_armed = true;
        }
    }

    /// Whether the frame deadline has passed (polled only while one may be armed).
    fn poll_frame(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        while self.frame_armed && Pin::new(&mut self.frame_timer).poll(cx).is_ready() {
            match self.frame_due {
                None => self.frame_armed = false,
                Some(due) if Instant::now() >= due => {
                    self.frame_armed = false;
                    self.frame_due = None;
                    return true;
                }
                Some(due) => self.frame_timer.set_at(due),
            }
        }
        false
    }

    pub(super) fn progress(&mut self) {
        if self.idle.is_some() {
            self.last_progress = Instant::now();
        }
    }

    /// Completes with the next interruption. `Stop` is reported once; after it only
    /// idleness (and, with `frames`, the frame deadline) can interrupt (and
    /// [`super::Conn::stopping`] stays true).
    pub(super) async fn interrupted(&mut self, frames: bool) -> Interrupt {
        future::poll_fn(|cx| {
            if let Some(stop) = self.stop.as_mut()
                && stop.as_mut().poll(cx).is_ready()
            {
                self.stop = None;
                return Poll::Ready(Interrupt::Stop);
            }
            if frames && self.poll_frame(cx) {
                return Poll::Ready(Interrupt::SlowFrame);
            }
            while Pin::new(&mut self.timer).poll(cx).is_ready() {
                let deadline = self.last_progress + self.idle.expect("timer armed only with idle");
                if Instant::now() >= deadline {
                    return Poll::Ready(Interrupt::Idle);
                }
                self.timer.set_at(deadline);
            }
            Poll::Pending
        })
        .await
    }
}

/// Runs `io` until it completes or the connection has made no progress for the idle
/// timeout (shutdown is ignored: a started write is finished).
pub(super) async fn until_idle<T>(
    watch: &mut Watch,
    io: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    io.or(async {
        while watch.interrupted(false).await != Interrupt::Idle {}
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "peer made no progress for the idle timeout",
        ))
    })
    .await
}
