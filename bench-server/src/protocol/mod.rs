//! The protocols' helpers below the sessions, and udp-echo:
//!
//! - `command`: running one framed (or raw) command into its reply, the reused
//!   buffers and the share of the memory budget; used by `crate::session::framed`.
//! - `exec`: the `exec` command's shell, process group and timeout ([`exec::run`], a
//!   future every driver runs: beside the connection, on a helper thread, or on the
//!   connection's own thread raced against the grace cut).
//! - `udp_echo`: one datagram in, the same datagram back, on the shared socket (the
//!   `async`, `threads` and `iterative` models' receive loop).
//!
//! The wire formats are `bench_proto`'s (sans-IO); the TCP protocols themselves are
//! `crate::session`'s state machines. This wing must not accept, schedule or stop
//! connections (that is `crate::server`) nor touch a TCP socket (udp-echo gets its
//! socket from the server driver).

pub(crate) mod command;
pub(crate) mod exec;
pub(crate) mod udp_echo;
