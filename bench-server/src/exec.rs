//! The `exec` command: runs a shell command line and returns its output, like the classic
//! remote-command tutorial server. Only reachable with `--allow-exec`, which the server
//! refuses for non-loopback binds.

use std::process::Stdio;
use std::time::Duration;

use smol::Timer;
use smol::future::FutureExt as _;
use smol::io::AsyncReadExt;
use smol::process::Command;

/// A command still running after this long is killed and the request fails.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// What a finished command produced; its output is in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExecOutcome {
    /// Exit code, `None` when killed by a signal.
    pub exit_code: Option<i32>,
    /// True when the output was cut at `max_output` bytes.
    pub truncated: bool,
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
    // `exec 2>&1` first, so the shell's own errors and the command's stderr share stdout,
    // in the order they were written.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1\n{line}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("exec: cannot start sh: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let collect = async {
        stdout
            .take(max_output.saturating_add(1))
            .read_to_end(out)
            .await
            .map_err(|e| format!("exec: reading output: {e}"))?;
        let truncated = out.len() as u64 > max_output;
        if truncated {
            out.truncate(max_output as usize);
            let _ = child.kill();
        }
        let status = child
            .status()
            .await
            .map_err(|e| format!("exec: waiting for sh: {e}"))?;
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
