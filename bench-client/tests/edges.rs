//! The edges of a run: an open loop past the target's capacity (unfinished requests,
//! achieved rate, verdict), the warm-up's backlog, UDP errors and exact timeouts, signals
//! from `timeout`, and the one-line refusals of impossible flags.

mod common;

use bench_client::schedule::ScheduleVerdict;
use bench_client::{Arrival, FramedCmd, LoadModel, RunConfig, RunLength, WorkloadKind};
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
    assert_eq!(report.totals.errors[&bench_client::ErrorKind::Timeout], 2);
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
