//! The binary's conventions for wrk, iperf3 and Fortio hands: short flags, bare seconds,
//! p75/p95 in tables and gates, `--latency` (the `.hgrm` spectrum), `--interval` lines on
//! a pipe, `export` without `--hlog`, shell completions and an example in every `--help`.
//! Every run is on the embedded server, bounded by a count or a second or three.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use bench_client::Report;
use common::{client_bin, temp_path};

/// Runs the binary with `args`; panics (with its stderr) unless it exits 0.
fn ok(args: &[&str]) -> Output {
    let output = client_bin().args(args).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A fresh folder, created, and a report path in it.
fn report_path(name: &str) -> PathBuf {
    let dir = temp_path(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("r.json")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn short_flags_set_what_the_long_ones_do() {
    let out = report_path("short");
    ok(&[
        "run",
        "tcp-echo",
        "-c",
        "3",
        "-P",
        "2",
        "-t",
        "1",
        "-s",
        "128B",
        "-d",
        "1",
        "--warmup",
        "0",
        "-o",
        path(&out),
    ]);
    let report = Report::read(&out).unwrap();
    let config = serde_json::to_value(&report.config).unwrap();
    assert_eq!(config["connections"], 3, "{config}");
    assert_eq!(config["pipeline"], 2, "{config}");
    assert_eq!(config["threads"], 1, "{config}");
    assert_eq!(config["size"]["min"], "128B", "{config}");
    assert_eq!(config["length"]["duration"], "1s", "-d 1 is one second");
    assert!(report.totals.ok > 0);
}

#[test]
fn short_rate_runs_the_open_loop_and_short_json_prints_the_report() {
    let output = ok(&[
        "run", "udp-echo", "-R", "400", "-d", "0.5", "--warmup", "0", "-J",
    ]);
    let report: Report = serde_json::from_slice(&output.stdout).unwrap();
    let schedule = report.schedule.expect("an open-loop run has a schedule");
    assert_eq!(schedule.target_rate, 400.0);
    let config = serde_json::to_value(&report.config).unwrap();
    assert_eq!(
        config["length"]["duration"], "500ms",
        "0.5 is half a second"
    );
}

#[test]
fn the_run_table_has_p75_p95_and_reply_bytes_per_second() {
    let out = report_path("table");
    let output = ok(&[
        "run",
        "framed",
        "--requests",
        "300",
        "--warmup",
        "0s",
        "-o",
        path(&out),
    ]);
    let stdout = text(&output.stdout);
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let report = Report::read(&out).unwrap();
    let column = |name: &str| {
        // "rx bytes/s" is two words in the header and one value in the row.
        let at = header.iter().position(|h| *h == name).unwrap();
        let shift = usize::from(header[..at].contains(&"rx"));
        row[at - shift]
    };
    let ns = bench_proto::units::format_ns;
    assert_eq!(column("p75"), ns(report.latency.p75_ns), "{stdout}");
    assert_eq!(column("p95"), ns(report.latency.p95_ns), "{stdout}");
    assert_eq!(column("p99"), ns(report.latency.p99_ns), "{stdout}");
    assert!(report.latency.p50_ns <= report.latency.p75_ns);
    assert!(report.latency.p75_ns <= report.latency.p95_ns);
    assert!(report.latency.p95_ns <= report.latency.p99_ns);
    assert_eq!(
        column("bytes/s"),
        bench_proto::units::format_byte_rate(report.totals.bytes_per_s),
        "{stdout}"
    );
    assert!(report.totals.bytes_per_s > 0.0);
}

#[test]
fn p95_and_p75_gates_trip_and_pass() {
    let out = report_path("gates");
    ok(&[
        "run",
        "tcp-echo",
        "--requests",
        "200",
        "--warmup",
        "0s",
        "-o",
        path(&out),
    ]);
    let report = path(&out);
    // Any real latency is above 1ns: the gate trips (exit 1) and says which.
    let output = client_bin()
        .args(["compare", report, report, "--fail-if", "p95>1ns"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("p95"),
        "{}",
        text(&output.stdout)
    );
    // A run against itself has not grown by 10%.
    let output = ok(&["compare", report, report, "--fail-if", "p75>+10%"]);
    assert!(
        text(&output.stdout).contains("pass: p75>+10%"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn latency_prints_the_whole_spectrum_as_hgrm() {
    let out = report_path("latency");
    let output = ok(&[
        "run",
        "tcp-echo",
        "--requests",
        "500",
        "--warmup",
        "0s",
        "--latency",
        "-o",
        path(&out),
    ]);
    let stdout = text(&output.stdout);
    let report = Report::read(&out).unwrap();
    assert!(
        stdout.contains("values in microseconds (us)"),
        "the unit is said: {stdout}"
    );
    assert!(
        stdout.contains("       Value     Percentile TotalCount 1/(1-Percentile)"),
        "{stdout}"
    );
    let rows: Vec<Vec<f64>> = stdout
        .lines()
        .skip_while(|l| !l.contains("Percentile"))
        .filter(|l| !l.starts_with('#') && !l.contains("Percentile") && !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(|f| f.parse().unwrap()).collect())
        .collect();
    let last = rows.last().unwrap();
    assert_eq!(last[1], 1.0, "ends at 100%");
    assert_eq!(last[2], 500.0, "the whole histogram: every request");
    // The max, in us, at the histogram's precision.
    let max_us = report.latency.max_ns as f64 / 1e3;
    assert!(
        (last[0] - max_us).abs() <= max_us * 1e-3,
        "{last:?} vs {max_us}"
    );
    for footer in ["#[Mean    =", "#[Max     =", "#[Buckets ="] {
        assert!(stdout.contains(footer), "{footer}: {stdout}");
    }
    assert!(
        stdout.contains("Total count    =          500]"),
        "{stdout}"
    );
}

#[test]
fn interval_lines_come_on_a_pipe_and_add_up_to_the_report() {
    let out = report_path("interval");
    let output = ok(&[
        "run",
        "tcp-echo",
        "-d",
        "3",
        "--warmup",
        "0",
        "-c",
        "2",
        "-i",
        "1s",
        "-o",
        path(&out),
    ]);
    let stdout = text(&output.stdout);
    let report = Report::read(&out).unwrap();
    // Lines are `time requests req/s rx-bytes/s p50 p99 max errors`, time as `0-1s`.
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| {
            f.first()
                .is_some_and(|t| t.ends_with('s') && t.contains('-'))
        })
        .collect();
    assert!(
        lines.len() >= 2,
        "at least N-1 lines for N seconds: {stdout}"
    );
    let mut total = 0;
    for (i, fields) in lines.iter().enumerate() {
        assert_eq!(fields.len(), 8, "{fields:?}");
        assert_eq!(fields[0], format!("{i}-{}s", i + 1), "{stdout}");
        let requests: u64 = fields[1].parse().unwrap();
        let _rate: f64 = fields[2].parse().unwrap();
        let errors: u64 = fields[7].parse().unwrap();
        assert_eq!(errors, 0);
        total += requests;
    }
    assert_eq!(total, report.totals.ok, "the lines cover the recorded part");
    // The header names the run; the table still follows.
    assert!(
        stdout.lines().next().unwrap().ends_with("tcp-echo"),
        "{stdout}"
    );
    assert!(stdout.contains("p99.9"), "{stdout}");
}

#[test]
fn an_interval_that_is_not_whole_seconds_is_refused() {
    for (value, needle) in [("500ms", "500ms"), ("0", "0s")] {
        let output = client_bin()
            .args(["run", "tcp-echo", "--interval", value])
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--interval") && stderr.contains(needle),
            "{stderr}"
        );
    }
}

#[test]
fn export_writes_the_interval_log_without_hlog() {
    let out = report_path("export");
    ok(&[
        "run",
        "tcp-echo",
        "--requests",
        "200",
        "--warmup",
        "0s",
        "-o",
        path(&out),
    ]);
    let log = out.with_file_name("r.hlog");
    let output = ok(&["export", path(&out), "-o", path(&log)]);
    assert!(text(&output.stdout).starts_with("hlog: "));
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(
        written.contains("#[Histogram log format version"),
        "{written}"
    );
    assert!(
        written.contains("HISTF"),
        "a histogram per interval: {written}"
    );
    // `--hlog` is still accepted, and gives the same log.
    let again = out.with_file_name("again.hlog");
    ok(&["export", "--hlog", path(&out), "--out", path(&again)]);
    assert_eq!(std::fs::read_to_string(&again).unwrap(), written);
}

#[test]
fn completions_name_every_subcommand() {
    let output = ok(&["completions", "bash"]);
    let script = text(&output.stdout);
    for sub in [
        "run", "suite", "nagle", "compare", "render", "export", "overhead", "merge", "sweep",
        "search",
    ] {
        assert!(script.contains(sub), "{sub} missing from the bash script");
    }
    assert!(script.contains("--connections") && script.contains("-c"));
    for shell in ["zsh", "fish"] {
        let output = ok(&["completions", shell]);
        assert!(text(&output.stdout).contains("bench-client"), "{shell}");
    }
    let output = client_bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("tcsh"));
}

#[test]
fn every_subcommand_help_ends_with_an_example() {
    for sub in [
        "run",
        "suite",
        "nagle",
        "compare",
        "render",
        "export",
        "overhead",
        "merge",
        "sweep",
        "search",
        "completions",
    ] {
        let output = ok(&[sub, "--help"]);
        let help = text(&output.stdout);
        let tail = help.rsplit_once("Example").map(|(_, t)| t);
        assert!(tail.is_some(), "{sub} --help has no example: {help}");
        assert!(
            tail.unwrap().contains(&format!("bench-client {sub}"))
                || tail.unwrap().contains("bench-client completions"),
            "{sub}: the example runs the subcommand: {help}"
        );
    }
}
