//! The edges of a run: an open loop past the target's capacity (unfinished requests,
//! achieved rate, verdict), the warm-up's backlog, UDP errors and exact timeouts, signals
//! from `timeout`, and the one-line refusals of impossible flags.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bench_client::report::ScheduleVerdict;
use bench_client::{
    Arrival, ErrorKind, FramedCmd, LoadModel, Run, RunConfig, RunLength, WorkloadKind,
};
use common::{quick, run};

fn open_loop(rate: f64, duration: &str) -> RunConfig {
    RunConfig {
        load: LoadModel::Open {
            rate,
            arrival: Arrival::Uniform,
        },
        length: RunLength::Duration(duration.parse().unwrap()),
        ..quick(0)
    }
}

#[test]
fn an_overloaded_open_loop_records_its_unfinished_requests_and_blames_the_target() {
    // The server takes 50 ms per request on one connection: 20 requests/s at most, asked
    // for 200/s during 1 s. The server's pace is the behaviour under test, not a wait.
    let config = RunConfig {
        workload: WorkloadKind::Framed,
        cmd: FramedCmd::Sleep,
        sleep: "50ms".parse().unwrap(),
        connections: 1,
        threads: 1,
        ..open_loop(200.0, "1s")
    };
    let report = run(config);
    assert_eq!(
        report.totals.error_count, 0,
        "{:?}",
        report.totals.error_samples
    );
    let schedule = report.schedule.clone().unwrap();
    assert!(report.totals.ok >= 1, "{:?}", report.totals);
    assert!(
        schedule.unfinished > 100,
        "most of the 200 scheduled requests never went out: {schedule:?}"
    );
    assert_eq!(schedule.unsent, 0, "no connection failed: {schedule:?}");
    assert_eq!(
        report.totals.ok + schedule.unfinished,
        200,
        "every scheduled request is either completed or unfinished: {schedule:?}"
    );
    // The earliest unfinished request was due a few requests into the second: its lower
    // bound is most of the second.
    assert!(
        report.latency.max_ns >= 700_000_000,
        "corrected max {} ns",
        report.latency.max_ns
    );
    assert_eq!(
        report.latency.count,
        report.totals.ok + schedule.unfinished,
        "the unfinished requests are in the corrected histogram"
    );
    let in_timeline: u64 = report.timeline.iter().map(|t| t.unfinished).sum();
    assert_eq!(
        in_timeline, schedule.unfinished,
        "the last interval holds them"
    );
    assert!(
        schedule.achieved_rate < schedule.target_rate / 2.0,
        "{schedule:?}"
    );
    assert_eq!(schedule.target_rate, 200.0);
    assert_eq!(
        schedule.verdict,
        ScheduleVerdict::TargetBehind,
        "{schedule:?}"
    );
}

#[test]
fn a_silent_target_leaves_unfinished_requests_not_a_blank() {
    let addr = common::silent_tcp_server();
    let config = RunConfig {
        connections: 2,
        timeout: "3s".parse().unwrap(),
        ..open_loop(100.0, "1s")
    };
    let report = run(common::external(config, addr));
    let schedule = report.schedule.clone().unwrap();
    // One request per connection went out and timed out after the end; the other 98
    // were still waiting for a free slot when the second ended.
    assert_eq!(report.totals.errors[&ErrorKind::Timeout], 2);
    assert_eq!(schedule.unfinished, 98, "{schedule:?}");
    assert!(
        report.latency.max_ns >= 900_000_000,
        "{}",
        report.latency.max_ns
    );
    assert_eq!(schedule.verdict, ScheduleVerdict::TargetBehind);
}

#[test]
fn a_clean_open_loop_leaves_nothing_unsent_or_unfinished() {
    // 10 requests/s on one connection for 1 s: the last one is due 100 ms before the
    // end, and one that wakes on its time is sent even if the wake-up comes late.
    for warmup in ["0s", "200ms"] {
        let config = RunConfig {
            connections: 1,
            warmup: warmup.parse().unwrap(),
            ..open_loop(10.0, "1s")
        };
        let report = run(config);
        let schedule = report.schedule.clone().unwrap();
        assert_eq!(report.totals.ok, 10, "{schedule:?}");
        assert_eq!(schedule.unsent, 0, "{schedule:?}");
        assert_eq!(schedule.unfinished, 0, "{schedule:?}");
        assert_eq!(schedule.warmup_dropped, 0, "{schedule:?}");
    }
}

#[test]
fn the_warm_up_backlog_is_dropped_and_the_recorded_part_runs_on_its_own_schedule() {
    // 50 ms per request during a 500 ms warm-up at 100/s: ~45 warm-up requests are still
    // owed when recording starts. They are dropped and counted; the recorded part's own
    // requests are sent (and complete) rather than starving behind them.
    let config = RunConfig {
        workload: WorkloadKind::Framed,
        cmd: FramedCmd::Sleep,
        sleep: "50ms".parse().unwrap(),
        connections: 1,
        threads: 1,
        warmup: "500ms".parse().unwrap(),
        ..open_loop(100.0, "1s")
    };
    let report = run(config);
    let schedule = report.schedule.clone().unwrap();
    assert!(schedule.warmup_dropped >= 20, "{schedule:?}");
    assert!(
        report.totals.ok >= 1,
        "recorded requests completed: {schedule:?}"
    );
    assert_eq!(report.totals.ok + schedule.unfinished, 100, "{schedule:?}");
    assert!(report.totals.requests_per_s > 0.0);
}

/// Polls `cond` every 10 ms until it holds; fails after 30 s (a generous deadline for a
/// loaded machine).
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A udp-echo server on `socket` until `stop` is set; returns its thread. It echoes every
/// datagram after `delay` (the server's behaviour, not synchronisation).
fn udp_echo_on(socket: UdpSocket, delay: Duration, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    socket
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65_536];
        while !stop.load(Ordering::SeqCst) {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                continue;
            };
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            let _ = socket.send_to(&buf[..n], peer);
        }
        // The socket closes here: datagrams to the port are refused (ICMP).
    })
}

fn udp_config(addr: SocketAddr) -> RunConfig {
    common::external(
        RunConfig {
            workload: WorkloadKind::UdpEcho,
            connections: 1,
            threads: 1,
            ..quick(0)
        },
        addr,
    )
}

#[test]
fn a_udp_reply_later_than_the_timeout_is_late_never_ok() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let _server = udp_echo_on(socket, Duration::from_millis(50), Arc::default());
    let config = RunConfig {
        timeout: "10ms".parse().unwrap(),
        length: RunLength::Requests(5),
        ..udp_config(addr)
    };
    let report = run(config);
    let udp = report.udp.unwrap();
    assert_eq!(report.totals.ok, 0, "{udp:?}");
    assert_eq!(udp.received, 0, "{udp:?}");
    assert_eq!(report.totals.errors[&ErrorKind::Timeout], 5, "{udp:?}");
    assert_eq!(udp.late + udp.lost, 5, "{udp:?}");
}

#[test]
fn a_udp_count_run_lasts_its_load_not_the_final_timeout_wait() {
    // Every 10th datagram is dropped: the run ends only after the last one's 5 s timeout,
    // but that wait is not load. 16 in flight: the 10 lost ones never hold every slot.
    let (addr, dropped) = common::udp_dropping_every(10);
    let started = Instant::now();
    let config = RunConfig {
        timeout: "5s".parse().unwrap(),
        pipeline: 16,
        length: RunLength::Requests(100),
        ..udp_config(addr)
    };
    let report = run(config);
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "the wait happened"
    );
    assert_eq!(report.udp.unwrap().lost, dropped.load(Ordering::SeqCst));
    assert!(
        report.duration_s < 2.5,
        "duration_s {} includes the 5 s wait",
        report.duration_s
    );
}

#[test]
fn a_udp_run_counts_refused_datagrams_and_recovers_when_the_server_returns() {
    let first = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = first.local_addr().unwrap();
    let stop_first = Arc::new(AtomicBool::new(false));
    let server = udp_echo_on(first, Duration::ZERO, stop_first.clone());
    let config = RunConfig {
        load: LoadModel::Open {
            rate: 500.0,
            arrival: Arrival::Uniform,
        },
        timeout: "500ms".parse().unwrap(),
        length: RunLength::Duration("60s".parse().unwrap()),
        ..udp_config(addr)
    };
    let run = Run::new(config).unwrap();
    let (live, stopper) = (run.live(), run.stopper());
    let client = std::thread::spawn(move || run.execute().unwrap());
    eventually("50 replies", || live.totals().0 >= 50);
    stop_first.store(true, Ordering::SeqCst);
    server.join().unwrap();
    let ok_before = live.totals().0;
    eventually("refusals", || live.totals().1 >= 5);
    // The same port again: free since the first socket closed (retried briefly, in case
    // the kernel is slow to release it).
    let second = (0..100)
        .find_map(|_| {
            UdpSocket::bind(addr)
                .inspect_err(|_| std::thread::sleep(Duration::from_millis(10)))
                .ok()
        })
        .expect("the port binds again");
    let stop_second = Arc::new(AtomicBool::new(false));
    let server = udp_echo_on(second, Duration::ZERO, stop_second.clone());
    eventually("replies after the restart", || {
        live.totals().0 >= ok_before + 50
    });
    stopper.stop();
    let report = client.join().unwrap();
    stop_second.store(true, Ordering::SeqCst);
    server.join().unwrap();
    assert!(
        report.totals.errors[&ErrorKind::Refused] > 0,
        "{:?}",
        report.totals
    );
    assert!(report.totals.ok >= ok_before + 50, "{:?}", report.totals);
    assert!(report.interrupted);
}

#[test]
fn timeout_s_int_leaves_a_complete_partial_suite_every_time() {
    // coreutils `timeout` signals the process, then its whole group: two SIGINTs within
    // microseconds, which must count as one stop. 3 s is long enough for the first 5 s
    // cell to be running on any machine.
    for attempt in 0..3 {
        let out_dir = common::temp_path(&format!("timeout-{attempt}"));
        let output = std::process::Command::new("timeout")
            .args(["--preserve-status", "-s", "INT", "3"])
            .arg(env!("CARGO_BIN_EXE_bench-client"))
            .args(["suite", "--duration", "5s", "--warmup", "0s", "--out-dir"])
            .arg(&out_dir)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(130), "attempt {attempt}");
        // The table marks the interrupted cell and says so under it.
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.lines().any(|l| l.ends_with("  interrupted"))
                && stdout.contains("interrupted: stopped early"),
            "{stdout}"
        );
        let dirs: Vec<_> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        let dir = &dirs[0];
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["interrupted"], true, "attempt {attempt}");
        assert!(dir.join("report.html").is_file(), "attempt {attempt}");
        let cells = summary["cells"].as_array().unwrap();
        let last = cells.last().expect("the interrupted cell is summarised");
        assert_eq!(last["interrupted"], true, "{last}");
        let report = bench_client::Report::read(&dir.join(last["report"].as_str().unwrap()));
        assert!(report.unwrap().interrupted);
    }
}

/// Runs the binary with `args`; returns (exit code, stdout, stderr).
fn client(args: &[&str], cwd: &std::path::Path) -> (Option<i32>, String, String) {
    std::fs::create_dir_all(cwd).unwrap();
    let output = common::client_bin()
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A refusal: exit 2, one line on stderr containing every piece of `wanted`, no report.
fn assert_refused(args: &[&str], wanted: &[&str]) {
    let cwd = common::temp_path("refused");
    let (code, _, stderr) = client(args, &cwd);
    assert_eq!(code, Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for piece in wanted {
        assert!(stderr.contains(piece), "{args:?}: {stderr} lacks {piece}");
    }
    assert!(!cwd.join("reports").exists(), "nothing is written");
}

#[test]
fn decimal_durations_and_sizes_are_accepted() {
    let config = RunConfig {
        workload: WorkloadKind::TcpEcho,
        connections: 1,
        size: "1.5KiB".parse().unwrap(),
        length: RunLength::Duration("0.5s".parse().unwrap()),
        ..quick(0)
    };
    assert_eq!(config.size.max.0, 1536);
    let report = run(config);
    assert_eq!(report.duration_s, 0.5);
    assert!(report.totals.ok > 0);
    let cwd = common::temp_path("decimal");
    let (code, stdout, stderr) = client(
        &[
            "run",
            "tcp-echo",
            "--duration",
            "0.3s",
            "--warmup",
            "0.1s",
            "--size",
            "1.5KiB",
        ],
        &cwd,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("req/s"), "{stdout}");
}

#[test]
fn tcp_echo_takes_requests_above_the_framed_body_limit() {
    let config = RunConfig {
        size: "20MiB".parse().unwrap(),
        connections: 1,
        threads: 1,
        length: RunLength::Requests(2),
        timeout: "60s".parse().unwrap(),
        ..quick(0)
    };
    let report = run(config);
    assert_eq!(report.totals.ok, 2, "{:?}", report.totals.error_samples);
    assert_refused(
        &["run", "framed", "--size", "20MiB"],
        &["--size 20MiB", "16MiB"],
    );
    assert_refused(
        &["run", "udp-echo", "--size", "65508B"],
        &["--size 65508B", "65507B"],
    );
}

#[test]
fn a_tcp_echo_target_is_refused_where_framed_is_needed() {
    let server = common::spawn_all(bench_server::ServerConfig::default());
    let echo = server
        .addr(bench_server::Proto::TcpEcho)
        .unwrap()
        .to_string();
    assert_refused(
        &["nagle", "--target", &echo, "--duration", "200ms"],
        &[&format!("--target {echo}"), "not a framed server"],
    );
    assert_refused(
        &["run", "framed", "--target", &echo, "--duration", "200ms"],
        &["not a framed server"],
    );
}

#[test]
fn more_connections_than_descriptors_are_refused_before_starting() {
    // The shell lowers the limit for the client alone (soft and hard).
    let cwd = common::temp_path("nofile");
    std::fs::create_dir_all(&cwd).unwrap();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 500 && exec "$0" run tcp-echo --connections 1000 --duration 1s"#)
        .arg(env!("CARGO_BIN_EXE_bench-client"))
        .current_dir(&cwd)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--connections 1000") && stderr.contains("limit of 500"),
        "{stderr}"
    );
    assert!(!cwd.join("reports").exists());
}

#[test]
fn target_errors_tell_a_bad_address_from_a_failed_lookup_and_name_the_flag() {
    assert_refused(
        &["run", "tcp-echo", "--target", "nosuch.invalid:7001"],
        &["--target nosuch.invalid:7001: cannot resolve host"],
    );
    assert_refused(
        &["run", "tcp-echo", "--target", "nosuch"],
        &["--target nosuch: not a host:port address"],
    );
    // A port nothing listens on (bound, then closed).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let server = common::spawn_all(bench_server::ServerConfig::default());
    let echo = server
        .addr(bench_server::Proto::TcpEcho)
        .unwrap()
        .to_string();
    assert_refused(
        &[
            "overhead",
            "--direct",
            &closed,
            "--proxied",
            &echo,
            "--duration",
            "200ms",
        ],
        &[&format!("--direct {closed}:")],
    );
    assert_refused(
        &[
            "overhead",
            "--direct",
            &echo,
            "--proxied",
            &closed,
            "--duration",
            "200ms",
        ],
        &[&format!("--proxied {closed}:")],
    );
}
