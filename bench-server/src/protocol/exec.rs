//! The `exec` command: runs a shell command line and returns its output, like the classic
//! remote-command tutorial server. Only reachable with `--allow-exec`, which the server
//! refuses for non-loopback binds.
//!
//! The shell runs in a process group of its own, and the whole group is killed when the
//! request ends (the shell exited, the output was cut, the timeout fired, or the
//! connection went away), so `sleep 100 &` neither delays the reply nor outlives it.

use std::os::unix::process::CommandExt as _;
use std::process::Stdio;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use smol::Timer;
use smol::future::FutureExt as _;
use smol::io::AsyncReadExt;

/// A command still running after this long is killed (its whole process group) and the
/// request fails with `exec_failed`: long enough for the tutorial-style commands `exec`
/// is for, short enough that a forgotten `sleep 1000` does not hold a connection.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// What a finished command produced; its output is in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExecOutcome {
    /// Exit code, `None` when killed by a signal.
    pub exit_code: Option<i32>,
    /// True when the output was cut at `max_output` bytes.
    pub truncated: bool,
}

/// Kills a process group when asked, and at the latest when dropped.
struct Group(Option<Pid>);

impl Group {
    fn kill(&self) {
        if let Some(pid) = self.0 {
            // ESRCH (every member already gone) is the normal case.
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `line` with `sh -c`, stdout and stderr interleaved into `out` (cleared first),
/// at most `max_output` bytes kept.
pub(crate) async fn run(
    line: &[u8],
    out: &mut Vec<u8>,
    max_output: u64,
) -> Result<ExecOutcome, String> {
    let line =
        std::str::from_utf8(line).map_err(|_| "exec: command line is not UTF-8".to_owned())?;
    out.clear();
    let mut command = std::process::Command::new("sh");
    // `exec 2>&1` first, so the shell's own errors and the command's stderr share stdout,
    // in the order they were written.
    command
        .arg("-c")
        .arg(format!("exec 2>&1\n{line}"))
        .process_group(0);
    // The conversion keeps the program, arguments and process group, not the stdio.
    let mut child = smol::process::Command::from(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("exec: cannot start sh: {e}"))?;
    let group = Group(i32::try_from(child.id()).ok().and_then(Pid::from_raw));
    let stdout = child.stdout.take().expect("stdout is piped");
    let collect = async {
        let read = async {
            let read = stdout
                .take(max_output.saturating_add(1))
                .read_to_end(out)
                .await;
            let truncated = out.len() as u64 > max_output;
            if truncated {
                out.truncate(max_output as usize);
                group.kill();
            }
            read.map(|_| truncated)
                .map_err(|e| format!("exec: reading output: {e}"))
        };
        let exited = async {
            let status = child.status().await;
            // Background jobs still holding the pipe would keep the read going.
            group.kill();
            status.map_err(|e| format!("exec: waiting for sh: {e}"))
        };
        let (read, status) = smol::future::zip(read, exited).await;
        let truncated = read?;
        let status = status?;
        Ok(ExecOutcome {
            exit_code: status.code(),
            truncated,
        })
    };
    collect
        .or(async {
            Timer::after(EXEC_TIMEOUT).await;
            Err(format!(
                "exec: still running after {}s, killed",
                EXEC_TIMEOUT.as_secs()
            ))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_returns_the_output_and_the_exit_code() {
        let mut out = b"stale".to_vec();
        let outcome =
            smol::block_on(run(b"echo out; echo err >&2; exit 3", &mut out, 1024)).unwrap();
        assert_eq!(out, b"out\nerr\n");
        assert_eq!(
            outcome,
            ExecOutcome {
                exit_code: Some(3),
                truncated: false
            }
        );
    }

    #[test]
    fn run_cuts_the_output_at_max_output() {
        let mut out = Vec::new();
        let outcome = smol::block_on(run(b"printf 0123456789", &mut out, 4)).unwrap();
        assert_eq!((out.as_slice(), outcome.truncated), (&b"0123"[..], true));
    }

    #[test]
    fn run_refuses_a_line_that_is_not_utf8() {
        let err = smol::block_on(run(b"echo \xff", &mut Vec::new(), 16)).unwrap_err();
        assert!(err.contains("UTF-8"), "{err}");
    }
}
