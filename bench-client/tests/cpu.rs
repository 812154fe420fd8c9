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
    let mut idle = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let watch_busy = format!("spin={}", busy.id());
    let watch_idle = format!("nap={}", idle.id());
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
        &watch_busy,
        "--watch-pid",
        &watch_idle,
    ]);
    for child in [&mut busy, &mut idle] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let cpu = report.cpu.expect("a cpu section");
    let (spin, nap) = (&cpu.watched[0], &cpu.watched[1]);
    assert_eq!((spin.name.as_str(), nap.name.as_str()), ("spin", "nap"));
    assert!(spin.alive && spin.tasks >= 1, "{spin:?}");
    // One core flat out on an idle machine; on a loaded one, its share of the two cores,
    // but never more than the one core a single thread can use, and far above a
    // sleeping process's nothing.
    let (spin, nap) = (spin.usage.cores, nap.usage.cores);
    assert!(spin <= 1.3, "spin used {spin:.2} cores");
    assert!(
        spin > 0.05 && nap < 0.01,
        "spin {spin:.3} cores, nap {nap:.3}"
    );
    let total = cpu.watched_total.unwrap().cores;
    assert!(
        (total - spin - nap).abs() < 1e-6,
        "{total} != {spin} + {nap}"
    );
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

#[test]
fn compare_shows_the_cpu_columns_and_gates_on_them() {
    let dir = temp_path("cpu-compare");
    std::fs::create_dir_all(&dir).unwrap();
    let report = run_json(&["tcp-echo", "--requests", "300", "--connections", "2"]);
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    report.write(&a).unwrap();
    report.write(&b).unwrap();
    let compare = |gate: &str| {
        client_bin()
            .args(["compare", "--fail-if", gate])
            .args([&a, &b])
            .output()
            .unwrap()
    };
    let out = compare("server_cpu_us_per_req>+10%");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for column in [
        "cpu_us_per_req",
        "server_cpu_us_per_req",
        "machine_cpu_us_per_req",
    ] {
        assert!(stdout.contains(column), "{column}: {stdout}");
    }
    assert!(!stdout.contains("relay_cpu_us_per_req"), "{stdout}");
    let out = compare("cpu_us_per_req>0");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
