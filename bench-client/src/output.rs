//! Every file the tool writes, and stdout, go through here, and the time stamps they
//! carry (a leaf: it knows paths, bytes and the calendar, not reports). The rules,
//! documented in `docs/output.md`:
//!
//! - `-` is stdout, for every output flag.
//! - A symlink is written through: its target is replaced atomically, the link stays.
//! - A regular file (or a new one) is replaced atomically: a temporary file in the same
//!   folder, then a rename, so a reader never sees half a file. An existing file keeps
//!   its permissions.
//! - A regular file without any write bit is refused (EACCES), not replaced.
//! - A FIFO, a device or any other non-regular file is opened and written directly, never
//!   renamed over or replaced (`/dev/null` stays `/dev/null`).
//! - A missing folder is an error naming it; only [`unique_dir`] and [`create_dir`]
//!   (the `--out-dir` folders) create folders.
//! - New names are taken with `O_EXCL` ([`reserve_unique`], [`unique_dir`]): two runs in
//!   the same second get `name` and `name-2`, never the same file.
//! - A broken pipe on stdout ends the output quietly ([`stdout_closed`] tells), like
//!   `head` expects; other write errors are errors.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many symlinks a path may go through (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// How many `-2`, `-3`, ... names [`reserve_unique`] and [`unique_dir`] try.
const MAX_SUFFIX: u32 = 10_000;

/// Why an output could not be written. Each message names the path and carries the OS
/// error once (no `source()` chain, so `{:#}` does not repeat it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The OS refused an operation on the path.
    #[error("{path}: {cause}")]
    Io {
        /// The path as given.
        path: PathBuf,
        /// What the OS said.
        cause: io::Error,
    },
    /// The folder the file would go into does not exist (it is not created).
    #[error("{path}: the folder {folder} does not exist (create it first)")]
    MissingFolder {
        /// The path as given.
        path: PathBuf,
        /// The missing folder.
        folder: PathBuf,
    },
    /// The path is a folder, where a file is needed.
    #[error("{path}: is a folder")]
    IsFolder {
        /// The path as given.
        path: PathBuf,
    },
    /// Writing to stdout failed (other than a closed pipe).
    #[error("stdout: {cause}")]
    Stdout {
        /// What the OS said.
        cause: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |cause| OutputError::Io {
        path: path.to_owned(),
        cause,
    }
}

/// True for `-`, the name of stdout.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Writes `bytes` to `path` by the rules above: stdout, through a symlink, directly into a
/// FIFO or device, or atomically replacing a regular file.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    if is_stdout(path) {
        return write_stdout(bytes);
    }
    let target = resolve(path).map_err(io_err(path))?;
    match fs::metadata(&target) {
        Ok(meta) if meta.is_dir() => Err(OutputError::IsFolder {
            path: path.to_owned(),
        }),
        Ok(meta) if !meta.is_file() => write_direct(path, &target, bytes),
        Ok(meta) if meta.permissions().readonly() => Err(read_only(path)),
        Ok(meta) => replace(path, &target, bytes, Some(meta.permissions())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            existing_folder(path, &target)?;
            replace(path, &target, bytes, None)
        }
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Checks, before a long run, that [`write()`] will be able to write `path`: the folder
/// exists and takes a new file (a probe, removed at once), or the path is stdout or a
/// non-regular file (a FIFO is not opened here: that would wait for its reader).
pub fn check_writable(path: &Path) -> Result<(), OutputError> {
    if is_stdout(path) {
        return Ok(());
    }
    let target = resolve(path).map_err(io_err(path))?;
    match fs::metadata(&target) {
        Ok(meta) if meta.is_dir() => {
            return Err(OutputError::IsFolder {
                path: path.to_owned(),
            });
        }
        Ok(meta) if !meta.is_file() => return Ok(()),
        Ok(meta) if meta.permissions().readonly() => return Err(read_only(path)),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => existing_folder(path, &target)?,
        Err(e) => return Err(io_err(path)(e)),
    }
    let (probe, file) = temp_beside(&target).map_err(io_err(path))?;
    drop(file);
    let _ = fs::remove_file(probe);
    Ok(())
}

/// Follows a chain of symlinks to the path that is really written (which may not exist
/// yet: a dangling link is written through to create its target).
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut at = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let next = fs::read_link(&at)?;
                at = match at.parent() {
                    Some(dir) if next.is_relative() => dir.join(next),
                    _ => next,
                };
            }
            _ => return Ok(at),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// A file with no write bit is not replaced behind its owner's back (a rename would
/// succeed, as the folder is writable): EACCES, as `>` gives.
fn read_only(path: &Path) -> OutputError {
    OutputError::Io {
        path: path.to_owned(),
        cause: io::Error::from_raw_os_error(13),
    }
}

/// The folder `target` goes into must exist: it is not created behind the user's back.
fn existing_folder(path: &Path, target: &Path) -> Result<(), OutputError> {
    match target.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.exists() => Err(OutputError::MissingFolder {
            path: path.to_owned(),
            folder: dir.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// A FIFO, device or socket: opened for writing as it is, never replaced.
fn write_direct(path: &Path, target: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(target)
        .map_err(io_err(path))?;
    file.write_all(bytes)
        .and_then(|()| file.flush())
        .map_err(io_err(path))
}

/// A regular file: a temporary file beside it, then a rename over it.
fn replace(
    path: &Path,
    target: &Path,
    bytes: &[u8],
    keep: Option<fs::Permissions>,
) -> Result<(), OutputError> {
    let (tmp, mut file) = temp_beside(target).map_err(io_err(path))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.flush())
        .and_then(|()| keep.map_or(Ok(()), |p| file.set_permissions(p)));
    drop(file);
    let done = written.and_then(|()| fs::rename(&tmp, target));
    if done.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    done.map_err(io_err(path))
}

/// A new, uniquely named hidden file in `target`'s folder (`O_EXCL`).
fn temp_beside(target: &Path) -> io::Result<(PathBuf, fs::File)> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy());
    loop {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `stem.ext`, or `stem-2.ext`, `stem-3.ext`, ... when taken: `n` is the attempt, from 1.
fn numbered(stem: &str, n: u32, ext: &str) -> String {
    match (n, ext) {
        (1, "") => stem.to_owned(),
        (1, ext) => format!("{stem}.{ext}"),
        (n, "") => format!("{stem}-{n}"),
        (n, ext) => format!("{stem}-{n}.{ext}"),
    }
}

/// Takes the first free name of `dir/stem.ext`, `dir/stem-2.ext`, ... by creating it
/// empty with `O_EXCL`, so two processes never get the same name; the caller then
/// [`write()`]s over it (or removes it if it has nothing to write). `dir` must exist.
pub fn reserve_unique(dir: &Path, stem: &str, ext: &str) -> Result<PathBuf, OutputError> {
    for n in 1..=MAX_SUFFIX {
        let path = dir.join(numbered(stem, n, ext));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(OutputError::MissingFolder {
                    path,
                    folder: dir.to_owned(),
                });
            }
            Err(cause) => return Err(OutputError::Io { path, cause }),
        }
    }
    Err(OutputError::Io {
        path: dir.join(numbered(stem, MAX_SUFFIX, ext)),
        cause: io::Error::other("no free name left"),
    })
}

/// Creates `dir` and its parents (the `--out-dir` folders are made on demand, as
/// documented); a path that exists as a file is an error.
pub fn create_dir(dir: &Path) -> Result<(), OutputError> {
    if is_stdout(dir) {
        return Err(OutputError::Io {
            path: dir.to_owned(),
            cause: io::Error::other("a folder is needed here, `-` (stdout) is not one"),
        });
    }
    fs::create_dir_all(dir).map_err(io_err(dir))
}

/// Creates and returns `base/stamp`, or `base/stamp-2`, ... when that exists already
/// (created here with `mkdir`, which fails on an existing name, so two runs started in
/// the same second never share a folder). `base` is created if missing.
pub fn unique_dir(base: &Path, stamp: &str) -> Result<PathBuf, OutputError> {
    create_dir(base)?;
    for n in 1..=MAX_SUFFIX {
        let dir = base.join(numbered(stamp, n, ""));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(cause) => return Err(OutputError::Io { path: dir, cause }),
        }
    }
    Err(OutputError::Io {
        path: base.join(numbered(stamp, MAX_SUFFIX, "")),
        cause: io::Error::other("no free name left"),
    })
}

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `bytes` to stdout and flushes. When the reader has gone (a broken pipe, as
/// after `| head -1`) the output ends quietly: this and later writes return `Ok` and
/// write nothing, and [`stdout_closed`] turns true. Other errors (`ENOSPC` on
/// `> /dev/full`) are errors.
pub fn write_stdout(bytes: &[u8]) -> Result<(), OutputError> {
    if stdout_closed() {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(cause) => Err(OutputError::Stdout { cause }),
    }
}

/// True once stdout's reader has gone.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

// Time stamps: in reports (`started_at`) and in folder names.
/// `2026-11-25T13:45:07.123Z`.
pub fn rfc3339(at: SystemTime) -> String {
    let (date, secs, millis) = civil(at);
    format!(
        "{date}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `2026-11-25T13-45-07Z`: a time stamp that is a valid file name everywhere.
pub fn file_stamp(at: SystemTime) -> String {
    let (date, secs, _) = civil(at);
    format!(
        "{date}T{:02}-{:02}-{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// (`YYYY-MM-DD`, seconds into the day, milliseconds), UTC.
fn civil(at: SystemTime) -> (String, u64, u32) {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let days = (since.as_secs() / 86_400) as i64;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        since.as_secs() % 86_400,
        since.subsec_millis(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("wirebench-output-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = UNIX_EPOCH + Duration::from_millis(1_795_613_107_123);
        assert_eq!(rfc3339(at), "2026-11-25T13:25:07.123Z");
        assert_eq!(file_stamp(UNIX_EPOCH), "1970-01-01T00-00-00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn reserved_names_in_the_same_second_never_collide() {
        let dir = temp("reserve");
        let stem = "2026-12-01T20-00-00Z-tcp-echo";
        let first = reserve_unique(&dir, stem, "json").unwrap();
        let second = reserve_unique(&dir, stem, "json").unwrap();
        let third = reserve_unique(&dir, stem, "json").unwrap();
        assert_eq!(first, dir.join(format!("{stem}.json")));
        assert_eq!(second, dir.join(format!("{stem}-2.json")));
        assert_eq!(third, dir.join(format!("{stem}-3.json")));
        write(&first, b"one").unwrap();
        write(&second, b"two").unwrap();
        assert_eq!(fs::read(&first).unwrap(), b"one");
        assert_eq!(fs::read(&second).unwrap(), b"two");
    }

    #[test]
    fn unique_folders_take_the_next_suffix() {
        let base = temp("dirs");
        let a = unique_dir(&base, "stamp").unwrap();
        let b = unique_dir(&base, "stamp").unwrap();
        assert_eq!(a, base.join("stamp"));
        assert_eq!(b, base.join("stamp-2"));
        assert!(a.is_dir() && b.is_dir());
    }

    #[test]
    fn a_missing_folder_is_named_not_created() {
        let dir = temp("missing");
        let path = dir.join("no/such/r.json");
        let e = write(&path, b"x").unwrap_err();
        assert!(matches!(e, OutputError::MissingFolder { .. }), "{e}");
        assert!(e.to_string().contains("no/such"), "{e}");
        assert!(!dir.join("no").exists());
        assert!(check_writable(&path).is_err());
    }

    #[test]
    fn replacing_a_file_leaves_no_temporary_and_keeps_the_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = temp("replace");
        let path = dir.join("r.json");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        check_writable(&path).unwrap();
        write(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(names, vec![path]);
    }

    #[test]
    fn a_read_only_file_is_not_replaced() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = temp("readonly");
        let path = dir.join("r.json");
        fs::write(&path, b"keep").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
        let e = write(&path, b"new").unwrap_err();
        assert!(e.to_string().contains("Permission denied"), "{e}");
        assert!(check_writable(&path).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"keep");
    }

    #[test]
    fn a_folder_is_not_a_file() {
        let dir = temp("isdir");
        assert!(matches!(
            write(&dir, b"x"),
            Err(OutputError::IsFolder { .. })
        ));
        assert!(matches!(
            create_dir(Path::new("-")),
            Err(OutputError::Io { .. })
        ));
    }
}
