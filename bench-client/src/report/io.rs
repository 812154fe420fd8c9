//! Reading and writing run reports: one door in ([`Report::read`]: the input cap, this
//! schema only, then the rules of `check`) and one out ([`Report::write`], by the output
//! rules), so every command refuses the same files with the same message.

use std::path::Path;

use serde::Deserialize;

use super::check;
use super::run::{Report, ReportError, SCHEMA};

impl Report {
    /// Writes the report as pretty JSON by the output rules of [`crate::output::write`]
    /// (atomic for a file, so a reader never sees half a report; `-` is stdout).
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        let json = serde_json::to_vec_pretty(self).expect("reports serialise");
        write_atomic(path, &json)
    }

    /// Reads and validates a report: at most [`crate::input::max_input`] bytes, this
    /// schema only, every required field, and the rules of [`Report::from_slice`].
    pub fn read(path: &Path) -> Result<Report, ReportError> {
        let bytes = crate::input::read_capped(path)?;
        Report::from_slice(path, &bytes)
    }

    /// Parses and validates a report read from `path`: the schema first (so another
    /// version is named as such), then every field, then the rules (percentiles ordered,
    /// histograms that decode and hold `count` values, totals that add up).
    pub fn from_slice(path: &Path, bytes: &[u8]) -> Result<Report, ReportError> {
        #[derive(Deserialize)]
        struct Head {
            schema: Option<serde_json::Value>,
        }
        let json = |cause| ReportError::Json {
            path: path.to_owned(),
            cause,
        };
        let head: Head = serde_json::from_slice(bytes).map_err(json)?;
        let found = head.schema.as_ref().and_then(|s| s.as_str()).unwrap_or("");
        if found != SCHEMA {
            return Err(ReportError::Schema {
                path: path.to_owned(),
                found: found.to_owned(),
            });
        }
        let report: Report = serde_json::from_slice(bytes).map_err(json)?;
        check::validate(&report).map_err(|what| ReportError::Invalid {
            path: path.to_owned(),
            what,
        })?;
        Ok(report)
    }
}

/// Writes `bytes` to `path` by the output rules ([`crate::output::write`]): atomically
/// for a file, through a symlink, directly into a FIFO or device, `-` for stdout. The
/// folder must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    Ok(crate::output::write(path, bytes)?)
}
