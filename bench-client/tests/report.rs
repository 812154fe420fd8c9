//! The report file: written, read back equal (histograms and summaries), other schemas and
//! broken files refused with the path in the message.

mod common;

use bench_client::report::Latency;
use bench_client::report::{LatencySummary, SCHEMA};
use bench_client::{Arrival, LoadModel, Report, RunConfig, RunLength, WorkloadKind};
use common::{quick, run, temp_path};

fn open_loop_udp_report() -> Report {
    run(RunConfig {
        workload: WorkloadKind::UdpEcho,
        load: LoadModel::Open {
            rate: 2000.0,
            arrival: Arrival::Poisson,
        },
        length: RunLength::Duration("1500ms".parse().unwrap()),
        ..quick(0)
    })
}

#[test]
fn a_report_read_back_equals_the_one_written() {
    let report = open_loop_udp_report();
    let path = temp_path("roundtrip").join("report.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap(); // --out makes no folders
    report.write(&path).unwrap();
    let back = Report::read(&path).unwrap();
    assert_eq!(back, report);
    assert_eq!(back.schema, SCHEMA);
    // The histograms carry the data: summaries recomputed from them are the same.
    for summary in [
        &back.latency,
        back.latency_uncorrected.as_ref().unwrap(),
        back.send_lag.as_ref().unwrap(),
    ] {
        let hist = summary.decode().unwrap();
        let again = LatencySummary::new(&Latency {
            hist,
            out_of_range: summary.out_of_range,
        });
        assert_eq!(&again, summary);
        assert!(summary.histogram.starts_with("HISTFAAA"));
    }
    // Open loop: the requests unfinished at the end are in the histogram too.
    let unfinished = back.schedule.as_ref().unwrap().unfinished;
    assert_eq!(back.latency.count, back.totals.ok + unfinished);
}

#[test]
fn the_timeline_adds_up_to_the_totals() {
    let report = open_loop_udp_report();
    assert!(
        report.timeline.len() >= 2,
        "{} intervals",
        report.timeline.len()
    );
    let ok: u64 = report.timeline.iter().map(|t| t.ok).sum();
    assert_eq!(ok, report.totals.ok);
    let mut merged = bench_client::report::new_histogram();
    for entry in &report.timeline {
        let hist = bench_client::report::decode_histogram(&entry.histogram).unwrap();
        assert_eq!(hist.len(), entry.ok + entry.unfinished);
        merged.add(&hist).unwrap();
        assert!(entry.duration_s > 0.0 && entry.duration_s <= 1.0);
        // Replies that came after the end count in the last interval, not past it.
        assert!(
            entry.t_s < report.duration_s,
            "{} >= {}",
            entry.t_s,
            report.duration_s
        );
    }
    // Interval histograms merge to the run's histogram.
    assert_eq!(merged, report.latency.decode().unwrap());
}

#[test]
fn other_schemas_and_broken_files_are_refused_naming_the_file() {
    let dir = temp_path("refuse");
    std::fs::create_dir_all(&dir).unwrap();
    let other = dir.join("other.json");
    std::fs::write(&other, r#"{"schema": "wirebench.report/v9"}"#).unwrap();
    let err = Report::read(&other).unwrap_err().to_string();
    assert!(err.contains("other.json") && err.contains("v9"), "{err}");
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{ not json").unwrap();
    let err = Report::read(&broken).unwrap_err().to_string();
    assert!(err.contains("broken.json"), "{err}");
    let missing = dir.join("missing.json");
    let err = Report::read(&missing).unwrap_err().to_string();
    assert!(err.contains("missing.json"), "{err}");
}

#[test]
fn values_above_sixty_seconds_are_counted_not_hidden() {
    let mut latency = Latency::default();
    latency.record(std::time::Duration::from_secs(61));
    latency.record(std::time::Duration::from_micros(50));
    let summary = LatencySummary::new(&latency);
    assert_eq!(summary.out_of_range, 1);
    assert_eq!(summary.count, 2);
    assert!(
        summary.max_ns >= 59_900_000_000,
        "recorded at the top of the range"
    );
}
