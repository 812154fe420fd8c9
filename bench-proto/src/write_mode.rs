//! [`WriteMode`]: how a framed message goes onto the socket, a wire-level pattern both
//! ends use (the server for responses, the load generator for requests). Which bytes go
//! in each write is the writer's business; this module only names the patterns.

use serde::{Deserialize, Serialize};

/// How a framed message (prefix, JSON header, body) is handed to the socket.
///
/// ```
/// use bench_proto::WriteMode;
/// assert_eq!(WriteMode::default(), WriteMode::Coalesced);
/// assert_eq!(WriteMode::Split.as_str(), "split");
/// assert_eq!(serde_json::to_string(&WriteMode::Split).unwrap(), r#""split""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Prefix, header and body in one vectored write.
    #[default]
    Coalesced,
    /// Prefix, header and body as three writes: the pattern Nagle's algorithm delays.
    Split,
}

impl WriteMode {
    /// The flag value and report name: `coalesced` or `split`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Coalesced => "coalesced",
            WriteMode::Split => "split",
        }
    }
}
