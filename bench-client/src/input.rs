//! Every file the tool reads (reports, `summary.json`, `overhead.json`) comes in through
//! [`read_capped`]: at most [`max_input`] bytes are read, so `/dev/zero` or a runaway file
//! is a one-line error, not a process that grows until it is killed. A leaf: it knows
//! bytes, not what they mean (`report` validates them).

use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The default cap on one input file: 64 MiB, far above any report this tool writes (an
/// hour-long run's report with a histogram per second is a few MiB).
pub const DEFAULT_MAX_INPUT: u64 = 64 << 20;

/// The environment variable that overrides [`DEFAULT_MAX_INPUT`] (a size: `256MiB`);
/// the binary's `--max-input` flag overrides both.
pub const MAX_INPUT_ENV: &str = "WIREBENCH_MAX_INPUT";

/// 0 = not set: the default applies.
static MAX_INPUT: AtomicU64 = AtomicU64::new(0);

/// Sets the cap for every later read in this process (the binary calls it once, from
/// `--max-input` or [`MAX_INPUT_ENV`]).
pub fn set_max_input(bytes: u64) {
    MAX_INPUT.store(bytes.max(1), Ordering::Relaxed);
}

/// The cap in force, in bytes.
pub fn max_input() -> u64 {
    match MAX_INPUT.load(Ordering::Relaxed) {
        0 => DEFAULT_MAX_INPUT,
        n => n,
    }
}

/// Why an input could not be read. The OS error is in the message once (no `source()`
/// chain, so `{:#}` does not repeat it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The OS refused to open or read it.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        cause: io::Error,
    },
    /// It is longer than the cap.
    #[error(
        "{path}: larger than the input limit of {limit} (raise it with --max-input or \
         {MAX_INPUT_ENV})"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap in force.
        limit: bench_proto::ByteSize,
    },
}

/// Reads a whole file, refusing one longer than [`max_input`]: it reads at most one byte
/// past the cap, so memory stays bounded whatever the file is (`/dev/zero`, a FIFO).
pub fn read_capped(path: &Path) -> Result<Vec<u8>, InputError> {
    let cap = max_input();
    let io_err = |cause| InputError::Io {
        path: path.to_owned(),
        cause,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let hint = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map_or(0, |m| m.len().min(cap) as usize);
    let mut bytes = Vec::with_capacity(hint.saturating_add(1));
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > cap {
        return Err(InputError::TooLarge {
            path: path.to_owned(),
            limit: bench_proto::ByteSize(cap),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_zero_stops_at_the_cap() {
        // The default cap, so the test does not race other tests that read files.
        let e = read_capped(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, InputError::TooLarge { limit, .. } if limit.0 == max_input()));
        let text = e.to_string();
        assert!(
            text.starts_with("/dev/zero: larger than the input limit of 64MiB"),
            "{text}"
        );
        assert!(text.contains(MAX_INPUT_ENV), "{text}");
    }

    #[test]
    fn a_missing_file_names_the_path_and_the_cause_once() {
        let e = read_capped(Path::new("/nonexistent/r.json")).unwrap_err();
        let text = e.to_string();
        assert_eq!(text.matches("No such file").count(), 1, "{text}");
        assert!(std::error::Error::source(&e).is_none());
    }
}
