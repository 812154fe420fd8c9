//! Wire formats of wirebench, sans-IO: no sockets, no clock.
//!
//! Everything here turns bytes into typed values and back, so the same code is used by
//! the servers, the load generator, the tests and the benches, and the "sticky packet"
//! behaviour of the framed protocol can be tested without a network.
//!
//! # Layout
//!
//! From the top; a module uses only those below it.
//!
//! - [`command`]: the command set as an enum, parsed once from a request header or from a
//!   raw (unframed) command line.
//! - [`header`]: the JSON request and response headers carried by each frame.
//! - [`codec`]: the length-prefixed framed codec: [`codec::Decoder`] takes arbitrary byte
//!   chunks and yields whole [`codec::Frame`]s (`Ok(None)` means "need more bytes");
//!   [`codec::encode_frame`] / [`codec::encode_header`] write them.
//! - [`limits`]: `max_header` / `max_body`, checked before any allocation.
//! - [`error`] (leaf): [`DecodeError`] and [`EncodeError`], shared by the codec and the
//!   limits.
//! - [`write_mode`] (leaf): [`WriteMode`], how a frame goes onto the socket (one
//!   vectored write or three), the pattern both ends choose.
//! - [`probe`] (leaf): the 16-byte UDP probe header (sequence number and send timestamp).
//! - [`units`] (leaf): byte sizes (`64B`, `16KiB`) and durations (`250ms`, `10s`) that
//!   parse and print the same way in every flag and report.
//!
//! # Features
//!
//! `cli` (off by default): `clap::ValueEnum` on [`WriteMode`], for a command line that
//! takes it as a flag value. Nothing else here knows clap.
//!
//! The normative description of the wire formats is `docs/protocols.md` in the repository.
#![forbid(unsafe_code)]

pub mod codec;
pub mod command;
pub mod error;
pub mod header;
pub mod limits;
pub mod probe;
pub mod units;
pub mod write_mode;

pub use codec::{Decoder, Frame, FrameHeader, encode_frame, encode_header};
pub use command::{Command, CommandError, RawRequest};
pub use error::{DecodeError, EncodeError};
pub use header::{CommandName, RequestHeader, ResponseHeader, Status};
pub use limits::Limits;
pub use probe::{PROBE_LEN, ProbeError, ProbeHeader};
pub use units::{ByteSize, HumanDuration, UnitError};
pub use write_mode::WriteMode;
