//! The `cpu` section of run reports, through the binary (one run per process, so no other
//! test's threads are counted): a sleeping server costs little CPU per request, a busy
//! process watched with `--watch-pid` shows about a core, bad PIDs are refused first.

mod common;

use bench_client::Report;
use common::{client_bin, temp_path};

/// Runs `bench-client run ARGS --json` and returns its report.
fn run_json(args: &[&str]) -> Report {
    let output = client_bin()
        .args(["run"])
        .args(args)
        .args(["--warmup", "0s", "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_sleeping_server_costs_far_less_cpu_per_request_than_a_burning_one() {
    let sleep = run_json(&[
        "framed",
        "--cmd",
        "sleep",
        "--sleep",
        "20ms",
        "--connections",
        "2",
        "--duration",
        "1s",
    ]);
    let burn = run_json(&[
        "framed",
        "--cmd",
        "upper",
        "--size",
        "1MiB",
        "--connections",
        "2",
        "--duration",
        "1s",
    ]);
    let per_req = |r: &Report| {
        let cpu = r.cpu.as_ref().expect("a cpu section");
        assert!(cpu.window_s > 0.5, "{cpu:?}");
        assert_eq!(cpu.requests, r.totals.requests);
        cpu.server
            .expect("the embedded server's threads are accounted")
            .us_per_req
            .expect("requests completed")
    };
    let (sleeping, burning) = (per_req(&sleep), per_req(&burn));
    // Uppercasing 1 MiB and copying it both ways costs milliseconds; waiting 20 ms costs
    // a timer and two small frames.
    assert!(
        sleeping * 5.0 < burning,
        "sleep {sleeping:.1}us/req, upper 1MiB {burning:.1}us/req"
    );
    let sleep_cpu = sleep.cpu.as_ref().unwrap();
    assert!(sleep_cpu.client.cpu_s > 0.0, "{sleep_cpu:?}");
    assert!(sleep_cpu.machine.is_some(), "{sleep_cpu:?}");
}

#[test]
fn a_watched_busy_loop_shows_about_one_core() {
    let mut busy = std::process::Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let watch = format!("spin={}", busy.id());
    let report = run_json(&[
        "framed",
        "--cmd",
        "sleep",
        "--sleep",
        "10ms",
        "--connections",
        "1",
        "--duration",
        "1s",
        "--watch-pid",
        &watch,
    ]);
    let _ = busy.kill();
    let _ = busy.wait();
    let cpu = report.cpu.expect("a cpu section");
    let spin = &cpu.watched[0];
    assert_eq!(spin.name, "spin");
    assert!(spin.alive && spin.tasks >= 1, "{spin:?}");
    // One core flat out, unless two other busy processes share the two cores with it.
    assert!(
        (0.2..=1.3).contains(&spin.usage.cores),
        "spin used {:.2} cores",
        spin.usage.cores
    );
    assert_eq!(cpu.watched_total.unwrap().cores, spin.usage.cores);
}

#[test]
fn bad_watch_pids_are_refused_in_one_line_before_the_run() {
    let dir = temp_path("badpid");
    for (pid, says) in [
        ("x=4000000000", "--watch-pid x=4000000000: no such process"),
        ("nopid", "expected NAME=PID"),
        ("x=abc", "is not a process id"),
    ] {
        let output = client_bin()
            .args(["run", "tcp-echo", "--requests", "10", "--watch-pid", pid])
            .arg("--out-dir")
            .arg(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{pid}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{pid}: {stderr}");
        assert!(stderr.contains(says), "{pid}: {stderr}");
        assert!(!dir.exists(), "{pid}: nothing is written");
    }
}
