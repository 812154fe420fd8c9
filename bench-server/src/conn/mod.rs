//! What every connection driver shares, whichever model schedules it (`async`,
//! `threads`, `iterative`, `per-core`): how a failed connection is counted and logged
//! (`fail`: `info` for the everyday endings, a rate-limited `warn` otherwise, the
//! peer's text clipped), how an I/O error becomes a [`crate::session::Failure`], and
//! the [`ConnGuard`] an admitted connection holds while it lives.
//!
//! It must not know any protocol (that is `crate::session`) nor move bytes or time
//! (the drivers in `crate::server` do); it uses only the counters, the runtime's
//! tracker and `session`'s `Failure` and `quote`.

mod fail;
mod guard;

pub(crate) use fail::{fail, fail_session, io_failure, warn_io};
pub(crate) use guard::ConnGuard;
