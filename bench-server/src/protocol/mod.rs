//! The protocols an endpoint speaks, one file each: what a connection (or a datagram)
//! says and what it gets back.
//!
//! - `udp_echo`: one datagram in, the same datagram back, on the shared socket.
//! - `framed`: the framed command protocol (and the raw one-line-per-read mode):
//!   reading requests, the frame deadline, the memory budget, writing replies.
//! - `command`: running one command, its reply, reused buffers and budget share.
//! - `exec`: the `exec` command's shell, process group and timeout.
//!
//! The wire formats are `bench_proto`'s (sans-IO); this wing drives them over a
//! [`crate::conn::Conn`]. It must not accept, schedule or stop connections (that is
//! `crate::server`) nor touch sockets other than through `Conn` (udp-echo gets its
//! socket from the server driver).

pub(crate) mod command;
pub(crate) mod exec;
pub(crate) mod framed;
pub(crate) mod udp_echo;
