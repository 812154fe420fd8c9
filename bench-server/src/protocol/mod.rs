//! The protocols a server endpoint speaks, one file each: tcp-echo, udp-echo and the
//! framed command protocol with its commands (and `exec`).

pub(crate) mod command;
pub(crate) mod echo;
pub(crate) mod exec;
pub(crate) mod framed;
pub(crate) mod udp_echo;
