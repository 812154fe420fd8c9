//! The bench-client binary: bad input, exit codes, SIGINT, the suite, --json.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use bench_client::Report;
use common::{client_bin, temp_path};

fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn bad_flags_give_one_line_naming_the_value_exit_2_and_no_files() {
    // A port nothing listens on: bind one, note it, close it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead = dead.to_string();
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["run", "tcp-echo", "--size", "0"], vec!["--size", "0"]),
        (
            vec!["run", "tcp-echo", "--size", "12q"],
            vec!["--size", "12q"],
        ),
        (
            vec!["run", "tcp-echo", "--size", "4KiB..64B"],
            vec!["--size", "4KiB..64B"],
        ),
        (
            vec!["run", "tcp-echo", "--rate", "-1"],
            vec!["--rate", "-1"],
        ),
        (
            vec!["run", "tcp-echo", "--rate", "fast"],
            vec!["--rate", "fast"],
        ),
        (
            vec!["run", "tcp-echo", "--pipeline", "0"],
            vec!["--pipeline", "0"],
        ),
        (
            vec!["run", "tcp-echo", "--connections", "0"],
            vec!["--connections", "0"],
        ),
        (
            vec!["run", "tcp-echo", "--timeout", "0s"],
            vec!["--timeout", "0s"],
        ),
        (
            vec!["run", "tcp-echo", "--requests", "lots"],
            vec!["--requests", "lots"],
        ),
        (
            vec!["run", "tcp-echo", "--target", "nowhere"],
            vec!["--target", "nowhere"],
        ),
        (
            vec!["run", "tcp-echo", "--target", &dead],
            vec!["--target", &dead],
        ),
        (
            vec!["run", "framed", "--target", &dead],
            vec!["--target", &dead],
        ),
        (
            vec!["run", "udp-echo", "--size", "8B"],
            vec!["--size", "8B"],
        ),
        (
            vec!["run", "udp-echo", "--size", "70000B"],
            vec!["--size", "70000B"],
        ),
        (
            vec!["run", "tcp-echo", "--cmd", "upper"],
            vec!["--cmd", "upper"],
        ),
        (
            vec!["run", "framed", "--requests", "raw", "--pipeline", "4"],
            vec!["--pipeline", "4"],
        ),
        (
            vec!["run", "tcp-echo", "--nodelay", "maybe"],
            vec!["--nodelay", "maybe"],
        ),
        (
            vec![
                "run",
                "tcp-echo",
                "--target",
                &dead,
                "--server-nodelay",
                "off",
            ],
            vec!["--server-nodelay", "off"],
        ),
        (
            vec!["run", "tcp-echo", "--arrival", "poisson"],
            vec!["--arrival", "poisson"],
        ),
        (
            vec!["suite", "--connections", "0"],
            vec!["--connections", "0"],
        ),
        (
            vec!["suite", "--connections", "200000"],
            vec!["--connections", "200000"],
        ),
        (
            vec!["run", "tcp-echo", "--threads", "5000"],
            vec!["--threads", "5000"],
        ),
        (
            vec!["run", "framed", "--cmd", "sleep", "--sleep", "500us"],
            vec!["--sleep", "500us"],
        ),
        (
            vec![
                "run",
                "framed",
                "--cmd",
                "sleep",
                "--sleep",
                "2s",
                "--timeout",
                "1s",
            ],
            vec!["--timeout", "1s"],
        ),
        (
            vec!["run", "tcp-echo", "--out", "/proc/nope/r.json"],
            vec!["--out", "/proc/nope/r.json"],
        ),
        (vec!["nagle", "--size", "0"], vec!["--size", "0"]),
        (vec!["nagle", "--size", "20MiB"], vec!["--size", "20MiB"]),
        (
            vec!["nagle", "--connections", "0"],
            vec!["--connections", "0"],
        ),
        (vec!["nagle", "--duration", "0s"], vec!["--duration", "0s"]),
        (vec!["nagle", "--target", &dead], vec!["--target", &dead]),
        (
            vec!["nagle", "--target", "nowhere"],
            vec!["--target", "nowhere"],
        ),
        (
            vec!["compare", "/nonexistent/a.json", "/nonexistent/b.json"],
            vec!["/nonexistent/a.json"],
        ),
        (
            vec!["render", "/nonexistent/a.json"],
            vec!["/nonexistent/a.json"],
        ),
        (
            vec!["export", "--hlog", "/nonexistent/a.json"],
            vec!["/nonexistent/a.json"],
        ),
        // The interval log is the default: without --hlog the file is what is missing.
        (
            vec!["export", "/nonexistent/a.json"],
            vec!["/nonexistent/a.json"],
        ),
        (
            vec!["run", "tcp-echo", "--interval", "1500ms"],
            vec!["--interval", "1500ms"],
        ),
        (
            vec!["sweep", "tcp-echo", "--rates", "1k,2k", "--latency"],
            vec!["--latency", "sweep"],
        ),
        (vec!["overhead", "--rounds", "0"], vec!["--rounds", "0"]),
        (
            vec!["overhead", "--direct", &dead],
            vec!["--direct", &dead, "--proxied"],
        ),
        (
            vec!["overhead", "--direct", &dead, "--proxied", &dead],
            vec!["--proxied", &dead],
        ),
        (
            vec!["overhead", "--direct", "127.0.0.1:1", "--proxied", &dead],
            vec!["--direct", "127.0.0.1:1"],
        ),
        (
            vec!["overhead", "udp-echo", "--strategy", "splice"],
            vec!["--strategy", "splice"],
        ),
        (
            vec![
                "overhead",
                "--direct",
                &dead,
                "--proxied",
                "127.0.0.1:1",
                "--nodelay-back",
                "off",
            ],
            vec!["--nodelay-back", "off"],
        ),
        (
            vec!["overhead", "--relay-buffer", "0"],
            vec!["--relay-buffer", "0"],
        ),
    ];
    for (args, needles) in cases {
        let out_dir = temp_path("bad-flags");
        // A short duration, so a case that wrongly starts a run ends quickly (and fails).
        let mut cmd = client_bin();
        cmd.args(&args);
        let runs = matches!(args[0], "run" | "suite" | "nagle" | "overhead");
        if runs && !args.contains(&"--duration") {
            cmd.args(["--duration", "1s"]);
        }
        if runs && !args.contains(&"--out") {
            cmd.arg("--out-dir").arg(&out_dir);
        }
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line: {stderr}");
        for needle in needles {
            assert!(
                lines[0].contains(needle),
                "{args:?}: {needle:?} missing: {stderr}"
            );
        }
        assert!(files_in(&out_dir).is_empty(), "{args:?}: files written");
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn duration_errors_name_the_duration() {
    for (command, value, needle) in [
        ("run", "0s", "0s"),
        ("run", "5 parsecs", "parsecs"),
        ("suite", "0ms", "0s"),
    ] {
        let mut cmd = client_bin();
        if command == "run" {
            cmd.args(["run", "tcp-echo"]);
        } else {
            cmd.arg("suite");
        }
        let output = cmd.args(["--duration", value]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--duration") && stderr.contains(needle),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn a_clean_run_writes_its_report_and_exits_0() {
    let out = temp_path("clean").join("r.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap(); // --out makes no folders
    let output = client_bin()
        .args([
            "run",
            "framed",
            "--requests",
            "300",
            "--warmup",
            "0s",
            "--label",
            "ci check",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("req/s") && stdout.contains("p99.9"),
        "{stdout}"
    );
    let report = Report::read(&out).unwrap();
    assert_eq!(report.totals.ok, 300);
    assert_eq!(report.label, "ci check");
    // No progress bar on a pipe: at most the line that says recording started.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .lines()
            .all(|l| l.starts_with("bench-client: ") && l.ends_with(": recording")),
        "{stderr}"
    );
}

#[test]
fn json_goes_to_stdout_and_no_file_is_written() {
    let cwd = temp_path("json");
    std::fs::create_dir_all(&cwd).unwrap();
    let output = client_bin()
        .current_dir(&cwd)
        .args([
            "run",
            "udp-echo",
            "--requests",
            "100",
            "--warmup",
            "0s",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report: Report = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report.totals.ok, 100);
    assert_eq!(report.udp.unwrap().received, 100);
    assert!(files_in(&cwd).is_empty(), "{:?}", files_in(&cwd));
}

#[test]
fn a_server_dying_mid_run_still_gives_a_report_and_a_non_zero_exit() {
    let addr = common::tcp_echo_dying_after(1000 * 64);
    let out = temp_path("dying").join("r.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap(); // --out makes no folders
    let output = client_bin()
        .args(["run", "tcp-echo", "--duration", "10s", "--warmup", "0s"])
        .arg("--target")
        .arg(addr.to_string())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report = Report::read(&out).unwrap();
    assert!(report.totals.ok >= 500, "{}", report.totals.ok);
    assert!(report.totals.error_count >= 1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("errors:"),
        "the error kinds are printed: {stdout}"
    );
}

#[test]
fn sigint_stops_the_run_and_writes_an_interrupted_report() {
    let out = temp_path("sigint").join("r.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap(); // --out makes no folders
    let mut child = client_bin()
        .args(["run", "tcp-echo", "--duration", "60s", "--warmup", "0s"])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Signal once the run says it is measuring (its first recorded reply is in).
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("recording") {
        line.clear();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(n > 0, "stderr ended before the run was recording");
    }
    let started = Instant::now();
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(status.code(), Some(130));
    let report = Report::read(&out).unwrap();
    assert!(report.interrupted);
    assert!(
        report.duration_s > 0.0 && report.duration_s < 30.0,
        "{}",
        report.duration_s
    );
    assert!(report.totals.ok > 0);
    assert_eq!(
        report.totals.error_count, 0,
        "a graceful stop is not an error"
    );
}

#[test]
fn the_suite_writes_a_report_per_cell_a_summary_and_a_table() {
    let out_dir = temp_path("suite");
    let output = client_bin()
        .args(["suite", "--duration", "500ms", "--warmup", "0s", "-i", "1s"])
        .arg("--out-dir")
        .arg(&out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dirs = files_in(&out_dir);
    assert_eq!(dirs.len(), 1, "one time-stamped folder");
    let mut names: Vec<String> = files_in(&dirs[0])
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "framed-nodelay-off.json",
            "framed-nodelay-on.json",
            "report.html",
            "summary.json",
            "tcp-echo-nodelay-off.json",
            "tcp-echo-nodelay-on.json",
            "udp-echo.json"
        ]
    );
    let summary: bench_client::report::summary::Summary =
        serde_json::from_slice(&std::fs::read(dirs[0].join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary.cells.len(), 5);
    for cell in &summary.cells {
        let report = Report::read(&dirs[0].join(&cell.report)).unwrap();
        assert_eq!(report.totals.error_count, 0, "{}", cell.name);
        assert!(report.totals.ok > 0, "{}", cell.name);
        assert_eq!(cell.p99_ns, report.latency.p99_ns);
        let expect_nodelay = if cell.name.contains("nodelay-off") {
            Some(false)
        } else if cell.name.contains("nodelay-on") {
            Some(true)
        } else {
            None
        };
        assert_eq!(cell.nodelay, expect_nodelay, "{}", cell.name);
        assert!(stdout.contains(&cell.name), "{stdout}");
    }
    let table_header = stdout
        .lines()
        .find(|l| l.starts_with("workload"))
        .unwrap_or_else(|| panic!("no table: {stdout}"));
    for column in [
        "workload",
        "nodelay",
        "req/s",
        "rx bytes/s",
        "p50",
        "p75",
        "p95",
        "p99",
        "p99.9",
        "max",
        "errors",
    ] {
        assert!(table_header.contains(column), "{stdout}");
    }
    // Each cell's interval line (half a second) under a header naming the cell.
    for cell in &summary.cells {
        let header = stdout
            .lines()
            .position(|l| l.trim_start().starts_with("time") && l.ends_with(&cell.name))
            .unwrap_or_else(|| panic!("no interval header for {}: {stdout}", cell.name));
        let line = stdout.lines().nth(header + 1).unwrap();
        assert!(line.trim_start().starts_with("0-0.5s"), "{line}");
    }
    // On a pipe, each cell's place is one line on stderr, in order.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let places: Vec<&str> = stderr.lines().filter(|l| l.contains(": cell ")).collect();
    assert_eq!(places.len(), 5, "{stderr}");
    for (i, (line, cell)) in places.iter().zip(&summary.cells).enumerate() {
        let want = format!("bench-client: cell {}/5: {}", i + 1, cell.name);
        assert!(line.starts_with(&want), "{line:?} vs {want:?}");
    }
}
