//! Reading and writing run reports: one door in ([`Report::read`]: the input cap, this
//! schema only, then the rules of `check`) and one out ([`Report::write`], by the output
//! rules), so every command refuses the same files with the same message.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::input::InputError;

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

/// Reads a folder summary (`summary.json`, `overhead.json`): at most the input cap, then
/// JSON of `T` (`not_json` names that failure), then `schema_of(&T)` must be `expected`.
pub(super) fn read_summary_file<T: DeserializeOwned>(
    path: PathBuf,
    unreadable: impl FnOnce(InputError) -> ReportError,
    not_json: impl FnOnce(PathBuf, serde_json::Error) -> ReportError,
    schema_of: impl FnOnce(&T) -> &str,
    expected: &'static str,
) -> Result<T, ReportError> {
    let bytes = crate::input::read_capped(&path).map_err(unreadable)?;
    let summary: T = match serde_json::from_slice(&bytes) {
        Ok(summary) => summary,
        Err(cause) => return Err(not_json(path, cause)),
    };
    let found = schema_of(&summary);
    if found != expected {
        return Err(ReportError::OtherSchema {
            found: found.to_owned(),
            path,
            expected,
        });
    }
    Ok(summary)
}
