//! `merge`: a sharded run's reports as one, losslessly; partial merges marked, reports of
//! other runs refused naming the field, counts summed, timelines aligned by wall-clock
//! second, and the merged report read by `compare`, `render` and `export --hlog`.

mod common;

use std::time::Duration;

use bench_client::analysis::merge::{MergeError, merge};
use bench_client::report::{Latency, LatencySummary, StartTimes};
use bench_client::shard::Shard;
use bench_client::{Arrival, LoadModel, Report, RunConfig, RunLength};

use common::{client_bin, run, temp_path};

/// The whole run: open loop, 3 connections, 300 requests, on the embedded server.
fn global() -> RunConfig {
    RunConfig {
        load: LoadModel::Open {
            rate: 3000.0,
            arrival: Arrival::Uniform,
        },
        length: RunLength::Requests(300),
        connections: 3,
        threads: 1,
        warmup: "0s".parse().unwrap(),
        ..RunConfig::default()
    }
}

/// Shard `i` of 3 of [`global`], run for real.
fn shard(i: u32, run_id: &str) -> (String, Report) {
    let local = Shard::localize(&global(), i, 3, run_id).unwrap();
    (format!("shard-{i}.json"), run(local))
}

fn shards(run_id: &str) -> Vec<(String, Report)> {
    (0..3).map(|i| shard(i, run_id)).collect()
}

/// Values only shard `i` holds: three different distributions, one with a long tail.
fn values(i: u64) -> Vec<u64> {
    (0..10_000u64)
        .map(|k| match i {
            0 => 10_000 + k * 7,
            1 => 50_000 + (k * k) % 900_000,
            _ => 1_000 + k * k * 13,
        })
        .collect()
}

fn latency_of(values: &[u64]) -> Latency {
    let mut l = Latency::default();
    for v in values {
        l.record(Duration::from_nanos(*v));
    }
    l
}

#[test]
fn the_merged_histogram_is_the_histogram_of_the_union() {
    let mut reports = shards("lossless");
    let mut all = Vec::new();
    for (i, (_, report)) in reports.iter_mut().enumerate() {
        let v = values(i as u64);
        report.latency = LatencySummary::new(&latency_of(&v));
        report.send_lag = Some(LatencySummary::new(&latency_of(&v[..100])));
        all.extend(v);
    }
    let merged = merge(&reports).unwrap().report;
    let union = latency_of(&all);
    assert_eq!(merged.latency.decode().unwrap(), union.hist);
    assert_eq!(
        merged.latency.p99_99_ns,
        LatencySummary::new(&union).p99_99_ns
    );
    assert_eq!(merged.latency.count, 30_000);
    assert_eq!(merged.send_lag.unwrap().count, 300);
}

#[test]
fn counts_are_summed_and_the_shards_kept() {
    let reports = shards("sums");
    let merged = merge(&reports).unwrap();
    let r = &merged.report;
    let sum = |f: fn(&Report) -> u64| reports.iter().map(|(_, x)| f(x)).sum::<u64>();
    assert_eq!(r.totals.requests, sum(|x| x.totals.requests));
    assert_eq!(r.totals.requests, 300);
    assert_eq!(r.totals.ok, sum(|x| x.totals.ok));
    assert_eq!(r.totals.error_count, sum(|x| x.totals.error_count));
    assert_eq!(r.totals.bytes_sent, sum(|x| x.totals.bytes_sent));
    assert_eq!(
        r.config,
        global(),
        "the merge carries the whole run's config"
    );
    let section = r.shards.as_ref().unwrap();
    assert!(!merged.partial());
    assert_eq!(section.run_id, "sums");
    let indices: Vec<u32> = section.shards.iter().map(|s| s.index).collect();
    assert_eq!(indices, [0, 1, 2]);
    assert!(section.shards.iter().all(|s| s.connections == 1));
    let timeline_ok: u64 = r.timeline.iter().map(|e| e.ok).sum();
    assert_eq!(timeline_ok, r.totals.ok);
}

#[test]
fn a_partial_merge_is_marked_with_the_missing_indices() {
    let mut reports = shards("partial");
    reports.remove(1);
    let merged = merge(&reports).unwrap();
    assert!(merged.partial());
    let section = merged.report.shards.unwrap();
    assert_eq!(section.missing, [1]);
    assert_eq!(section.count, 3);
}

#[test]
fn shards_of_other_runs_or_configs_are_refused_naming_the_field() {
    let mut reports = shards("one");
    reports[2] = shard(2, "two");
    let err = merge(&reports).unwrap_err();
    assert!(matches!(err, MergeError::Mismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("shard-2.json: config.shard.run_id differs"),
        "{err}"
    );

    let mut reports = shards("cfg");
    reports[1].1.config.timeout = "9s".parse().unwrap();
    let err = merge(&reports).unwrap_err().to_string();
    assert!(
        err.starts_with("shard-1.json: config.timeout differs"),
        "{err}"
    );

    let mut reports = shards("dup");
    reports[2] = reports[0].clone();
    let err = merge(&reports).unwrap_err().to_string();
    assert!(err.contains("config.shard.index 0 is also"), "{err}");

    let unsharded = run(RunConfig {
        length: RunLength::Requests(10),
        ..RunConfig::default()
    });
    let err = merge(&[("plain.json".to_owned(), unsharded)]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("plain.json: config.shard missing"),
        "{err}"
    );
}

fn started(report: &mut Report, actual_ns: u64) {
    report.start = Some(StartTimes {
        intended: report.started_at.clone(),
        intended_ns: actual_ns,
        actual_ns,
        skew_ns: 0,
        tolerance_ns: 1_000_000_000,
    });
}

#[test]
fn timelines_are_merged_by_wall_clock_second() {
    let mut reports = shards("timeline");
    let base = 1_800_000_000_000_000_000u64;
    // Shard 0 and 1 start 3 ms apart (the same seconds); shard 2 two seconds later.
    started(&mut reports[0].1, base);
    started(&mut reports[1].1, base + 3_000_000);
    started(&mut reports[2].1, base + 2_000_000_000);
    let merged = merge(&reports).unwrap().report;
    let at = |t: f64| merged.timeline.iter().find(|e| e.t_s == t);
    let first = |i: usize| reports[i].1.timeline[0].ok;
    assert_eq!(at(0.0).unwrap().ok, first(0) + first(1));
    assert_eq!(at(2.0).unwrap().ok, first(2));
    assert!(at(1.0).is_none());
    assert!(merged.duration_s >= 2.0, "{}", merged.duration_s);
    let skew = merged.shards.unwrap().max_start_skew_ns;
    assert_eq!(skew, 0, "skews come from each shard's own start record");
}

#[test]
fn a_shard_below_its_share_is_flagged_generator_limited() {
    let mut reports = shards("slow");
    let schedule = reports[1].1.schedule.as_mut().unwrap();
    schedule.achieved_rate = schedule.target_rate * 0.5;
    let section = merge(&reports).unwrap().report.shards.unwrap();
    // The other shards ran for real on a possibly busy machine: one of them may fall
    // below 99% of its share too, so only the slowed one is certain.
    assert!(
        section.generator_limited.contains(&1),
        "{:?}",
        section.generator_limited
    );
    assert!(section.shards[1].generator_limited);
}

#[test]
fn the_binary_merges_and_the_merge_is_a_report_every_reader_takes() {
    let dir = temp_path("merge");
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    for (name, report) in shards("bin") {
        let path = dir.join(name);
        report.write(&path).unwrap();
        paths.push(path);
    }
    let out = dir.join("merged.json");
    let status = client_bin()
        .arg("merge")
        .args(&paths)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("merged"), "{stdout}");
    assert!(stdout.contains("shard 2 on"), "{stdout}");
    let merged = Report::read(&out).unwrap();
    assert_eq!(merged.totals.requests, 300);
    bench_client::analysis::hlog::interval_log(&merged).unwrap();
    bench_client::render::render_reports(std::slice::from_ref(&out)).unwrap();
    bench_client::analysis::load(&[paths[0].clone(), out.clone()], false).unwrap();

    // Partial: written, exit 1. Other runs: nothing written, exit 2, one line.
    let partial = dir.join("partial.json");
    let status = client_bin()
        .arg("merge")
        .args(&paths[..2])
        .arg("--out")
        .arg(&partial)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(1));
    assert!(Report::read(&partial).unwrap().shards.unwrap().partial);
    let other = dir.join("other.json");
    let (_, mut report) = shard(2, "else");
    report.label = String::new();
    report.write(&other).unwrap();
    let refused = dir.join("refused.json");
    let status = client_bin()
        .arg("merge")
        .args([&paths[0], &other])
        .arg("--out")
        .arg(&refused)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("config.shard.run_id"), "{stderr}");
    assert!(!refused.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
