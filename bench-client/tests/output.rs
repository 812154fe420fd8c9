//! The output and input rules of `docs/output.md`, through the binary: `-` is stdout, a
//! symlink is written through, a FIFO or device is written directly, write errors are one
//! line and never a panic, a closed stdout ends quietly, report names never collide, and
//! every reader caps its input and refuses a broken report with the same line.

mod common;

use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime};

use bench_client::Report;
use common::{client_bin, temp_path};

/// A folder with a real report of a short run in it: (folder, report path).
fn folder_with_report(name: &str) -> (PathBuf, PathBuf) {
    let dir = temp_path(name);
    std::fs::create_dir_all(&dir).unwrap();
    let report = common::run(common::quick(200));
    let path = dir.join("r.json");
    report.write(&path).unwrap();
    (dir, path)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one line an error printed, checked to be one line without a panic.
/// (A run's `<name>: recording` progress line, printed when stderr is not a terminal, is
/// not an error line and is left out.)
fn one_line(out: &Output) -> String {
    let text = stderr(out);
    assert!(!text.contains("panicked"), "{text}");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.ends_with(": recording"))
        .collect();
    assert_eq!(lines.len(), 1, "one line: {text}");
    lines[0].to_owned()
}

fn quick_run(args: &[&str]) -> std::process::Command {
    let mut cmd = client_bin();
    cmd.args(["run", "tcp-echo", "--requests", "50", "--warmup", "0s"])
        .args(args);
    cmd
}

#[test]
fn run_out_dash_puts_the_report_on_stdout_and_the_table_on_stderr() {
    let dir = temp_path("dash");
    std::fs::create_dir_all(&dir).unwrap();
    let out = quick_run(&["--out", "-"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Report = serde_json::from_slice(&out.stdout).expect("stdout is the report");
    assert_eq!(report.totals.ok, 50);
    assert!(
        stderr(&out).contains("req/s"),
        "the table: {}",
        stderr(&out)
    );
    assert!(!dir.join("-").exists(), "no file named -");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

    let out = quick_run(&["--out", "-", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out).contains("--json"));
}

#[test]
fn a_symlink_is_written_through_and_stays_a_link() {
    let dir = temp_path("symlink");
    std::fs::create_dir_all(dir.join("real")).unwrap();
    let target = dir.join("real/target.json");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.join("link.json");
    std::os::unix::fs::symlink("real/target.json", &link).unwrap();
    let out = quick_run(&[]).arg("--out").arg(&link).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    let report = Report::read(&target).expect("the target holds the report");
    assert_eq!(report.totals.ok, 50);
    // No temporary left beside the target or the link.
    assert_eq!(std::fs::read_dir(dir.join("real")).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);

    // A dangling link creates its target.
    let (_, report) = folder_with_report("symlink-src");
    let dangling = dir.join("page.html");
    std::os::unix::fs::symlink("real/page-target.html", &dangling).unwrap();
    let out = client_bin()
        .arg("render")
        .arg(&report)
        .arg("--out")
        .arg(&dangling)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        dangling
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let page = std::fs::read_to_string(dir.join("real/page-target.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{}", &page[..40]);
}

#[test]
fn a_fifo_is_written_into_not_replaced() {
    let (dir, report) = folder_with_report("fifo");
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let out = client_bin()
        .args(["export", "--hlog"])
        .arg(&report)
        .arg("--out")
        .arg(&fifo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = reader.join().unwrap();
    assert!(log.starts_with("#[Logged with wirebench"), "{log}");
    assert!(fifo.metadata().unwrap().file_type().is_fifo());
}

#[test]
fn dev_null_stays_a_character_device() {
    let (_, report) = folder_with_report("devnull");
    let out = quick_run(&["--out", "/dev/null"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = client_bin()
        .arg("render")
        .arg(&report)
        .args(["--out", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let meta = Path::new("/dev/null").metadata().unwrap();
    assert!(meta.file_type().is_char_device());
}

#[test]
fn a_full_device_is_a_one_line_error_not_a_panic() {
    let full = Path::new("/dev/full");
    assert!(full.exists(), "Linux has /dev/full");
    let (_, report) = folder_with_report("full");
    let out = client_bin()
        .args(["export", "--hlog"])
        .arg(&report)
        .args(["--out", "/dev/full"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let line = one_line(&out);
    assert!(line.contains("/dev/full"), "{line}");
    assert_eq!(line.matches("No space left on device").count(), 1, "{line}");
    let out = quick_run(&["--out", "/dev/full"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // The measurement is still shown (stdout), the error is one line on stderr.
    assert!(String::from_utf8_lossy(&out.stdout).contains("req/s"));
    assert_eq!(one_line(&out).matches("No space left").count(), 1);
    assert!(full.metadata().unwrap().file_type().is_char_device());

    // stdout on a full disk is an error too.
    let out = client_bin()
        .args(["export", "--hlog"])
        .arg(&report)
        .args(["--out", "-"])
        .stdout(std::fs::File::create(full).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(one_line(&out).contains("stdout: No space left on device"));
}

/// Runs `cmd` with a stdout whose reader has already gone: every write is EPIPE.
fn with_closed_stdout(cmd: &mut std::process::Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_ends_quietly_with_the_commands_own_exit_code() {
    let (_, report) = folder_with_report("epipe");
    let out = with_closed_stdout(
        client_bin()
            .args(["export", "--hlog", "--out", "-"])
            .arg(&report),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");

    // A tripped gate still exits 1, not 101.
    let out = with_closed_stdout(
        client_bin()
            .arg("compare")
            .arg(&report)
            .arg(&report)
            .args(["--fail-if", "p50>1ns"]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");

    let out = with_closed_stdout(&mut quick_run(&["--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn a_missing_folder_is_refused_not_created() {
    let (dir, report) = folder_with_report("parents");
    let missing = dir.join("no/such");
    let out = quick_run(&[])
        .arg("--out")
        .arg(missing.join("r.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let line = one_line(&out);
    assert!(line.contains(&missing.display().to_string()), "{line}");
    assert!(line.contains("does not exist"), "{line}");
    let out = client_bin()
        .arg("render")
        .arg(&report)
        .arg("--out")
        .arg(missing.join("page.html"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(one_line(&out).contains("does not exist"));
    assert!(!dir.join("no").exists());
}

#[test]
fn runs_in_the_same_second_never_overwrite_each_other() {
    let dir = temp_path("same-second");
    std::fs::create_dir_all(&dir).unwrap();
    // Take the plain name of every second this test can run in: the run must pick -2.
    let now = SystemTime::now();
    for s in 0..120 {
        let stamp = bench_client::output::file_stamp(now + Duration::from_secs(s));
        std::fs::write(dir.join(format!("{stamp}-tcp-echo-same.json")), b"keep").unwrap();
    }
    for _ in 0..2 {
        let out = quick_run(&["--label", "same", "--out-dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let mut kept = 0;
    let mut reports = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::read(&path).unwrap() == b"keep" {
            kept += 1;
        } else {
            reports.push(path);
        }
    }
    assert_eq!(kept, 120, "no taken name was overwritten");
    assert_eq!(reports.len(), 2, "{reports:?}");
    for path in &reports {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.ends_with("-same-2.json") || name.ends_with("-same-3.json"),
            "{name}"
        );
        assert_eq!(Report::read(path).unwrap().totals.ok, 50);
    }
}

#[test]
fn an_os_error_is_printed_once() {
    let (_, report) = folder_with_report("once");
    for out_path in ["/proc/wirebench-test.html", "/sys/wirebench-test.html"] {
        let out = client_bin()
            .arg("render")
            .arg(&report)
            .args(["--out", out_path])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let line = one_line(&out);
        assert!(line.contains(out_path), "{line}");
        assert_eq!(line.matches("(os error").count(), 1, "{line}");
    }
}

#[test]
fn an_endless_input_stops_at_the_cap_for_every_reader() {
    let (_, report) = folder_with_report("zero");
    let report = report.to_str().unwrap().to_owned();
    let cases: [&[&str]; 4] = [
        &["compare", "/dev/zero", &report],
        &["compare", &report, "/dev/zero", "--max-input", "1MiB"],
        &["render", "/dev/zero", "--max-input", "1MiB"],
        &["export", "--hlog", "/dev/zero", "--max-input", "1MiB"],
    ];
    for args in cases {
        // 1 GiB of address space: a reader that grew with its input would die of it,
        // and not with this error line.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_bench-client"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let line = one_line(&out);
        assert!(
            line.starts_with("bench-client: error: /dev/zero: larger than the input limit"),
            "{args:?}: {line}"
        );
    }
    let out = client_bin()
        .args(["render", &report])
        .env("WIREBENCH_MAX_INPUT", "100B")
        .args(["--out", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(one_line(&out).contains("limit of 100B"));
}

#[test]
fn a_broken_report_is_refused_by_compare_render_and_export_alike() {
    let (dir, good) = folder_with_report("broken");
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    type Break = fn(&mut serde_json::Value);
    let cases: [(&str, Break, &str); 5] = [
        (
            "no-totals",
            |v| {
                v.as_object_mut().unwrap().remove("totals");
            },
            "missing field `totals`",
        ),
        (
            "negative",
            |v| v["latency"]["p90_ns"] = (-5).into(),
            "invalid value: integer `-5`",
        ),
        (
            "unordered",
            |v| {
                let p99 = v["latency"]["p99_ns"].as_u64().unwrap();
                v["latency"]["p50_ns"] = (p99 + 1).into();
            },
            "latency.p75_ns",
        ),
        (
            "corrupt",
            |v| v["latency"]["histogram"] = "AAAAAAAA".into(),
            "histogram latency.histogram: not a V2 HdrHistogram encoding (bad cookie)",
        ),
        (
            "counts",
            |v| {
                let ok = v["totals"]["ok"].as_u64().unwrap();
                v["totals"]["ok"] = (ok + 1).into();
            },
            "totals.requests",
        ),
    ];
    for (name, breaks, needle) in cases {
        let mut bad = value.clone();
        breaks(&mut bad);
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec(&bad).unwrap()).unwrap();
        let mut lines = Vec::new();
        for args in [
            vec!["compare".as_ref(), good.as_os_str(), path.as_os_str()],
            vec!["render".as_ref(), path.as_os_str()],
            vec!["export".as_ref(), "--hlog".as_ref(), path.as_os_str()],
        ] {
            let out = client_bin().args(&args).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(2),
                "{name} {args:?}: {}",
                stderr(&out)
            );
            assert!(out.stdout.is_empty(), "{name} {args:?}");
            lines.push(one_line(&out));
        }
        assert!(lines[0].contains(path.to_str().unwrap()), "{}", lines[0]);
        assert!(lines[0].contains(needle), "{name}: {}", lines[0]);
        assert!(!lines[0].contains("InvalidCookie"), "{}", lines[0]);
        assert!(lines.iter().all(|l| *l == lines[0]), "{name}: {lines:#?}");
        assert!(!dir.join(format!("{name}.html")).exists());
    }
}

#[test]
fn matrix_errors_print_each_cause_once() {
    use bench_client::config::ConfigError;
    let cause = || {
        bench_client::RunError::Config(ConfigError {
            flag: "--size",
            value: "0B".to_owned(),
            reason: "must be at least 1B".to_owned(),
        })
    };
    let errors = [
        anyhow::Error::from(bench_client::matrix::SuiteError::Run {
            cell: "tcp-echo".to_owned(),
            source: cause(),
        }),
        anyhow::Error::from(bench_client::matrix::overhead::OverheadError::Run {
            round: 1,
            leg: "direct",
            source: cause(),
        }),
    ];
    for e in errors {
        let text = format!("{e:#}");
        assert_eq!(text.matches("must be at least 1B").count(), 1, "{text}");
    }
}
